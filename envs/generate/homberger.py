"""Time-window instances in the style of Gehring and Homberger (1999): Solomon's six classes at any size.

Gehring and Homberger extended Solomon's 100-client sets to 200-1,000 clients with the same recipe, and the
large-scale routing papers measure on their 1,000-client sets. No such file ships here, so this generator
follows the recipe (Solomon 1987; Gehring and Homberger 1999):
- classes R (clients uniform in the square), C (clustered) and RC (half of each); type 1 has a short horizon
  and capacity 200 (about 10 clients a route), type 2 a long one and capacity 1,000 (C2: 700);
- the square, and so the horizon, grows with the square root of n (Solomon's clients lie in a 70 x 70 square
  for 100 clients: the same density at every size); the depot is at the centre;
- demands 1..50, service 10 (C: 90), a fleet of n / 4 vehicles (Gehring and Homberger's 250 at 1,000 clients);
- a share of the clients (25%, 50%, 75% or 100%, Solomon's densities) have a window; each window is centred
  on a time at which the client can be served on a route of its own, with a half-width drawn per instance
  (type 1 narrow, type 2 wide) as a share of the horizon; the others can be served at any time in it.
Distances and travel times are Euclidean, unrounded.
"""

from __future__ import annotations

import itertools

import numpy as np

from envs.model.distances import euclidean
from envs.model.instance import Instance, VehicleType

CLASSES = tuple(f"{c}{t}" for t, c in itertools.product((1, 2), ("R", "C", "RC")))  # R1, C1, RC1, R2, C2, RC2
SIDE_100 = 70.0  # Solomon's square for 100 clients
HORIZON_100 = {"R1": 230.0, "C1": 1236.0, "RC1": 240.0, "R2": 1000.0, "C2": 3390.0, "RC2": 960.0}  # Solomon's
CAPACITY = {"R1": 200, "C1": 200, "RC1": 200, "R2": 1000, "C2": 700, "RC2": 1000}
SERVICE = {"R": 10.0, "C": 90.0, "RC": 10.0}
# a window's half-width as a share of the horizon: Solomon's R1 (5..30 of 230) and R2 (30..150 of 1,000)
HALF_WIDTH = {"1": (0.02, 0.13), "2": (0.03, 0.15)}
DENSITIES = (0.25, 0.5, 0.75, 1.0)
CLIENTS_PER_CLUSTER = 10  # Solomon's C sets: 100 clients in about 10 clusters
CLUSTER_SPREAD = 0.03  # a cluster's standard deviation, as a share of the side


def homberger_instance(n: int, cls: str, seed: int) -> Instance:
    """One instance of class `cls` (one of CLASSES) with n clients (deterministic in n, cls and seed)."""
    if cls not in CLASSES:
        raise ValueError(f"unknown class {cls!r}; known: {', '.join(CLASSES)}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    kind, typ = cls[:-1], cls[-1]
    scale = np.sqrt(n / 100.0)  # lengths and times grow with the square root of n at a constant density
    side = SIDE_100 * scale
    coords = np.vstack([[side / 2, side / 2], _positions(rng, kind, n, side)])
    dist = euclidean(coords, "exact")
    horizon = HORIZON_100[cls] * scale
    service = np.concatenate([[0.0], np.full(n, SERVICE[kind])])
    demand = np.concatenate([[0.0], rng.integers(1, 51, size=n)]).astype(np.float64)
    windows = _windows(rng, dist, service, horizon, typ)
    return Instance(
        distance=dist,
        demand=demand,
        fleet=[VehicleType(capacity=float(CAPACITY[cls]), count=max(1, n // 4))],
        name=f"gh-{cls.lower()}-n{n}-s{seed}",
        coords=coords,
        time_windows=windows,
        service=service,
    )


def homberger_set(n: int = 1000, per_class: int = 2, seed: int = 0) -> list[Instance]:
    """`per_class` instances of each of the six classes (12 by default); instance i of a class is seeded from
    (seed, class, i)."""
    out = []
    for k, cls in enumerate(CLASSES):
        children = np.random.SeedSequence([seed, k]).generate_state(per_class, dtype=np.uint32)
        out += [homberger_instance(n, cls, int(c)) for c in children]
    return out


def _positions(rng: np.random.Generator, kind: str, n: int, side: float) -> np.ndarray:
    if kind == "R":
        return rng.random((n, 2)) * side
    if kind == "C":
        return _clustered(rng, n, side)
    half = n // 2
    return np.vstack([rng.random((n - half, 2)) * side, _clustered(rng, half, side)])


def _clustered(rng: np.random.Generator, n: int, side: float) -> np.ndarray:
    if n == 0:
        return np.zeros((0, 2))
    centres = rng.random((max(1, round(n / CLIENTS_PER_CLUSTER)), 2)) * side
    points = centres[rng.integers(len(centres), size=n)] + rng.normal(0.0, CLUSTER_SPREAD * side, size=(n, 2))
    return np.clip(points, 0.0, side)


def _windows(rng, dist, service, horizon, typ) -> np.ndarray:
    """Each client's [earliest, latest] start of service: the whole horizon, or for a share of the clients a
    window centred on a time at which it can be served on a route of its own."""
    n = len(dist) - 1
    to, back = dist[0, 1:], dist[1:, 0]
    latest = horizon - back - service[1:]  # the last start that still returns by the horizon
    if np.any(latest < to):
        raise ValueError("the horizon is too short to serve some client on a route of its own")
    opens, closes = to.copy(), latest.copy()
    timed = rng.random(n) < DENSITIES[rng.integers(len(DENSITIES))]
    low, high = HALF_WIDTH[typ]
    half = rng.uniform(low, high) * horizon
    centre = to + rng.random(n) * (latest - to)
    opens[timed] = np.maximum(to, centre - half)[timed]
    closes[timed] = np.minimum(latest, centre + half)[timed]
    return np.column_stack([np.concatenate([[0.0], opens]), np.concatenate([[horizon], closes])])
