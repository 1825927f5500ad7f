"""PyVRP (hybrid genetic search) baseline: Instance in, Solution out.

`build_problem_data` turns an Instance into a `pyvrp.ProblemData` with the
same node numbering (depot 0, clients 1..n) and vehicle types in fleet order,
so that PyVRP routes map back one to one; it is the piece to reuse when
seeding PyVRP's genetic algorithm with other solutions (`to_pyvrp_solution`
converts a Solution for that).

The data follows the checker's conventions (envs/model/check.py): each vehicle
type's shift opens with the depot and may not start later (start_late = 0
after the shift to the depot's opening, see baselines/scaling.py), so route
duration, waiting included, is the return time; `max_duration` is the shift
duration and the depot's closing the shift's end.

Open routes: arcs into the depot cost nothing and take no time (see
baselines/scaling.py), so a route ends with its last service, as the checker
has it. Backhauls in mixed mode are PyVRP's own simultaneous pickup and
delivery (the load at any point is the deliveries still on board plus the
pickups made, as in the checker). PyVRP has no precedence between clients, so
it cannot model linehaul-first backhauls where the order can matter (some
client with a pickup and another with a delivery): `cannot_model` says so and
`solve` and `build_problem_data` refuse such an instance (as they do
preferences with distance limits, below).

Vehicle profiles become PyVRP routing profiles (per-profile distance
matrices). An allowed-client mask: every arc into a client the type may not
serve is longer than the type's distance limit, so a solution using one is
infeasible. Preferences (the checker's `- preference_weight * preference`):
each vehicle type gets its own matrix, its unit cost times distance plus, on
an arc into client j, the weight times (P - the type's preference for j), P
the largest preference (baselines/scaling.py), with unit distance cost 1; so
PyVRP's objective is the checker's cost plus n * weight * P, the same for
every solution, which the reported objective takes off. A mask is blocked in
the same matrix. Distances there are no longer the route's length, so
`cannot_model` refuses preferences together with distance limits.
"""

from __future__ import annotations

import time

import numpy as np
import pyvrp

from baselines.scaling import MODELLED_FEATURES, IntegerData, has_preferences, integerize
from envs.errors import NoSolutionFound, UnsupportedFeatureError
from envs.model.instance import Instance, require_features
from envs.model.savings import savings
from envs.model.solution import Route, Solution

NAME = "pyvrp"
SUPPORTED: frozenset[str] = MODELLED_FEATURES


def cannot_model(instance: Instance) -> str | None:
    """Why this solver cannot model `instance`, in one line; None if it can."""
    try:
        require_features(instance, SUPPORTED, NAME)
    except UnsupportedFeatureError as e:
        return str(e)
    if has_preferences(instance) and "distance_limits" in instance.features():
        return (
            f"solver '{NAME}' cannot combine profile preferences with distance limits"
            f" (preferences are priced into each profile's distances; instance {instance.name})"
        )
    if instance.backhaul_mode == "linehaul_first" and _order_can_matter(instance):
        return (
            f"solver '{NAME}' cannot keep linehaul-first backhauls after the deliveries"
            f" (PyVRP has no visit order constraint; instance {instance.name})"
        )
    return None


def _order_can_matter(instance: Instance) -> bool:
    """Whether some client with a pickup and another with a delivery could share a route."""
    pick = np.flatnonzero(instance.backhaul[1:] > 0)
    drop = np.flatnonzero(instance.demand[1:] > 0)
    return bool(pick.size and drop.size and not (pick.size == drop.size == 1 and pick[0] == drop[0]))


def solve(
    instance: Instance, time_limit: float = 5.0, seed: int = 0, initial: Solution | None = None, cpu_time: bool = False
) -> Solution:
    """Run PyVRP's genetic algorithm for `time_limit` seconds with random seed `seed`.

    The search starts from `initial` if given, else from a savings construction
    (envs/model/savings.py), so that a budget too short for any iteration still returns
    a sensible plan, never PyVRP's random one-route-per-client start;
    a note says when the search ran no iteration. `time_limit` 0: the
    construction alone. The rest of the initial population is random. `cpu_time`
    counts the limit in CPU seconds of this process instead of wall time, so that
    a reference run gets its full search on a busy machine.
    Raises UnsupportedFeatureError where `cannot_model` gives a reason (features
    outside SUPPORTED, linehaul-first backhauls, preferences with distance
    limits), and NoSolutionFound when PyVRP's best solution is infeasible.
    """
    from nco.solvers import genetic  # the one genetic search, which the hybrid runs from its seeds

    reason = cannot_model(instance)
    if reason:
        raise UnsupportedFeatureError(reason)
    t0 = time.perf_counter()
    construction = "given"
    if initial is None:
        initial = savings(instance, deadline=genetic.construction_deadline(t0, time_limit) if time_limit > 0 else None)
        construction = "savings" if initial is not None else "none (savings found no plan that fits the fleet)"
    meta = {
        "time_limit": time_limit,
        "seed": seed,
        "initial_used": initial is not None,
        "construction": construction,
        "clock": "cpu" if cpu_time else "wall",
    }
    if time_limit <= 0 and initial is None:
        raise NoSolutionFound(
            f"{NAME} --time-limit 0 returns its construction, and the savings construction found"
            f" no plan that fits the fleet (instance {instance.name}): give it a budget"
        )
    deadline = t0 + time_limit if time_limit > 0 and not cpu_time else None
    try:
        genetic.setup_fits(initial, t0, time_limit, deadline)
        data, ints = build_problem_data(instance, route_bound([initial]))
        build_s = time.perf_counter() - t0
        genetic.setup_fits(initial, t0, time_limit, deadline, build_s)
        seeds = [to_pyvrp_solution(data, initial)] if initial is not None else []
        clock = time.process_time if cpu_time else time.perf_counter
        run = genetic.run_genetic(
            data, max(0.0, time_limit - build_s), seed=seed, initial=seeds, clock=clock, deadline=deadline
        )
    except genetic.SearchSkipped as skipped:
        return genetic.construction_only(initial, NAME, t0, meta, [str(skipped)])
    meta["build_s"] = build_s
    note = genetic.idle_search_note(run, time_limit - build_s) if time_limit > 0 else None  # 0: no search was asked for
    return genetic.to_solution(instance, run, ints, time.perf_counter() - t0, NAME, meta, offset=build_s).noted(note)


