"""Anytime solving: the policy's best distinct rollouts seed PyVRP's genetic search (EARLI-style).

The budget counts from after start-up (loading and warming up the checkpoint,
like imports): construction and model building come out of it, and the search
gets what is left. With time_limit 0 the policy's best is returned as it is.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from baselines import pyvrp_solver
from envs import interrupt
from envs.errors import UnsupportedFeatureError
from envs.model.check import check
from envs.model.instance import Instance, require_features
from envs.model.savings import savings
from envs.model.solution import Solution
from nco.policy.model import OutOfTime
from nco.solvers import by_parts, construct, genetic, sectors

MIN_SEARCH_S = 0.01  # below this the GA is not started: nothing useful fits
MIN_POLICY_S = 0.1  # a 100-client probe (8 rollouts) takes ~0.05 s on one core: short budgets still get seeds
GREEDY_SHARE = 0.5  # the policy's one greedy rollout, the floor of the result, may run until half the budget
SAVINGS_SHARE = 0.75  # without the policy, the savings construction stops merging at three quarters of the budget


def policy_seconds(time_limit: float, share: float) -> float:
    """The policy's part of a budget: `share` of it, but at least MIN_POLICY_S (and at most half)."""
    return min(max(share * time_limit, MIN_POLICY_S), time_limit / 2)


# a greedy rollout against the savings construction on the same instance (both grow as n^2): 13x at 1,000
# clients, more above; a rollout expected past its deadline is not started (at 10,000 clients building its
# tensors and one encoder layer alone took 6 s before the deadline could stop it)
GREEDY_PER_SAVINGS = 8.0
SECTOR_S_PER_CLIENT = 2e-4  # the greedy rollout by sectors (nco/solvers/sectors.py), with a margin of 2

# by parts or the whole instance (by_parts_pays), measured by scripts/bench_parts.py on X-like instances (the
# cost by parts against the whole search's): 1,000 clients -0.8% at 10 s, +0.15% at 30 s, level at 60 s;
# 2,000: -0.1%, -0.3%, -0.2%; 5,000: -0.7% at 10, 30 and 60 s (where the whole search also overran 10 s by 9 s);
# on the 11 X instances of 600-1000 clients at 5 s, 3.37% over the best known by parts, 3.84% whole; the
# whole search at 2,000 clients and 60 s (0.03 s a client) ended 0.11% behind PyVRP alone; by parts, 0.16% ahead
PARTS_MIN_CLIENTS = 600
WHOLE_S_PER_CLIENT = 0.04  # the whole search pays from 24 s at 600 clients, 200 s at 5,000


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
    threads: int | None = None,
    parts: bool | None = None,
) -> Solution:
    """Policy construction (within `policy_share` of the budget), then seeded genetic search until `time_limit`.

    Whatever the budget, the result is at least a construction: the policy's
    greedy rollout (which may take up to GREEDY_SHARE of the budget), else a
    savings construction; the search only improves on it. Loading the checkpoint
    is start-up, like imports, and happens before the clock starts. time_limit 0:
    the policy alone (multi-start and augmentation, no search). `parts`: improve the best construction by
    parts (nco/solvers/by_parts.py) rather than search the whole instance; None decides by size and budget
    (by_parts_pays).
    """
    started = time.perf_counter()
    instance.features()  # the solve's own: its symmetry test reads the whole matrix (0.8 s at 10,000 clients)
    loading = time.perf_counter()
    checkpoint = construct.prepare(instance, checkpoint) or checkpoint
    started += time.perf_counter() - loading  # loading the checkpoint is start-up, like imports
    decoding = {"num_starts": num_starts, "num_augment": num_augment, "decode": decode, "threads": threads}
    if time_limit <= 0:
        return construct.solve(instance, checkpoint, **decoding)
    reason = pyvrp_solver.cannot_model(instance)
    if reason is not None and instance.features() <= construct.SUPPORTED:
        return _refine_with_ortools(instance, time_limit, checkpoint, policy_share, seed, reason, **decoding)
    require_features(instance, pyvrp_solver.SUPPORTED, "nco")
    seeds, notes, used = seed_pool(instance, time_limit, started, checkpoint, num_seeds, policy_share, **decoding)
    construct_s = time.perf_counter() - started
    meta = {
        "time_limit": time_limit,
        "seed": seed,
        "num_seeds": len(seeds),
        "checkpoint": used,
        "seeded_by": {name: sum(s.solver == name for s in seeds) for name in sorted({s.solver for s in seeds})},
    }
    deadline = started + time_limit
    best = seeds[0] if seeds else None
    if best is not None and (by_parts_pays(instance, time_limit) if parts is None else parts):
        return _improve_by_parts(instance, best, started, deadline, construct_s, seed, meta, notes)
    try:  # on a giant instance the search's set-up alone can outlast the budget: then the best construction
        genetic.setup_fits(best, started, time_limit, deadline)
        data, ints = pyvrp_solver.build_problem_data(instance, pyvrp_solver.route_bound(seeds))
        genetic.setup_fits(best, started, time_limit, deadline, time.perf_counter() - started - construct_s)
        pv_seeds = [pyvrp_solver.to_pyvrp_solution(data, s) for s in seeds]
        search_start = time.perf_counter() - started
        remaining = time_limit - search_start
        run = genetic.run_genetic(
            data,
            remaining if remaining > MIN_SEARCH_S else 0.0,
            seed=seed,
            initial=pv_seeds,
            educate=educate,
            deadline=deadline,
        )
    except genetic.SearchSkipped as skipped:
        trace = [(round(construct_s, 4), check(instance, best).cost)]
        return genetic.construction_only(best, "nco", started, meta, [*notes, str(skipped)], trace)
    elapsed = time.perf_counter() - started
    idle = genetic.idle_search_note(run, remaining)
    sol = genetic.to_solution(instance, run, ints, elapsed, "nco", meta, offset=search_start)
    # One anytime curve over the whole budget: the construction's best (seeds come best first), then the GA's.
    curve = [(round(construct_s, 4), check(instance, seeds[0]).cost)] if seeds else []
    for t, c in sol.trace:
        if not curve or c < curve[-1][1]:
            curve.append((t, c))
    timings = {"construct": construct_s, "search": elapsed - search_start, "total": elapsed}
    return replace(sol, trace=curve, timings=timings, notes=[*notes, *([idle] if idle else [])])


