"""Anytime solving: the policy's best distinct rollouts seed PyVRP's genetic search (EARLI-style).

The budget counts from after start-up (loading and warming up the checkpoint,
like imports): construction and model building come out of it, and the search
gets what is left. With time_limit 0 the policy's best is returned as it is.
"""

from __future__ import annotations

import time
from pathlib import Path

from baselines import pyvrp_solver
from envs.checker import check
from envs.errors import UnsupportedFeatureError
from envs.instance import Instance, require_features
from envs.solution import Solution
from nco import neural_solver
from nco.policy import OutOfTime

MIN_SEARCH_S = 0.01  # below this the GA is not started: nothing useful fits
MIN_POLICY_S = 0.1  # a 100-client probe (8 rollouts) takes ~0.05 s on one core: short budgets still get seeds


def policy_seconds(time_limit: float, share: float) -> float:
    """The policy's part of a budget: `share` of it, but at least MIN_POLICY_S (and at most half)."""
    return min(max(share * time_limit, MIN_POLICY_S), time_limit / 2)


def solve(
    instance: Instance,
    time_limit: float,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    num_seeds: int = 5,
    num_starts: int | None = 100,
    num_augment: int = 8,
    decode: str = "greedy",
    policy_share: float = 0.1,
    educate: bool = True,
) -> Solution:
    """Policy construction (within `policy_share` of the budget), then seeded genetic search until `time_limit`.

    Loading the checkpoint is start-up, like imports, and happens before the clock starts.
    """
    checkpoint = neural_solver.prepare(instance, checkpoint) or checkpoint
    started = time.perf_counter()
    if time_limit <= 0:
        return neural_solver.solve(instance, checkpoint, num_starts=num_starts, num_augment=num_augment, decode=decode)
    reason = pyvrp_solver.cannot_model(instance)
    if reason is not None and instance.features() <= neural_solver.SUPPORTED:
        return _policy_then_ortools(instance, time_limit, checkpoint, num_starts, num_augment, decode, policy_share,
                                    reason)  # fmt: skip
    require_features(instance, pyvrp_solver.SUPPORTED, "nco")
    seeds, policy_note, construct_s = [], None, 0.0
    policy_s = policy_seconds(time_limit, policy_share)
    try:
        built = neural_solver.solve(
            instance,
            checkpoint,
            num_starts=num_starts,
            num_augment=num_augment,
            decode=decode,
            keep=max(1, num_seeds),
            max_seconds=policy_s - (time.perf_counter() - started),
        )
        construct_s = time.perf_counter() - started
        pool = zip(built.meta.get("pool", []), built.meta.get("pool_types", []))
        seeds = [Solution.from_giant_tour(tour, "nco", types=types) for tour, types in pool] or [built]
        seeds = seeds[:num_seeds]
    except (UnsupportedFeatureError, neural_solver.FleetTooSmall) as e:  # the GA honours the instance unseeded
        policy_note = f"policy not used: {e}"
    except OutOfTime:  # a large instance and a short budget: the GA gets the time that is left
        construct_s = time.perf_counter() - started
        policy_note = f"policy not used: no rollout finished in {policy_s:.2f} s"
    data, ints = pyvrp_solver.build_problem_data(instance)
    pv_seeds = [pyvrp_solver.to_pyvrp_solution(data, s) for s in seeds]
    search_start = time.perf_counter() - started
    remaining = time_limit - search_start
    run = pyvrp_solver.run_genetic(data, remaining if remaining > MIN_SEARCH_S else 0.0, seed=seed, initial=pv_seeds, educate=educate)
    elapsed = time.perf_counter() - started
    meta = {
        "time_limit": time_limit,
        "seed": seed,
        "num_seeds": len(pv_seeds),
        "checkpoint": built.meta["checkpoint"] if seeds else None,
    }
    sol = pyvrp_solver.to_solution(instance, run, ints, elapsed, "nco", meta, offset=search_start)
    # One anytime curve over the whole budget: the policy's best (seeds come best first), then the GA's improvements.
    curve = [(round(construct_s, 4), check(instance, seeds[0]).cost)] if seeds else []
    for t, c in sol.meta["trace"]:
        if not curve or c < curve[-1][1]:
            curve.append((t, c))
    sol.meta["trace"] = curve
    sol.timings = {"construct": construct_s, "search": elapsed - search_start, "total": elapsed}
    if policy_note:
        sol.meta["note"] = policy_note
    return sol


def _policy_then_ortools(instance, time_limit, checkpoint, num_starts, num_augment, decode, policy_share, reason):
    """Where PyVRP's GA cannot hold the instance (linehaul-first backhauls): the policy's best within its share
    of the budget, then OR-Tools' guided local search from it for the rest, if OR-Tools can model it."""
    from baselines import ortools_solver

    started = time.perf_counter()
    kwargs = {"num_starts": num_starts, "num_augment": num_augment, "decode": decode}
    try:
        built = neural_solver.solve(instance, checkpoint, max_seconds=policy_seconds(time_limit, policy_share), **kwargs)
    except OutOfTime:
        built = neural_solver.solve(instance, checkpoint, num_starts=None, num_augment=1, decode=decode)
    construct_s = time.perf_counter() - started
    remaining = time_limit - construct_s
    if ortools_solver.cannot_model(instance) is not None or remaining < MIN_SEARCH_S:
        built.meta["note"] = f"no refinement: {reason}"
        built.timings["total"] = construct_s
        return built
    sol = ortools_solver.solve(instance, time_limit=remaining, initial=built)
    elapsed = time.perf_counter() - started
    sol.solver = "nco"
    sol.meta.update(checkpoint=built.meta["checkpoint"], note=f"refined by OR-Tools: {reason}")
    sol.timings = {"construct": construct_s, "search": elapsed - construct_s, "total": elapsed}
    return sol
