"""Random CVRP instances: the uniform NCO benchmark distribution and X-like instances.

Every generator takes an explicit seed and draws from its own
`numpy.random.Generator`, so a (n, seed) pair always gives the same instance.

- `uniform_instance`: the distribution of Kool et al. (2019) and POMO
  (Kwon et al. 2020): depot and clients uniform in the unit square, demands
  uniform in 1..9, capacity from CAPACITIES; exact Euclidean distances.
- `xlike_instance`: the generator of the CVRPLIB X set (Uchoa et al. 2017,
  "New benchmark instances for the Capacitated Vehicle Routing Problem"):
  integer coordinates on a 1000x1000 grid, depot Central / Eccentric / Random,
  customers Random / Clustered / Random-Clustered, seven demand distributions,
  capacity from an average route size; distances rounded to the nearest integer.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from envs.model.distances import euclidean
from envs.model.instance import Instance, VehicleType

# Vehicle capacity by number of clients (Kool et al. 2019; POMO; larger sizes from later NCO work).
CAPACITIES = {
    10: 20,
    15: 25,
    20: 30,
    30: 33,
    40: 37,
    50: 40,
    60: 43,
    75: 45,
    100: 50,
    125: 55,
    150: 60,
    200: 70,
    500: 100,
    1000: 150,
}

GRID = 1000  # X instances: coordinates in 0..GRID
DEPOT_TYPES = ("C", "E", "R")  # central (500, 500), eccentric (0, 0), random
CUSTOMER_TYPES = ("R", "C", "RC")  # random, clustered, half random half clustered
DEMAND_TYPES = ("U", "1-10", "5-10", "1-100", "50-100", "Q", "SL")
_DEMAND_RANGES = {"1-10": (1, 10), "5-10": (5, 10), "1-100": (1, 100), "50-100": (50, 100)}
_DEPOT_NAMES = {"central": "C", "eccentric": "E", "random": "R"}
_CUSTOMER_NAMES = {"random": "R", "clustered": "C", "random-clustered": "RC", "random_clustered": "RC"}
_DEMAND_NAMES = {
    "unitary": "U",
    "small": "1-10",
    "small_large_variance": "1-10",
    "small_small_variance": "5-10",
    "large_large_variance": "1-100",
    "large": "50-100",
    "large_small_variance": "50-100",
    "quadrant": "Q",
    "many_small_few_large": "SL",
}
DECAY = 40.0  # attraction of a cluster seed decays as exp(-distance / DECAY)


def capacity_for(n: int) -> int:
    """Capacity for n clients: the table value, interpolated linearly between sizes, clamped outside.

    Matches envs.rl.distributions.capacity_for (the training distribution).
    """
    sizes = sorted(CAPACITIES)
    return int(round(float(np.interp(n, sizes, [CAPACITIES[s] for s in sizes]))))


def uniform_instance(n: int, seed: int, capacity: float | None = None) -> Instance:
    """One instance of the uniform NCO benchmark distribution with n clients."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    coords = rng.random((n + 1, 2))
    demand = np.concatenate([[0], rng.integers(1, 10, size=n)]).astype(np.float64)
    cap = capacity_for(n) if capacity is None else capacity
    return Instance(
        distance=euclidean(coords, "exact"),
        demand=demand,
        fleet=[VehicleType(capacity=cap)],
        name=f"uniform-n{n}-s{seed}",
        coords=coords,
    )


def uniform_instances(n: int, count: int, seed: int) -> list[Instance]:
    """A fixed set of `count` uniform instances; instance i is seeded from (seed, i)."""
    children = np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64)
    out = []
    for i, child in enumerate(children):
        name = f"uniform-n{n}-s{seed}-{i:0{len(str(max(count - 1, 0)))}d}"
        out.append(replace(uniform_instance(n, int(child)), name=name))
    return out


