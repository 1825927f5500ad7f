"""Stochastic travel times: the model's dict form, planning matrices, the robust evaluator, SVRP instances."""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.errors import InstanceError
from envs.generate.svrp import svrp_instance, svrp_instances
from envs.io.json_format import dumps, instance_from_dict, instance_to_dict, load_instance_json, save_instance_json
from envs.model.check import check, unservable_clients
from envs.model.instance import Instance, VehicleType
from envs.model.robust import evaluate
from envs.model.solution import Route, Solution
from envs.model.travel_model import Peak, TravelModel, horizon, planning_instance

MODEL = {
    "peaks": [{"time": 120, "width": 60, "amplitude": 0.5}, {"time": 660, "width": 45, "amplitude": 0.3}],
    "noise_sigma": 0.2,
    "accident_rate": 0.01,
    "accident_delay": 30,
}


def phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def line(b: float, close: float, model, depot_close: float = 1e6, open_routes: bool = False) -> Instance:
    """A depot and one client at travel time b whose window closes at `close`."""
    return Instance(
        distance=[[0.0, b], [b, 0.0]],
        demand=[0, 1],
        fleet=[VehicleType(capacity=5)],
        time_windows=[[0.0, depot_close], [0.0, close]],
        open_routes=open_routes,
        travel_model=model,
    )


def doc(travel_model) -> dict:
    return {
        "name": "tiny",
        "depot": {"x": 0, "y": 0},
        "clients": [{"id": "a", "x": 3, "y": 4, "demand": 1}, {"id": "b", "x": 0, "y": 5, "demand": 2}],
        "fleet": [{"capacity": 5}],
        "travel_model": travel_model,
    }


# ---------------------------------------------------------------- the dict form
def test_json_round_trip(tmp_path):
    inst = instance_from_dict(doc(MODEL))
    assert isinstance(inst.travel_model, TravelModel) and "stochastic" in inst.features()
    assert inst.travel_model.peaks[1] == Peak(660.0, 45.0, 0.3)
    assert instance_to_dict(inst)["travel_model"] == MODEL
    save_instance_json(inst, tmp_path / "tiny.json")
    assert load_instance_json(tmp_path / "tiny.json").travel_model == inst.travel_model
    assert instance_from_dict(doc({})).travel_model == TravelModel()
    assert instance_from_dict(doc(None)).travel_model is None


finite = st.floats(0, 1e4, allow_nan=False)


@settings(max_examples=30, deadline=None)
@given(
    peaks=st.lists(st.tuples(st.floats(-1e3, 1e4), st.floats(1e-3, 1e3), finite), max_size=3),
    sigma=st.floats(0, 3),
    rate=st.floats(0, 1),
    delay=finite,
)
def test_dict_round_trip_any_model(peaks, sigma, rate, delay):
    model = TravelModel(tuple(Peak(*p) for p in peaks), sigma, rate, delay)
    assert TravelModel.from_dict(model.to_dict()) == model
    text = dumps(instance_to_dict(replace(instance_from_dict(doc(None)), travel_model=model)))
    assert instance_from_dict(json.loads(text)).travel_model == model


BAD = [
    ({"noise_sigma": -1}, "noise_sigma"),
    ({"noise_sigma": "0.2"}, "noise_sigma"),
    ({"noise_sigma": True}, "noise_sigma"),
    ({"noise_sigma": float("nan")}, "noise_sigma"),
    ({"accident_rate": 1.5}, "accident_rate"),
    ({"accident_rate": -0.1}, "accident_rate"),
    ({"accident_delay": -3}, "accident_delay"),
    ({"accident_delay": float("inf")}, "accident_delay"),
    ({"cv": 0.2}, "cv"),
    ({"peaks": 3}, "peaks"),
    ({"peaks": [{"time": 1, "width": 0, "amplitude": 1}]}, "peaks[0].width"),
    ({"peaks": [{"time": 1, "width": -5, "amplitude": 1}]}, "peaks[0].width"),
    ({"peaks": [{"time": 1, "width": 5, "amplitude": -1}]}, "peaks[0].amplitude"),
    ({"peaks": [{"time": None, "width": 5, "amplitude": 1}]}, "peaks[0].time"),
    ({"peaks": [{"width": 5, "amplitude": 1}]}, "time"),
    ({"peaks": [{"time": 1, "width": 5, "amplitude": 1, "shape": 2}]}, "shape"),
]