def by_parts_pays(instance: Instance, time_limit: float) -> bool:
    """Whether improving by parts beats searching the whole instance in `time_limit` seconds: from
    PARTS_MIN_CLIENTS clients on, unless the budget gives the whole search at least WHOLE_S_PER_CLIENT
    seconds per client (measured by scripts/bench_parts.py)."""
    n = instance.num_clients
    return n >= PARTS_MIN_CLIENTS and time_limit < WHOLE_S_PER_CLIENT * n


def _improve_by_parts(instance, plan, started, deadline, construct_s, seed, meta, notes) -> Solution:
    """`plan` improved part by part until `deadline`, as the hybrid's answer."""
    routes, trace, searched, improved = by_parts.improve(instance, plan, deadline, seed=seed)
    elapsed = time.perf_counter() - started
    curve = [(round(construct_s, 4), trace[0][1])] + [(round(t - started, 4), c) for t, c in trace[1:]]
    note = f"improved by parts (from about {by_parts.PART_CLIENTS} clients each): {improved} of {searched} parts gained"
    return Solution(
        routes=routes,
        solver="nco",
        timings={"construct": construct_s, "search": elapsed - construct_s, "total": elapsed},
        meta={**meta, "search": "by parts", "parts_searched": searched, "parts_improved": improved},
        notes=[*notes, note],
        trace=curve,
    )


def seed_pool(
    instance: Instance,
    time_limit: float,
    started: float,
    checkpoint,
    num_seeds: int,
    policy_share: float,
    **decoding,
) -> tuple[list[Solution], list[str], str | None]:
    """The search's starting solutions, best first, the notes on how they were made, and the checkpoint used.

    First the savings construction, the floor of the result whatever the policy does (milliseconds at 100
    clients, about 2 s at 10,000, where the policy's greedy rollout would take minutes); then the policy's best
    distinct rollouts within its share of the budget, its greedy rollout allowed until GREEDY_SHARE (at least
    genetic.CONSTRUCTION_MIN_S). The search gets all of them (a complete savings plan beside the
    policy's, and any savings plan where the policy gives none). Every deadline is a clock reading, so a busy
    machine gets fewer rollouts, not a longer solve."""
    notes: list[str] = []
    seeds: list[Solution] = []
    used = None
    floor = savings(
        instance,
        deadline=max(
            genetic.construction_deadline(started, time_limit, SAVINGS_SHARE),
            time.perf_counter() + genetic.CONSTRUCTION_MIN_S,
        ),
    )
    policy_end = started + policy_seconds(time_limit, policy_share)
    greedy_end = genetic.construction_deadline(started, time_limit, GREEDY_SHARE)
    if sectors.pays(instance):  # one batched rollout of ~100 steps: ~0.1 ms per client (0.55 s at 5,000)
        expected = SECTOR_S_PER_CLIENT * instance.num_clients
    else:
        expected = GREEDY_PER_SAVINGS * floor.timings["construct"] if floor is not None else 0.0
    if time.perf_counter() >= greedy_end:
        notes.append(
            f"policy not used: no time left for its greedy rollout after {time.perf_counter() - started:.2f} s"
        )
    elif time.perf_counter() + expected > greedy_end:  # giant instances: the rollout would be given up late
        notes.append(
            f"policy not used: its greedy rollout would take about {expected:.1f} s, more than the"
            f" {max(0.0, greedy_end - time.perf_counter()):.1f} s it may have"
        )
    else:
        seeds, used = _policy_seeds(instance, checkpoint, num_seeds, policy_end, greedy_end, started, notes, decoding)
    if seeds:
        if floor is not None and floor.meta["complete"]:  # the search keeps whichever is better
            seeds = sorted([*seeds, floor], key=lambda s: check(instance, s).cost)
        return seeds, notes, used
    if floor is None:
        notes.append("no savings construction fits the fleet: the search starts from random solutions")
        return [], notes, None
    done = "" if floor.meta["complete"] else ", cut short by its deadline"
    notes.append(f"the search starts from a savings construction ({floor.timings['construct']:.2f} s{done})")
    return [floor], notes, None


