"""Shared test helpers (tests import them with `from conftest import ...`): the repository's paths, running
the command line in-process, and budgets judged by behaviour, not by how busy this machine is right now.

The tests mirror the packages: tests/envs/model/ tests envs/model/, tests/nco/cli/ tests nco/cli/, and so on;
file names are unique across the tree. Markers: `slow` (a second or more) and `osrm` (needs the binaries)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the repository
DATA = ROOT / "data"


def _pin_each_worker_to_its_cores() -> None:
    """Under pytest-xdist (`-n 2`, the README's test command) each worker runs on cores of its own: nco sizes
    its torch threads and solver processes to the cores it may use (nco/threads.py), so workers sharing all
    the cores would oversubscribe them, the slowdown nco/threads.py measures. On 2 cores each worker is a
    one-core machine, as a busy user's machine is."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.startswith("gw") and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        share = len(cores) // count
        if share:  # more workers than cores: leave them to the scheduler
            index = int(worker[2:])
            os.sched_setaffinity(0, set(cores[index * share : (index + 1) * share]))


_pin_each_worker_to_its_cores()


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """`nco ARGV...` in this process: (exit code, stdout, stderr)."""
    from nco.cli.main import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# One step a solver cannot interrupt (a decoding step or encoder layer, one local search, one GA iteration),
# in CPU seconds; a busy machine stretches it in wall time by the share of a core the process got.
STEP_CPU_S = 0.15


def timed(fn: Callable[..., Any], *args, **kwargs) -> tuple[Any, float, float]:
    """fn's result, its wall seconds, and the share of one core it got over that time (CPU / wall, at most 1)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return out, wall, min(1.0, cpu / wall) if wall > 0 else 1.0


def budget_slack(budget: float, share: float) -> float:
    """How far past `budget` a solve may end: 10% plus one uninterruptible step, stretched by the load."""
    return 0.1 * budget + STEP_CPU_S / max(share, 0.05)


def fleet_cases() -> dict:
    """Hypothesis strategies of envs.generate.fleets.profiled_instance's arguments (seed, zones, mix, ...)."""
    from hypothesis import strategies as st

    from envs.generate.fleets import MIXES, ZONES

    return {
        "seed": st.integers(0, 2**16),
        "zones": st.sampled_from([None, *ZONES]),
        "mix": st.sampled_from(MIXES),
        "preferences": st.booleans(),
        "base": st.sampled_from(["uniform", "xlike"]),
    }
