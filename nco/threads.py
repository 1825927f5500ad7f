"""How many threads torch may use, decided here rather than left to torch's default.

torch's default (one thread per physical core) oversubscribes a busy machine:
on a loaded 2-core machine one greedy rollout on 100 clients took 1.56 s with
2 threads and 0.15 s with one, because every parallel region waits for a
thread the scheduler has given away. Decoding a batch of one instance gains
little from more threads even on an idle machine, so inference uses one
thread unless told otherwise (`nco solve --threads N`); training uses every
core it may run on (nco/train/run.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

INFERENCE_THREADS = 1  # see the module docstring; scripts/bench_speed.py measures it idle and under load


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def split_cores(workers: int, threads: int | None, tasks: int) -> tuple[int, int]:
    """(processes, torch threads each) for `tasks` solves in parallel, never more than the cores in total:
    at most one process per core and per task, and the threads asked for (default INFERENCE_THREADS) cut to
    the cores each process has."""
    cores = available_cores()
    procs = max(1, min(workers or cores, cores, tasks))
    return procs, max(1, min(threads or INFERENCE_THREADS, cores // procs))


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run the block with `n` torch threads (None: INFERENCE_THREADS), restoring the caller's count after."""
    import torch

    before = torch.get_num_threads()
    n = max(1, n or INFERENCE_THREADS)
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