@pytest.mark.parametrize("model,name", BAD, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD)])
def test_bad_parameter_is_one_line_naming_it(model, name):
    for build in (
        lambda: TravelModel.from_dict(model),
        lambda: line(1.0, 10.0, model),
        lambda: instance_from_dict(copy.deepcopy(doc(model))),
    ):
        with pytest.raises(InstanceError) as err:
            build()
        msg = str(err.value)
        assert "\n" not in msg and name in msg and "travel_model" in msg, msg


def test_message_names_the_value():
    with pytest.raises(InstanceError, match=r"^travel_model\.noise_sigma must be a finite number >= 0, got -1$"):
        TravelModel.from_dict({"noise_sigma": -1})
    with pytest.raises(InstanceError, match=r"^instance: travel_model\.accident_rate must be"):
        line(1.0, 10.0, {"accident_rate": 2})


# ---------------------------------------------------------------- planning matrices
def test_expected_and_quantile_matrices():
    inst = svrp_instance(30, seed=4)
    model, base = inst.travel_model, inst.duration
    mean, buffered = model.expected_duration(inst), model.quantile_duration(inst, 0.95)
    off = ~np.eye(inst.num_nodes, dtype=bool)
    assert np.all(buffered[off] >= mean[off]) and np.all(mean[off] > base[off])
    assert np.all(np.diag(mean) == 0) and np.all(np.diag(buffered) == 0)
    start, end = horizon(inst)
    grid = np.linspace(start, end, 200_001)
    assert model.mean_congestion(start, end) == pytest.approx(model.congestion(grid).mean(), rel=1e-5)


def test_quantiles_in_closed_form():
    cmax = 1.5  # the peak sits inside the horizon [0, 720]
    noise = TravelModel((Peak(100.0, 30.0, 0.5),), noise_sigma=0.25)
    inst = line(10.0, 1e3, noise, depot_close=720.0)
    z95 = 1.6448536269514722
    assert noise.quantile_duration(inst, 0.95)[0, 1] == pytest.approx(10 * cmax * math.exp(0.25 * z95 - 0.25**2 / 2))
    accidents = TravelModel((Peak(100.0, 30.0, 0.5),), accident_rate=0.2, accident_delay=10.0)
    inst = line(10.0, 1e3, accidents, depot_close=720.0)
    assert accidents.quantile_duration(inst, 0.95)[0, 1] == pytest.approx(15 + 10 * math.log(0.2 / 0.05))
    assert accidents.quantile_duration(inst, 0.7)[0, 1] == pytest.approx(15)  # no accident in 80% of traversals


def test_mixture_quantile_matches_monte_carlo():
    model = TravelModel(noise_sigma=0.2, accident_rate=0.1, accident_delay=20.0)
    inst = line(5.0, 1e3, model, depot_close=720.0)
    rng = np.random.default_rng(0)
    sample = model.sample_times(np.full(400_000, 5.0), np.zeros(400_000), rng)
    for q in (0.5, 0.9, 0.95, 0.99):
        assert model.quantile_duration(inst, q)[0, 1] == pytest.approx(np.quantile(sample, q), rel=0.02)


def test_planning_instance_is_deterministic_and_costs_the_same():
    inst = svrp_instance(20, seed=2)
    sol = Solution([Route([c]) for c in range(1, 21)], solver="test")
    for q in (None, 0.9):
        plan = planning_instance(inst, q)
        assert plan.travel_model is None and "stochastic" not in plan.features() and plan.name == inst.name
        assert np.array_equal(plan.distance, inst.distance) and np.array_equal(plan.time_windows, inst.time_windows)
        assert check(plan, sol).cost == check(inst, sol).cost
        plan.time_windows[1, 1] = 0  # a copy: the original is untouched
        assert inst.time_windows[1, 1] > 0
    assert np.array_equal(planning_instance(inst, None).duration, inst.travel_model.expected_duration(inst))
    with pytest.raises(InstanceError, match="quantile"):
        planning_instance(inst, 1.0)


