"""Policy-seeded genetic search: seeds really reach the GA, budgets hold, and the CLI paths work."""

import time
from dataclasses import replace

import pytest
from conftest import ROOT, budget_slack, timed
from hypothesis import given, settings
from hypothesis import strategies as st

from baselines import pyvrp_solver
from envs.generate.cvrp import uniform_instance
from envs.io.load import load_instance
from envs.io.vrplib_format import load_vrplib_solution
from envs.model.check import check
from envs.rl.batch import instance_tensors
from nco.cli.main import main
from nco.policy.model import OutOfTime
from nco.solvers import construct, genetic, hybrid
from nco.solvers.pipeline import SolveOptions, solve_and_check

X101 = ROOT / "data" / "x" / "X-n101-k25.vrp"
C101 = ROOT / "data" / "solomon" / "C101.vrp"


def test_a_seeded_optimum_comes_back_with_zero_iterations():
    inst = load_instance(X101)
    best = load_vrplib_solution(inst, X101.with_suffix(".sol"))
    assert check(inst, best).cost == inst.best_known
    data, ints = pyvrp_solver.build_problem_data(inst)
    run = genetic.run_genetic(data, 0.0, initial=[pyvrp_solver.to_pyvrp_solution(data, best)])
    assert run.result.num_iterations == 0
    sol = genetic.to_solution(inst, run, ints, 0.0, "test", {})
    assert check(inst, sol).cost == inst.best_known
    # while an unseeded run with no time returns a random start, far from it
    cold = genetic.run_genetic(data, 0.0)
    assert ints.to_cost(cold.result.cost()) > 1.5 * inst.best_known


def test_pyvrp_baseline_uses_its_initial_solution():
    inst = load_instance(X101)
    best = load_vrplib_solution(inst, X101.with_suffix(".sol"))
    sol = pyvrp_solver.solve(inst, time_limit=0.2, initial=best)
    assert sol.meta["initial_used"] and check(inst, sol).cost == inst.best_known


@pytest.mark.parametrize("budget", [0.5, 2.0])
@pytest.mark.slow
def test_hybrid_respects_its_budget_and_improves_on_the_policy(budget):
    inst = load_instance(X101)
    hybrid.solve(inst, 0.3)  # load the checkpoint and warm up: start-up is not budget
    (sol, report), wall, share = timed(solve_and_check, inst, SolveOptions(solver="nco", time_limit=budget))
    assert report.feasible
    assert sol.timings["total"] <= budget + budget_slack(budget, share), (sol.timings, share)
    trace = sol.trace
    assert sol.meta["num_seeds"] >= 1 and trace[0][0] < budget  # the construction comes first, within the budget
    assert [c for _, c in trace] == sorted((c for _, c in trace), reverse=True)  # best-so-far never worsens
    assert report.cost == pytest.approx(trace[-1][1]) and report.cost <= trace[0][1]


def test_time_limit_zero_is_the_policy_alone(capsys):
    assert main(["solve", "--instance", str(X101), "--time-limit", "0", "--quiet", "--trace"]) == 0
    out = capsys.readouterr().out
    assert "solver nco" in out and "no anytime trace" in out


