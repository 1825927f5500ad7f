"""The one checker: validates any Solution against its Instance and computes its cost.

Conventions (shared with the RL environment and the baselines):
- a route leaves the depot at the opening of the depot's time window and
  returns to it (unless routes are open);
- service at a client starts at max(arrival, window opening) and must start
  no later than the window's closing; the return to the depot must be no
  later than the depot window's closing;
- route duration is return time minus departure time, waiting included;
- cost = sum over used vehicles of fixed_cost + unit_cost * route distance,
  minus preference_weight times the preference each route's vehicle type has
  for the clients it serves (profiles: a driver who prefers a district).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from envs.model.instance import Instance
from envs.model.solution import Solution

EPS = 1e-6


@dataclass
class RouteStats:
    distance: float
    duration: float
    delivery: float
    pickup: float
    cost: float
    preference: float = 0.0  # sum of the vehicle type's preferences for the route's clients


class Violation(str):
    """One broken rule, as the line the user reads, with what a program needs: its `kind` (see KINDS) and the
    solution's route it is on (`route`, None for the plan as a whole)."""

    kind: str
    route: int | None

    def __new__(cls, message: str, kind: str, route: int | None = None) -> Violation:
        out = super().__new__(cls, message)
        out.kind, out.route = kind, route
        return out


KINDS = (
    "vehicle_type",  # a route names a vehicle type the fleet lacks
    "node",  # a route visits a node that is not a client
    "linehaul_order",  # a delivery after a pickup, where linehauls come first
    "capacity",
    "depot_window",  # back at the depot after it closes
    "time_window",  # at a client after its window closes
    "duration_limit",
    "distance_limit",
    "zone",  # a vehicle type serving a client it may not
    "unserved",
    "served_twice",
    "fleet_count",  # more vehicles of a type than the fleet has
)


@dataclass
class Report:
    """The checker's verdict. `routes[r]` describes the solution's route r (None where that route names an
    unknown vehicle type or node, so that it could not be walked); `num_routes` counts the non-empty routes."""

    feasible: bool
    cost: float
    distance: float
    num_routes: int
    violations: list[Violation] = field(default_factory=list)
    routes: list[RouteStats | None] = field(default_factory=list)

    def summary(self) -> str:
        state = "feasible" if self.feasible else f"INFEASIBLE ({len(self.violations)} violations)"
        return f"cost {self.cost:.6g}, {self.num_routes} routes, {state}"


def route_stats(
    instance: Instance, visits: list[int], vehicle_type: int, violations: list[Violation], r: int
) -> RouteStats:
    """Walk one route, appending any violation it finds to `violations`."""
    inst, veh = instance, instance.fleet[vehicle_type]
    tw, svc, dist, dur = inst.time_windows, inst.service, inst.distance, inst.duration
    path = [0, *visits] + ([] if inst.open_routes else [0])
    where = f"route {r}"

    distance = float(sum(dist[a, b] for a, b in zip(path[:-1], path[1:])))
    delivery = float(inst.demand[visits].sum()) if visits else 0.0
    pickup = float(inst.backhaul[visits].sum()) if visits else 0.0

    # Load: deliveries leave with the vehicle, pickups accumulate on board.
    load = delivery
    peak = load
    seen_backhaul = False
    for c in visits:
        if inst.backhaul_mode == "linehaul_first" and inst.demand[c] > 0 and seen_backhaul:
            violations.append(
                Violation(f"{where}: linehaul client {inst.ids[c]!r} after a backhaul", "linehaul_order", r)
            )
        seen_backhaul = seen_backhaul or inst.backhaul[c] > 0
        load += inst.backhaul[c] - inst.demand[c]
        peak = max(peak, load)
    if peak > veh.capacity + EPS:
        violations.append(Violation(f"{where}: load {peak:g} exceeds capacity {veh.capacity:g}", "capacity", r))

    start = tw[0, 0]
    t = start
    for a, b in zip(path[:-1], path[1:]):
        t += (svc[a] if a != 0 else 0.0) + dur[a, b]
        if b == 0:
            if t > tw[0, 1] + EPS:
                late = f"{where}: returns to the depot at {t:g}, after it closes at {tw[0, 1]:g}"
                violations.append(Violation(late, "depot_window", r))
            continue
        if t > tw[b, 1] + EPS:
            late = f"{where}: reaches client {inst.ids[b]!r} at {t:g}, after its window closes at {tw[b, 1]:g}"
            violations.append(Violation(late, "time_window", r))
        t = max(t, tw[b, 0])
    if inst.open_routes and visits:
        t += svc[visits[-1]]
    duration = t - start
    if duration > veh.max_duration + EPS:
        violations.append(
            Violation(f"{where}: duration {duration:g} exceeds the limit {veh.max_duration:g}", "duration_limit", r)
        )
    if distance > veh.max_distance + EPS:
        violations.append(
            Violation(f"{where}: distance {distance:g} exceeds the limit {veh.max_distance:g}", "distance_limit", r)
        )
    if veh.allowed is not None:
        for c in visits:
            if not veh.allowed[c]:
                zone = f"{where}: vehicle type {vehicle_type} may not serve client {inst.ids[c]!r}"
                violations.append(Violation(zone, "zone", r))
    preference = float(veh.preference[visits].sum()) if veh.preference is not None and visits else 0.0
    cost = veh.fixed_cost + veh.unit_cost * distance - inst.preference_weight * preference if visits else 0.0
    return RouteStats(distance, duration, delivery, pickup, cost, preference)


