"""The solve pipeline: any solver on an Instance, then the one checker.

Solvers are imported lazily so that `--solver ortools` never loads torch and
`--solver nco` never loads OR-Tools.

Stochastic travel times: every solver plans on a deterministic copy of the
instance (envs.model.travel_model.planning_instance): expected travel times, or with
`plan_quantile` each arc's travel time at that quantile at peak congestion,
which leaves slack where traffic may bite. The checker then checks the routes
on the nominal times, and with `samples` the Monte Carlo evaluator
(envs.model.robust) replays them under sampled times.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from envs.model.check import Report, check
from envs.model.instance import Instance
from envs.model.solution import Solution
from nco.solvers.base import Solver

SOLVERS = ("nco", "ortools", "pyvrp")
DEFAULT_SAMPLES = 1000
MAX_SAMPLES = 1_000_000  # the estimates' standard errors are long below the printed digits by then
# peak memory per pair of locations, beyond the instance's own matrices (measured at 5,000 and 10,000 clients:
# OR-Tools' model copies its matrices into Python lists; PyVRP keeps integer copies, the policy float32 ones)
BYTES_PER_PAIR = {"nco": 60, "pyvrp": 50, "ortools": 100}
MAX_THREADS = 1024  # torch crashes at some 100,000 threads; more than the cores never helps (the CLI caps it)
MAX_SAMPLED_VISITS = 200_000_000  # samples x clients of one robust evaluation: about 10 s on one core


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

    def validate(self, names: dict[str, str] | None = None) -> None:
        """Refuse, in one line, an option no solver could honour (before anything is loaded or solved).
        `names` spells the fields as the caller's user knows them (the CLI: {'num_seeds': '--seeds', ...})."""

        def name(field: str) -> str:
            return (names or {}).get(field, field)

        # in this order, so that of several bad options the same one is named first
        self._validate_solver(name)
        self._validate_policy(name)
        self._validate_run(name)

    def _validate_solver(self, name) -> None:
        """Which solver, and for how long."""
        from envs.errors import NcoError

        t = self.time_limit
        if not (isinstance(t, int | float) and math.isfinite(t) and t >= 0):
            raise NcoError(f"{name('time_limit')} must be a finite number of seconds, zero or more; got {t}")
        if self.solver not in SOLVERS:
            raise NcoError(f"{name('solver')} {self.solver!r} is not a solver; choose one of {', '.join(SOLVERS)}")

    def _validate_policy(self, name) -> None:
        """How the policy decodes (starts, augmentation, decode type) and how many of its solutions seed the search."""
        from envs.errors import NcoError

        if self.num_starts is not None and self.num_starts < 0:
            raise NcoError(f"{name('num_starts')} must be 0 (one greedy rollout) or more, got {self.num_starts}")
        if self.num_seeds < 1:
            raise NcoError(
                f"{name('num_seeds')} must be 1 or more, got {self.num_seeds} (a search without policy seeds:"
                " solver pyvrp)"
            )
        if self.num_augment not in (1, 2, 4, 8):
            raise NcoError(f"{name('num_augment')} must be 1, 2, 4 or 8 symmetric views, got {self.num_augment}")
        if self.decode not in ("greedy", "sampling"):
            raise NcoError(f"{name('decode')} must be 'greedy' or 'sampling', got {self.decode!r}")

    def _validate_run(self, name) -> None:
        """The robust evaluation's samples, the threads and the seed."""
        from envs.errors import NcoError

        if self.samples is not None and not 0 <= self.samples <= MAX_SAMPLES:
            raise NcoError(f"{name('samples')} must be between 0 and {MAX_SAMPLES:,}, got {self.samples}")
        if self.threads is not None and not 1 <= self.threads <= MAX_THREADS:
            raise NcoError(f"{name('threads')} must be from 1 to {MAX_THREADS}, got {self.threads}")
        if not 0 <= self.seed < 2**32:  # the searches' generators take 32-bit seeds
            raise NcoError(f"{name('seed')} must be a whole number from 0 to {2**32 - 1}, got {self.seed}")


