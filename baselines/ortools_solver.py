"""OR-Tools routing baseline: Instance in, Solution out.

The model follows the checker's conventions (envs/checker.py): every vehicle
leaves the depot when it opens (time 0 after scaling, see baselines/scaling.py),
service starts at the later of arrival and window opening (waiting is the
time dimension's slack), must start by the window's closing, and the vehicle
is back by the depot's closing and within its type's duration limit (the
start is fixed, so the end time is the duration). Arc costs are distance
times the vehicle type's unit cost, plus its fixed cost when used.

Allowed-client masks of vehicle profiles are honoured; profile preferences
have no part in the checker's cost and are ignored. OR-Tools routing has no
random seed, so `seed` is recorded in meta but has no effect.
"""

from __future__ import annotations

import time

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from baselines.scaling import MODELLED_FEATURES, IntegerData, integerize
from envs.errors import NcoError
from envs.instance import Instance, require_features
from envs.solution import Route, Solution

NAME = "ortools"
SUPPORTED: frozenset[str] = MODELLED_FEATURES


def solve(instance: Instance, time_limit: float = 5.0, seed: int = 0, initial: Solution | None = None) -> Solution:
    """Solve with guided local search from a cheapest-arc start (or from `initial`) for `time_limit` seconds.

    Raises UnsupportedFeatureError for features outside SUPPORTED, and NcoError
    when no solution is found in time.
    """
    require_features(instance, SUPPORTED, NAME)
    t0 = time.perf_counter()
    ints = integerize(instance)
    manager, routing, vehicle_types = build_model(instance, ints)

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.log_search = False
    trace: list[tuple[float, float]] = []  # (seconds since the call, objective) at each improvement

    def record() -> None:
        value = routing.CostVar().Value()
        if not trace or value < trace[-1][1]:
            trace.append((time.perf_counter() - t0, value))

    routing.AddAtSolutionCallback(record)

    warm = "none"
    start = None
    if initial is not None:
        routing.CloseModelWithParameters(params)
        routes = _initial_routes(initial, vehicle_types, manager)
        start = routing.ReadAssignmentFromRoutes(routes, True) if routes is not None else None
        warm = "used" if start is not None else "rejected"
    build_s = time.perf_counter() - t0
    # The budget covers model building too: the search gets what is left.
    params.time_limit.FromMilliseconds(max(1, int(round((time_limit - build_s) * 1000))))

    if start is not None:
        assignment = routing.SolveFromAssignmentWithParameters(start, params)
    else:
        assignment = routing.SolveWithParameters(params)
    elapsed = time.perf_counter() - t0
    if assignment is None:
        raise NcoError(f"ortools found no solution within {time_limit:g}s (instance {instance.name})")

    routes = []
    for v in range(routing.vehicles()):
        idx = routing.Start(v)
        visits = []
        idx = assignment.Value(routing.NextVar(idx))
        while not routing.IsEnd(idx):
            visits.append(manager.IndexToNode(idx))
            idx = assignment.Value(routing.NextVar(idx))
        if visits:
            routes.append(Route(visits, vehicle_types[v]))

    objective = assignment.ObjectiveValue()
    return Solution(
        routes=routes,
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
            "trace": [(round(t, 4), ints.to_cost(v)) for t, v in trace],
        },
    )


def build_model(
    instance: Instance, ints: IntegerData
) -> tuple[pywrapcp.RoutingIndexManager, pywrapcp.RoutingModel, list[int]]:
    """The routing model and, per vehicle, its vehicle type index."""
    n1 = instance.num_nodes
    vehicle_types = [k for k, c in enumerate(ints.count) for _ in range(c)]
    num_vehicles = len(vehicle_types)
    manager = pywrapcp.RoutingIndexManager(n1, num_vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    features = instance.features()

    dist = ints.distance.tolist()
    dist_cb = routing.RegisterTransitMatrix(dist)

    # Arc costs: one evaluator per distinct unit cost.
    cost_cbs: dict[int, int] = {}
    for v, k in enumerate(vehicle_types):
        u = ints.unit_cost[k]
        if u not in cost_cbs:
            cost_cbs[u] = dist_cb if u == 1 else routing.RegisterTransitMatrix((ints.distance * u).tolist())
        routing.SetArcCostEvaluatorOfVehicle(cost_cbs[u], v)
        routing.SetFixedCostOfVehicle(ints.fixed_cost[k], v)

    demand_cb = routing.RegisterUnaryTransitVector(ints.demand.tolist())
    routing.AddDimensionWithVehicleCapacity(demand_cb, 0, [ints.capacity[k] for k in vehicle_types], True, "Capacity")

    if features & {"time_windows", "duration_limits"}:
        travel = ints.duration + ints.service[:, None]
        time_cb = routing.RegisterTransitMatrix(travel.tolist())
        routing.AddDimension(time_cb, ints.horizon, ints.horizon, False, "Time")
        tdim = routing.GetDimensionOrDie("Time")
        for i in range(1, n1):
            tdim.CumulVar(manager.NodeToIndex(i)).SetRange(int(ints.tw_early[i]), int(ints.tw_late[i]))
        for v, k in enumerate(vehicle_types):
            tdim.CumulVar(routing.Start(v)).SetRange(0, 0)
            tdim.CumulVar(routing.End(v)).SetRange(0, min(int(ints.tw_late[0]), ints.max_duration[k]))

    if "distance_limits" in features:
        routing.AddDimensionWithVehicleCapacity(
            dist_cb, 0, [ints.max_distance[k] for k in vehicle_types], True, "Distance"
        )

    # Allowed masks. (SetAllowedVehiclesForIndex takes an absl::Span that the 9.15 Python wrapper cannot pass.)
    if "profiles" in features:
        for i in range(1, n1):
            barred = [v for v, k in enumerate(vehicle_types) if not _allows(instance, k, i)]
            if barred:
                routing.VehicleVar(manager.NodeToIndex(i)).RemoveValues(barred)
    return manager, routing, vehicle_types


def _allows(instance: Instance, k: int, client: int) -> bool:
    mask = instance.fleet[k].allowed
    return mask is None or bool(mask[client])


def _initial_routes(
    initial: Solution, vehicle_types: list[int], manager: pywrapcp.RoutingIndexManager
) -> list[list[int]] | None:
    """Per vehicle, the node indices of `initial`'s routes; None if they need more vehicles than there are."""
    free: dict[int, list[int]] = {}
    for v, k in enumerate(vehicle_types):
        free.setdefault(k, []).append(v)
    routes: list[list[int]] = [[] for _ in vehicle_types]
    n = manager.GetNumberOfNodes() - 1
    for route in initial.routes:
        if any(not 1 <= int(c) <= n for c in route.visits):
            return None
        if not route.visits:
            continue
        pool = free.get(route.vehicle_type)
        if not pool:
            return None
        routes[pool.pop(0)] = [manager.NodeToIndex(int(c)) for c in route.visits]
    return routes


def _status_name(status: int) -> str:
    try:
        return routing_enums_pb2.RoutingSearchStatus.Value.Name(status)
    except (AttributeError, ValueError):
        return str(status)
