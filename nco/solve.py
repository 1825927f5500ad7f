"""The solve pipeline: any solver on an Instance, then the one checker.

Solvers are imported lazily so that `--solver ortools` never loads torch and
`--solver nco` never loads OR-Tools.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from envs.checker import Report, check
from envs.instance import Instance
from envs.solution import Solution

SOLVERS = ("nco", "ortools", "pyvrp")


@dataclass
class SolveOptions:
    solver: str = "nco"
    time_limit: float = 3.0  # seconds for the whole solve; 0 = the policy alone (nco)
    seed: int = 0
    checkpoint: str | None = None
    num_starts: int | None = 100
    num_augment: int = 8
    decode: str = "greedy"  # or "sampling" (the policy's rollouts after each start)
    num_seeds: int = 5  # policy solutions seeding the genetic search
    warm_start: bool = False  # ortools: start from the policy's best


def solver_function(opts: SolveOptions):
    """Import what the solver needs (seconds for torch: start-up, not the budget) and return instance -> Solution."""
    if opts.solver == "nco":
        from nco import hybrid

        return lambda instance: hybrid.solve(
            instance, opts.time_limit, checkpoint=opts.checkpoint, seed=opts.seed, num_seeds=opts.num_seeds,
            num_starts=opts.num_starts, num_augment=opts.num_augment, decode=opts.decode,
        )  # fmt: skip
    if opts.solver == "ortools":
        from baselines import ortools_solver

        if not opts.warm_start:
            return lambda instance: ortools_solver.solve(instance, time_limit=opts.time_limit, seed=opts.seed)
        from nco import neural_solver

        def warm(instance: Instance) -> Solution:
            from nco.policy import OutOfTime

            checkpoint = neural_solver.prepare(instance, opts.checkpoint)
            started = time.perf_counter()
            try:
                initial = neural_solver.solve(
                    instance, checkpoint, num_starts=opts.num_starts, num_augment=opts.num_augment,
                    decode=opts.decode, max_seconds=0.3 * opts.time_limit,
                )  # fmt: skip
            except OutOfTime:  # as in the hybrid: no rollout fits its share, so OR-Tools starts cold
                initial = None
            construct_s = time.perf_counter() - started
            remaining = max(0.01, opts.time_limit - construct_s)
            solution = ortools_solver.solve(instance, time_limit=remaining, seed=opts.seed, initial=initial)
            solution.timings["construct"] = construct_s
            if initial is None:
                solution.meta["note"] = f"warm start not used: no policy rollout finished in {construct_s:.2f} s"
            return solution

        return warm
    if opts.solver == "pyvrp":
        from baselines import pyvrp_solver

        return lambda instance: pyvrp_solver.solve(instance, time_limit=opts.time_limit, seed=opts.seed)
    raise ValueError(f"unknown solver {opts.solver!r}; choose one of {', '.join(SOLVERS)}")


def solve_and_check(instance: Instance, opts: SolveOptions) -> tuple[Solution, Report]:
    """Solve and check; timings['total'] is the solve itself, from after the solver's imports."""
    solve = solver_function(opts)
    started = time.perf_counter()
    solution = solve(instance)
    solution.timings["total"] = time.perf_counter() - started
    return solution, check(instance, solution)

