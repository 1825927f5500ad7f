"""Budgets and threads on a busy machine: every budget returns at least a construction, the clock holds the
budget, `--time-limit 0` means the construction alone for every solver, and torch's threads are chosen."""

from __future__ import annotations

import pytest
import torch
from conftest import ROOT, budget_slack, timed
from hypothesis import given
from hypothesis import strategies as st

from baselines import ortools_solver, pyvrp_solver
from envs.generate.cvrp import uniform_instance
from envs.io.load import load_instance
from envs.model.check import check
from nco import threads
from nco.cli.main import main
from nco.solvers import construct, hybrid
from nco.solvers.pipeline import SolveOptions, solve_and_check

X_SET = [ROOT / "data" / "x" / name for name in ("X-n101-k25.vrp", "X-n157-k13.vrp", "X-n223-k34.vrp")]


def trivial_routes(instance) -> int:
    """How many routes PyVRP's one-route-per-client start has: what no budget may return."""
    return instance.num_clients


@given(workers=st.integers(0, 64), wanted=st.one_of(st.none(), st.integers(1, 64)), tasks=st.integers(1, 500))
def test_folder_processes_times_threads_never_exceed_the_cores(workers, wanted, tasks):
    procs, each = threads.split_cores(workers, wanted, tasks)
    cores = threads.available_cores()
    assert 1 <= procs <= min(tasks, cores) and each >= 1
    assert procs * each <= cores or each == 1  # one thread each is the least a process can have
    if workers:
        assert procs <= workers


def test_inference_runs_on_its_own_threads_and_restores_the_callers():
    inst = uniform_instance(20, 1)
    construct.prepare(inst)
    seen = []
    policy, _ = construct.cached_policy(construct.prepare(inst))
    hook = policy.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        construct.solve(inst, num_starts=4, num_augment=1)
        construct.solve(inst, num_starts=4, num_augment=1, threads=2)
        after = torch.get_num_threads()
    finally:
        hook.remove()
        torch.set_num_threads(before)
    assert seen == [threads.INFERENCE_THREADS, 2] and after == 2


@pytest.mark.parametrize("path", X_SET, ids=lambda p: p.stem)
@pytest.mark.slow
def test_one_second_hybrid_is_never_the_trivial_start_nor_worse_than_its_greedy_rollout(path):
    inst = load_instance(path)
    greedy = check(inst, construct.solve(inst, num_starts=None, num_augment=1))  # also loads the checkpoint
    (sol, report), wall, share = timed(solve_and_check, inst, SolveOptions(solver="nco", time_limit=1.0))
    assert report.feasible and report.num_routes < trivial_routes(inst) / 2
    assert sol.timings["total"] <= 1.0 + budget_slack(1.0, share), (sol.timings, share)
    note = "; ".join(sol.notes)
    if "policy not used" in note:  # only a machine too busy for one greedy rollout in half a second
        assert "savings construction" in note
    else:
        assert report.cost <= greedy.cost + 1e-6, (report.cost, greedy.cost, note)


def test_a_budget_too_short_to_search_returns_the_construction_and_says_so():
    inst = load_instance(X_SET[0])
    sol = hybrid.solve(inst, 0.02)  # construction time eats the budget: no GA iteration fits
    report = check(inst, sol)
    assert report.feasible and report.num_routes < trivial_routes(inst) / 2
    if sol.meta["num_iterations"] == 0:  # it started and ran none, or its set-up did not fit and it was skipped
        assert "the genetic search ran no iteration" in "; ".join(sol.notes) or "search was skipped" in "; ".join(
            sol.notes
        )


@pytest.mark.parametrize("solver", ["nco", "pyvrp", "ortools"])
def test_time_limit_zero_is_the_construction_alone_for_every_solver(solver):
    inst = load_instance(X_SET[0])
    sol, report = solve_and_check(inst, SolveOptions(solver=solver, time_limit=0))
    assert report.feasible and report.num_routes < trivial_routes(inst) / 2
    if solver == "pyvrp":
        assert sol.meta["construction"] == "savings" and sol.meta["num_iterations"] == 0
    if solver == "ortools":
        assert sol.trace and len(sol.trace) == 1  # the first solution, no local search
    if solver == "nco":
        assert sol.meta["rollouts"] == 800  # multi-start x 8 views, however long it takes


def test_pyvrp_alone_at_no_budget_returns_its_savings_start_not_one_route_per_client():
    inst = uniform_instance(100, 2)
    sol = pyvrp_solver.solve(inst, time_limit=1e-3)
    report = check(inst, sol)
    assert report.feasible and report.num_routes < trivial_routes(inst) / 4
    assert sol.meta["construction"] == "savings"
    if sol.meta["num_iterations"] == 0:
        assert "ran no iteration" in "; ".join(sol.notes) or "search was skipped" in "; ".join(sol.notes)


def test_ortools_warm_start_refuses_a_zero_budget_by_name(capsys):
    code = main(["solve", "--instance", str(X_SET[0]), "--solver", "ortools", "--warm-start", "--time-limit", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "--warm-start with --time-limit 0" in err and err.count("\n") == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_time_limits_that_mean_nothing_are_refused(capsys, value):
    code = main(["solve", "--instance", str(X_SET[0]), "--time-limit", value])
    err = capsys.readouterr().err
    assert code == 2 and "--time-limit must be a finite number" in err


def test_no_solution_within_the_budget_has_its_own_exit_status(capsys, tmp_path):
    """Valid input whose limited fleet no policy rollout fits (9 vans of 100 for a demand of 975): the policy alone
    finds nothing, which is neither bad input (2) nor an infeasible plan (1)."""
    import json

    doc = json.loads((ROOT / "data" / "city.json").read_text())
    doc["fleet"][0]["count"] = 9
    path = tmp_path / "nine-vans.json"
    path.write_text(json.dumps(doc))
    code = main(["solve", "--instance", str(path), "--time-limit", "0", "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and "no policy rollout fits in the fleet (9 x van" in err and err.count("\n") == 1


def test_ortools_with_no_time_finds_nothing_and_says_so():
    from envs.errors import NoSolutionFound

    inst = uniform_instance(300, 1)
    with pytest.raises(NoSolutionFound, match="ortools found no solution within"):
        ortools_solver.solve(inst, time_limit=1e-6)
