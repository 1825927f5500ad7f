"""Delivery days on a city's roads: time windows and service times on real asymmetric road matrices.

The family real deliveries need: the depot and clients are drawn from a city dataset's split
(envs.roads.city_dataset, OSRM distances in metres and durations in seconds), and each instance
draws its own day so that one policy sees the range a user's depots span:
- the depot is open for a shift of 6 to 10 hours (its window [0, shift]);
- each client takes 2 to 8 minutes to serve;
- a share of 40% to 100% of the clients want a window 30 minutes to 3 hours wide, the others take
  any time of the shift;
- the capacity allows 8 to 25 clients a route on average (demands 1..9), so that on some days
  capacity binds and on others the clock does.
Each window opens no earlier than the drive from the depot and late enough only for what still lets
the vehicle serve the client and return before the depot closes, so every client can be served on a
route of its own (as in envs.generate.variants). `vehicles` limits the fleet to that many vans.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from envs.model.instance import Instance, VehicleType
from envs.roads.city_dataset import CityDataset, sample_instance

SHIFT_HOURS = (6.0, 10.0)
SERVICE_S = (120.0, 480.0)
WINDOWED_SHARE = (0.4, 1.0)
WINDOW_S = (1800.0, 3 * 3600.0)
ROUTE_SIZE = (8, 25)  # clients a route the capacity allows on average
MEAN_DEMAND = 5.0  # demands are uniform in 1..9


def road_day_instance(
    dataset: CityDataset, n: int, split: str = "train", seed: int = 0, vehicles: int | None = None
) -> Instance:
    """One delivery day with n clients on `dataset`'s roads; the same arguments always give the same instance."""
    base = sample_instance(dataset, n, split, seed)  # the locations, matrices and demands
    rng = np.random.default_rng([seed, n, 7])  # the day's own stream, apart from the locations'
    shift = np.round(rng.uniform(*SHIFT_HOURS) * 3600.0)  # whole seconds, as a dispatcher would write them
    service = np.concatenate([[0.0], np.round(rng.uniform(*SERVICE_S, size=n))])
    width = rng.uniform(*WINDOW_S, size=n)
    windowed = rng.random(n) < rng.uniform(*WINDOWED_SHARE)
    to, back = base.duration[0, 1:], base.duration[1:, 0]
    latest_open = np.maximum(to, shift - back - service[1:] - width)
    opens = to + rng.random(n) * (latest_open - to)
    early = np.where(windowed, np.floor(opens), 0.0)  # whole seconds
    late = np.where(windowed, opens + width, shift)
    late = np.floor(np.minimum(late, shift - back - service[1:]))  # never past the last arrival that returns
    windows = np.column_stack([np.concatenate([[0.0], early]), np.concatenate([[shift], late])])
    capacity = float(np.ceil(MEAN_DEMAND * rng.integers(ROUTE_SIZE[0], ROUTE_SIZE[1] + 1)))
    return replace(
        base,
        fleet=[VehicleType(capacity=capacity, count=vehicles, name="van")],
        time_windows=windows,
        service=service,
        name=f"{dataset.name}-day-{split}-{n}-s{seed}",
    )


def road_day_set(dataset: CityDataset, n: int, count: int, seed: int, limited_fleet: bool = True) -> list[Instance]:
    """`count` held-out delivery days (instance i seeded seed + i), drawn from the dataset's test split, or from
    all its locations where the test split is too small for n clients. With `limited_fleet` each day gets as
    many vans as the savings construction (envs.model.savings) needs on it: a fleet known to be enough, and
    tight enough that a constructor which spends routes freely does not fit it."""
    from envs.model.savings import savings

    split = "test" if n + 1 <= len(dataset.indices("test")) else "all"
    out = []
    for i in range(count):
        day = road_day_instance(dataset, n, split, seed + i)
        if limited_fleet:
            plan = savings(day)
            if plan is None:  # every client fits alone, so savings always has a plan; kept as a guard
                raise RuntimeError(f"{day.name}: the savings construction found no plan")
            day = replace(day, fleet=[replace(day.fleet[0], count=len(plan.routes))])
        out.append(day)
    return out