# What `time_limit=0` means: every solver returns its construction and runs no search, however long that takes.
TIME_LIMIT_ZERO = {
    "nco": "the policy alone (multi-start and augmentation, as --starts and --augment say)",
    "pyvrp": "the savings construction the genetic search would start from",
    "ortools": "OR-Tools' first solution (cheapest arc), no local search",
}


def solver_function(opts: SolveOptions) -> Solver:
    """Import what the solver needs (seconds for torch: start-up, not the budget) and return instance -> Solution."""
    if opts.solver == "nco":
        from nco.solvers import hybrid

        return lambda instance: hybrid.solve(
            instance,
            opts.time_limit,
            checkpoint=opts.checkpoint,
            seed=opts.seed,
            num_seeds=opts.num_seeds,
            num_starts=opts.num_starts,
            num_augment=opts.num_augment,
            decode=opts.decode,
            threads=opts.threads,
        )
    if opts.solver == "ortools":
        from baselines import ortools_solver

        if not opts.warm_start:
            return lambda instance: ortools_solver.solve(instance, time_limit=opts.time_limit, seed=opts.seed)
        if opts.time_limit <= 0:
            from envs.errors import NcoError

            raise NcoError(
                "--warm-start with --time-limit 0 leaves OR-Tools no search: for the policy alone use"
                " --solver nco --time-limit 0"
            )
        from nco.solvers.hybrid import policy_then_ortools

        return lambda instance: policy_then_ortools(
            instance,
            opts.time_limit,
            opts.checkpoint,
            policy_share=0.3,
            seed=opts.seed,
            num_starts=opts.num_starts,
            num_augment=opts.num_augment,
            decode=opts.decode,
            threads=opts.threads,
        )
    if opts.solver == "pyvrp":
        from baselines import pyvrp_solver

        return lambda instance: pyvrp_solver.solve(instance, time_limit=opts.time_limit, seed=opts.seed)
    raise ValueError(f"unknown solver {opts.solver!r}; choose one of {', '.join(SOLVERS)}")


def solve_and_check(instance: Instance, opts: SolveOptions) -> tuple[Solution, Report]:
    """Solve and check; timings['total'] is the solve itself, from after the solver's imports. With a travel
    model the solver plans on the planning copy and, with opts.samples, solution.meta['robust'] holds the Monte
    Carlo statistics (envs.model.robust.RobustReport.as_dict)."""
    from envs.errors import InstanceError

    opts.validate()
    stochastic = instance.travel_model is not None
    if opts.samples and not stochastic:
        raise InstanceError(f"instance {instance.name} has no travel_model: robust evaluation needs one")
    samples = DEFAULT_SAMPLES if opts.samples is None and stochastic else opts.samples or 0
    if samples * instance.num_clients > MAX_SAMPLED_VISITS:  # it would run for minutes after the solve
        raise InstanceError(
            f"{samples:,} samples x {instance.num_clients:,} clients is more than {MAX_SAMPLED_VISITS:,} sampled"
            f" visits (about 10 s on one core); use at most {MAX_SAMPLED_VISITS // instance.num_clients:,} samples"
        )
    plan = instance
    if stochastic:
        from envs.model.travel_model import planning_instance

        plan = planning_instance(instance, opts.plan_quantile)
        from nco.policy.checkpoints import ROBUST_CHECKPOINT

        if opts.solver == "nco" and opts.checkpoint is None and ROBUST_CHECKPOINT.exists():
            opts = replace(opts, checkpoint=str(ROBUST_CHECKPOINT))  # the policy trained to leave slack
    from envs.memory import require

    pairs = float(instance.num_nodes) ** 2
    require(BYTES_PER_PAIR[opts.solver] * pairs, f"{opts.solver} on {instance.num_clients:,} clients")
    solve = solver_function(opts)
    started = time.perf_counter()
    solution = solve(plan)
    solution.timings["total"] = time.perf_counter() - started
    if plan is not instance:
        solution.meta["planned_on"] = (
            "expected travel times"
            if opts.plan_quantile is None
            else (f"the {opts.plan_quantile:g} quantile of travel times at peak congestion")
        )
    if samples:
        from envs.model.robust import evaluate

        solution.meta["robust"] = evaluate(instance, solution, samples, opts.seed).as_dict()
    return solution, check(instance, solution)
