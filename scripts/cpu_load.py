"""A busy machine on demand: `with cpu_load(2): ...` runs the block while 2 CPU-bound processes spin beside it.

Users' machines are not idle (a laptop with a browser, a CI runner, a server doing other work), so every
timing nco reports is measured both idle and under this load, side by side (scripts/bench_speed.py,
scripts/under_load.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SPIN = "while True: pass"


@contextmanager
def cpu_load(procs: int) -> Iterator[list[subprocess.Popen]]:
    """`procs` busy-looping Python processes for the duration of the block (none for 0)."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(procs)]
    try:
        yield spinners
    finally:
        for p in spinners:
            p.kill()
        for p in spinners:
            p.wait()


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"
