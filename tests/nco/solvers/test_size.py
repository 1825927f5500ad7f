"""Big instances stay inside their budget and their memory: set-up that cannot fit is skipped or refused in
one line, and what cannot fit in memory is refused before it is allocated."""

import time

import numpy as np
import pytest

from envs.errors import InstanceError, NoSolutionFound
from envs.generate.cvrp import xlike_instance


@pytest.fixture(scope="module")
def big():
    inst = xlike_instance(3000, seed=5)
    inst.features()
    return inst


def test_what_cannot_fit_in_memory_is_refused_before_it_is_allocated(monkeypatch):
    import envs.memory
    from envs.model.distances import euclidean
    from nco.solvers.pipeline import SolveOptions, solve_and_check

    monkeypatch.setattr(envs.memory, "available_bytes", lambda: 10**6)  # 1 MB left
    with pytest.raises(InstanceError, match=r"a distance matrix of 1,001 locations needs about 0\.0 GB"):
        euclidean(np.zeros((1001, 2)))
    monkeypatch.setattr(envs.memory, "available_bytes", lambda: 50 * 10**6)
    inst = xlike_instance(1000, seed=1)  # its matrix fits in 50 MB, not what OR-Tools builds from it
    with pytest.raises(InstanceError, match=r"^ortools on 1,000 clients needs about 0\.1 GB of memory; 0\.1 GB"):
        solve_and_check(inst, SolveOptions("ortools", 1.0))


def test_ortools_refuses_a_budget_shorter_than_building_its_model(big):
    from baselines import ortools_solver

    began = time.perf_counter()
    with pytest.raises(
        NoSolutionFound, match=r"building its model for 3,000 clients takes about 1\.4 s, more than the 0\.5 s"
    ):
        ortools_solver.solve(big, time_limit=0.5)
    assert time.perf_counter() - began < 1.0  # refused up front, not after the build


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["nco", "pyvrp"])
def test_a_short_budget_on_3000_clients_returns_a_feasible_plan_without_running_away(big, solver):
    from nco.solvers.pipeline import SolveOptions, solve_and_check

    began = time.perf_counter()
    solution, report = solve_and_check(big, SolveOptions(solver, 1.0))
    wall = time.perf_counter() - began
    assert report.feasible and wall < 1.0 + 20.0  # before: the set-up ran on, 3x past the budget at 5,000
    if solver == "nco":  # no rollout on 3,000 clients fits half a second, on any machine
        assert "policy not used" in "; ".join(solution.notes)


def test_the_encoder_gives_up_as_soon_as_its_layers_cannot_fit():
    import torch

    from nco.policy.model import AttentionPolicy, OutOfTime, PolicyConfig

    policy = AttentionPolicy(PolicyConfig(num_layers=6)).eval()
    n = 1500
    data = {"locs": torch.rand(1, n + 1, 2), "demand": torch.cat([torch.zeros(1, 1), torch.ones(1, n)], 1)}
    torch.set_num_threads(1)
    with torch.no_grad():
        began = time.perf_counter()
        policy.encode(data)
        per_layer = (time.perf_counter() - began) / 6
        began = time.perf_counter()
        with pytest.raises(OutOfTime, match="encoding would take about"):
            policy.encode(data, deadline=began + 3 * per_layer)  # six layers cannot fit: known after the first
    assert time.perf_counter() - began < 3 * per_layer + 1.0


@pytest.mark.slow
def test_the_hybrid_improves_a_big_instance_by_parts_within_its_budget(big):
    from envs.model.check import check
    from envs.model.savings import savings
    from nco.solvers import hybrid

    assert hybrid.by_parts_pays(big, 3.0) and not hybrid.by_parts_pays(big, 600.0)
    sol = hybrid.solve(big, 3.0)
    report = check(big, sol)
    assert report.feasible, report.violations
    assert sol.meta["search"] == "by parts" and sol.meta["parts_improved"] >= 1
    assert report.cost < check(big, savings(big)).cost  # the parts gained on the construction they started from
    assert sol.timings["total"] < 3.0 + 3.0  # every part is bounded by the deadline (the whole search overran)