def check(instance: Instance, solution: Solution) -> Report:
    """Validate `solution` and compute its cost from the instance's matrices."""
    violations: list[Violation] = []
    n = instance.num_clients
    served = Counter()
    stats: list[RouteStats | None] = []  # aligned with solution.routes
    used = Counter()
    for r, route in enumerate(solution.routes):
        stats.append(None)
        if not 0 <= route.vehicle_type < len(instance.fleet):
            violations.append(Violation(f"route {r}: unknown vehicle type {route.vehicle_type}", "vehicle_type", r))
            continue
        bad = [c for c in route.visits if not 1 <= int(c) <= n]
        if bad:
            violations.append(Violation(f"route {r}: visits unknown node {bad[0]}", "node", r))
            continue
        visits = [int(c) for c in route.visits]
        if not visits:  # an empty route is no vehicle: nothing to walk, nothing paid
            stats[r] = RouteStats(0.0, 0.0, 0.0, 0.0, 0.0)
            continue
        stats[r] = route_stats(instance, visits, route.vehicle_type, violations, r)
        served.update(visits)
        used[route.vehicle_type] += 1
    missing = [c for c in range(1, n + 1) if served[c] == 0]
    twice = [c for c, k in served.items() if k > 1]
    if missing:
        violations.append(
            Violation(f"{len(missing)} clients not served, e.g. {instance.ids[missing[0]]!r}", "unserved")
        )
    if twice:
        once = f"{len(twice)} clients served more than once, e.g. {instance.ids[twice[0]]!r}"
        violations.append(Violation(once, "served_twice"))
    for k, veh in enumerate(instance.fleet):
        if veh.count is not None and used[k] > veh.count:
            many = f"vehicle type {k} used {used[k]} times, only {veh.count} available"
            violations.append(Violation(many, "fleet_count"))
    walked = [s for s, route in zip(stats, solution.routes, strict=True) if s is not None and route.visits]
    cost = float(sum(s.cost for s in walked))
    return Report(
        feasible=not violations,
        cost=cost,
        distance=float(sum(s.distance for s in walked)),
        num_routes=len(walked),
        violations=violations,
        routes=stats,
    )


def unservable_clients(instance: Instance) -> str | None:
    """None if every client fits on a route of its own with some vehicle type; else one line naming the first
    that does not (its window, a route limit or capacity) and how many there are."""
    bad: list[str] = []
    for c in range(1, instance.num_nodes):
        reasons: list[str] = []
        for k in range(len(instance.fleet)):
            found: list[Violation] = []
            route_stats(instance, [c], k, found, 0)
            if not found:
                break
            reasons.append(found[0].removeprefix("route 0: "))
        else:
            bad.append(f"client {instance.ids[c]!r} cannot be served even on a route of its own ({reasons[0]})")
    if not bad:
        return None
    return bad[0] + (f"; {len(bad) - 1} more clients likewise" if len(bad) > 1 else "")


def gap(cost: float, reference: float) -> float:
    """Relative gap in percent."""
    return 100.0 * (cost - reference) / reference if reference else float(np.nan)