def route_bound(plans) -> int | None:
    """The vehicles to give each vehicle type with no count in PyVRP's model, from the plans the search starts
    from (None entries skipped): twice the routes of the largest, and 10 more; None (one per client) without one.

    PyVRP sizes its SWAP* cache by the vehicles available squared and spreads a random solution over all of
    them: with one vehicle per client, 10,000 clients took 9 s and gigabytes to set up. A search from a plan of
    R routes never needs more than 2R + 10; fewer than the plan's would lose the plan."""
    routes = [sum(1 for r in p.routes if r.visits) for p in plans if p is not None]
    return 2 * max(routes) + 10 if routes else None


def build_problem_data(instance: Instance, max_routes: int | None = None) -> tuple[pyvrp.ProblemData, IntegerData]:
    """PyVRP data for `instance` (same node and vehicle-type numbering) and the integer scaling used;
    `max_routes` (route_bound): the vehicles of each type with no count, else one per client.

    Raises UnsupportedFeatureError where `cannot_model` gives a reason.
    """
    reason = cannot_model(instance)
    if reason:
        raise UnsupportedFeatureError(reason)
    ints = integerize(instance, max_routes)
    n1 = instance.num_nodes
    xy = instance.coords if instance.coords is not None else np.zeros((n1, 2))

    depot = pyvrp.Depot(x=float(xy[0, 0]), y=float(xy[0, 1]), tw_early=0, tw_late=int(ints.tw_late[0]))
    clients = [
        pyvrp.Client(
            x=float(xy[i, 0]),
            y=float(xy[i, 1]),
            delivery=[int(ints.demand[i])],
            pickup=[int(ints.pickup[i])],
            service_duration=int(ints.service[i]),
            tw_early=int(ints.tw_early[i]),
            tw_late=int(ints.tw_late[i]),
            name=str(instance.ids[i]),
        )
        for i in range(1, n1)
    ]

    # One distance matrix ("routing profile") per distinct (costs, mask). Without preferences: the plain
    # matrix, and the type's unit cost. With preferences: the type's unit cost times distance plus its surcharge
    # on arcs into clients (baselines/scaling.py), and unit cost 1; every type then has its own matrix.
    distances: list[np.ndarray] = []
    profile_of: dict[bytes, int] = {}
    vehicle_types = []
    for k, veh in enumerate(instance.fleet):
        mask = veh.allowed if veh.allowed is not None and not veh.allowed[1:].all() else None
        unit, max_distance = ints.unit_cost[k], ints.max_distance[k]
        if ints.preference is None:
            key, matrix, horizon = b"plain", ints.distance, ints.distance_horizon
        else:
            key = b"pref" + np.int64(unit).tobytes() + ints.preference[k].tobytes()
            matrix = ints.distance * unit + ints.preference[k][None, :]
            np.fill_diagonal(matrix, 0)
            horizon = int(matrix.max(axis=1).sum()) + 1  # more than any route's length in this matrix
            unit, max_distance = 1, horizon  # no distance limit: cannot_model refuses one with preferences
        if mask is not None:
            key += b"mask" + mask.tobytes()
            depot_column = matrix[:, 0].copy()
            matrix = matrix.copy()
            matrix[:, ~mask] = horizon + 1  # longer than the type's distance limit: a route using it is infeasible
            matrix[:, 0] = depot_column
            np.fill_diagonal(matrix, 0)
        if key not in profile_of:
            profile_of[key] = len(distances)
            distances.append(matrix)
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=ints.count[k],
                capacity=[ints.capacity[k]],
                fixed_cost=ints.fixed_cost[k],
                tw_early=0,
                tw_late=int(ints.tw_late[0]),
                start_late=0,
                shift_duration=ints.max_duration[k],
                max_distance=max_distance,
                unit_distance_cost=unit,
                profile=profile_of[key],
                name=veh.name or f"type{k}",
            )
        )
    data = pyvrp.ProblemData(
        clients=clients,
        depots=[depot],
        vehicle_types=vehicle_types,
        distance_matrices=distances,
        duration_matrices=[ints.duration] * len(distances),
    )
    return data, ints


def to_pyvrp_solution(data: pyvrp.ProblemData, solution: Solution) -> pyvrp.Solution:
    """`solution` as a PyVRP solution over `data` from build_problem_data (same numbering)."""
    routes = [pyvrp.Route(data, [int(c) for c in r.visits], int(r.vehicle_type)) for r in solution.routes if r.visits]
    return pyvrp.Solution(data, routes)


def from_pyvrp_solution(solution: pyvrp.Solution) -> list[Route]:
    """A PyVRP solution's routes as ours (the numbering of build_problem_data is the instance's)."""
    return [Route([int(c) for c in r.visits()], int(r.vehicle_type())) for r in solution.routes()]
