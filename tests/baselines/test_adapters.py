"""OR-Tools and PyVRP adapters: every answer must pass the checker."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
import pyvrp
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.constraint_solver import pywrapcp

from baselines import BASELINES, CANNOT_MODEL, ortools_solver, pyvrp_solver
from baselines.scaling import choose_scale, integerize
from envs.errors import NcoError, UnsupportedFeatureError
from envs.io.load import load_instance
from envs.model.check import check
from envs.model.distances import euclidean
from envs.model.instance import Instance, VehicleType
from envs.model.solution import Route, Solution
from nco.solvers import genetic

SOLVERS = sorted(BASELINES)
TL = 1.0


# ---------------------------------------------------------------- instances
def _cvrp(
    n: int = 25, seed: int = 0, capacity: float = 30, rounding: str = "exact", scale: float = 1.0, **kw
) -> Instance:
    rng = np.random.default_rng(seed)
    coords = rng.random((n + 1, 2)) * scale
    demand = rng.integers(1, 10, n + 1)
    demand[0] = 0
    fleet = kw.pop("fleet", None) or [VehicleType(capacity=capacity)]
    return Instance(
        distance=euclidean(coords, rounding=rounding), demand=demand, fleet=fleet, coords=coords, name=f"rand{n}", **kw
    )


def _windows_around_schedule(n: int = 20, seed: int = 1) -> Instance:
    """Time windows and service times built around a known feasible schedule."""
    rng = np.random.default_rng(seed)
    coords = rng.random((n + 1, 2)) * 100
    dist = euclidean(coords, rounding="dimacs")
    demand = rng.integers(1, 6, n + 1)
    demand[0] = 0
    service = rng.integers(5, 15, n + 1).astype(float)
    service[0] = 0
    tw = np.zeros((n + 1, 2))
    order = rng.permutation(np.arange(1, n + 1))
    latest_return = 0.0
    for chunk in np.array_split(order, 5):  # 5 routes of 4 clients, load <= 20
        t, prev = 0.0, 0
        for c in chunk:
            t += (service[prev] if prev else 0.0) + dist[prev, c]
            tw[c] = [max(0.0, t - rng.uniform(0, 30)), t + rng.uniform(0, 30)]
            prev = c
        latest_return = max(latest_return, t + service[prev] + dist[prev, 0])
    tw[0] = [0.0, latest_return + 10]
    return Instance(
        distance=dist,
        demand=demand,
        fleet=[VehicleType(capacity=20)],
        coords=coords,
        time_windows=tw,
        service=service,
        name="tw",
    )


def _solve_and_check(name: str, inst: Instance, time_limit: float = TL, **kw) -> tuple[Solution, object]:
    sol = BASELINES[name](inst, time_limit=time_limit, **kw)
    report = check(inst, sol)
    assert report.feasible, report.violations
    served = Counter(c for r in sol.routes for c in r.visits)
    assert sorted(served) == list(range(1, inst.num_clients + 1))
    assert set(served.values()) == {1}
    assert sol.solver == name
    assert sol.timings["solve"] > 0
    assert sol.meta["objective"] == pytest.approx(report.cost, rel=1e-3, abs=1e-6)
    return sol, report


# ---------------------------------------------------------------- scaling
def test_choose_scale():
    assert choose_scale(np.array([0.0, 3.0, 17.0])) == 1
    assert choose_scale(np.array([12.3, 4.0, 0.7])) == 10
    assert choose_scale(np.array([0.123456789, 1.4142])) == 100_000
    assert choose_scale(np.array([np.inf, 2.0])) == 1


def test_integerize_is_conservative():
    inst = _cvrp(8, seed=3, capacity=25.5, time_windows=np.tile([0.05, 10.0], (9, 1)), service=np.full(9, 0.3333333))
    ints = integerize(inst)
    for scale, values in ((ints.distance_scale, inst.distance), (ints.time_scale, inst.time_windows[:, 1] - 0.05)):
        assert scale in (100_000, 1_000_000)
        assert 1e5 <= values.max() * scale < 1e6
    assert ints.capacity == [25]
    off = ~np.eye(9, dtype=bool)
    assert np.all(ints.distance[off] >= inst.distance[off] * ints.distance_scale - 1e-6)
    assert np.all(ints.service[1:] >= inst.service[1:] * ints.time_scale - 1e-6)
    assert ints.tw_early[0] == 0  # times start when the depot opens
    assert ints.tw_late[1] <= (10.0 - 0.05) * ints.time_scale
    assert ints.horizon > ints.tw_late.max() - 1


def test_to_pyvrp_solution_round_trip():
    inst = _cvrp(6, seed=2, capacity=100, rounding="round", scale=100)
    data, ints = pyvrp_solver.build_problem_data(inst)
    sol = Solution([Route([1, 2, 3]), Route([4, 5, 6])], solver="test")
    pv = pyvrp_solver.to_pyvrp_solution(data, sol)
    assert pv.is_feasible()
    assert ints.to_cost(pv.distance()) == pytest.approx(check(inst, sol).cost)


def test_pyvrp_penalty_ceiling_fits_scaled_data():
    fleet = [VehicleType(capacity=30, unit_cost=1.25), VehicleType(capacity=60, count=2, unit_cost=0.7)]
    data, ints = pyvrp_solver.build_problem_data(_cvrp(20, seed=12, fleet=fleet))
    assert ints.cost_scale == 100
    # PyVRP's default ceiling of 1e5 is below one average edge cost here.
    assert genetic.solve_params(data).penalty.max_penalty > 1e4 * ints.distance.mean()


# ---------------------------------------------------------------- both solvers
@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.slow
def test_cvrp(name):
    sol, report = _solve_and_check(name, _cvrp(25))
    assert report.num_routes >= 5  # total demand ~125 > 4 * 30


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.slow
def test_asymmetric(name):
    base = _cvrp(20, seed=4, scale=100)
    rng = np.random.default_rng(4)
    dist = base.distance * (1 + rng.random(base.distance.shape))
    inst = Instance(distance=dist, demand=base.demand, fleet=base.fleet, coords=base.coords)
    assert "asymmetric" in inst.features()
    _solve_and_check(name, inst)


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.slow
def test_time_windows_and_service(name):
    inst = _windows_around_schedule()
    assert {"time_windows", "service_times"} <= inst.features()
    _solve_and_check(name, inst)


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.slow
def test_heterogeneous_fleet(name):
    fleet = [
        VehicleType(capacity=15, count=3, fixed_cost=10.0, name="small"),
        VehicleType(capacity=40, count=2, fixed_cost=30.0, unit_cost=1.5, name="big"),
    ]
    inst = _cvrp(20, seed=5, scale=100, fleet=fleet)
    inst.demand[1:] = np.minimum(inst.demand[1:], 5)  # total <= 100 of 125 available
    assert {"heterogeneous_fleet", "fleet_limit", "fixed_costs"} <= inst.features()
    sol, _ = _solve_and_check(name, inst)
    used = Counter(r.vehicle_type for r in sol.routes)
    assert used[0] <= 3 and used[1] <= 2


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.slow
def test_duration_limit(name):
    inst = _cvrp(15, seed=6, capacity=1000, scale=100, service=np.r_[0.0, np.full(15, 25.0)])
    limit = 2 * inst.duration[0].max() + 25 + 40  # every client fits alone, 375 of service cannot
    inst = replace(inst, fleet=[replace(inst.fleet[0], max_duration=limit), *inst.fleet[1:]])
    assert "duration_limits" in inst.features()
    _, report = _solve_and_check(name, inst)
    assert report.num_routes > 1
    assert max(r.duration for r in report.routes) <= limit + 1e-6


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.slow
def test_distance_limit(name):
    inst = _cvrp(15, seed=7, capacity=1000, scale=100)
    limit = 2 * inst.distance[0].max() + 20
    inst = replace(inst, fleet=[replace(inst.fleet[0], max_distance=limit), *inst.fleet[1:]])
    assert "distance_limits" in inst.features()
    _, report = _solve_and_check(name, inst)
    assert max(r.distance for r in report.routes) <= limit + 1e-6


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.slow
def test_allowed_masks(name):
    n = 15
    allowed = np.ones(n + 1, dtype=bool)
    allowed[1:6] = False
    fleet = [VehicleType(capacity=40, allowed=allowed), VehicleType(capacity=20, count=3, fixed_cost=5.0)]
    inst = _cvrp(n, seed=8, scale=100, fleet=fleet)
    assert "profiles" in inst.features()
    sol, _ = _solve_and_check(name, inst)
    assert all(c > 5 for r in sol.routes if r.vehicle_type == 0 for c in r.visits)


# ---------------------------------------------------------------- backhauls and open routes
# (solver, backhaul mode) pairs each solver can model: PyVRP has no linehaul-first ordering.
BACKHAUL_MODELS = [(name, mode) for name in SOLVERS for mode in ("mixed", "linehaul_first")]
BACKHAUL_MODELS.remove(("pyvrp", "linehaul_first"))


def _backhauls(n: int = 16, seed: int = 0, mode: str = "mixed", capacity: float = 30, **kw) -> Instance:
    """Delivery clients, pickup clients and a few with both."""
    rng = np.random.default_rng(seed)
    coords = rng.random((n + 1, 2)) * 100
    kind = rng.choice(3, n + 1, p=[0.45, 0.45, 0.1])  # delivery, pickup, both
    demand = np.where(kind != 1, rng.integers(1, 10, n + 1), 0)
    pickup = np.where(kind != 0, rng.integers(1, 10, n + 1), 0)
    demand[0] = pickup[0] = 0
    fleet = kw.pop("fleet", None) or [VehicleType(capacity=capacity)]
    return Instance(
        distance=euclidean(coords, rounding="round"),
        demand=demand,
        backhaul=pickup,
        backhaul_mode=mode,
        fleet=fleet,
        coords=coords,
        name=f"vrpb{n}",
        **kw,
    )


def _one_vehicle(mode: str) -> Instance:
    """Seven clients, one vehicle; the deliveries fill it and so do the pickups: where it may pick up is everything."""
    coords = np.random.default_rng(3).random((8, 2)) * 100
    return Instance(
        distance=euclidean(coords, rounding="round"),
        demand=[0, 3, 0, 3, 0, 3, 0, 3],
        backhaul=[0, 0, 4, 0, 4, 0, 4, 0],
        backhaul_mode=mode,
        fleet=[VehicleType(capacity=12, count=1)],
        coords=coords,
        name=f"one-{mode}",
    )


def _brute_force(inst: Instance) -> tuple[float, float]:
    """Over every order of a one-route instance: the best cost the checker accepts, and the best cost of any order."""
    best = unconstrained = np.inf
    for order in itertools.permutations(range(1, inst.num_clients + 1)):
        report = check(inst, Solution([Route(list(order))], solver="brute"))
        unconstrained = min(unconstrained, report.cost)
        if report.feasible:
            best = min(best, report.cost)
    return best, unconstrained


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.slow
def test_open_routes(name):
    inst = _cvrp(15, seed=13, rounding="round", scale=100, open_routes=True)
    assert inst.features() == {"open_routes"}
    sol, report = _solve_and_check(name, inst)
    closed = check(Instance(distance=inst.distance, demand=inst.demand, fleet=inst.fleet), sol)
    assert report.cost < closed.cost  # the returns are not paid for


@pytest.mark.parametrize("name,mode", BACKHAUL_MODELS)
@pytest.mark.slow
def test_backhauls(name, mode):
    inst = _backhauls(16, seed=14, mode=mode)
    assert inst.features() == {"backhauls"}
    _solve_and_check(name, inst)


@pytest.mark.parametrize("name,mode", BACKHAUL_MODELS)
def test_backhaul_load_rule_binds(name, mode):
    inst = _one_vehicle(mode)
    best, unconstrained = _brute_force(inst)
    # Totals always fit (12 delivered, 12 picked up): a model that only capped them, or let a delivery follow a
    # pickup under linehaul-first, would return a cheaper order the checker refuses.
    assert unconstrained < best
    _, report = _solve_and_check(name, inst, time_limit=0.5)
    assert report.cost == pytest.approx(best)


def test_linehaul_first_is_stricter_than_mixed():
    mixed, _ = _brute_force(_one_vehicle("mixed"))
    sol, report = _solve_and_check("ortools", _one_vehicle("linehaul_first"), time_limit=0.5)
    assert report.cost > mixed
    assert check(_one_vehicle("mixed"), sol).feasible


def test_pyvrp_refuses_linehaul_first():
    inst = _backhauls(12, seed=15, mode="linehaul_first")
    reason = pyvrp_solver.cannot_model(inst)
    assert reason and "\n" not in reason and "linehaul-first" in reason and "pyvrp" in reason
    with pytest.raises(UnsupportedFeatureError) as err:
        pyvrp_solver.solve(inst, time_limit=0.1)
    assert str(err.value) == reason
    with pytest.raises(UnsupportedFeatureError):
        pyvrp_solver.build_problem_data(inst)  # the hybrid's way in
    assert ortools_solver.cannot_model(inst) is None
    # Where no pickup client and another delivery client could share a route the order cannot matter.
    pickups_only = Instance(distance=inst.distance, demand=np.zeros(13), backhaul=inst.backhaul + 1, fleet=inst.fleet)
    assert pyvrp_solver.cannot_model(pickups_only) is None
    _solve_and_check("pyvrp", pickups_only, time_limit=0.2)


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.slow
def test_open_routes_with_time_windows(name):
    base = _windows_around_schedule()
    tw = base.time_windows.copy()
    # The depot closes before any service can end: routes that do not return are not bound by it (the checker's rule).
    tw[0, 1] = (base.duration[0, 1:] + base.service[1:]).min() / 2
    kw = {
        "distance": base.distance,
        "demand": base.demand,
        "fleet": base.fleet,
        "time_windows": tw,
        "service": base.service,
    }
    inst = Instance(**kw, open_routes=True)
    assert {"open_routes", "time_windows", "service_times"} <= inst.features()
    sol, _ = _solve_and_check(name, inst)
    assert not check(Instance(**kw), sol).feasible


@pytest.mark.parametrize("name", SOLVERS)
def test_mixed_backhauls_do_not_reload(name):
    """One vehicle, deliveries beyond its capacity: it would have to call at the depot again, which routes do not."""
    inst = _one_vehicle("mixed")
    inst.demand[[1, 3]] = 6  # 18 to deliver, capacity 12
    with pytest.raises(NcoError):
        BASELINES[name](inst, time_limit=0.2)


@pytest.mark.parametrize("name,mode", BACKHAUL_MODELS)
@pytest.mark.slow
def test_backhauls_with_duration_limit(name, mode):
    inst = _backhauls(15, seed=16, mode=mode, service=np.r_[0.0, np.full(15, 25.0)])
    limit = 2 * inst.duration[0].max() + 25 + 40  # every client fits alone, 375 of service cannot
    inst = replace(inst, fleet=[replace(inst.fleet[0], max_duration=limit), *inst.fleet[1:]])
    assert {"backhauls", "duration_limits"} <= inst.features()
    _, report = _solve_and_check(name, inst)
    assert max(r.duration for r in report.routes) <= limit + 1e-6


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["mixed", "linehaul_first"]),
    open_routes=st.booleans(),
    timed=st.booleans(),
)
def test_models_accept_exactly_what_the_checker_accepts(seed, mode, open_routes, timed):
    """Fixed routes: OR-Tools' model and PyVRP's data hold them feasible exactly when the checker does, at its cost."""
    n = 8
    rng = np.random.default_rng(seed)
    kw = {}
    if timed:  # whole numbers, so that the integer model is exact; the depot's closing can bind closed routes
        service = np.r_[0, rng.integers(0, 20, n)]
        early = rng.integers(0, 200, n + 1)
        tw = np.c_[early, early + rng.integers(20, 200, n + 1)]
        tw[0] = [0, 250]
        limit = float(rng.choice([np.inf, 220]))
        kw = {"service": service, "time_windows": tw, "fleet": [VehicleType(capacity=20, max_duration=limit)]}
    inst = _backhauls(n, seed, mode, capacity=20, open_routes=open_routes, **kw)
    ints = integerize(inst)
    manager, routing, vehicle_types = ortools_solver.build_model(inst, ints)
    routing.CloseModelWithParameters(pywrapcp.DefaultRoutingSearchParameters())
    data = None if pyvrp_solver.cannot_model(inst) else pyvrp_solver.build_problem_data(inst)[0]
    for _ in range(20):
        cuts = np.sort(rng.choice(np.arange(1, n), rng.integers(0, 4), replace=False))
        routes = [[int(c) for c in r] for r in np.split(rng.permutation(np.arange(1, n + 1)), cuts)]
        sol = Solution([Route(r) for r in routes], solver="test")
        report = check(inst, sol)
        assignment = ortools_solver.read_solution(inst, sol, manager, routing, vehicle_types)
        assert (assignment is not None) == report.feasible, (routes, report.violations)
        if assignment is not None:
            assert ints.to_cost(assignment.ObjectiveValue()) == pytest.approx(report.cost)
        if data is not None:
            pv = pyvrp_solver.to_pyvrp_solution(data, sol)
            assert pv.is_feasible() == report.feasible, (routes, report.violations)
            assert ints.to_cost(pv.distance()) == pytest.approx(report.distance)


@pytest.mark.slow
def test_warm_starts_with_backhauls_and_open_routes():
    inst = _backhauls(14, seed=17, mode="mixed", open_routes=True)
    good = BASELINES["pyvrp"](inst, time_limit=0.3)
    sol, report = _solve_and_check("ortools", inst, time_limit=0.3, initial=good)
    assert sol.meta["warm_start"] == "used"
    assert report.cost <= check(inst, good).cost + 1e-9
    # OR-Tools' routes seed PyVRP's search, which with no time gives back the seed (or better)
    seeded, _ = _solve_and_check("pyvrp", inst, time_limit=0.3, initial=sol)
    assert seeded.meta["initial_used"]
    data, ints = pyvrp_solver.build_problem_data(inst)
    run = genetic.run_genetic(data, 0.0, initial=[pyvrp_solver.to_pyvrp_solution(data, sol)])
    back = genetic.to_solution(inst, run, ints, 0.0, "test", {})
    assert check(inst, back).feasible and check(inst, back).cost <= report.cost + 1e-9

    lifo = _backhauls(14, seed=17, mode="linehaul_first")
    start = Solution([Route([c]) for c in range(1, 15)], solver="test")
    sol, report = _solve_and_check("ortools", lifo, time_limit=0.3, initial=start)
    assert sol.meta["warm_start"] == "used"
    assert report.cost <= check(lifo, start).cost
    out_of_order = Solution([Route(sorted(range(1, 15), key=lambda c: -lifo.backhaul[c]))], solver="test")
    assert not check(lifo, out_of_order).feasible
    sol, _ = _solve_and_check("ortools", lifo, time_limit=0.3, initial=out_of_order)
    assert sol.meta["warm_start"] == "rejected"


@pytest.mark.parametrize("name", SOLVERS)
def test_unsupported_feature(name):
    inst = _cvrp(6, travel_model={"noise_sigma": 0.2})
    assert CANNOT_MODEL[name](_cvrp(6)) is None
    reason = CANNOT_MODEL[name](inst)
    with pytest.raises(UnsupportedFeatureError) as err:
        BASELINES[name](inst, time_limit=0.1)
    assert str(err.value) == reason
    assert "\n" not in reason and name in reason and "stochastic" in reason


# ---------------------------------------------------------------- OR-Tools warm start
@pytest.mark.slow
def test_ortools_warm_start_no_worse():
    inst = _cvrp(20, seed=9, rounding="round", scale=100)
    start = Solution([Route([c]) for c in range(1, 21)], solver="test")
    start_cost = check(inst, start).cost
    sol, report = _solve_and_check("ortools", inst, initial=start)
    assert sol.meta["warm_start"] == "used"
    assert report.cost <= start_cost

    good = BASELINES["pyvrp"](inst, time_limit=0.5)
    sol, report = _solve_and_check("ortools", inst, time_limit=0.5, initial=good)
    assert sol.meta["warm_start"] == "used"
    assert report.cost <= check(inst, good).cost + 1e-9


def test_ortools_warm_start_rejected_still_solves():
    inst = _cvrp(10, seed=10, fleet=[VehicleType(capacity=100, count=2)])
    start = Solution([Route([c]) for c in range(1, 11)], solver="test")  # needs 10 vehicles
    sol, _ = _solve_and_check("ortools", inst, time_limit=0.3, initial=start)
    assert sol.meta["warm_start"] == "rejected"


def test_supported_sets_are_known_features():
    from envs.model.instance import FEATURES

    for mod in (ortools_solver, pyvrp_solver):
        assert mod.SUPPORTED <= set(FEATURES)
        assert {"backhauls", "open_routes"} <= mod.SUPPORTED
        assert "stochastic" not in mod.SUPPORTED


# ---------------------------------------------------------------- property
@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(5, 12),
    seed=st.integers(0, 10_000),
    capacity=st.integers(9, 40),
    asym=st.booleans(),
    unit_cost=st.sampled_from([None, 1.25, 0.7]),
)
@pytest.mark.slow
def test_random_cvrp_always_feasible(n, seed, capacity, asym, unit_cost):
    fleet = [VehicleType(capacity=capacity)]
    if unit_cost is not None:
        fleet.append(VehicleType(capacity=2 * capacity, count=2, fixed_cost=0.5, unit_cost=unit_cost))
    inst = _cvrp(n, seed=seed, fleet=fleet)
    if asym:
        rng = np.random.default_rng(seed)
        inst = Instance(
            distance=inst.distance * (1 + rng.random(inst.distance.shape)), demand=inst.demand, fleet=inst.fleet
        )
    for name in SOLVERS:
        _solve_and_check(name, inst, time_limit=0.2)


@pytest.mark.parametrize("name", SOLVERS)
def test_infeasible_instance_raises_one_line(name):
    inst = _cvrp(5, seed=11, scale=100)
    tw = inst.time_windows.copy()
    tw[1] = [0.0, inst.distance[0, 1] / 2]  # cannot be reached in time
    inst = Instance(distance=inst.distance, demand=inst.demand, fleet=inst.fleet, time_windows=tw)
    with pytest.raises(NcoError) as err:
        BASELINES[name](inst, time_limit=0.2)
    assert "\n" not in str(err.value) and "no" in str(err.value)


@pytest.mark.parametrize("name", SOLVERS)
def test_single_client(name):
    inst = Instance(distance=[[0, 3], [4, 0]], demand=[0, 2], fleet=[VehicleType(capacity=5)])
    sol, report = _solve_and_check(name, inst, time_limit=0.1)
    assert report.cost == 7


# ---------------------------------------------------------------- profile preferences
def _preferences(seed: int = 0, weight: float = 80.0, unit_b: float = 1.5) -> Instance:
    """Six clients, two vehicle types with opposite preferences (some negative, not whole) and allowed masks."""
    rng = np.random.default_rng(seed)
    coords = np.round(rng.random((7, 2)) * 100)
    demand = np.r_[0, rng.integers(2, 6, 6)]
    pref_a = np.array([0.0, 1.5, 1.2, 0.8, -0.3, -0.6, 0.0])
    pref_b = np.array([0.0, -0.4, 0.0, 0.2, 1.1, 0.9, 1.7])
    allowed_a = np.array([True] * 6 + [False])  # A may not serve client 6
    allowed_b = np.array([True, False] + [True] * 5)  # B may not serve client 1
    fleet = [
        VehicleType(capacity=12, count=2, fixed_cost=10.0, preference=pref_a, allowed=allowed_a, name="A"),
        VehicleType(
            capacity=15, count=2, fixed_cost=5.0, unit_cost=unit_b, preference=pref_b, allowed=allowed_b, name="B"
        ),
    ]
    return Instance(
        distance=euclidean(coords, rounding="round"),
        demand=demand,
        fleet=fleet,
        coords=coords,
        preference_weight=weight,
        name=f"pref{seed}",
    )


def _set_partitions(items: list[int]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _set_partitions(rest):
        yield [[first], *part]
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1 :]]


def _brute_force_fleet(inst: Instance) -> tuple[float, Solution]:
    """The cheapest checker-feasible solution over every partition of the clients, vehicle types and route orders."""
    dist = inst.distance
    best_route: dict[tuple[frozenset, int], tuple[float, list[int]]] = {}
    clients = list(range(1, inst.num_nodes))
    for size in range(1, len(clients) + 1):
        for subset in itertools.combinations(clients, size):
            for k, veh in enumerate(inst.fleet):
                if inst.demand[list(subset)].sum() > veh.capacity or not all(veh.allowed[c] for c in subset):
                    continue
                order = min(
                    itertools.permutations(subset),
                    key=lambda p: sum(dist[a, b] for a, b in zip((0, *p), (*p, 0))),
                )
                route = Solution([Route(list(order), k)], solver="brute")
                best_route[frozenset(subset), k] = (check(inst, route).cost, list(order))
    best, best_sol = np.inf, None
    for part in _set_partitions(clients):
        for types in itertools.product(range(len(inst.fleet)), repeat=len(part)):
            if any(types.count(k) > v.count for k, v in enumerate(inst.fleet)):
                continue
            keys = [(frozenset(block), k) for block, k in zip(part, types)]
            if all(key in best_route for key in keys):
                cost = sum(best_route[key][0] for key in keys)
                if cost < best - 1e-9:
                    best = cost
                    best_sol = Solution([Route(best_route[key][1], key[1]) for key in keys], solver="brute")
    report = check(inst, best_sol)
    assert report.feasible and report.cost == pytest.approx(best)
    return best, best_sol


def _assignment(sol: Solution) -> set[tuple[int, int]]:
    return {(c, r.vehicle_type) for r in sol.routes for c in r.visits}


@pytest.mark.parametrize("seed,unit_b", [(1, 1.5), (4, 1.5), (4, 0.0)])
@pytest.mark.slow
def test_preferences_reach_the_brute_force_optimum(seed, unit_b):
    inst = _preferences(seed, unit_b=unit_b)
    assert "profiles" in inst.features()
    best, best_sol = _brute_force_fleet(inst)
    plain = replace(inst, preference_weight=0.0)
    _, plain_sol = _brute_force_fleet(plain)
    assert _assignment(plain_sol) != _assignment(best_sol)  # the preferences change the optimum
    for name in SOLVERS:
        assert CANNOT_MODEL[name](inst) is None
        sol, report = _solve_and_check(name, inst, time_limit=0.5)
        assert report.cost == pytest.approx(best, rel=1e-6)
        assert sol.meta["objective"] == pytest.approx(report.cost, rel=1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), weight=st.sampled_from([0.37, 40.0, 1234.5]))
def test_preference_models_price_routes_as_the_checker(seed, weight):
    """Fixed routes: OR-Tools' objective and PyVRP's cost equal the checker's cost, preferences included."""
    inst = _preferences(seed % 7, weight=weight)
    ints = integerize(inst)
    assert ints.preference is not None and ints.preference.min() == 0
    manager, routing, vehicle_types = ortools_solver.build_model(inst, ints)
    routing.CloseModelWithParameters(pywrapcp.DefaultRoutingSearchParameters())
    data, _ = pyvrp_solver.build_problem_data(inst)
    evaluator = pyvrp.CostEvaluator([0], 0, 0)
    rng = np.random.default_rng(seed)
    for _ in range(15):
        cuts = np.sort(rng.choice(np.arange(1, 6), rng.integers(1, 4), replace=False))
        routes = [[int(c) for c in r] for r in np.split(rng.permutation(np.arange(1, 7)), cuts)]
        types = [0 if 6 in r else 1 if 1 in r else int(rng.integers(2)) for r in routes]
        if max(types.count(0), types.count(1)) > 2:  # two vehicles of each type
            continue
        sol = Solution([Route(r, k) for r, k in zip(routes, types)], solver="test")
        report = check(inst, sol)
        pv = pyvrp_solver.to_pyvrp_solution(data, sol)
        assignment = ortools_solver.read_solution(inst, sol, manager, routing, vehicle_types)
        assert (assignment is not None) == report.feasible == pv.is_feasible(), report.violations
        if report.feasible:
            assert ints.to_cost(assignment.ObjectiveValue()) == pytest.approx(report.cost, rel=1e-9, abs=1e-9)
            assert ints.to_cost(evaluator.cost(pv)) == pytest.approx(report.cost, rel=1e-9, abs=1e-9)


def test_pyvrp_refuses_preferences_with_distance_limits():
    inst = _preferences(0)
    inst = replace(inst, fleet=[*inst.fleet[:1], replace(inst.fleet[1], max_distance=1000.0), *inst.fleet[2:]])
    reason = CANNOT_MODEL["pyvrp"](inst)
    assert reason is not None and "\n" not in reason
    assert "pyvrp" in reason and "preferences" in reason and "distance limits" in reason
    with pytest.raises(UnsupportedFeatureError):
        BASELINES["pyvrp"](inst, time_limit=0.1)
    assert CANNOT_MODEL["ortools"](inst) is None
    _solve_and_check("ortools", inst, time_limit=0.3)
    inst = replace(inst, preference_weight=0.0)  # without preferences, distance limits are fine
    assert CANNOT_MODEL["pyvrp"](inst) is None


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.slow
def test_hfvrp_smoke(name):
    inst = load_instance(DATA / "hfvrp" / "X101-FSMFD.vrp")
    sol, report = _solve_and_check(name, inst, time_limit=1.0)
    assert report.cost <= 1.3 * inst.best_known
