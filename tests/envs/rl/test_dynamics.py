"""The batched dynamics' masks agree exactly with the checker on every attribute and every combination."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.model.check import check, route_stats
from envs.model.instance import Instance, VehicleType
from envs.model.solution import Solution
from envs.rl import dynamics as dyn
from envs.rl.batch import instance_tensors

FLAGS = ("time_windows", "backhauls", "mixed", "open_routes", "duration_limit", "distance_limit")


def variant_instance(n: int, seed: int, flags: set[str]) -> Instance:
    """Integer data (ties are exact), every client feasible on a route of its own."""
    rng = np.random.default_rng(seed)
    dist = rng.integers(1, 20, (n + 1, n + 1)).astype(float)  # asymmetric
    np.fill_diagonal(dist, 0)
    dur = dist + rng.integers(0, 5, dist.shape)
    np.fill_diagonal(dur, 0)
    cap = 10
    demand = np.r_[0, rng.integers(0, 7, n)]
    pickup = np.r_[0, rng.integers(0, 7, n)] * rng.integers(0, 2, n + 1) if "backhauls" in flags else None
    tw = service = None
    if "time_windows" in flags:
        service = np.r_[0, rng.integers(0, 4, n)].astype(float)
        opens = rng.integers(0, 30, n + 1)
        closes = np.maximum(opens + rng.integers(0, 25, n + 1), dur[0])  # reachable straight from the depot
        tw = np.c_[opens, closes].astype(float)
        tw[0] = [0, (np.maximum(dur[0], tw[:, 0]) + service + dur[:, 0]).max() + rng.integers(0, 8)]
    longest = np.maximum(dur[0], 0 if tw is None else tw[:, 0]) + (0 if service is None else service) + dur[:, 0]
    veh = VehicleType(
        capacity=cap,
        max_duration=longest.max() + rng.integers(0, 30) if "duration_limit" in flags else float("inf"),
        max_distance=(dist[0] + dist[:, 0]).max() + rng.integers(0, 30) if "distance_limit" in flags else float("inf"),
    )
    return Instance(
        distance=dist,
        duration=dur,
        demand=demand,
        fleet=[veh],
        backhaul=pickup,
        time_windows=tw,
        service=service,
        open_routes="open_routes" in flags,
        backhaul_mode="mixed" if "mixed" in flags else "linehaul_first",
    )


def route_ok(inst: Instance, visits: list[int]) -> bool:
    violations: list[str] = []
    route_stats(inst, visits, 0, violations, 0)
    return not violations


variants = st.tuples(st.integers(2, 7), st.integers(0, 2**31), st.sets(st.sampled_from(FLAGS)))


@settings(max_examples=150, deadline=None)
@given(variants, st.integers(0, 2**31))
def test_the_mask_allows_exactly_the_moves_the_checker_accepts(variant, walk_seed):
    n, seed, flags = variant
    inst = variant_instance(n, seed, flags)
    data = instance_tensors(inst, need_coords=False, attributes=True)
    rng = np.random.default_rng(walk_seed)
    state, route, tour = dyn.reset(data, 1), [], []
    while not dyn.done(state).all():
        mask = dyn.action_mask(state)[0, 0]
        for j in range(1, n + 1):
            if not state["visited"][0, 0, j]:
                assert bool(mask[j]) == route_ok(inst, [*route, j]), (flags, route, j)
        a = int(rng.choice(np.flatnonzero(mask.numpy())))
        route = [] if a == 0 else [*route, a]
        tour.append(a)
        state = dyn.step(state, torch.tensor([[a]]))
    # the finished walk is a feasible solution, and the environment's cost is the checker's
    report = check(inst, Solution.from_giant_tour(tour, "walk"))
    assert report.feasible, report.violations
    cost = dyn.tour_cost(data["dist"], torch.tensor([[tour]]), data["open_route"])
    assert abs(float(cost) - report.cost) < 1e-9


def test_cvrp_batches_carry_no_attributes():
    inst = variant_instance(5, 0, set())
    assert "tw" not in instance_tensors(inst, need_coords=False) and "tw" in instance_tensors(
        inst, need_coords=False, attributes=True
    )
    assert "tw" in instance_tensors(variant_instance(5, 0, {"open_routes"}), need_coords=False)


def _walk(inst: Instance, visits: list[int]) -> torch.Tensor:
    """The mask after visiting `visits` from the depot."""
    state = dyn.reset(instance_tensors(inst, need_coords=False, attributes=True), 1)
    for a in visits:
        state = dyn.step(state, torch.tensor([[a]]))
    return dyn.action_mask(state)[0, 0]


def test_named_rules_late_arrival_backhaul_order_mixed_peak_and_long_routes():
    dist = np.full((4, 4), 10.0)
    np.fill_diagonal(dist, 0)
    base = dict(distance=dist, demand=[0, 6, 0, 3], backhaul=[0, 0, 7, 0])  # client 2 is a pickup
    lifo = Instance(**base, fleet=[VehicleType(10)])
    assert not _walk(lifo, [2])[3] and _walk(lifo, [3])[2]  # no delivery after a pickup
    mixed = Instance(**base, fleet=[VehicleType(10)], backhaul_mode="mixed")
    # after picking up 7, delivering 6 means leaving with 6 + 7 on board at the peak: too much
    assert not _walk(mixed, [2])[1] and _walk(mixed, [2])[3] and _walk(mixed, [1])[2]
    late = Instance(**base, fleet=[VehicleType(10)], time_windows=[[0, 100], [0, 15], [0, 100], [0, 100]])
    assert _walk(late, [])[1] and not _walk(late, [3])[1]  # reaching client 1 at 20 > 15
    short = Instance(**base, fleet=[VehicleType(10, max_duration=30)])
    assert _walk(short, [1])[3] and not _walk(short, [1, 3])[2]  # 40 > 30 with the return
    short_open = Instance(**base, fleet=[VehicleType(10, max_distance=30)], open_routes=True)
    assert _walk(short_open, [1, 3])[2]  # open: 30 without the return
