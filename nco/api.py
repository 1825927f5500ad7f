"""The Python API: `nco.load`, `nco.solve`, `nco.check`, `nco.train` (re-exported by `nco/__init__.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envs.model.check import Report
from envs.model.instance import Instance
from envs.model.solution import Solution
from nco.solvers.result import SolveResult


def load(path: str | Path, **options: Any) -> Instance:
    """Read an instance: nco's JSON (`city.json`), a VRPLIB `.vrp` or a Solomon `.txt` file.

    Parameters
    ----------
    path
        The file.
    **options
        As envs.io.load.load_instance: `osrm_url=...` (road matrices for lon/lat files), `haversine=True`,
        `unreachable="refuse" | "drop"`, `osrm_timeout=60`.

    Returns
    -------
    Instance
        The problem, validated; envs.errors.InstanceError (one line) if the file is not.
    """
    from envs.io.load import load_instance

    return load_instance(path, **options)


def solve(
    instance: Instance | str | Path, time_limit: float = 3.0, solver: str = "hybrid", **options: Any
) -> SolveResult:
    """Solve and check.

    Parameters
    ----------
    instance
        An Instance, or a file to load.
    time_limit
        Wall-clock seconds for the solve (the policy alone, `solver="policy"`, ignores it).
    solver
        policy, hybrid (default), pyvrp, ortools, ortools+policy (nco.solvers.registry.SOLVERS).
    **options
        SolveOptions fields: seed, checkpoint, num_starts, num_augment, decode, num_seeds, samples,
        plan_quantile, threads.

    Returns
    -------
    SolveResult
        The plan, the checker's report, notes, the anytime trace and timings.
    """
    from nco.solvers.pipeline import solve_and_check
    from nco.solvers.registry import canonical, options_for

    inst = load(instance) if isinstance(instance, str | Path) else instance
    opts = options_for(solver, time_limit, **options)
    opts.validate()
    solution, report = solve_and_check(inst, opts)
    return SolveResult.of(inst, solution, report, canonical(solver))


def check(instance: Instance, solution: Solution | SolveResult) -> Report:
    """The checker's report of any plan: cost, feasibility, routes, and every violation."""
    from envs.model.check import check as run_check

    return run_check(instance, solution.solution if isinstance(solution, SolveResult) else solution)


def train(**config: Any) -> dict:
    """Train a policy (nco.train.run.TrainConfig's fields: num_clients, distribution, epochs, init_from, ...);
    returns the run's summary (its result.json). Imports Lightning: seconds, not milliseconds."""
    from nco.train.run import TrainConfig
    from nco.train.run import train as run_train

    return run_train(TrainConfig(**config))
