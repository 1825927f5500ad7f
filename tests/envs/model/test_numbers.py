"""Numbers an instance cannot hold are refused in one line before solving (issue 15, "silent wrong answers").

Every number of an instance is at most MAX_MAGNITUDE (1e15, envs/model/instance.py); the integer model of the
baselines also bounds route totals by 2**53 (baselines/scaling.py); the travel model bounds its parameters.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baselines import ortools_solver, pyvrp_solver
from baselines.scaling import MAX_TOTAL, integerize
from envs.errors import EXIT_BAD_INPUT, InstanceError
from envs.io.json_format import instance_from_dict
from envs.model.check import check
from envs.model.instance import MAX_MAGNITUDE, Instance, VehicleType
from envs.model.travel_model import Peak, TravelModel, planning_instance
from nco.cli.main import main

SOLVERS = ("nco", "ortools", "pyvrp")
BASELINES = {"ortools": ortools_solver.solve, "pyvrp": pyvrp_solver.solve}


def _doc(**kw) -> dict:
    d = {
        "name": "t",
        "depot": {"id": "d", "x": 0, "y": 0},
        "clients": [
            {"id": "a", "x": 1, "y": 0, "demand": 1},
            {"id": "b", "x": 0, "y": 1, "demand": 1},
            {"id": "c", "x": 1, "y": 1, "demand": 1},
        ],
        "fleet": [{"capacity": 10}],
    }
    d.update(kw)
    return d


def _matrix(value: float = 10.0) -> list[list[float]]:
    return [[0 if i == j else value for j in range(4)] for i in range(4)]


def _big_entry() -> dict:
    m = _matrix()
    m[1][2] = 1e20  # the case: int64 wrapped it to -9223372036854775808 and the solvers took the "shortcut"
    return _doc(distance_matrix=m)


def _coords() -> dict:
    d = _doc()
    d["clients"][0]["x"] = 1e308
    return d


def _capacity() -> dict:
    return _doc(fleet=[{"capacity": 1e308}])


def _demand() -> dict:
    d = _doc(fleet=[{"capacity": 1e15}])
    d["clients"][1]["demand"] = 10**400  # JSON integers have no limit: this one does not even convert to float
    return d


CASES = {
    "entry 1e20": (_big_entry, "distance_matrix[1][2] is 1e+20"),
    "all 1e308": (lambda: _doc(distance_matrix=_matrix(1e308)), "distance_matrix[0][1] is 1e+308"),
    "coordinates 1e308": (_coords, "clients[0].x is 1e+308"),
    "noise_sigma 1e308": (
        lambda: _doc(travel_model={"noise_sigma": 1e308}),
        "travel_model.noise_sigma must be at most 10",
    ),
    "capacity 1e308": (_capacity, "fleet[0].capacity is 1e+308"),
    "demand 10**400": (_demand, "clients[1].demand is 1000000"),
}


def _solve_cli(capsys, path, solver: str) -> tuple[int, str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (overflow, invalid cast) fails the test
        code = main(["solve", "--instance", str(path), "--time-limit", "0", "--solver", solver])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- the CLI, one line and exit 2
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_refuses_in_one_line(tmp_path, capsys, case, solver):
    build, expected = CASES[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(build()))
    code, out, err = _solve_cli(capsys, path, solver)
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: bad.json: "), err
    assert expected in err


# ---------------------------------------------------------------- the Python API
def _instance(**kw) -> Instance:
    args = dict(distance=np.array(_matrix(), dtype=float), demand=[0, 1, 1, 1], fleet=[VehicleType(capacity=10)])
    args.update(kw)
    return Instance(**args)


def _with(m: np.ndarray, i: int, j: int, v: float) -> np.ndarray:
    m = m.copy()
    m[i, j] = v
    return m


BASE = np.array(_matrix(), dtype=float)
API_CASES = [
    (dict(distance=_with(BASE, 1, 2, np.nan)), r"distance matrix entry \[1\]\[2\] is NaN"),
    (dict(distance=_with(BASE, 1, 2, 1e20)), r"distance matrix entry \[1\]\[2\] is 1e\+20; entries must be at most"),
    (dict(duration=_with(BASE, 3, 0, 1e16)), r"duration matrix entry \[3\]\[0\] is 1e\+16"),
    (dict(coords=np.array([[0, 0], [1, 0], [np.nan, 1], [1, 1]])), r"client 2 has a NaN or infinite coordinate"),
    (dict(coords=np.array([[0, 0], [1, 0], [1e308, 1], [1, 1]])), r"client 2 has coordinate 1e\+308"),
    (dict(demand=[0, 1, np.nan, 1]), r"demand of client 2 is nan"),
    (dict(fleet=[VehicleType(capacity=1e300)]), r"vehicle type 0 capacity is 1e\+300"),
    (dict(demand=[0, 1, 1e300, 1], fleet=[VehicleType(capacity=1e15)]), r"demand of client 2 is 1e\+300"),
    (dict(service=[0, 1e16, 0, 0]), r"service of client 1 is 1e\+16"),
    (dict(fleet=[VehicleType(capacity=np.nan)]), r"needs a positive capacity, got nan"),
    (dict(fleet=[VehicleType(capacity=10, fixed_cost=np.nan)]), r"vehicle type 0 fixed_cost is nan"),
    (dict(fleet=[VehicleType(capacity=10, unit_cost=1e20)]), r"unit_cost is 1e\+20"),
    (dict(fleet=[VehicleType(capacity=10, count=np.inf)]), r"count must be a positive whole number"),
    (dict(fleet=[VehicleType(capacity=10, max_duration=np.nan)]), r"max_duration is nan"),
    (dict(fleet=[VehicleType(capacity=10, max_distance=1e308)]), r"max_distance is 1e\+308.*leave it out"),
    (dict(time_windows=[[0, np.inf], [0, 1e20], [0, np.inf], [0, np.inf]]), r"client 1 .* closes at 1e\+20"),
    (dict(time_windows=[[-np.inf, np.inf]] + [[0, np.inf]] * 3), r"the depot has a time window that opens at -inf"),
    (dict(demand=[0, 1, 10**400, 1]), r"demand has a number too large for a float"),
    (dict(fleet=[VehicleType(capacity=10**400)]), r"capacity is 1000000000.*; it must be finite, at most 1e\+15"),
    (dict(preference_weight=np.nan), r"preference_weight must be between 0 and 1e\+15"),
    (dict(best_known=np.nan), r"best_known"),
]


@pytest.mark.parametrize(("kw", "match"), API_CASES)
def test_api_refuses_in_one_line(kw, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InstanceError, match=match) as err:
            _instance(**kw)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(noise_sigma=1e308), r"noise_sigma must be at most 10"),
        (dict(noise_sigma=10.5), r"noise_sigma must be at most 10"),
        (dict(accident_rate=0.1, accident_delay=1e308), r"accident_delay must be at most 1e\+15"),
        (dict(peaks=(Peak(1.0, 1.0, 1.0),), noise_sigma=np.nan), r"noise_sigma must be a finite number"),
    ],
)
def test_travel_model_bounds(kw, match):
    with pytest.raises(InstanceError, match=match):
        TravelModel(**kw)


@pytest.mark.parametrize(
    ("peak", "match"),
    [
        ((1e308, 60.0, 0.5), r"peak\.time must be at most 1e\+15 in magnitude"),
        ((120.0, 1e308, 0.5), r"peak\.width must be at most 1e\+15"),
        ((120.0, 1e-300, 0.5), r"peak\.width must be at least 1e-06"),
        ((120.0, 60.0, 1e308), r"peak\.amplitude must be at most 1e\+15 \(a slow-down of 1 \+ amplitude\)"),
    ],
)
def test_peak_bounds(peak, match):
    with pytest.raises(InstanceError, match=match):
        Peak(*peak)


def test_travel_model_in_json_names_the_parameter():
    doc = _doc(travel_model={"peaks": [{"time": 0, "width": 5, "amplitude": 2e15}]})
    with pytest.raises(InstanceError, match=r"^t: travel_model\.peaks\[0\]\.amplitude must be at most 1e\+15"):
        instance_from_dict(doc)


def test_the_largest_allowed_values_are_held():
    m = np.full((4, 4), MAX_MAGNITUDE)
    np.fill_diagonal(m, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inst = _instance(distance=m, coords=np.full((4, 2), -MAX_MAGNITUDE))
        ints = integerize(inst)
    assert ints.distance.max() == MAX_MAGNITUDE and ints.distance_horizon <= MAX_TOTAL


def test_planning_durations_past_the_bound_are_refused_with_the_model_named():
    m = np.full((4, 4), 1e14)
    np.fill_diagonal(m, 0.0)
    inst = _instance(distance=m, travel_model=TravelModel(peaks=(Peak(0.0, 10.0, 999.0),)))
    with pytest.raises(InstanceError, match=r"^instance: the travel model's 0\.9-quantile durations: duration matrix"):
        planning_instance(inst, 0.9)


# ---------------------------------------------------------------- the integer model's route totals
def test_route_totals_past_2_53_are_refused_before_solving():
    n1 = 12  # 12 entries of 1e15 in a route's worth of longest legs: 1.2e16 > 2**53
    m = np.full((n1, n1), 1e15)
    np.fill_diagonal(m, 0.0)
    inst = Instance(distance=m, demand=[0] + [1] * (n1 - 1), fleet=[VehicleType(capacity=100)])
    for solve in BASELINES.values():
        with pytest.raises(InstanceError, match=r"too large for the integer solvers: a route's distance could reach"):
            solve(inst, time_limit=0)


def test_objective_past_2_53_is_refused():
    inst = _instance(fleet=[VehicleType(capacity=10, unit_cost=1e15)])
    with pytest.raises(InstanceError, match=r"a plan's cost could reach .*unit_cost 1e\+15"):
        integerize(inst)


def test_loads_past_2_53_are_refused():
    inst = _instance(demand=[0, 1e15, 1e15, 1e15], fleet=[VehicleType(capacity=1e15)], integer_demands=False)
    ints_ok = integerize(inst)  # 3e15: inside
    assert ints_ok.capacity == [10**15]
    many = Instance(
        distance=np.where(np.eye(11, dtype=bool), 0.0, 1.0),
        demand=[0] + [1e15] * 10,
        fleet=[VehicleType(capacity=1e15)],
    )
    with pytest.raises(
        InstanceError, match=r"all the load together could reach 1e\+16.*\(largest: demand 1e\+15 of client 1\)"
    ):
        integerize(many)


def test_huge_capacity_and_count_are_clipped_not_wrapped():
    # Fractional demands scale loads by 10; a capacity of 1e15 would then pass 2**53: it never binds, so it is clipped.
    inst = _instance(demand=[0, 0.5, 1.5, 2.5], fleet=[VehicleType(capacity=1e15, count=10**12)], integer_demands=False)
    ints = integerize(inst)
    assert ints.load_scale == 10 and ints.capacity == [45] and ints.count == [3]
    for name, solve in BASELINES.items():
        sol = solve(inst, time_limit=0)
        assert check(inst, sol).feasible, name


# ---------------------------------------------------------------- large but valid values still solve
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 7),
    seed=st.integers(0, 2**32 - 1),
    top=st.sampled_from([1e3, 1e6, 1e9]),
    whole=st.booleans(),
    solver=st.sampled_from(sorted(BASELINES)),
)
def test_large_valid_values_solve_feasibly_at_the_checkers_cost(n, seed, top, whole, solver):
    rng = np.random.default_rng(seed)
    m = rng.uniform(1.0, top, (n + 1, n + 1))
    if whole:
        m = np.ceil(m)
    np.fill_diagonal(m, 0.0)
    demand = rng.integers(1, 10**9, n + 1).astype(float)
    demand[0] = 0
    inst = Instance(distance=m, demand=demand, fleet=[VehicleType(capacity=float(demand.max()) * 2)], name="big")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sol = BASELINES[solver](inst, time_limit=0)
    report = check(inst, sol)
    assert report.feasible, report.violations
    # Whole values are modelled exactly; others are rounded up once scaled to ~1e5-1e6 (baselines/scaling.py).
    assert sol.meta["objective"] == pytest.approx(report.cost, rel=1e-12 if whole else 1e-4)
