"""Policy-seeded genetic search: seeds really reach the GA, budgets hold, and the CLI paths work."""

from pathlib import Path

import pytest

from baselines import pyvrp_solver
from envs.checker import check
from envs.loaders import load_instance
from envs.vrplib_format import load_vrplib_solution
from nco import hybrid
from nco.cli import main
from nco.solve import SolveOptions, solve_and_check

ROOT = Path(__file__).resolve().parent.parent
X101 = ROOT / "data" / "x" / "X-n101-k25.vrp"
C101 = ROOT / "data" / "solomon" / "C101.vrp"


def test_a_seeded_optimum_comes_back_with_zero_iterations():
    inst = load_instance(X101)
    best = load_vrplib_solution(inst, X101.with_suffix(".sol"))
    assert check(inst, best).cost == inst.best_known
    data, ints = pyvrp_solver.build_problem_data(inst)
    run = pyvrp_solver.run_genetic(data, 0.0, initial=[pyvrp_solver.to_pyvrp_solution(data, best)])
    assert run.result.num_iterations == 0
    sol = pyvrp_solver.to_solution(inst, run, ints, 0.0, "test", {})
    assert check(inst, sol).cost == inst.best_known
    # while an unseeded run with no time returns a random start, far from it
    cold = pyvrp_solver.run_genetic(data, 0.0)
    assert ints.to_cost(cold.result.cost()) > 1.5 * inst.best_known


def test_pyvrp_baseline_uses_its_initial_solution():
    inst = load_instance(X101)
    best = load_vrplib_solution(inst, X101.with_suffix(".sol"))
    sol = pyvrp_solver.solve(inst, time_limit=0.2, initial=best)
    assert sol.meta["initial_used"] and check(inst, sol).cost == inst.best_known


@pytest.mark.parametrize("budget", [0.5, 2.0])
def test_hybrid_respects_its_budget_and_improves_on_the_policy(budget):
    inst = load_instance(X101)
    hybrid.solve(inst, 0.3)  # load the checkpoint and warm up: start-up is not budget
    sol, report = solve_and_check(inst, SolveOptions(solver="nco", time_limit=budget))
    assert report.feasible
    assert sol.timings["total"] <= 1.1 * budget + 0.05, sol.timings
    trace = sol.meta["trace"]
    assert sol.meta["num_seeds"] >= 1 and trace[0][0] < budget  # the policy's best comes first, within the budget
    assert [c for _, c in trace] == sorted((c for _, c in trace), reverse=True)  # best-so-far never worsens
    assert report.cost == pytest.approx(trace[-1][1]) and report.cost <= trace[0][1]


def test_time_limit_zero_is_the_policy_alone(capsys):
    assert main(["solve", "--instance", str(X101), "--time-limit", "0", "--quiet", "--trace"]) == 0
    out = capsys.readouterr().out
    assert "solver nco" in out and "no anytime trace" in out


def test_hybrid_cli_prints_the_anytime_trace(capsys):
    assert main(["solve", "--instance", str(X101), "--time-limit", "1", "--quiet", "--trace"]) == 0
    out = capsys.readouterr().out
    assert "best cost over time" in out and out.count(" s  ") >= 2


def test_ortools_warm_start_from_the_policy(capsys):
    inst = load_instance(X101)
    policy_cost = check(inst, hybrid.solve(inst, 0)).cost
    sol, report = solve_and_check(inst, SolveOptions(solver="ortools", time_limit=1.5, warm_start=True))
    assert report.feasible and report.cost <= policy_cost and "construct" in sol.timings
    assert sol.meta.get("warm_start") != "rejected"
    assert main(["solve", "--instance", str(X101), "--solver", "ortools", "--warm-start", "--time-limit", "1", "--quiet"]) == 0


def test_instances_the_policy_cannot_read_still_get_the_genetic_search(capsys):
    assert main(["solve", "--instance", str(C101), "--time-limit", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "feasible" in out and "policy not used" in out and "time_windows" in out
