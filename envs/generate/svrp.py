"""SVRPBench-like stochastic instances: a city day with rush hours, noise and accidents.

After SVRPBench (Heakl et al. 2025, "SVRPBench: A Realistic Benchmark for
Stochastic Vehicle Routing Problem"): clients sit in residential clusters,
a commercial centre and scattered homes of a 30 x 30 km city; residents want
a morning or afternoon slot of 1.5-2.5 hours, shops business hours. The clock is
minutes from 6:00 (the depot's window [0, 720] is the 6:00-18:00 shift), so
the rush hours peak at 8:00 (t 120) and 17:00 (t 660). Coordinates are in
minutes of driving at 40 km/h (1.5 per km): Euclidean distance equals the
nominal duration, typical arcs take 5-40 minutes.

Every client can be served alone on time both with the nominal matrix and with
the 0.95-quantile planning matrix (windows are clipped or shifted until it can),
so buffered planning is always feasible.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from envs.model.check import unservable_clients
from envs.model.distances import euclidean
from envs.model.instance import Instance, VehicleType
from envs.model.travel_model import Peak, TravelModel

CITY_KM = 30.0
MIN_PER_KM = 60.0 / 40.0  # 40 km/h
SHIFT = (0.0, 720.0)  # 6:00 to 18:00
RUSH_HOURS = (120.0, 660.0)  # 8:00 and 17:00
PLANNING_Q = 0.95  # the buffer every client must fit alone under
ROUTE_SIZE = 10  # clients per route the capacity allows on average
SHARES = (0.25, 0.55, 0.20)  # commercial centre, residential clusters, scattered homes


def svrp_instance(n: int, seed: int) -> Instance:
    """One city day with n clients; the same (n, seed) always gives the same instance."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng([seed, n])
    n_shop = int(round(SHARES[0] * n))
    n_cluster = int(round(SHARES[1] * n))
    n_home = n - n_shop - n_cluster
    centre = CITY_KM / 2 + rng.uniform(-2.0, 2.0, size=2)
    depot = CITY_KM / 2 + rng.uniform(-3.0, 3.0, size=2)
    shops = centre + rng.normal(0.0, 1.5, size=(n_shop, 2))
    clusters = _cluster_centres(rng, int(rng.integers(3, 5)), centre)
    which = rng.integers(len(clusters), size=n_cluster)
    homes = np.concatenate(
        [clusters[which] + rng.normal(0.0, 2.5, size=(n_cluster, 2)), rng.uniform(0, CITY_KM, (n_home, 2))]
    )
    km = np.clip(np.concatenate([depot[None], shops, homes]), 0.0, CITY_KM)
    coords = np.round(km * MIN_PER_KM, 2)
    is_shop = np.zeros(n + 1, dtype=bool)
    is_shop[1 : n_shop + 1] = True

    windows = np.tile(SHIFT, (n + 1, 1))
    service = np.zeros(n + 1)
    demand = np.zeros(n + 1)
    for c in range(1, n + 1):
        if is_shop[c]:
            windows[c] = (rng.choice([120.0, 180.0, 240.0]), rng.choice([540.0, 600.0, 660.0]))
            service[c] = rng.integers(8, 16)
            demand[c] = rng.integers(4, 13)
        else:
            opening = rng.choice(np.arange(60.0, 181.0, 30.0) if rng.random() < 0.5 else np.arange(360.0, 481.0, 30.0))
            windows[c] = (opening, opening + rng.choice([90.0, 120.0, 150.0]))
            service[c] = rng.integers(5, 11)
            demand[c] = rng.integers(1, 7)
    capacity = float(max(demand.max(), math.ceil(ROUTE_SIZE * demand[1:].mean())))
    model = TravelModel(
        peaks=tuple(
            Peak(t, float(round(rng.uniform(50.0, 70.0))), float(round(rng.uniform(0.3, 0.6), 2))) for t in RUSH_HOURS
        ),
        noise_sigma=float(round(rng.uniform(0.15, 0.2), 2)),
        accident_rate=0.01,
        accident_delay=20.0,
    )
    inst = Instance(
        distance=euclidean(coords, "exact"),
        demand=demand,
        fleet=[VehicleType(capacity=capacity)],
        name=f"svrp-n{n}-s{seed}",
        coords=coords,
        time_windows=windows,
        service=service,
        travel_model=model,
    )
    _fit_windows(inst)
    return inst


def svrp_instances(sizes: tuple[int, ...] = (50, 100, 200), count: int = 10, seed: int = 0) -> list[Instance]:
    """A benchmark set: `count` instances of each size; instance i of size n is seeded from (seed, n, i)."""
    out = []
    for n in sizes:
        children = np.random.SeedSequence([seed, n]).generate_state(count, dtype=np.uint64)
        for i, child in enumerate(children):
            name = f"svrp-n{n}-s{seed}-{i:0{len(str(max(count - 1, 0)))}d}"
            out.append(replace(svrp_instance(n, int(child)), name=name))
    return out


def _cluster_centres(rng: np.random.Generator, k: int, centre: np.ndarray) -> np.ndarray:
    """k residential centres, away from the commercial centre and from the city's edge."""
    out = []
    while len(out) < k:
        p = rng.uniform(4.0, CITY_KM - 4.0, size=2)
        if np.hypot(*(p - centre)) >= 6.0:
            out.append(p)
    return np.array(out)


def _fit_windows(inst: Instance) -> None:
    """Clip or shift each client's window so that it can be served alone under the buffered planning matrix.

    The window closes no later than the last start that still gets back to the
    depot in time, and no earlier than the earliest arrival; a clipped window
    moves earlier to keep its length. Buffered durations bound nominal ones,
    so the nominal instance is then servable too.
    """
    # only the depot's arcs matter for a route of one client: buffer those alone (fast enough for training)
    arcs = np.concatenate([inst.duration[0], inst.duration[:, 0]])
    out_, in_ = np.split(inst.travel_model.quantile_times(arcs, PLANNING_Q, *SHIFT), 2)
    tw, end = inst.time_windows, SHIFT[1]
    for c in range(1, inst.num_nodes):
        earliest = math.ceil(SHIFT[0] + out_[c])
        latest = math.floor(end - inst.service[c] - in_[c])
        a, b = tw[c]
        close = min(max(b, earliest), latest)
        tw[c] = (min(a, max(SHIFT[0], close - (b - a))), close)
    problem = unservable_clients(inst)
    if problem is not None:  # cannot happen in a 30 km city with a 12-hour shift; guards the generator
        raise RuntimeError(f"{inst.name}: {problem}")
