"""scripts/bench_speed.py over several sizes: one table row per size and a log-log plot of the greedy rollout."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_several_sizes_give_a_row_each_and_a_plot(tmp_path):
    plot = tmp_path / "scaling.png"
    cmd = [sys.executable, "scripts/bench_speed.py", "--layout", "xlike", "--size", "12,30", "--repeats", "1"]
    cmd += ["--threads", "1", "--load", "0", "--greedy-only", "--plot", str(plot)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [line.split("|") for line in out.stdout.splitlines() if line.startswith("| ") and "greedy" in line]
    assert [int(r[1]) for r in rows] == [12, 30]
    assert all(float(r[6]) > 0 for r in rows)  # the median time
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"
