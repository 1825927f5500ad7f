"""The solve pipeline: any solver on an Instance, then the one checker.

Solvers are imported lazily so that `--solver ortools` never loads torch and
`--solver nco` never loads OR-Tools.

Stochastic travel times: every solver plans on a deterministic copy of the
instance (envs.travel_model.planning_instance): expected travel times, or with
`plan_quantile` each arc's travel time at that quantile at peak congestion,
which leaves slack where traffic may bite. The checker then checks the routes
on the nominal times, and with `samples` the Monte Carlo evaluator
(envs.robust) replays them under sampled times.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from envs.checker import Report, check
from envs.instance import Instance
from envs.solution import Solution

SOLVERS = ("nco", "ortools", "pyvrp")
DEFAULT_SAMPLES = 1000


@dataclass
class SolveOptions:
    solver: str = "nco"
    time_limit: float = 3.0  # wall-clock seconds for the solve; 0 = the construction alone, no search (TIME_LIMIT_ZERO)
    seed: int = 0
    checkpoint: str | None = None
    num_starts: int | None = 100
    num_augment: int = 8
    decode: str = "greedy"  # or "sampling" (the policy's rollouts after each start)
    num_seeds: int = 5  # policy solutions seeding the genetic search
    warm_start: bool = False  # ortools: start from the policy's best
    plan_quantile: float | None = None  # stochastic instances: plan on this quantile of travel times (None: mean)
    # (the CLI's default is 0.9; library callers and the baselines' rows in compare.py plan on expected times)
    samples: int | None = None  # Monte Carlo samples of the robust evaluation (None: DEFAULT_SAMPLES if stochastic)
    threads: int | None = None  # torch threads for the policy (None: nco.threads.INFERENCE_THREADS)


# What `time_limit=0` means: every solver returns its construction and runs no search, however long that takes.
TIME_LIMIT_ZERO = {
    "nco": "the policy alone (multi-start and augmentation, as --starts and --augment say)",
    "pyvrp": "the savings construction the genetic search would start from",
    "ortools": "OR-Tools' first solution (cheapest arc), no local search",
}


def solver_function(opts: SolveOptions):
    """Import what the solver needs (seconds for torch: start-up, not the budget) and return instance -> Solution."""
    if opts.solver == "nco":
        from nco import hybrid

        return lambda instance: hybrid.solve(
            instance, opts.time_limit, checkpoint=opts.checkpoint, seed=opts.seed, num_seeds=opts.num_seeds,
            num_starts=opts.num_starts, num_augment=opts.num_augment, decode=opts.decode, threads=opts.threads,
        )  # fmt: skip
    if opts.solver == "ortools":
        from baselines import ortools_solver

        if not opts.warm_start:
            return lambda instance: ortools_solver.solve(instance, time_limit=opts.time_limit, seed=opts.seed)
        if opts.time_limit <= 0:
            from envs.errors import NcoError

            raise NcoError("--warm-start with --time-limit 0 leaves OR-Tools no search: for the policy alone use"
                           " --solver nco --time-limit 0")  # fmt: skip
        from nco.hybrid import policy_then_ortools

        return lambda instance: policy_then_ortools(
            instance, opts.time_limit, opts.checkpoint, policy_share=0.3, seed=opts.seed,
            num_starts=opts.num_starts, num_augment=opts.num_augment, decode=opts.decode, threads=opts.threads,
        )  # fmt: skip
    if opts.solver == "pyvrp":
        from baselines import pyvrp_solver

        return lambda instance: pyvrp_solver.solve(instance, time_limit=opts.time_limit, seed=opts.seed)
    raise ValueError(f"unknown solver {opts.solver!r}; choose one of {', '.join(SOLVERS)}")


def solve_and_check(instance: Instance, opts: SolveOptions) -> tuple[Solution, Report]:
    """Solve and check; timings['total'] is the solve itself, from after the solver's imports. With a travel
    model the solver plans on the planning copy and, with opts.samples, solution.meta['robust'] holds the Monte
    Carlo statistics (envs.robust.RobustReport.as_dict)."""
    from envs.errors import InstanceError

    stochastic = instance.travel_model is not None
    if opts.samples and not stochastic:
        raise InstanceError(f"instance {instance.name} has no travel_model: robust evaluation needs one")
    if opts.samples is not None and opts.samples < 0:
        raise InstanceError(f"the number of samples must be zero or positive, got {opts.samples}")
    samples = DEFAULT_SAMPLES if opts.samples is None and stochastic else opts.samples or 0
    plan = instance
    if stochastic:
        from envs.travel_model import planning_instance

        plan = planning_instance(instance, opts.plan_quantile)
        from nco.checkpoint import ROBUST_CHECKPOINT

        if opts.solver == "nco" and opts.checkpoint is None and ROBUST_CHECKPOINT.exists():
            opts = replace(opts, checkpoint=str(ROBUST_CHECKPOINT))  # the policy trained to leave slack
    solve = solver_function(opts)
    started = time.perf_counter()
    solution = solve(plan)
    solution.timings["total"] = time.perf_counter() - started
    if plan is not instance:
        solution.meta["planned_on"] = "expected travel times" if opts.plan_quantile is None else (
            f"the {opts.plan_quantile:g} quantile of travel times at peak congestion")  # fmt: skip
    if samples:
        from envs.robust import evaluate

        solution.meta["robust"] = evaluate(instance, solution, samples, opts.seed).as_dict()
    return solution, check(instance, solution)

