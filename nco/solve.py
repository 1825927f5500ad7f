"""The solve pipeline: any solver on an Instance, then the one checker.

Solvers are imported lazily so that `--solver ortools` never loads torch and
`--solver nco` never loads OR-Tools.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from envs.checker import Report, check
from envs.instance import Instance
from envs.solution import Solution

SOLVERS = ("nco", "ortools", "pyvrp")


@dataclass
class SolveOptions:
    solver: str = "nco"
    time_limit: float = 5.0  # seconds for the search baselines
    seed: int = 0
    checkpoint: str | None = None
    num_starts: int | None = 100
    num_augment: int = 8
    extra: dict = field(default_factory=dict)


def run_solver(instance: Instance, opts: SolveOptions) -> Solution:
    if opts.solver == "nco":
        from nco import neural_solver

        return neural_solver.solve(
            instance, checkpoint=opts.checkpoint, num_starts=opts.num_starts, num_augment=opts.num_augment
        )
    if opts.solver == "ortools":
        from baselines import ortools_solver

        return ortools_solver.solve(instance, time_limit=opts.time_limit, seed=opts.seed)
    if opts.solver == "pyvrp":
        from baselines import pyvrp_solver

        return pyvrp_solver.solve(instance, time_limit=opts.time_limit, seed=opts.seed)
    raise ValueError(f"unknown solver {opts.solver!r}; choose one of {', '.join(SOLVERS)}")


def solve_and_check(instance: Instance, opts: SolveOptions) -> tuple[Solution, Report]:
    started = time.perf_counter()
    solution = run_solver(instance, opts)
    solution.timings["total"] = time.perf_counter() - started
    return solution, check(instance, solution)


def solve_file(path: str | Path, opts: SolveOptions) -> tuple[Instance, Solution, Report]:
    from envs.loaders import load_instance

    instance = load_instance(path)
    solution, report = solve_and_check(instance, opts)
    return instance, solution, report