# ---------------------------------------------------------------- the robust evaluator
def test_noise_only_on_time_probability_is_lognormal():
    b, close, sigma, n = 10.0, 11.0, 0.2, 20_000
    inst = line(b, close, TravelModel(noise_sigma=sigma))
    rep = evaluate(inst, Solution([Route([1])], "test"), samples=n, seed=1)
    p = phi((math.log(close / b) + sigma**2 / 2) / sigma)
    assert abs(rep.on_time[1] - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert rep.tw_feasibility == rep.on_time[1] and rep.routes_on_time == pytest.approx(rep.on_time[1])
    assert rep.cost == 2 * b
    # Mean-one noise: the expected cost is the deterministic cost, up to Monte Carlo error.
    assert abs(rep.expected_cost - rep.cost) < 4 * rep.cost_std / math.sqrt(n)
    assert rep.cost_std == pytest.approx(b * math.sqrt(2 * (math.exp(sigma**2) - 1)), rel=0.05)


def test_accidents_make_a_share_late():
    rate, n = 0.2, 20_000
    inst = line(10.0, 10.0, TravelModel(accident_rate=rate, accident_delay=1e6))
    rep = evaluate(inst, Solution([Route([1])], "test"), samples=n, seed=2)
    assert abs(rep.tw_feasibility - (1 - rate)) < 4 * math.sqrt(rate * (1 - rate) / n)
    assert rep.expected_lateness > 0 and rep.cost_p95 > rep.cost


@pytest.mark.parametrize("open_routes", [False, True])
def test_peak_at_departure_is_exact(open_routes):
    b, a, w = 10.0, 0.5, 30.0
    inst = line(b, 1e3, TravelModel((Peak(0.0, w, a),)), open_routes=open_routes)
    inst.service[1] = 4.0
    rep = evaluate(inst, Solution([Route([1])], "test"), samples=50, seed=0)
    out = b * (1 + a)  # congestion at departure 0 is 1 + a exp(0)
    back = 0.0 if open_routes else b * (1 + a * math.exp(-((out + 4.0) ** 2) / (2 * w**2)))
    assert rep.expected_travel_time == pytest.approx(out + back, rel=1e-12) and rep.travel_time_std < 1e-9
    assert rep.expected_cost == pytest.approx(out + back, rel=1e-12)  # distance b per arc, scaled by its time ratio
    assert rep.cost == (b if open_routes else 2 * b)


def test_neutral_model_equals_the_checker():
    inst = replace(svrp_instance(40, seed=5), travel_model=TravelModel())
    sol = Solution([Route([c]) for c in range(1, 41)], solver="test")
    report = check(inst, sol)
    assert report.feasible
    rep = evaluate(inst, sol, samples=200, seed=3)
    assert rep.expected_cost == report.cost and rep.cost_std == 0 and rep.cost_p95 == pytest.approx(report.cost)
    assert rep.tw_feasibility == 1 and rep.routes_on_time == 1 and rep.expected_lateness == 0
    assert np.all(rep.on_time == 1)
    assert rep.expected_travel_time == pytest.approx(
        sum(inst.duration[0, c] + inst.duration[c, 0] for c in range(1, 41))
    )
    json.dumps(rep.as_dict())
    assert "\n" not in rep.summary()


def test_evaluator_is_fast_and_needs_a_model():
    inst = svrp_instance(200, seed=0)
    order = list(range(1, 201))
    sol = Solution([Route(order[i : i + 10]) for i in range(0, 200, 10)], solver="test")
    start = time.perf_counter()
    rep = evaluate(inst, sol, samples=1000, seed=0)
    assert time.perf_counter() - start < 1.0
    assert rep.on_time.shape == (201,) and 0 <= rep.tw_feasibility <= 1 and rep.expected_cost > rep.cost
    assert evaluate(inst, sol, samples=1000, seed=0).as_dict() == rep.as_dict()  # deterministic by seed
    with pytest.raises(InstanceError, match="travel model"):
        evaluate(planning_instance(inst), sol)


# ---------------------------------------------------------------- SVRP instances
def test_svrp_instances(tmp_path):
    a, b = svrp_instance(50, seed=7), svrp_instance(50, seed=7)
    assert np.array_equal(a.coords, b.coords) and np.array_equal(a.time_windows, b.time_windows)
    assert a.travel_model == b.travel_model and a.name == b.name
    assert not np.array_equal(a.coords, svrp_instance(50, seed=8).coords)
    model = a.travel_model
    assert [p.time for p in model.peaks] == [120.0, 660.0] and 0.15 <= model.noise_sigma <= 0.2
    assert tuple(a.time_windows[0]) == (0.0, 720.0) and a.fleet[0].count is None
    assert 5 <= a.service[1:].min() and a.service[1:].max() <= 15
    routes = a.demand.sum() / a.fleet[0].capacity
    assert 50 / 12 <= routes <= 50 / 8 + 1
    save_instance_json(a, tmp_path / "a.json")
    back = load_instance_json(tmp_path / "a.json")
    assert back.travel_model == model and np.allclose(back.duration, a.duration)
    insts = svrp_instances((20, 30), count=2, seed=1)
    assert [i.num_clients for i in insts] == [20, 20, 30, 30] and len({i.name for i in insts}) == 4
    for inst in [a, *insts]:
        assert unservable_clients(inst) is None
        assert unservable_clients(planning_instance(inst, 0.95)) is None
