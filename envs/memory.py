"""Refusing, in one line and before the work, what cannot fit in this machine's memory.

An n x n matrix of float64 takes 8 n^2 bytes (800 MB at 10,000 clients) and every solver keeps a few of them;
past what the machine has, the process would swap for minutes or be killed with nothing saved.
"""

from __future__ import annotations

import os

from envs.errors import InstanceError


def available_bytes() -> int:
    """Memory a new allocation can get now: MemAvailable (Linux), else the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: refuse nothing


def require(needed: float, what: str) -> None:
    """InstanceError naming `what`, the estimate and what is available, when `needed` bytes will not fit."""
    have = available_bytes()
    if needed > have:
        raise InstanceError(f"{what} needs about {needed / 1e9:.1f} GB of memory; {have / 1e9:.1f} GB are available")
