"""OR-Tools routing baseline: Instance in, Solution out.

The model follows the checker's conventions (envs/model/check.py): every vehicle
leaves the depot when it opens (time 0 after scaling, see baselines/scaling.py),
service starts at the later of arrival and window opening (waiting is the
time dimension's slack), must start by the window's closing, and the vehicle
is back by the depot's closing and within its type's duration limit (the
start is fixed, so the end time is the duration). Arc costs are distance
times the vehicle type's unit cost (plus the preference surcharge below),
and a used vehicle pays its fixed cost.

Open routes: arcs into the depot cost nothing and take no time (see
baselines/scaling.py), so a route's end time is the end of its last service,
as the checker measures it, and no depot closing applies.

Backhauls follow the checker's load rule (deliveries leave with the vehicle,
pickups accumulate on board). Mixed mode: each delivery is loaded at an extra
node at the depot (zero distance and time), paired with its client and
visited before any client, so that a plain "Load" dimension carries exactly
the checker's load from node to node (`_add_mixed_load`). Linehaul-first
mode: the load peaks at the total delivery or the total pickup, which two
dimensions cap; a "Backhauls" dimension counts the pickup clients visited so
far and must be 0 on arrival at any client with a delivery (a client with
both may be the route's first pickup, as in the checker). Every constraint is
one OR-Tools' search filters know, so its constructions and moves stay sound.

Vehicle profiles: allowed-client masks bar the vehicles of a type from the
clients it may not serve. Preferences enter the checker's cost as
`- preference_weight * preference`: each vehicle's arc cost evaluator is its
type's unit cost times distance plus, on an arc into client j, the weight
times (P - the type's preference for j), P the largest preference, so that arc
costs stay non-negative; every client is served once, so the objective is the
checker's cost plus the same n * weight * P for every solution, which the
reported objective takes off (baselines/scaling.py). OR-Tools routing has no
random seed, so `seed` is recorded in meta but has no effect.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from baselines.scaling import MODELLED_FEATURES, IntegerData, integerize
from envs import interrupt
from envs.errors import NoSolutionFound, UnsupportedFeatureError
from envs.model.instance import Instance, require_features
from envs.model.solution import Route, Solution

NAME = "ortools"
SUPPORTED: frozenset[str] = MODELLED_FEATURES


def cannot_model(instance: Instance) -> str | None:
    """Why this solver cannot model `instance`, in one line; None if it can."""
    try:
        require_features(instance, SUPPORTED, NAME)
    except UnsupportedFeatureError as e:
        return str(e)
    return None


# the model's matrices go to OR-Tools as Python lists: seconds per pair of nodes, at least (4.6 s at 5,000
# clients, 40 s at 10,000 on this 2-core machine)
BUILD_S_PER_PAIR = 1.5e-7


def solve(instance: Instance, time_limit: float = 5.0, seed: int = 0, initial: Solution | None = None) -> Solution:
    """Solve with guided local search from a cheapest-arc start (cheapest insertion with mixed backhauls), or
    from `initial`, for `time_limit` seconds. `time_limit` 0: the first solution alone (construction only, no
    local search, however long it takes).

    Raises UnsupportedFeatureError where `cannot_model` gives a reason (features
    outside SUPPORTED), and NoSolutionFound when no solution is found in time.
    """
    reason = cannot_model(instance)
    if reason:
        raise UnsupportedFeatureError(reason)
    t0 = time.perf_counter()
    build = BUILD_S_PER_PAIR * float(instance.num_nodes) ** 2
    if time_limit > 0 and build > max(time_limit, 1.0):  # giant models: minutes of building to find nothing
        raise NoSolutionFound(
            f"ortools: building its model for {instance.num_clients:,} clients takes about {build:.1f} s, more than"
            f" the {time_limit:g} s budget (give it more, or use pyvrp or nco)"
        )
    ints = integerize(instance)
    manager, routing, vehicle_types = build_model(instance, ints)
    params = _search_parameters(instance)
    trace: list[tuple[float, float]] = []  # (seconds since the call, objective) at each improvement

    def record() -> None:
        value = routing.CostVar().Value()
        if not trace or value < trace[-1][1]:
            trace.append((time.perf_counter() - t0, value))

    routing.AddAtSolutionCallback(record)
    if interrupt.active():  # Ctrl-C/SIGTERM end the search with its best (the C++ loop runs no Python otherwise)
        stop_limit = routing.solver().CustomLimit(lambda: interrupt.requested() is not None)
        routing.AddSearchMonitor(stop_limit)

    warm = "none"
    start = None
    if initial is not None:
        routing.CloseModelWithParameters(params)
        start = read_solution(instance, initial, manager, routing, vehicle_types)
        warm = "used" if start is not None else "rejected"
    build_s = time.perf_counter() - t0
    if time_limit <= 0:  # construction only: stop at the first solution
        params.solution_limit = 1
    else:  # the budget covers model building too: the search gets what is left
        params.time_limit.FromMilliseconds(max(1, int(round((time_limit - build_s) * 1000))))

    if start is not None:
        assignment = routing.SolveFromAssignmentWithParameters(start, params)
    else:
        assignment = routing.SolveWithParameters(params)
    elapsed = time.perf_counter() - t0
    if assignment is None:
        raise NoSolutionFound(f"ortools found no solution within {time_limit:g} s (instance {instance.name})")

    objective = assignment.ObjectiveValue()
    return Solution(
        routes=_routes(instance, manager, routing, assignment, vehicle_types),
        solver=NAME,
        timings={"solve": elapsed},
        meta={
            "objective": ints.to_cost(objective),
            "objective_scaled": int(objective),
            "status": _status_name(routing.status()),
            "scale": ints.describe(),
            "build_s": build_s,
            "time_limit": time_limit,
            "seed": seed,
            "seed_used": False,  # OR-Tools routing has no random seed
            "warm_start": warm,
        },
        trace=[(round(t, 4), ints.to_cost(v)) for t, v in trace],
    )


def _search_parameters(instance: Instance):
    """Guided local search from cheapest-arc paths, or from cheapest insertion with mixed backhauls."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    if _loading_nodes(instance):
        # Path building strings the zero-distance loading nodes onto the first routes and then must serve
        # their clients, wherever they are; insertion places each client with its loading node. Measured with
        # mixed backhauls: 100 clients 20% cheaper at the first solution; limiting the insertion neighbours
        # brings its time at 1000 clients from 6 s to about 1 s.
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
        params.global_cheapest_insertion_first_solution_parameters.neighbors_ratio = 0.05
        params.global_cheapest_insertion_first_solution_parameters.min_neighbors = 50
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.log_search = False
    return params