@pytest.mark.slow
def test_hybrid_cli_prints_and_draws_the_anytime_trace(capsys, tmp_path):
    png = tmp_path / "trace.png"
    args = ["solve", "--instance", str(X101), "--time-limit", "1", "--quiet", "--trace", "--trace-plot", str(png)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "best cost over time" in out and out.count(" s  ") >= 2
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the policy alone records no trace: the solution is still written, and the missing picture is one line
    sol = tmp_path / "sol.json"
    args = ["solve", "--instance", str(X101), "--time-limit", "0", "--output", str(sol), "--trace-plot", str(png)]
    assert main(args) == 2 and sol.exists()
    assert "no anytime trace" in capsys.readouterr().err


@pytest.mark.slow
def test_ortools_warm_start_from_the_policy(capsys):
    inst = load_instance(X101)
    policy_cost = check(inst, hybrid.solve(inst, 0)).cost
    sol, report = solve_and_check(inst, SolveOptions(solver="ortools", time_limit=1.5, warm_start=True))
    assert report.feasible and report.cost <= policy_cost and "construct" in sol.timings
    assert sol.meta.get("warm_start") != "rejected"
    assert (
        main(["solve", "--instance", str(X101), "--solver", "ortools", "--warm-start", "--time-limit", "1", "--quiet"])
        == 0
    )


@pytest.mark.slow
def test_ortools_starts_cold_when_no_rollout_fits_the_warm_start_share(monkeypatch):
    monkeypatch.setattr(hybrid, "policy_seconds", lambda limit, share: 1e-4)  # no rollout fits, however fast
    big = uniform_instance(200, 3)
    sol, report = solve_and_check(big, SolveOptions(solver="ortools", time_limit=1.0, warm_start=True))
    assert report.feasible and "warm start not used: no policy rollout finished" in "; ".join(sol.notes)


def test_instances_the_policy_cannot_read_still_get_the_genetic_search():
    """Vehicle types with different distance limits: the dynamics hold one limit, so the policy steps aside
    (and says why) and the GA solves the instance unseeded."""

    inst = uniform_instance(30, 4)
    inst = replace(
        inst,
        fleet=[
            replace(inst.fleet[0], max_distance=6.0),
            replace(inst.fleet[0], capacity=2 * inst.fleet[0].capacity, fixed_cost=1.0),
        ],
    )
    sol = hybrid.solve(inst, 0.5)
    assert check(inst, sol).feasible and "policy not used" in "; ".join(sol.notes)
    assert "one duration and distance limit for all vehicle types" in "; ".join(sol.notes)


@pytest.mark.slow
def test_a_heterogeneous_fleet_seeds_the_genetic_search_with_typed_routes():
    from envs.generate.fleets import profiled_instance

    inst = profiled_instance(40, 3, zones="sector", mix="FSMFD")
    built = check(inst, hybrid.solve(inst, 0))
    sol = hybrid.solve(inst, 1.0)
    report = check(inst, sol)
    # on a busy machine the greedy rollout may fill the policy's share alone: that note, and no other
    assert report.feasible and sol.meta["num_seeds"] >= 1
    assert ("; ".join(sol.notes) or "policy: one greedy rollout").startswith("policy: one greedy rollout")
    assert report.cost <= built.cost + 1e-9 and {r.vehicle_type for r in sol.routes} <= set(range(len(inst.fleet)))


@pytest.mark.slow
def test_solomon_time_windows_and_fleet_seed_the_genetic_search(capsys):
    assert main(["solve", "--instance", str(C101), "--time-limit", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "feasible" in out and "policy not used" not in out


@pytest.mark.slow
def test_linehaul_first_backhauls_are_refined_by_ortools():
    """PyVRP cannot order backhauls after linehauls: the policy's routes go to OR-Tools instead."""
    from envs.generate.variants import variant_instance

    inst = variant_instance("VRPB", 40, 2)
    policy_only = check(inst, hybrid.solve(inst, 0))
    sol = hybrid.solve(inst, 1.0)
    report = check(inst, sol)
    assert report.feasible and report.cost <= policy_only.cost + 1e-9
    assert "refined by OR-Tools" in "; ".join(sol.notes) and sol.solver == "nco"


def _policy_seeds(inst, data, keep):
    built = construct.build(inst, num_starts=8, num_augment=1, keep=keep)
    return [pyvrp_solver.to_pyvrp_solution(data, plan) for plan in built.pool]


@pytest.mark.slow
def test_seeds_get_one_local_search_before_the_genetic_search():
    inst = load_instance(X101)
    data, _ = pyvrp_solver.build_problem_data(inst)
    seeds = _policy_seeds(inst, data, 5)
    raw = genetic.run_genetic(data, 0.5, initial=seeds)
    educated = genetic.run_genetic(data, 0.5, initial=seeds, educate=True)
    # the first trace point is the incumbent before the first iteration: the best (educated) seed
    assert raw.trace[0][1] == min(s.distance() for s in seeds)
    assert educated.trace[0][1] < raw.trace[0][1]


@settings(max_examples=6, deadline=None)
@given(n=st.integers(10, 60), seed=st.integers(0, 10_000))
def test_educated_seeds_stay_feasible_and_never_get_worse(n, seed):
    inst = uniform_instance(n, seed)
    data, _ = pyvrp_solver.build_problem_data(inst)
    seeds = _policy_seeds(inst, data, 4)
    run = genetic.run_genetic(data, 0.05, initial=seeds, educate=True)
    assert run.result.best.is_feasible() and run.trace[0][1] <= min(s.distance() for s in seeds)


def test_a_policy_past_its_deadline_stops_and_the_search_starts_from_savings(monkeypatch):
    policy, _ = construct.cached_policy()
    with pytest.raises(OutOfTime):
        policy(instance_tensors(uniform_instance(50, 1)), num_starts=4, deadline=time.perf_counter())
    # not even the greedy rollout may run
    monkeypatch.setattr(hybrid.genetic, "construction_deadline", lambda started, limit, share=0: started)
    monkeypatch.setattr(hybrid, "policy_seconds", lambda limit, share: 0.0)
    inst = uniform_instance(300, 3)
    sol = hybrid.solve(inst, 0.5)
    note = "; ".join(sol.notes)
    assert "policy not used: no time left for its greedy rollout" in note and "savings construction" in note
    report = check(inst, sol)
    assert report.feasible and sol.meta["seeded_by"] == {"savings": 1} and sol.meta["checkpoint"] is None
    assert report.num_routes < inst.num_clients / 4  # a construction, not one route per client


def test_a_greedy_rollout_cut_by_its_deadline_leaves_the_savings_plan(monkeypatch):
    def too_slow(*args, **kwargs):
        raise OutOfTime("decoding stopped after 3 of 300+ steps")

    monkeypatch.setattr(hybrid.construct, "build", too_slow)
    inst = uniform_instance(300, 3)
    sol = hybrid.solve(inst, 0.5)
    assert "policy not used: its greedy rollout did not finish" in "; ".join(sol.notes)
    assert sol.meta["seeded_by"] == {"savings": 1} and check(inst, sol).feasible
