"""scripts/compare.py honours every option or refuses it in one line (exit 2) before any work starts."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from conftest import ROOT


def compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/compare.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "args, flag",
    [
        (["x", "--sizes", "50"], "--sizes"),  # robust only
        (["x", "--size", "100"], "--size"),  # the default value, given explicitly, is refused all the same
        (["x", "--reference-time", "3"], "--reference-time"),
        (["uniform", "--keep-fleet"], "--keep-fleet"),
        (["uniform", "--dataset", "data/monaco/monaco_1000.npz"], "--dataset"),
        (["uniform", "--folder", "data/x"], "--folder"),
        (["robust", "--reference-only"], "--reference-only"),
        (["x", "--starts", "8", "--solvers", "ortools"], "--starts"),  # no spec reads it
        (["x", "--time-limit", "1", "--solvers", "nco-greedy,ortools@1"], "--time-limit"),
        (["x", "--count", "0"], "--count"),
        (["x", "--count", "100000"], "--count"),  # more than data/x holds
        (["uniform", "--size", "-5"], "--size"),
        (["x", "--starts", "0", "--solvers", "nco"], "--starts"),
        (["x", "--workers", "0"], "--workers"),
        (["robust", "--samples", "0"], "--samples"),
        (["x", "--time-limit", "nan"], "--time-limit"),
        (["x", "--time-limit", "-1"], "--time-limit"),
        (["x", "--folder", "no/such/folder"], "--folder"),
        (["x", "--solvers", "nco", "--checkpoint", "no/such/policy.pt"], "--checkpoint"),
        (["x", "--solvers", "nco:no/such/policy.pt"], "--solvers"),
        (["x", "--solvers", "nco,bogus"], "--solvers"),
        (["x", "--solvers", "pyvrp~0.9"], "--solvers"),  # a quantile outside the robust set
        (["robust", "--solvers", "nco-greedy"], "--solvers"),  # the robust table is relative to OR-Tools
    ],
)
def test_bad_invocation_is_refused_in_one_line(args, flag, tmp_path):
    out = tmp_path / "bench"
    proc = compare(*args, "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and flag in lines[0], proc.stderr
    assert proc.stdout == "" and not out.exists()  # refused before any work


def test_checkpoint_message_names_the_path(tmp_path):
    proc = compare("x", "--solvers", "nco", "--checkpoint", "no/such/policy.pt", "--out", str(tmp_path / "b"))
    assert proc.stderr.strip() == "error: --checkpoint: checkpoint not found: no/such/policy.pt"


def test_out_under_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = compare("x", "--out", str(blocker / "bench"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: --out:") and len(proc.stderr.splitlines()) == 1


def test_count_is_honoured_on_the_x_set(tmp_path):
    # OR-Tools with a zero budget returns its first solution: no search, so the run is short on any machine.
    out = tmp_path / "bench"
    proc = compare(
        "x", "--count", "2", "--solvers", "ortools", "--time-limit", "0", "--workers", "1", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len({r["instance"] for r in rows}) == len(rows) == 2
    assert [int(r["n"]) for r in rows] == sorted(int(r["n"]) for r in rows)  # the table's order: by clients


def test_the_roadtw_set_runs_delivery_days_with_their_limited_fleets(tmp_path):
    out = tmp_path / "bench"
    proc = compare(
        "roadtw",
        "--count",
        "2",
        "--size",
        "12",
        "--solvers",
        "policy-greedy,ortools",
        "--time-limit",
        "0",
        "--reference-time",
        "0.2",
        "--workers",
        "1",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 4 and len({r["solver"] for r in rows}) == 2
    assert all(r["feasible"] == "True" for r in rows if r["solver"].startswith("ortools"))
    assert "delivery days with time windows on monaco roads" in proc.stdout
