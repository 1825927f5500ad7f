"""The training scripts run end to end on a tiny budget: the learning-curve benchmark, and the continuation of a
shipped policy (the script a GPU runs, here on the CPU), which replaces a policy only when held-out instances
say it is better."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from nco.policy.checkpoints import DEFAULT_CHECKPOINT


def script(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_learning_curve_measures_every_method_on_one_clock(tmp_path):
    run = script(
        "scripts/learning_curve.py",
        *(
            "--methods",
            "reinforce,expert+reinforce",  # the second runs expert iteration, then reinforce
            "--minutes",
            "0.06",
            "--size",
            "10",
            "--tiny",
            "--val-size",
            "8",
            "--every",
            "0.05",
        ),
        *("--labels-per-round", "4", "--label-seconds", "0.1", "--out", str(tmp_path)),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((tmp_path / "curve.json").read_text())
    for method in ("reinforce", "expert+reinforce"):  # the second runs expert iteration, then reinforce
        curve = result["curves"][method]
        assert len(curve) >= 2, method  # the start, and at least one point after training
        assert all(t2 >= t1 for (t1, _), (t2, _) in zip(curve, curve[1:]))
    assert (tmp_path / "curve.png").stat().st_size > 10_000
    assert re.search(r"^expert\+reinforce\s+[\d.]+", run.stdout, re.M)


@pytest.mark.slow
def test_continuing_a_shipped_policy_replaces_it_only_when_held_out_improves(tmp_path):
    target = tmp_path / "cvrp100.pt"
    for ext in (".pt", ".json"):
        shutil.copy(DEFAULT_CHECKPOINT.with_suffix(ext), target.with_suffix(ext))
    before = target.read_bytes()
    run = script(
        "scripts/train_shipped.py",
        *("--continue", "cvrp100", "--install", str(target), "--out", str(tmp_path / "runs")),
        *("--minutes", "0.05", "--max-rounds", "1", "--labels-per-round", "2", "--label-seconds", "0.2"),
        *("--held-out", "8", "--val-size", "8", "--threads", "1", "--labels", str(tmp_path / "labels.npz")),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    m = re.search(r"installed ([\d.]+), candidate ([\d.]+)", run.stdout)
    assert m, run.stdout
    installed, candidate = map(float, m.groups())
    folder = tmp_path / "runs" / "cvrp100-expert"
    assert {"state.pt", "best.pt", "last.pt", "curve.csv"} <= {p.name for p in folder.iterdir()}
    assert (tmp_path / "labels.npz").exists()  # the label file named, not the shipped one, took the new labels
    if candidate < installed:
        info = json.loads(target.with_suffix(".json").read_text())
        assert info["held_out"]["after"] == pytest.approx(candidate, abs=1e-4)
        assert [r["method"] for r in info["training"]["runs"]] == ["reinforce", "expert-iteration"]
    else:
        assert target.read_bytes() == before and "kept" in run.stdout