def _routes(instance: Instance, manager, routing, assignment, vehicle_types: list[int]) -> list[Route]:
    """The assignment's non-empty routes, loading nodes left out, each with its vehicle's type."""
    routes = []
    n1 = instance.num_nodes
    for v in range(routing.vehicles()):
        idx = routing.Start(v)
        visits = []
        idx = assignment.Value(routing.NextVar(idx))
        while not routing.IsEnd(idx):
            node = manager.IndexToNode(idx)
            if node < n1:  # not a loading node (mixed backhauls)
                visits.append(node)
            idx = assignment.Value(routing.NextVar(idx))
        if visits:
            routes.append(Route(visits, vehicle_types[v]))
    return routes


def build_model(
    instance: Instance, ints: IntegerData
) -> tuple[pywrapcp.RoutingIndexManager, pywrapcp.RoutingModel, list[int]]:
    """The routing model and, per vehicle, its vehicle type index.

    Nodes 0..n are the instance's; with mixed backhauls, nodes above n are the
    depot-side loading of deliveries (see `_loading_nodes`), which solutions
    leave out.
    """
    n1 = instance.num_nodes
    vehicle_types = [k for k, c in enumerate(ints.count) for _ in range(c)]
    num_vehicles = len(vehicle_types)
    loading = _loading_nodes(instance)
    # Each model node's place: loading nodes are at the depot.
    place = np.r_[np.arange(n1), np.zeros(len(loading), dtype=np.int64)]
    distance, duration = ints.distance[np.ix_(place, place)], ints.duration[np.ix_(place, place)]
    service = ints.service[place]
    manager = pywrapcp.RoutingIndexManager(len(place), num_vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    features = instance.features()

    dist_cb = routing.RegisterTransitMatrix(distance.tolist())
    _add_vehicle_costs(ints, routing, vehicle_types, distance, place, dist_cb)

    capacities = [ints.capacity[k] for k in vehicle_types]
    if loading:
        _add_mixed_load(instance, ints, manager, routing, capacities, loading)
    else:
        demand_cb = routing.RegisterUnaryTransitVector(ints.demand.tolist())
        routing.AddDimensionWithVehicleCapacity(demand_cb, 0, capacities, True, "Capacity")
        if "backhauls" in features:
            _add_linehaul_first(instance, ints, manager, routing, capacities)

    if features & {"time_windows", "duration_limits"}:
        _add_time(ints, manager, routing, vehicle_types, duration + service[:, None], n1)

    if "distance_limits" in features:
        routing.AddDimensionWithVehicleCapacity(
            dist_cb, 0, [ints.max_distance[k] for k in vehicle_types], True, "Distance"
        )

    if "profiles" in features:
        _bar_vehicles(instance, manager, routing, vehicle_types, loading, len(place))
    return manager, routing, vehicle_types


def _add_vehicle_costs(ints: IntegerData, routing, vehicle_types: list[int], distance, place, dist_cb: int) -> None:
    """Each vehicle's arc cost evaluator and fixed cost.

    One evaluator per distinct unit cost, or per vehicle type with preferences (each arc into a client also
    pays the type's preference surcharge, see baselines/scaling.py)."""
    cost_cbs: dict[tuple[int, int], int] = {}
    for v, k in enumerate(vehicle_types):
        u = ints.unit_cost[k]
        key = (u, -1 if ints.preference is None else k)
        if key not in cost_cbs:
            if ints.preference is not None:
                # loading nodes sit at the depot (place 0), whose surcharge is 0
                matrix = distance * u + ints.preference[k][place][None, :]
                cost_cbs[key] = routing.RegisterTransitMatrix(matrix.tolist())
            else:
                cost_cbs[key] = dist_cb if u == 1 else routing.RegisterTransitMatrix((distance * u).tolist())
        routing.SetArcCostEvaluatorOfVehicle(cost_cbs[key], v)
        routing.SetFixedCostOfVehicle(ints.fixed_cost[k], v)


def _add_time(ints: IntegerData, manager, routing, vehicle_types: list[int], travel, n1: int) -> None:
    """The Time dimension (travel plus service at the arc's tail): client windows, each route's end by the depot's
    closing and its type's duration limit."""
    time_cb = routing.RegisterTransitMatrix(travel.tolist())
    routing.AddDimension(time_cb, ints.horizon, ints.horizon, False, "Time")
    tdim = routing.GetDimensionOrDie("Time")
    for i in range(1, n1):
        tdim.CumulVar(manager.NodeToIndex(i)).SetRange(int(ints.tw_early[i]), int(ints.tw_late[i]))
    for v, k in enumerate(vehicle_types):
        tdim.CumulVar(routing.Start(v)).SetRange(0, 0)
        tdim.CumulVar(routing.End(v)).SetRange(0, min(int(ints.tw_late[0]), ints.max_duration[k]))


def _bar_vehicles(instance: Instance, manager, routing, vehicle_types: list[int], loading: dict, nodes: int) -> None:
    """Remove from each node the vehicles whose profile does not allow its client (a loading node's: its client's).

    (SetAllowedVehiclesForIndex takes an absl::Span that the 9.15 Python wrapper cannot pass.)"""
    owner = {node: c for c, node in loading.items()}  # a loading node goes with its client
    for i in range(1, nodes):
        barred = [v for v, k in enumerate(vehicle_types) if not _allows(instance, k, owner.get(i, i))]
        if barred:
            routing.VehicleVar(manager.NodeToIndex(i)).RemoveValues(barred)


def _loading_nodes(instance: Instance) -> dict[int, int]:
    """Mixed backhauls: client -> the model node, at the depot, where its delivery is loaded (n+1, n+2, ...)."""
    if instance.backhaul_mode != "mixed" or "backhauls" not in instance.features():
        return {}
    clients = [int(c) for c in np.flatnonzero(instance.demand[1:] > 0) + 1]
    return {c: instance.num_nodes + j for j, c in enumerate(clients)}


def _add_mixed_load(
    instance: Instance,
    ints: IntegerData,
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
    capacities: list[int],
    loading: dict[int, int],
) -> None:
    """Mixed backhauls: a vehicle leaves with its route's deliveries on board, then pickups accumulate.

    Each delivery is loaded at its own node at the depot, paired with its
    client (same vehicle, loaded first), and all loading comes before the
    first client; so the "Load" dimension (transit: +delivery at a loading
    node, pickup - delivery at a client) is, node by node, the checker's load.
    Every constraint is one OR-Tools' search filters know.
    """
    n1 = instance.num_nodes
    net = np.r_[ints.pickup - ints.demand, [ints.demand[c] for c in loading]]
    load_cb = routing.RegisterUnaryTransitVector(net.tolist())
    routing.AddDimensionWithVehicleCapacity(load_cb, 0, capacities, True, "Load")
    visited_cb = routing.RegisterUnaryTransitVector([0] + [1] * (n1 - 1) + [0] * len(loading))
    routing.AddDimension(visited_cb, 0, n1, True, "Clients")  # clients visited so far
    visited = routing.GetDimensionOrDie("Clients")
    solver = routing.solver()
    for client, node in loading.items():
        load_at, client_at = manager.NodeToIndex(node), manager.NodeToIndex(client)
        visited.CumulVar(load_at).SetRange(0, 0)
        routing.AddPickupAndDelivery(load_at, client_at)
        solver.Add(routing.VehicleVar(load_at) == routing.VehicleVar(client_at))


def _add_linehaul_first(
    instance: Instance,
    ints: IntegerData,
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
    capacities: list[int],
) -> None:
    """Linehaul-first backhauls, with "Capacity" (deliveries made) already there.

    Deliveries all come before the first pickup, so the load peaks at the
    start (total delivery, capped by "Capacity") or at the end (total pickup,
    capped by "Pickup"). "Backhauls" counts the pickup clients visited so far:
    it must be 0 on arrival at a client with a delivery (which may itself make
    the route's first pickup, as in the checker).
    """
    n1 = instance.num_nodes
    pickup_cb = routing.RegisterUnaryTransitVector(ints.pickup.tolist())
    routing.AddDimensionWithVehicleCapacity(pickup_cb, 0, capacities, True, "Pickup")
    seen_cb = routing.RegisterUnaryTransitVector([int(p > 0) for p in instance.backhaul])
    routing.AddDimension(seen_cb, 0, n1, True, "Backhauls")
    seen = routing.GetDimensionOrDie("Backhauls")
    for i in range(1, n1):
        if instance.demand[i] > 0:
            seen.CumulVar(manager.NodeToIndex(i)).SetRange(0, 0)


def _allows(instance: Instance, k: int, client: int) -> bool:
    mask = instance.fleet[k].allowed
    return mask is None or bool(mask[client])


def read_solution(
    instance: Instance,
    solution: Solution,
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
    vehicle_types: list[int],
) -> pywrapcp.Assignment | None:
    """`solution` as an assignment of the closed model from build_model; None if the model finds it infeasible."""
    routes = _initial_routes(solution, vehicle_types, manager, _loading_nodes(instance))
    return routing.ReadAssignmentFromRoutes(routes, True) if routes is not None else None


def _initial_routes(
    initial: Solution,
    vehicle_types: list[int],
    manager: pywrapcp.RoutingIndexManager,
    loading: dict[int, int] | None = None,
) -> list[list[int]] | None:
    """Per vehicle, the node indices of `initial`'s routes; None if they need more vehicles than there are.

    With mixed backhauls (`loading` from `_loading_nodes`) each route starts by loading its deliveries.
    """
    loading = loading or {}
    free: dict[int, list[int]] = {}
    for v, k in enumerate(vehicle_types):
        free.setdefault(k, []).append(v)
    routes: list[list[int]] = [[] for _ in vehicle_types]
    n = manager.GetNumberOfNodes() - 1 - len(loading)
    for route in initial.routes:
        if any(not 1 <= int(c) <= n for c in route.visits):
            return None
        if not route.visits:
            continue
        pool = free.get(route.vehicle_type)
        if not pool:
            return None
        nodes = [loading[int(c)] for c in route.visits if int(c) in loading] + [int(c) for c in route.visits]
        routes[pool.pop(0)] = [manager.NodeToIndex(c) for c in nodes]
    return routes


def _status_name(status: int) -> str:
    try:
        return routing_enums_pb2.RoutingSearchStatus.Value.Name(status)
    except (AttributeError, ValueError):
        return str(status)
