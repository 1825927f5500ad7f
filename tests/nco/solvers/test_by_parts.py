"""Improving a plan by parts: every plan along the way is feasible, the cost never rises, fleets are kept."""

import time

import pytest

from envs.generate.cvrp import xlike_instance
from envs.generate.fleets import profiled_instance
from envs.generate.variants import variant_instance
from envs.model.check import check
from envs.model.instance import VehicleType
from envs.model.savings import savings
from envs.model.solution import Solution
from nco.solvers import by_parts


def _improve(inst, seconds=2.0):
    plan = savings(inst)
    routes, trace, searched, improved = by_parts.improve(inst, plan, time.perf_counter() + seconds, part_clients=60)
    return plan, routes, trace, searched, improved


def test_parts_improve_a_feasible_plan_and_never_raise_its_cost():
    inst = xlike_instance(300, seed=3)
    plan, routes, trace, searched, improved = _improve(inst)
    report = check(inst, Solution(routes=routes, solver="nco"))
    assert report.feasible, report.violations
    assert searched >= 2
    assert report.cost <= check(inst, plan).cost
    costs = [c for _, c in trace]
    assert costs == sorted(costs, reverse=True) and len(costs) == improved + 1
    assert abs(costs[-1] - report.cost) <= 1e-6 * report.cost  # the tracked cost is the checker's


def test_a_limited_fleet_stays_within_its_count():
    base = xlike_instance(200, seed=5)
    count = len(savings(base).routes) + 2
    from dataclasses import replace

    inst = replace(base, fleet=[VehicleType(capacity=base.fleet[0].capacity, count=count)])
    _, routes, _, searched, _ = _improve(inst, 1.5)
    report = check(inst, Solution(routes=routes, solver="nco"))
    assert report.feasible, report.violations
    assert report.num_routes <= count and searched >= 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: variant_instance("VRPTW", 240, seed=2),
        lambda: variant_instance("OVRPMBL", 240, seed=3),
        lambda: profiled_instance(240, seed=4, zones="sector", mix="HD", base="xlike"),
    ],
    ids=["time-windows", "open-mixed-backhauls-length-limit", "profiled-fleet-with-zones"],
)
def test_the_hybrid_by_parts_is_feasible_on_every_variant_pyvrp_models(make):
    from nco.solvers import hybrid

    inst = make()
    began = time.perf_counter()
    sol = hybrid.solve(inst, 2.0, parts=True)
    wall = time.perf_counter() - began
    report = check(inst, sol)
    assert report.feasible, report.violations
    assert sol.meta["search"] == "by parts" and sol.meta["parts_searched"] >= 1
    start = sol.trace[0][1]  # the best construction, before any part
    assert report.cost <= start + 1e-9 * abs(start)  # costs can be negative: preferences are rewards
    assert abs(sol.trace[-1][1] - report.cost) <= 1e-6 * abs(report.cost)
    assert wall < 2.0 + 1.0  # each part is bounded by the deadline (the budget counts from after loading)
