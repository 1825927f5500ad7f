"""Improving a big plan by parts: a few neighbouring routes at a time, re-solved by the genetic search.

On thousands of clients PyVRP's search over the whole instance spends seconds on its set-up alone (some 10 s
at 5,000 clients) and each iteration takes tenths of a second, so a budget of seconds buys it little or nothing.
A part is the clients of a route and of the routes nearest to it, a sub-instance of a few hundred clients
that the same search (nco/solvers/genetic.py) improves in a fraction of a second, starting from those routes
(route-based decomposition, as in Santini, Schneider, Vidal and Vigo 2023). Nearness is by the instance's own
matrix, so road matrices work as well as coordinates. Routes are independent, so a part's plan swaps in for
the routes it came from and the whole stays feasible; a part's plan is taken only where the one checker prices
it lower. Limited fleets: a part gets the vehicles its routes use and the fleet's spare ones.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from baselines import pyvrp_solver
from envs import interrupt
from envs.model.check import EPS, check
from envs.model.instance import Instance, sub_instance
from envs.model.solution import Route, Solution
from nco.solvers import genetic

PART_CLIENTS = 200  # clients per part: the search improves a part this size many times in a second
MIN_PART_S = 0.2  # a part's search gets at least this long (its set-up and the seeds' local search take ~0.05 s)
MAX_PART_S = 1.0  # ... and at most this long: more parts, each searched for less, improve a big plan faster
GROW_BELOW = 0.001  # a pass over every route that gains less than this share of the cost doubles the parts


def improve(
    instance: Instance,
    plan: Solution,
    deadline: float,
    seed: int = 0,
    part_clients: int = PART_CLIENTS,
    grow: bool = True,
):
    """`plan` improved part by part until `deadline` (a time.perf_counter() reading): (the routes, the anytime
    trace as (clock reading, cost) pairs at each improvement, the number of parts searched and improved).

    The parts come in passes: each part grows around a route no part of the pass has held yet, so a pass
    covers every route. A pass that gains less than GROW_BELOW of the cost doubles the parts' size (`grow`):
    small parts have found what they can, and bigger ones let routes further apart trade clients. `plan`
    must be feasible; every plan along the way is."""
    rng = np.random.default_rng(seed)
    routes = [Route(list(r.visits), r.vehicle_type) for r in plan.routes if r.visits]
    cost = check(instance, replace(plan, routes=routes)).cost
    trace = [(time.perf_counter(), cost)]
    held = np.zeros(len(routes), dtype=bool)  # routes some part of this pass has held
    searched = improved = 0
    size, pass_start = part_clients, cost
    while True:
        left = deadline - time.perf_counter()
        if left < MIN_PART_S or interrupt.requested() or not routes:
            break
        if held.all():  # a pass is over: the next one covers every route again
            if grow and pass_start - cost < GROW_BELOW * abs(pass_start):
                size = min(2 * size, instance.num_clients)
            held[:], pass_start = False, cost
        scale = size / part_clients  # a bigger part needs longer to search
        per_part = min(MAX_PART_S * scale, max(MIN_PART_S, left / max(1, math.ceil(instance.num_clients / size))))
        chosen = _part(routes, instance.distance, int(rng.choice(np.flatnonzero(~held))), size)
        held[chosen] = True
        better, delta = _solve_part(instance, routes, chosen, min(per_part, left), seed + searched)
        searched += 1
        if better is None:
            continue
        improved += 1
        stays = np.ones(len(routes), dtype=bool)
        stays[chosen] = False
        routes = [r for r, s in zip(routes, stays, strict=True) if s] + better
        held = np.concatenate([held[stays], np.ones(len(better), dtype=bool)])
        cost += delta
        trace.append((time.perf_counter(), cost))
    return routes, trace, searched, improved


def _part(routes: list[Route], distance: np.ndarray, centre: int, part_clients: int) -> list[int]:
    """Route `centre` and the routes nearest it (by their clients' mean distance to its nearest client), until
    the part holds `part_clients` clients or more."""
    own = np.asarray(routes[centre].visits)
    # every node's distance to the centre route, either way on an asymmetric matrix (rows and columns of the
    # route's clients only: no n x n copy, 800 MB at 10,000 clients)
    reach = np.minimum(distance[own].min(axis=0), distance[:, own].min(axis=1))
    score = np.array([reach[r.visits].mean() for r in routes])
    score[centre] = -1.0
    chosen, size = [], 0
    for i in np.argsort(score, kind="stable"):
        chosen.append(int(i))
        size += len(routes[i].visits)
        if size >= part_clients:
            break
    return chosen


def _solve_part(instance: Instance, routes: list[Route], chosen: list[int], seconds: float, seed: int):
    """The genetic search on the part made of routes `chosen`, from those routes: (its routes in the whole
    instance's numbering, the change in cost) where the checker prices them lower, else (None, 0)."""
    nodes = np.array([0] + sorted(c for i in chosen for c in routes[i].visits))
    local = {int(g): k for k, g in enumerate(nodes)}
    used = np.bincount([r.vehicle_type for r in routes], minlength=len(instance.fleet))
    mine = np.bincount([routes[i].vehicle_type for i in chosen], minlength=len(instance.fleet))
    # the part's fleet: each type with the vehicles its routes use plus the fleet's spare ones (a type with
    # none is left out, and the part's types are numbered anew)
    types = [k for k, v in enumerate(instance.fleet) if v.count is None or mine[k] + v.count - used[k] > 0]
    fleet = [
        v if v.count is None else replace(v, count=int(mine[k] + v.count - used[k]))
        for k, v in ((k, instance.fleet[k]) for k in types)
    ]
    part = sub_instance(instance, nodes, fleet, name=f"{instance.name}-part")
    number = {k: j for j, k in enumerate(types)}
    start = Solution(
        routes=[Route([local[c] for c in routes[i].visits], number[routes[i].vehicle_type]) for i in chosen],
        solver="nco",
    )
    before = check(part, start).cost
    data, ints = pyvrp_solver.build_problem_data(part, pyvrp_solver.route_bound([start]))
    # A part far from the depot has short arcs between its clients and long ones to the depot, so PyVRP's
    # initial penalty (the mean arc per mean load) makes merging routes into overloaded ones pay, which its
    # search cannot undo: a unit of excess load costs at least the mean round trip to the depot per unit of
    # the largest capacity, what merging two routes saves per unit.
    trip = float((ints.distance[0, 1:] + ints.distance[1:, 0]).mean())
    run = genetic.run_genetic(
        data,
        seconds,
        seed=seed,
        initial=[pyvrp_solver.to_pyvrp_solution(data, start)],
        educate=True,
        load_penalty_floor=trip / max(1, max(ints.capacity)),
    )
    if not run.result.best.is_feasible():
        return None, 0.0
    found = Solution(routes=pyvrp_solver.from_pyvrp_solution(run.result.best), solver="nco")
    report = check(part, found)
    if not report.feasible or report.cost >= before - EPS * max(1.0, abs(before)):
        return None, 0.0
    back = [Route([int(nodes[c]) for c in r.visits], types[r.vehicle_type]) for r in found.routes if r.visits]
    return back, report.cost - before