def xlike_instance(
    n: int,
    seed: int,
    depot: str | None = None,
    customers: str | None = None,
    demand: str | None = None,
    route_size: float | None = None,
) -> Instance:
    """An instance generated as the CVRPLIB X set was (Uchoa et al. 2017).

    depot: "C" central (500, 500), "E" eccentric (0, 0) or "R" random.
    customers: "R" random, "C" clustered (3..8 seeds; other customers accepted
      with probability proportional to sum over seeds of exp(-d/40)), or "RC"
      (half random, half clustered).
    demand: "U" unitary, "1-10", "5-10", "1-100", "50-100" (uniform integers in
      that range), "Q" (by quadrant: 51..100 in the lower-left and upper-right
      quadrants, 1..50 elsewhere) or "SL" (70-95% of clients 1..10, the rest 50..100).
    route_size: average number of clients per route r; default drawn from the
      triangular distribution (3, 6, 25). Capacity Q = ceil(r * sum(demand) / n),
      at least the largest demand (r itself, rounded down, for unitary demands).
    Options left as None are drawn at random, as the X set mixes them.
    Full names ("central", "clustered", "quadrant", ...) are accepted too.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    depot = _choice(depot, DEPOT_TYPES, _DEPOT_NAMES, rng, "depot")
    customers = _choice(customers, CUSTOMER_TYPES, _CUSTOMER_NAMES, rng, "customers")
    demand = _choice(demand, DEMAND_TYPES, _DEMAND_NAMES, rng, "demand")
    r = float(rng.triangular(3, 6, 25)) if route_size is None else float(route_size)
    if r <= 0:
        raise ValueError(f"route_size must be positive, got {r}")

    if depot == "C":
        depot_xy = (GRID // 2, GRID // 2)
    elif depot == "E":
        depot_xy = (0, 0)
    else:
        depot_xy = tuple(int(v) for v in rng.integers(0, GRID + 1, size=2))
    taken = {depot_xy}
    n_random = {"R": n, "C": 0, "RC": n // 2}[customers]
    points = _random_points(rng, n_random, taken)
    if n - n_random > 0:
        points += _clustered_points(rng, n - n_random, taken)
    coords = np.array([depot_xy, *points], dtype=np.float64)

    d = _demands(rng, demand, coords[1:])
    if demand == "U":
        capacity = max(1, math.floor(r))
    else:
        capacity = max(int(d.max()), math.ceil(r * d.sum() / n))
    return Instance(
        distance=euclidean(coords, "round"),
        demand=np.concatenate([[0.0], d]),
        fleet=[VehicleType(capacity=float(capacity))],
        name=f"xlike-n{n}-{depot}{customers}-{demand}-s{seed}",
        coords=coords,
    )


def _choice(
    value: str | None, codes: tuple[str, ...], names: dict[str, str], rng: np.random.Generator, what: str
) -> str:
    if value is None:
        return codes[int(rng.integers(len(codes)))]
    code = names.get(str(value).lower(), str(value).upper())
    if code not in codes:
        raise ValueError(f"unknown {what} type {value!r}; expected one of {', '.join(codes)}")
    return code


def _take(candidates: np.ndarray, taken: set, out: list, k: int) -> None:
    """Append candidate points not taken yet to `out` (marking them taken) until it holds k."""
    for p in candidates:
        pt = (int(p[0]), int(p[1]))
        if pt not in taken:
            taken.add(pt)
            out.append(pt)
            if len(out) == k:
                return


def _random_points(rng: np.random.Generator, k: int, taken: set) -> list[tuple[int, int]]:
    """k distinct grid points, uniform, none already taken."""
    out: list[tuple[int, int]] = []
    while len(out) < k:
        _take(rng.integers(0, GRID + 1, size=(2 * (k - len(out)) + 8, 2)), taken, out, k)
    return out


def _clustered_points(rng: np.random.Generator, k: int, taken: set) -> list[tuple[int, int]]:
    """k distinct grid points around S random seeds (S uniform in 3..8, the seeds among them).

    Candidates are uniform on the grid and accepted with probability
    sum_s exp(-d(p, s) / DECAY), normalised by the largest such sum at a seed.
    """
    seeds = _random_points(rng, min(int(rng.integers(3, 9)), k), taken)
    s = np.array(seeds, dtype=np.float64)
    at_seeds = np.exp(-np.sqrt(((s[:, None] - s[None]) ** 2).sum(-1)) / DECAY).sum(1)
    norm = float(at_seeds.max())
    out = list(seeds)
    while len(out) < k:
        cand = rng.integers(0, GRID + 1, size=(256, 2))
        weight = np.exp(-np.sqrt(((cand[:, None].astype(np.float64) - s[None]) ** 2).sum(-1)) / DECAY).sum(1) / norm
        accept = rng.random(len(cand)) <= weight
        _take(cand[accept], taken, out, k)
    return out


def _demands(rng: np.random.Generator, kind: str, xy: np.ndarray) -> np.ndarray:
    n = len(xy)
    if kind == "U":
        return np.ones(n)
    if kind in _DEMAND_RANGES:
        lo, hi = _DEMAND_RANGES[kind]
        return rng.integers(lo, hi + 1, size=n).astype(np.float64)
    if kind == "Q":
        half = GRID / 2
        odd = ((xy[:, 0] < half) & (xy[:, 1] < half)) | ((xy[:, 0] >= half) & (xy[:, 1] >= half))
        return np.where(odd, rng.integers(51, 101, size=n), rng.integers(1, 51, size=n)).astype(np.float64)
    # "SL": many small values, few large ones
    small = rng.integers(1, 11, size=n)
    large = rng.integers(50, 101, size=n)
    n_large = n - int(round(rng.uniform(0.70, 0.95) * n))
    is_large = np.zeros(n, dtype=bool)
    is_large[rng.choice(n, size=n_large, replace=False)] = True
    return np.where(is_large, large, small).astype(np.float64)