def _policy_seeds(instance, checkpoint, num_seeds, policy_end, greedy_end, started, notes, decoding):
    """The policy's best distinct rollouts (best first) and its checkpoint; ([], None) with a note in `notes`
    where it cannot run or its greedy rollout does not finish by `greedy_end`."""
    try:
        built = construct.build(
            instance,
            checkpoint,
            keep=max(1, num_seeds),
            max_seconds=max(0.0, policy_end - time.perf_counter()),
            greedy_seconds=greedy_end - time.perf_counter(),
            **decoding,
        )
    except (UnsupportedFeatureError, construct.FleetTooSmall) as e:  # the GA honours the instance unseeded
        notes.append(f"policy not used: {e}")
        return [], None
    except OutOfTime:  # a large instance, a short budget, a busy machine or Ctrl-C
        if interrupt.requested():
            notes.append("policy not used: the signal came before its greedy rollout finished")
        else:
            notes.append(f"policy not used: its greedy rollout did not finish in {time.perf_counter() - started:.2f} s")
        return [], None
    if decoding.get("num_starts") and not built.num_starts:
        notes.append(f"policy: one greedy rollout in {round(built.seconds, 4):.2f} s (no time for more)")
    return list(built.pool[: max(1, num_seeds)]), built.checkpoint


def _refine_with_ortools(instance, time_limit, checkpoint, policy_share, seed, reason, **decoding) -> Solution:
    """Where PyVRP's GA cannot hold the instance (linehaul-first backhauls): OR-Tools from the policy's best,
    if OR-Tools can model it; else the policy's best alone."""
    from baselines import ortools_solver

    if ortools_solver.cannot_model(instance) is not None:
        return construct.solve(instance, checkpoint, **decoding).noted(f"no refinement: {reason}")
    sol = policy_then_ortools(instance, time_limit, checkpoint, policy_share, seed, **decoding)
    return replace(sol, solver="nco", notes=[f"refined by OR-Tools: {reason}", *sol.notes])


def policy_then_ortools(
    instance: Instance,
    time_limit: float,
    checkpoint: str | Path | None = None,
    policy_share: float = 0.1,
    seed: int = 0,
    **decoding,
) -> Solution:
    """The policy's best within its share of the budget, then OR-Tools' guided local search from it for the rest
    (`--solver ortools --warm-start`, and the hybrid where PyVRP cannot hold the instance). If no rollout
    finishes in the share or fits the fleet, OR-Tools starts cold and a note says why."""
    from baselines import ortools_solver

    checkpoint = construct.prepare(instance, checkpoint) or checkpoint
    started = time.perf_counter()
    built, cold = None, None
    try:
        built = construct.solve(instance, checkpoint, max_seconds=policy_seconds(time_limit, policy_share), **decoding)
    except OutOfTime:
        cold = f"no policy rollout finished in {time.perf_counter() - started:.2f} s"
    except construct.FleetTooSmall as e:
        cold = str(e)
    construct_s = time.perf_counter() - started
    sol = ortools_solver.solve(
        instance, time_limit=max(MIN_SEARCH_S, time_limit - construct_s), seed=seed, initial=built
    )
    elapsed = time.perf_counter() - started
    sol.timings = {"construct": construct_s, "search": elapsed - construct_s, "total": elapsed}
    if built is not None:
        sol.meta["checkpoint"] = built.meta["checkpoint"]
    return sol.noted(f"warm start not used: {cold}" if cold else None)
