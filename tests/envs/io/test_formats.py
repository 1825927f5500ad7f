"""File formats (JSON, VRPLIB), the loader's error messages, and the instance generators."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import vrplib
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.errors import InstanceError
from envs.generate.cvrp import CAPACITIES, capacity_for, uniform_instance, uniform_instances, xlike_instance
from envs.io.json_format import (
    instance_from_dict,
    instance_to_dict,
    load_instance_json,
    load_solution_json,
    save_instance_json,
    save_solution_json,
    solution_from_dict,
    solution_to_dict,
)
from envs.io.load import load_instance
from envs.io.vrplib_format import load_vrplib, load_vrplib_solution
from envs.model.check import check
from envs.model.instance import Instance, VehicleType
from envs.model.solution import Route, Solution

X_NAMES = ["X-n101-k25", "X-n110-k13", "X-n120-k6"]
SOLOMON_NAMES = sorted(p.stem for p in (DATA / "solomon").glob("*.vrp"))
HFVRP_NAMES = sorted(p.stem for p in (DATA / "hfvrp").glob("*.vrp"))


def small_doc() -> dict:
    return {
        "name": "tiny",
        "depot": {"id": "D", "x": 0.0, "y": 0.0, "time_window": [0, 100]},
        "clients": [
            {"id": "c1", "x": 3.0, "y": 4.0, "demand": 3, "service_time": 2, "time_window": [0, 50]},
            {"id": 7, "x": -1.0, "y": 2.5, "demand": 4, "pickup": 1},
            {"id": "c3", "x": 6.0, "y": 8.0, "demand": 5, "time_window": [10, None]},
        ],
        "fleet": [
            {"name": "van", "capacity": 10, "count": 3, "fixed_cost": 5, "max_duration": 90},
            {"name": "bike", "capacity": 6, "unit_cost": 0.5, "allowed_clients": ["c1", 7]},
        ],
        "backhaul_mode": "mixed",
        "best_known": 42.5,
    }


def trivial_solution(inst: Instance) -> Solution:
    return Solution([Route([c]) for c in range(1, inst.num_nodes)], solver="trivial", timings={"total": 0.01})


def assert_same_instance(a: Instance, b: Instance) -> None:
    assert a.name == b.name
    np.testing.assert_array_equal(a.distance, b.distance)
    np.testing.assert_array_equal(a.duration, b.duration)
    np.testing.assert_array_equal(a.demand, b.demand)
    np.testing.assert_array_equal(a.backhaul, b.backhaul)
    np.testing.assert_array_equal(a.service, b.service)
    np.testing.assert_array_equal(a.time_windows, b.time_windows)
    assert [str(i) for i in a.ids] == [str(i) for i in b.ids]
    assert (a.open_routes, a.backhaul_mode, a.best_known) == (b.open_routes, b.backhaul_mode, b.best_known)
    assert len(a.fleet) == len(b.fleet)
    for u, v in zip(a.fleet, b.fleet, strict=True):
        assert (u.capacity, u.count, u.fixed_cost, u.unit_cost, u.max_duration, u.max_distance, u.name) == (
            v.capacity,
            v.count,
            v.fixed_cost,
            v.unit_cost,
            v.max_duration,
            v.max_distance,
            v.name,
        )
        assert (u.allowed is None) == (v.allowed is None)
        if u.allowed is not None:
            np.testing.assert_array_equal(u.allowed, v.allowed)


# ---------------------------------------------------------------- JSON round trips
def test_json_round_trip_features(tmp_path):
    inst = instance_from_dict(small_doc())
    assert inst.ids == ["D", "c1", 7, "c3"]
    assert inst.distance[0, 1] == 5.0 and inst.time_windows[3, 1] == np.inf
    assert inst.fleet[1].allowed.tolist() == [True, True, True, False]
    again = instance_from_dict(json.loads(json.dumps(instance_to_dict(inst))))
    assert_same_instance(inst, again)
    save_instance_json(inst, tmp_path / "tiny.json")
    assert_same_instance(inst, load_instance(tmp_path / "tiny.json"))


@pytest.mark.parametrize("make", [lambda: uniform_instance(20, 1), lambda: xlike_instance(30, 2)])
def test_json_round_trip_generated(tmp_path, make):
    inst = make()
    doc = instance_to_dict(inst)
    assert "distance_matrix" not in doc  # recomputed from the coordinates, exactly
    save_instance_json(inst, tmp_path / "g.json")
    assert_same_instance(inst, load_instance_json(tmp_path / "g.json"))


def test_json_round_trip_asymmetric_matrix():
    rng = np.random.default_rng(0)
    dist = rng.integers(1, 50, size=(5, 5)).astype(float)
    np.fill_diagonal(dist, 0)
    inst = Instance(
        distance=dist, duration=dist * 2, demand=[0, 1, 2, 3, 4], fleet=[VehicleType(capacity=5)], name="asym"
    )
    doc = instance_to_dict(inst)
    assert "distance_matrix" in doc and "duration_matrix" in doc
    assert_same_instance(inst, instance_from_dict(json.loads(json.dumps(doc))))


LONLAT_DOC = {
    "coordinates": "lonlat",
    "depot": {"lon": 7.4246, "lat": 43.7384},
    "clients": [{"id": "casino", "lon": 7.4286, "lat": 43.7394, "demand": 1}],
    "fleet": [{"capacity": 1}],
}


def test_lonlat_without_matrices_needs_a_source():
    with pytest.raises(InstanceError) as err:
        instance_from_dict(copy.deepcopy(LONLAT_DOC), source="monaco.json")
    assert str(err.value) == (
        "monaco.json has lon/lat but no matrices: pass --osrm-url URL (or --haversine for straight lines)"
    )
    with pytest.raises(InstanceError, match="not both"):
        instance_from_dict(copy.deepcopy(LONLAT_DOC), osrm_url="http://127.0.0.1:5000", haversine=True)


def test_lonlat_with_haversine_uses_great_circle_metres_and_writes_its_matrices():
    inst = instance_from_dict(copy.deepcopy(LONLAT_DOC), haversine=True)
    assert 300 < inst.distance[0, 1] < 360  # about 340 m across Monaco
    assert inst.duration[0, 1] == pytest.approx(inst.distance[0, 1] / (30 / 3.6))  # seconds at 30 km/h
    doc = instance_to_dict(inst)
    assert "distance_matrix" in doc and "duration_matrix" in doc  # the file reads back with no flag
    assert_same_instance(inst, instance_from_dict(doc))


def test_lonlat_matrices_in_the_file_need_no_source():
    doc = copy.deepcopy(LONLAT_DOC) | {"distance_matrix": [[0, 1359.3], [705.8, 0]]}
    inst = instance_from_dict(doc)
    assert inst.distance[0, 1] == 1359.3 and inst.distance[1, 0] == 705.8 and "asymmetric" in inst.features()


def test_solution_json_round_trip(tmp_path):
    inst = instance_from_dict(small_doc())
    sol = Solution([Route([1, 2]), Route([3])], solver="hand", timings={"total": 0.5}, meta={"seed": np.int64(3)})
    report = check(inst, sol)
    doc = solution_to_dict(inst, sol, report)
    assert doc["routes"][0]["clients"] == ["c1", 7] and doc["routes"][0]["vehicle_type"] == "van"
    assert doc["cost"] == pytest.approx(report.cost) and doc["feasible"] == report.feasible
    assert doc["num_routes"] == 2 and doc["meta"] == {"seed": 3}
    assert sum(r["cost"] for r in doc["routes"]) == pytest.approx(report.cost)
    path = tmp_path / "sol.json"
    save_solution_json(inst, sol, report, path)
    back = load_solution_json(inst, path)
    assert [r.visits for r in back.routes] == [[1, 2], [3]]
    again = check(inst, back)
    assert again.cost == report.cost and again.feasible == report.feasible


def test_solution_json_trivial_routes_city():
    inst = load_instance(DATA / "city.json")
    sol = trivial_solution(inst)
    report = check(inst, sol)
    assert report.feasible and report.num_routes == inst.num_clients
    doc = json.loads(json.dumps(solution_to_dict(inst, sol, report, timings={"total": 1.5})))
    assert doc["routes"][4]["clients"] == ["C005"] and doc["timings"] == {"total": 1.5}
    assert doc["routes"][4]["load"] == inst.demand[5]
    back = solution_from_dict(inst, doc)
    assert [r.visits for r in back.routes] == [r.visits for r in sol.routes]
    assert check(inst, back).cost == pytest.approx(report.cost)


def test_solution_with_unknown_client_is_rejected():
    inst = instance_from_dict(small_doc())
    with pytest.raises(InstanceError, match=r"routes\[0\]\.clients\[1\] 'nobody' is not a client"):
        solution_from_dict(inst, {"routes": [{"clients": ["c1", "nobody"]}]})
    with pytest.raises(InstanceError, match="vehicle_type 'truck'"):
        solution_from_dict(inst, {"routes": [{"vehicle_type": "truck", "clients": ["c1"]}]})


# ---------------------------------------------------------------- city.json
def test_city_json():
    inst = load_instance(DATA / "city.json")
    assert inst.name == "sample-city-100" and inst.num_clients == 100
    assert inst.ids[1] == "C001" and inst.ids[100] == "C100"
    assert len(inst.fleet) == 1 and inst.fleet[0].capacity == 100 and inst.fleet[0].count is None
    assert inst.demand[1:].min() >= 1 and inst.demand[1:].max() <= 20
    assert inst.features() == frozenset()  # a plain CVRP


# ---------------------------------------------------------------- bad input
def _write(tmp_path: Path, text: str, name: str = "city.json") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(path) -> str:
    with pytest.raises(InstanceError) as info:
        load_instance(path)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def _mutated(tmp_path: Path, mutate) -> str:
    doc = copy.deepcopy(small_doc())
    mutate(doc)
    return _error(_write(tmp_path, json.dumps(doc)))


def test_error_invalid_json(tmp_path):
    msg = _error(_write(tmp_path, '{\n "name": "x",\n "depot" {}\n}\n'))
    assert msg == "city.json: invalid JSON at line 3 column 10: Expecting ':' delimiter"


def test_error_missing_field(tmp_path):
    assert _mutated(tmp_path, lambda d: d.pop("depot")) == "city.json: missing required field 'depot'"
    assert "clients[1]: missing required field 'demand'" in _mutated(tmp_path, lambda d: d["clients"][1].pop("demand"))


def test_error_negative_demand(tmp_path):
    msg = _mutated(tmp_path, lambda d: d["clients"][2].update(demand=-2))
    assert msg == "city.json: clients[2].demand must be a non-negative integer, got -2"


def test_error_fractional_demand(tmp_path):
    msg = _mutated(tmp_path, lambda d: d["clients"][0].update(demand=2.5))
    assert msg == "city.json: clients[0].demand must be a non-negative integer, got 2.5"


def test_error_demand_above_every_capacity(tmp_path):
    msg = _mutated(tmp_path, lambda d: d["clients"][2].update(demand=11))
    assert "client 'c3' has demand 11" in msg and "largest capacity 10" in msg and msg.startswith("city.json: ")


def test_error_nan_coordinate(tmp_path):
    text = json.dumps(small_doc()).replace('"x": -1.0', '"x": NaN')
    assert _error(_write(tmp_path, text)) == "city.json: clients[1].x is NaN; numbers must be finite"


def test_error_infinite_coordinate(tmp_path):
    text = json.dumps(small_doc()).replace('"y": 8.0', '"y": Infinity')
    assert "clients[2].y is infinite" in _error(_write(tmp_path, text))
    with pytest.raises(InstanceError, match=r"depot\.x is infinite"):
        doc = small_doc()
        doc["depot"]["x"] = float("-inf")
        instance_from_dict(doc)


def test_error_non_square_matrix(tmp_path):
    rows = [[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0], [3, 2, 1, 0]]
    msg = _mutated(tmp_path, lambda d: d.update(distance_matrix=rows))
    assert msg == "city.json: distance_matrix row 2 has 3 entries; expected 4 (the matrix must be square)"


def test_error_matrix_of_wrong_size(tmp_path):
    square = np.ones((3, 3)).tolist()
    msg = _mutated(tmp_path, lambda d: d.update(duration_matrix=square))
    assert msg == "city.json: duration_matrix has 3 row(s); expected 4 (the depot and 3 clients)"


def test_error_missing_file(tmp_path):
    assert _error("x.json") == "file not found: x.json"
    assert _error(tmp_path / "nope.vrp").startswith("file not found: ")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["clients"][0].update(servic_time=1),
            "clients[0]: unknown field 'servic_time' (did you mean 'service_time'?)",
        ),
        (lambda d: d["clients"][0].pop("y"), "clients[0]: has 'x' but no 'y'"),
        (lambda d: d["clients"][2].update(id=7), "clients[2].id 7 is already used by clients[1]"),
        (lambda d: d.update(fleet=[]), "fleet must not be empty"),
        (lambda d: d["fleet"][0].update(capacity=0), "fleet[0].capacity must be a positive number, got 0"),
        (
            lambda d: d["clients"][0].update(time_window=[5]),
            "clients[0].time_window must have exactly 2 entries, got 1",
        ),
        (
            lambda d: d["clients"][0].update(time_window=[9, 3]),
            "client 'c1' has a time window that closes before it opens",
        ),
        (lambda d: d.update(coordinates="polar"), 'coordinates must be one of "xy", "lonlat", got "polar"'),
        (lambda d: d["fleet"][1].update(allowed_clients=["zz"]), "fleet[1].allowed_clients[0] 'zz' is not a client id"),
    ],
)
def test_error_other_schema_problems(tmp_path, mutate, expected):
    assert _mutated(tmp_path, mutate) == f"city.json: {expected}"


def test_error_bad_vrplib_and_extension(tmp_path):
    broken = _write(
        tmp_path,
        "NAME: b\nTYPE: CVRP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1\n",
        "b.vrp",
    )
    assert _error(broken).startswith("b.vrp: ")
    assert "unknown file type '.csv'" in _error(_write(tmp_path, "a,b\n", "x.csv"))


# ---------------------------------------------------------------- VRPLIB
def test_x_instances_load():
    for name in X_NAMES:
        inst = load_instance(DATA / "x" / f"{name}.vrp")
        assert inst.name == name and inst.fleet[0].count is None
        assert inst.ids[0] == 1 and inst.ids[1:4] == [2, 3, 4]
        assert np.array_equal(inst.distance, np.round(inst.distance))
    inst = load_vrplib(DATA / "x" / "X-n101-k25.vrp")
    assert inst.num_clients == 100 and inst.fleet[0].capacity == 206 and inst.best_known == 27591


@pytest.mark.parametrize("name", X_NAMES)
def test_x_best_known_solution_cost_is_exact(name):
    inst = load_instance(DATA / "x" / f"{name}.vrp")
    sol = vrplib.read_solution(DATA / "x" / f"{name}.sol")
    # VRPLIB solutions number clients 1..n, depot left out: our node index k is VRPLIB node k+1.
    routes = [Route([int(c) for c in r]) for r in sol["routes"]]
    report = check(inst, Solution(routes, solver="bks"))
    assert report.feasible, report.violations
    assert report.cost == sol["cost"] == inst.best_known
    assert check(inst, load_vrplib_solution(inst, DATA / "x" / f"{name}.sol")).cost == sol["cost"]


@pytest.mark.parametrize("name", SOLOMON_NAMES)
def test_solomon_best_known_dimacs(name):
    inst = load_instance(DATA / "solomon" / f"{name}.vrp")
    assert {"time_windows", "service_times", "fleet_limit"} <= inst.features()
    assert inst.fleet[0].count == 25 and inst.fleet[0].capacity == (
        200 if name[-3] == "1" else 700 if name[0] == "C" else 1000
    )
    sol = vrplib.read_solution(DATA / "solomon" / f"{name}.dimacs.sol")
    report = check(inst, Solution([Route([int(c) for c in r]) for r in sol["routes"]], solver="bks"))
    assert report.feasible, report.violations
    assert abs(report.cost - sol["cost"]) <= 0.01
    assert inst.best_known == pytest.approx(sol["cost"])  # from bks.csv
    # the solution survives a JSON round trip and re-checks the same
    back = solution_from_dict(inst, json.loads(json.dumps(solution_to_dict(inst, trivial_solution(inst), report))))
    assert len(back.routes) == inst.num_clients


def test_hfvrp_set_is_shipped_with_consistent_bks():
    assert len(HFVRP_NAMES) == 17
    with (DATA / "hfvrp" / "bks.csv").open(newline="") as fh:
        rows = {r["name"]: float(r["bks"]) for r in csv.DictReader(fh)}
    assert sorted(rows) == HFVRP_NAMES
    for name in HFVRP_NAMES:
        # bks.csv is in original units; some .sol Cost lines are PyVRP's exact objective (x 1e5)
        assert load_vrplib(DATA / "hfvrp" / f"{name}.vrp").best_known == pytest.approx(rows[name], rel=1e-12)


def test_hfvrp_fleet_in_original_units():
    inst = load_instance(DATA / "hfvrp" / "X101-FSMFD.vrp")
    assert [v.count for v in inst.fleet] == [100] * 5
    assert [v.capacity for v in inst.fleet] == [141, 168, 200, 238, 283]
    assert inst.fleet[0].fixed_cost == 246 and inst.fleet[0].unit_cost == pytest.approx(0.83)
    assert inst.fleet[0].name == "type 1 (cap 141)"
    assert inst.distance[0, 1] == pytest.approx(np.hypot(365 - 146, 689 - 180))  # unrounded Euclidean
    hd = load_instance(DATA / "hfvrp" / "X110-HD.vrp")  # no fixed costs; runs of identical rows
    assert [(v.capacity, v.count, v.fixed_cost) for v in hd.fleet[:2]] == [(30, 2, 0.0), (36, 1, 0.0)]
    assert sum(v.count for v in hd.fleet) == 13


@pytest.mark.parametrize("name", HFVRP_NAMES)
def test_hfvrp_best_known_solution(name):
    inst = load_instance(DATA / "hfvrp" / f"{name}.vrp")
    assert "heterogeneous_fleet" in inst.features() and "fleet_limit" in inst.features()
    sol = load_vrplib_solution(inst, DATA / "hfvrp" / f"{name}.sol")
    report = check(inst, sol)  # the checker counts vehicles per type too
    assert report.feasible, report.violations
    used = np.bincount([r.vehicle_type for r in sol.routes], minlength=len(inst.fleet))
    assert all(u <= v.count for u, v in zip(used, inst.fleet))
    assert report.cost == pytest.approx(inst.best_known, rel=1e-4)


def test_hfvrp_best_known_unit_rule_without_sol(tmp_path):
    text = (DATA / "hfvrp" / "X129-FSMFD.vrp").read_text()
    for stated, expected in (("5921884811", 59218.84811), ("59218.85", 59218.85)):
        _write(tmp_path, text, "X129-FSMFD.vrp")
        _write(tmp_path, f"name,n,bks\nX129-FSMFD,128,{stated}\n", "bks.csv")
        assert load_vrplib(tmp_path / "X129-FSMFD.vrp").best_known == pytest.approx(expected)


def test_hfvrp_solution_names_a_missing_vehicle(tmp_path):
    inst = load_instance(DATA / "hfvrp" / "X110-HD.vrp")
    path = _write(tmp_path, "Route #14: 1 2\nCost: 1\n", "bad.sol")
    with pytest.raises(InstanceError, match="route #14 names vehicle 14, but X110-HD has 13 vehicles"):
        load_vrplib_solution(inst, path)


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda t: t.replace("13\t166\n", ""),
            "VEHICLES_UNIT_DISTANCE_COST_SECTION has 12 rows for 13 vehicles (VEHICLES)",
        ),
        (
            lambda t: t.replace("VEHICLES: 13", "VEHICLES: 14"),
            "CAPACITY_SECTION has 13 rows for 14 vehicles (VEHICLES)",
        ),
        (lambda t: t.replace("13\t166\n", "13\tabc\n"), "VEHICLES_UNIT_DISTANCE_COST_SECTION has a malformed row"),
        (lambda t: t.replace("13\t166\n", "13\t166\t2\n"), "VEHICLES_UNIT_DISTANCE_COST_SECTION has a malformed row"),
        (lambda t: t.replace("13\t166\n", "13\t-166\n"), "VEHICLES_UNIT_DISTANCE_COST of vehicle 13 is -166"),
        (
            lambda t: t.replace("DEPOT_SECTION", "VEHICLES_MAX_DISTANCE_SECTION\n1\t5\nDEPOT_SECTION"),
            "unsupported per-vehicle data VEHICLES_MAX_DISTANCE",
        ),
    ],
)
def test_hfvrp_malformed_vehicle_section(tmp_path, edit, expected):
    text = (DATA / "hfvrp" / "X110-HD.vrp").read_text()
    assert "13\t166\n" in text
    msg = _error(_write(tmp_path, edit(text), "bad.vrp"))
    assert msg.startswith(f"bad.vrp: {expected}"), msg


def test_vrplib_via_json_round_trip():
    inst = load_instance(DATA / "solomon" / "C101.vrp")
    doc = instance_to_dict(inst)
    assert doc["distance_rounding"] == "dimacs"
    assert_same_instance(inst, instance_from_dict(json.loads(json.dumps(doc))))


# ---------------------------------------------------------------- generators
def test_uniform_capacity_table():
    inst = uniform_instance(100, 0)
    assert inst.fleet[0].capacity == CAPACITIES[100] == 50
    assert inst.coords.min() >= 0 and inst.coords.max() <= 1
    assert set(np.unique(inst.demand[1:])) <= set(range(1, 10))
    assert capacity_for(12) == 22 and capacity_for(2000) == 150 and capacity_for(5) == 20
    assert uniform_instance(10, 0, capacity=15).fleet[0].capacity == 15
    training = pytest.importorskip("envs.rl.distributions")  # the RL generator must use the same capacities
    assert all(capacity_for(n) == training.capacity_for(n) for n in range(1, 1200, 7))


def test_uniform_instances_fixed_set():
    a, b = uniform_instances(20, 3, seed=5), uniform_instances(20, 3, seed=5)
    assert [i.name for i in a] == ["uniform-n20-s5-0", "uniform-n20-s5-1", "uniform-n20-s5-2"]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.coords, y.coords)
    assert not np.array_equal(a[0].coords, a[1].coords)


@pytest.mark.parametrize("demand", ["U", "1-10", "5-10", "1-100", "50-100", "Q", "SL"])
def test_xlike_demand_types(demand):
    inst = xlike_instance(60, 3, depot="E", customers="RC", demand=demand)
    d = inst.demand[1:]
    assert inst.coords[0].tolist() == [0, 0]
    assert d.max() <= inst.fleet[0].capacity
    if demand == "Q":
        xy = inst.coords[1:]
        odd = ((xy[:, 0] < 500) & (xy[:, 1] < 500)) | ((xy[:, 0] >= 500) & (xy[:, 1] >= 500))
        assert (d[odd] >= 51).all() and (d[~odd] <= 50).all()
    if demand == "SL":
        assert 0.7 * 60 - 1 <= (d <= 10).sum() <= 0.95 * 60 + 1


def test_xlike_clustered_is_clustered():
    clustered = xlike_instance(200, 1, depot="C", customers="C", demand="U")
    spread = xlike_instance(200, 1, depot="C", customers="R", demand="U")
    assert clustered.coords[0].tolist() == [500, 500]

    def nearest(inst):
        d = inst.distance[1:, 1:] + np.eye(inst.num_clients) * 1e9
        return d.min(1).mean()

    assert nearest(clustered) < 0.6 * nearest(spread)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(5, 60), seed=st.integers(0, 2**32 - 1))
def test_uniform_instance_valid_and_reproducible(n, seed):
    inst = uniform_instance(n, seed)
    assert inst.num_clients == n
    assert inst.demand[1:].max() <= inst.fleet[0].capacity and inst.demand[1:].min() >= 1
    np.testing.assert_array_equal(inst.distance, uniform_instance(n, seed).distance)
    np.testing.assert_array_equal(inst.demand, uniform_instance(n, seed).demand)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(5, 60),
    seed=st.integers(0, 2**32 - 1),
    depot=st.sampled_from([None, "C", "E", "R"]),
    customers=st.sampled_from([None, "R", "C", "RC"]),
    demand=st.sampled_from([None, "U", "1-10", "5-10", "1-100", "50-100", "Q", "SL"]),
)
def test_xlike_instance_valid_and_reproducible(n, seed, depot, customers, demand):
    inst = xlike_instance(n, seed, depot=depot, customers=customers, demand=demand)
    assert inst.num_clients == n
    assert inst.demand[1:].min() >= 1 and inst.demand[1:].max() <= inst.fleet[0].capacity
    assert inst.coords.min() >= 0 and inst.coords.max() <= 1000
    assert np.array_equal(inst.coords, np.round(inst.coords))
    assert len({tuple(p) for p in inst.coords.tolist()}) == n + 1  # distinct points
    assert np.array_equal(inst.distance, np.round(inst.distance))
    again = xlike_instance(n, seed, depot=depot, customers=customers, demand=demand)
    assert again.name == inst.name
    np.testing.assert_array_equal(inst.coords, again.coords)
    np.testing.assert_array_equal(inst.demand, again.demand)
    assert again.fleet[0].capacity == inst.fleet[0].capacity


@pytest.mark.parametrize("bad", [True, "3", None, -1, float("nan"), 1e300, [1]])
def test_a_matrix_entry_the_fast_check_refuses_is_named_by_the_schema(tmp_path, bad):
    from envs.io.json_format import _plain_matrix

    rows = np.ones((4, 4)).tolist()
    rows[1][2] = bad
    assert not _plain_matrix(rows)
    msg = _mutated(tmp_path, lambda d: d.update(distance_matrix=rows))
    assert msg.startswith("city.json: distance_matrix[1][2]"), msg


def test_plain_matrices_load_as_they_are_written():
    from envs.io.json_format import _plain_matrix

    rng = np.random.default_rng(3)
    dist = rng.random((30, 30)) * 1e4
    assert _plain_matrix(dist.tolist()) and _plain_matrix([[0, 1], [2, 0]])
    inst = Instance(distance=dist, duration=dist.T.copy(), demand=[0] + [1] * 29, fleet=[VehicleType(capacity=9)])
    assert_same_instance(inst, instance_from_dict(json.loads(json.dumps(instance_to_dict(inst)))))
