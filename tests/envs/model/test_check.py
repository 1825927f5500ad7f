"""The one checker: cost from the matrices, and each feasibility rule caught with a readable violation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.errors import InstanceError
from envs.model.check import check
from envs.model.distances import euclidean
from envs.model.instance import Instance, VehicleType
from envs.model.solution import Route, Solution


def line_instance(n=4, **kw):
    """Clients on a line at x = 1..n, depot at 0; distance |i - j|."""
    coords = np.array([[i, 0.0] for i in range(n + 1)])
    kw.setdefault("fleet", [VehicleType(capacity=10)])
    return Instance(distance=euclidean(coords), demand=kw.pop("demand", [0] + [1] * n), coords=coords, **kw)


def sol(*routes, types=None):
    types = types or [0] * len(routes)
    return Solution([Route(list(r), t) for r, t in zip(routes, types)], solver="test")


def test_cost_and_feasible_route():
    inst = line_instance()
    rep = check(inst, sol([1, 2], [3, 4]))
    assert rep.feasible and rep.cost == pytest.approx(4 + 8) and rep.num_routes == 2


def test_missing_duplicate_and_unknown_clients():
    inst = line_instance()
    assert "not served" in check(inst, sol([1, 2, 3])).violations[0]
    assert any("more than once" in v for v in check(inst, sol([1, 2, 3, 4], [4])).violations)
    assert "unknown node 9" in check(inst, sol([1, 2, 3, 4, 9])).violations[0]


def test_capacity():
    inst = line_instance(demand=[0, 4, 4, 4, 1])
    rep = check(inst, sol([1, 2, 3], [4]))
    assert not rep.feasible and "load 12 exceeds capacity 10" in rep.violations[0]


def test_time_window_late_arrival_and_waiting():
    tw = np.array([[0, 100], [5, 6], [0, 3], [0, 100], [0, 100]], dtype=float)
    inst = line_instance(time_windows=tw)
    # arrives at client 1 at t=1, waits to 5, reaches client 2 at 6 > 3: late
    rep = check(inst, sol([1, 2], [3], [4]))
    assert not rep.feasible and "after its window closes at 3" in rep.violations[0]
    assert check(inst, sol([2], [1], [3, 4])).feasible


def test_depot_closing_and_duration_limit():
    tw = np.array([[0, 7], *[[0, 100]] * 4], dtype=float)
    inst = line_instance(time_windows=tw)
    assert "returns to the depot at 8" in check(inst, sol([1, 2, 3, 4])).violations[0]
    inst = line_instance(fleet=[VehicleType(capacity=10, max_duration=6, max_distance=5)])
    vs = check(inst, sol([1], [2], [3, 4])).violations
    assert any("duration 8 exceeds the limit 6" in v for v in vs) and any("distance 8 exceeds" in v for v in vs)


def test_fleet_counts_allowed_clients_and_fixed_costs():
    allowed = np.array([True, True, True, False, False])
    fleet = [VehicleType(capacity=10, count=1, fixed_cost=100, allowed=allowed), VehicleType(capacity=10, unit_cost=2)]
    inst = line_instance(fleet=fleet)
    rep = check(inst, sol([1, 2], [3, 4], types=[0, 1]))
    assert rep.feasible and rep.cost == pytest.approx(100 + 4 + 2 * 8)
    vs = check(inst, sol([1], [2], [3, 4], types=[0, 0, 1])).violations
    assert vs == ["vehicle type 0 used 2 times, only 1 available"]
    assert "may not serve client 3" in check(inst, sol([1, 2, 3], [4], types=[0, 1])).violations[0]


def test_backhauls_and_open_routes():
    inst = line_instance(demand=[0, 5, 0, 5, 0], backhaul=[0, 0, 5, 0, 5])
    assert check(inst, sol([1, 3, 2, 4])).feasible  # linehauls first, then pickups: peak load 10
    assert "linehaul client 3 after a backhaul" in check(inst, sol([1, 2, 3, 4])).violations[0]
    mixed = line_instance(demand=[0, 5, 0, 5, 0], backhaul=[0, 0, 5, 0, 5], backhaul_mode="mixed")
    assert check(mixed, sol([1, 2, 3, 4])).feasible  # 10, 5, 10, 5, 10 on board
    rep = check(mixed, sol([2, 1, 3, 4]))  # leaves with 10, picks up 5 first: 15
    assert not rep.feasible and "load 15" in rep.violations[0]
    opened = line_instance(open_routes=True)
    assert check(opened, sol([1, 2, 3, 4])).cost == pytest.approx(4)


def test_instance_rejects_demand_no_vehicle_may_carry():
    with pytest.raises(InstanceError, match="more than any vehicle"):
        line_instance(demand=[0, 1, 11, 1, 1])
    allowed = np.array([True, True, False, True, True])
    with pytest.raises(InstanceError, match="no vehicle type is allowed to serve client 2"):
        line_instance(fleet=[VehicleType(capacity=10, allowed=allowed)])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_capacity_respecting_partition_is_feasible_and_costed_from_the_matrix(data):
    n = data.draw(st.integers(1, 15))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dist = rng.integers(1, 100, size=(n + 1, n + 1)).astype(float)  # asymmetric
    np.fill_diagonal(dist, 0)
    demand = np.concatenate([[0], rng.integers(0, 6, size=n)])
    inst = Instance(distance=dist, demand=demand, fleet=[VehicleType(capacity=10)])
    order = list(rng.permutation(np.arange(1, n + 1)))
    routes, cur, load = [], [], 0
    for c in order:  # greedy split by capacity
        if load + demand[c] > 10:
            routes.append(cur)
            cur, load = [], 0
        cur.append(int(c))
        load += demand[c]
    routes.append(cur)
    rep = check(inst, sol(*routes))
    expect = sum(dist[a, b] for r in routes for a, b in zip([0, *r], [*r, 0]))
    assert rep.feasible and rep.cost == pytest.approx(expect)
    # dropping any client makes it infeasible
    victim = data.draw(st.sampled_from(order))
    broken = [[c for c in r if c != victim] for r in routes]
    assert not check(inst, sol(*broken)).feasible


def test_neural_solver_on_an_asymmetric_matrix_is_feasible_and_picks_on_the_matrix():
    from envs.generate.cvrp import uniform_instance
    from nco.solvers import construct

    base = uniform_instance(30, seed=4)
    rng = np.random.default_rng(0)
    skew = base.distance * rng.uniform(1.0, 2.0, size=base.distance.shape)  # one-way streets
    inst = Instance(distance=skew, demand=base.demand, fleet=base.fleet, coords=base.coords)
    assert "asymmetric" in inst.features()
    solution = construct.solve(inst, num_starts=30, num_augment=8)
    rep = check(inst, solution)
    assert rep.feasible
    greedy = check(inst, construct.solve(inst, num_starts=None, num_augment=1))
    assert rep.cost <= greedy.cost + 1e-9  # the best of 240 rollouts, judged on the skewed matrix
