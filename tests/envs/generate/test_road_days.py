"""Delivery days on a city's roads (envs.generate.road_days), and the matrix-aware time-window policy for them."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.generate.road_days import SHIFT_HOURS, road_day_instance, road_day_set
from envs.model.check import check, unservable_clients
from envs.model.savings import savings
from envs.model.solution import Solution
from envs.rl import dynamics as dyn
from envs.rl.batch import instance_tensors
from envs.roads.city_dataset import DEFAULT_ROAD_DATASET, load_city_dataset
from nco.policy.checkpoints import (
    MATRIX_CHECKPOINT,
    ROAD_TW_CHECKPOINT,
    VARIANTS_CHECKPOINT,
    default_checkpoint,
    load_checkpoint,
)
from nco.policy.model import AttentionPolicy, PolicyConfig

CITY = load_city_dataset(DEFAULT_ROAD_DATASET)
TINY = PolicyConfig(embed_dim=32, num_heads=4, num_layers=1, ff_dim=64, matrix=True, attributes=("time_windows",))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 60), seed=st.integers(0, 2**32), split=st.sampled_from(["train", "test"]))
def test_a_day_has_windows_within_the_shift_and_every_client_fits_alone(n, seed, split):
    day = road_day_instance(CITY, n, split, seed)
    assert {"asymmetric", "time_windows", "service_times"} <= set(day.features())
    shift = day.time_windows[0, 1]
    assert SHIFT_HOURS[0] * 3600 <= shift <= SHIFT_HOURS[1] * 3600 and day.time_windows[0, 0] == 0
    early, late = day.time_windows[1:].T
    assert (early <= late).all() and (early >= 0).all() and (late <= shift).all()
    assert (late >= np.floor(day.duration[0, 1:])).all()  # no window closes before a van can get there
    assert unservable_clients(day) is None
    again = road_day_instance(CITY, n, split, seed)
    assert np.array_equal(again.time_windows, day.time_windows) and again.ids == day.ids  # deterministic


def test_a_held_out_set_gets_the_vans_savings_needs_and_larger_days_draw_from_all_locations():
    days = road_day_set(CITY, 30, 3, seed=5)
    for day in days:
        plan = savings(day)
        assert day.fleet[0].count == len(plan.routes) and check(day, plan).feasible
        assert "fleet_limit" in day.features() and "-test-" in day.name
    big = road_day_set(CITY, len(CITY.indices("test")) + 10, 1, seed=5, limited_fleet=False)[0]
    assert "-all-" in big.name and big.fleet[0].count is None


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_matrix_time_window_rollouts_are_checker_feasible_with_the_checkers_cost(seed):
    torch.manual_seed(seed)
    policy = AttentionPolicy(TINY).eval()
    day = road_day_instance(CITY, 15, "test", seed)
    data = instance_tensors(day)
    with torch.inference_mode():
        out = policy(data, num_starts=6, num_augment=1, decode="sampling")
    dyn.validate(data, out.actions)
    costs = dyn.tour_cost(data["dist"], out.actions)[0]
    for tour, cost in zip(out.actions[0].tolist(), costs.tolist()):
        report = check(day, Solution.from_giant_tour(tour, "nco"))
        assert report.feasible, report.violations
        assert report.cost == pytest.approx(cost, rel=1e-9)


def test_time_windows_on_road_matrices_pick_the_road_time_window_policy():
    day = road_day_instance(CITY, 10, "test", 1)
    if ROAD_TW_CHECKPOINT.exists():
        assert default_checkpoint(day.features()) == ROAD_TW_CHECKPOINT
    # another route attribute than time windows: the multi-variant policy reads it, the road one does not
    assert default_checkpoint(day.features() | {"backhauls"}) == VARIANTS_CHECKPOINT
    assert default_checkpoint(frozenset({"asymmetric"})) == MATRIX_CHECKPOINT


@pytest.mark.slow
def test_shipped_road_time_window_policy_beats_the_planar_variants_policy_on_held_out_days():
    """roadtw100 reads the matrices and the windows; on held-out days it is feasible and well ahead of the
    variants policy, which sees only projected coordinates (measured on these 4 days: half the cost, a third of the routes)."""
    from nco.solvers import construct

    policy, info = load_checkpoint(ROAD_TW_CHECKPOINT)
    assert policy.cfg.matrix and "time_windows" in policy.cfg.attributes
    assert info["trained_on"]["distribution"] == "roadtw" and info["training"]["cpu_minutes"] > 0
    ours, planar = [], []
    for day in road_day_set(CITY, 100, 4, seed=31, limited_fleet=False):
        a = construct.solve(day, ROAD_TW_CHECKPOINT, num_starts=20, num_augment=1)
        b = construct.solve(day, VARIANTS_CHECKPOINT, num_starts=20, num_augment=1)
        ra, rb = check(day, a), check(day, b)
        assert ra.feasible and rb.feasible
        ours.append(ra.cost)
        planar.append(rb.cost)
    assert np.mean(ours) < 0.7 * np.mean(planar), (ours, planar)
