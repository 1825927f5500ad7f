"""Distance matrices from coordinates, with the rounding conventions of the benchmark sets."""

from __future__ import annotations

from typing import Literal

import numpy as np

Rounding = Literal["exact", "round", "dimacs"]


def euclidean(coords: np.ndarray, rounding: Rounding = "exact") -> np.ndarray:
    """Pairwise Euclidean distances.

    `round` is CVRPLIB's convention (nearest integer, used by the X set);
    `dimacs` truncates to one decimal, as the DIMACS challenge did for Solomon.
    """
    c = np.asarray(coords, dtype=np.float64)
    n = len(c)
    from envs.memory import require

    # this matrix and the checks and copies that follow it before any solver runs (three of its size)
    require(3 * 8.0 * n * n, f"a distance matrix of {n:,} locations")
    d = np.empty((n, n))
    x, y = c[:, 0], c[:, 1]
    step = max(1, BLOCK_ENTRIES // max(n, 1))  # rows per block: the temporaries stay small at 10,000 points
    for lo in range(0, n, step):
        dx, dy = x[lo : lo + step, None] - x, y[lo : lo + step, None] - y
        block = d[lo : lo + step]
        np.sqrt(dx * dx + dy * dy, out=block)  # the same arithmetic, bit for bit, as the whole-matrix formula
        if rounding == "round":
            np.round(block, out=block)
        elif rounding == "dimacs":
            np.floor(block * 10.0, out=block)
            block /= 10.0
    return d


BLOCK_ENTRIES = 1 << 21  # entries per block of rows (16 MiB of float64)


def haversine(lonlat: np.ndarray) -> np.ndarray:
    """Great-circle distances in metres between (lon, lat) points."""
    lon, lat = np.radians(np.asarray(lonlat, dtype=np.float64)).T
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


STRAIGHT_LINE_KMH = 30.0  # assumed speed for straight-line durations: a typical urban driving average


def straight_line_durations(distance_m: np.ndarray) -> np.ndarray:
    """Seconds to cover straight-line metres at STRAIGHT_LINE_KMH (a stand-in when no road engine is used)."""
    return np.asarray(distance_m, dtype=np.float64) / (STRAIGHT_LINE_KMH / 3.6)
