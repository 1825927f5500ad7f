"""Batched CVRP transition rules in plain torch.

Shared by the rl4co environment (training) and the policy's decoding loop
(inference), so that inference never imports rl4co, lightning or tensordict.
States are mappings of tensors shaped (B, S, ...): B instances, S parallel
rollouts per instance (POMO starts). Instance data stays (B, ...) and is not
copied per rollout, so large distance matrices are held once.

Data keys:
  locs   (B, N+1, 2)   planar features for the encoder (node 0 = depot)
  demand (B, N+1)      demand divided by vehicle capacity (depot 0)
  dist   (B, N+1, N+1) cost matrix, possibly asymmetric; rewards read it

Variant attributes (all present or all absent; absent = plain CVRP, and none
of the work below is done), in the checker's conventions (envs/model/check.py):
  duration (B, N+1, N+1)  travel times
  tw (B, N+1, 2), service (B, N+1)   windows [earliest, latest] start of service
                          (depot: [departure, latest return]) and service times
  pickup (B, N+1)         backhaul demand over capacity, brought to the depot
  linehaul_first (B,)     no client with a delivery after one with a pickup
  open_route (B,)         routes end at their last client
  max_duration, max_distance (B,)  route limits (inf = none)

A fleet of vehicle types (all present or all absent; absent = one type of
capacity 1, cost = distance), for heterogeneous and profiled fleets (CAMP):
  veh_cap (B, K)          capacity of each type over the reference (demand's divisor)
  veh_count (B, K)        how many of each (inf = unlimited; 0 = padding, never used)
  veh_fixed, veh_unit (B, K)  fixed cost per route and cost per unit of `dist`
  veh_allowed (B, K, N+1) which clients each type may serve (zones)
  veh_pref (B, K, N+1)    cost saved when that type serves that client (weighted preferences)
Routes are built vehicle by vehicle. The current type (`vtype`) drives the
masks; choosing the depot while at the depot means "not this type: take the
next one with vehicles left" (cyclic), at most K-1 times in a row unless the
current type can serve nothing left (then any type, in turn). A finished
route uses one vehicle of its type; when a type's vehicles are used up the
next type with vehicles left takes over.
Counts bind no rollout (the solver keeps those that fit, as for one type);
the state's `cost` accumulates the fleet objective move by move.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

# The checker's tolerance, not a looser one: a move the mask allows must be one the checker accepts (with
# 1e-5 here, an OVRPL rollout drove a route to 3.00001 against a limit of 3, which the checker rejects).
from envs.model.check import EPS

ATTRIBUTES = (
    "dist",
    "duration",
    "tw",
    "service",
    "pickup",
    "linehaul_first",
    "open_route",
    "max_duration",
    "max_distance",
)


FLEET = ("veh_cap", "veh_count", "veh_fixed", "veh_unit", "veh_allowed", "veh_pref")


def has_attributes(state: Mapping[str, torch.Tensor]) -> bool:
    return "tw" in state


def has_fleet(state: Mapping[str, torch.Tensor]) -> bool:
    return "veh_cap" in state


def of_type(table: torch.Tensor, vtype: torch.Tensor) -> torch.Tensor:
    """table (B, K) or per rollout (B, S, K), vtype (B, S) -> each rollout's entry for its type (B, S)."""
    if table.dim() == 3:
        return table.gather(2, vtype.unsqueeze(-1)).squeeze(-1)
    return table.gather(1, vtype)


def capacity(state: Mapping[str, torch.Tensor]) -> torch.Tensor | float:
    """The current vehicle's capacity over the reference: (B, S), or 1 with one type."""
    return of_type(state["veh_cap"], state["vtype"]) if has_fleet(state) else 1.0


def next_type(state: Mapping[str, torch.Tensor], vtype: torch.Tensor, with_vehicles_left: bool) -> torch.Tensor:
    """The type after `vtype` in cyclic order (B, S): the first with vehicles left when asked and there is
    one, else the first that exists at all (count > 0)."""
    count = state["veh_count"]
    k = count.shape[1]
    offset = (torch.arange(k, device=vtype.device) - vtype.unsqueeze(-1) - 1) % k  # 0 = the next one
    score = offset + 2 * k * (count == 0).unsqueeze(1)
    if with_vehicles_left:
        score = score + k * (state["vused"] >= count.unsqueeze(1))
    return score.argmin(-1)


def reset(data: Mapping[str, torch.Tensor], num_rollouts: int) -> dict[str, torch.Tensor]:
    demand = data["demand"]
    b, n1 = demand.shape
    dev = demand.device
    state = {
        "current": torch.zeros(b, num_rollouts, dtype=torch.long, device=dev),
        "used": torch.zeros(b, num_rollouts, device=dev),
        "visited": torch.zeros(b, num_rollouts, n1, dtype=torch.bool, device=dev),
        "demand": demand,
    }
    if has_attributes(data):
        state.update({k: data[k] for k in ATTRIBUTES})
        state.update(_new_route(data["tw"][:, :1, 0].expand(b, num_rollouts), demand.dtype))
    if has_fleet(data):
        state.update({k: data[k] for k in FLEET})
        if not has_attributes(data):
            state["dist"] = data["dist"]
        k = data["veh_cap"].shape[1]
        first = (data["veh_count"] == 0).float().argmin(1)  # the first type that exists
        state.update(
            {
                "vtype": first[:, None].expand(b, num_rollouts).clone(),
                "vused": torch.zeros(b, num_rollouts, k, device=dev),
                "skips": torch.zeros(b, num_rollouts, dtype=torch.long, device=dev),
                "cost": torch.zeros(b, num_rollouts, dtype=data["dist"].dtype, device=dev),
            }
        )
    return state


def choose_start_type(state: Mapping[str, torch.Tensor], first: torch.Tensor) -> dict[str, torch.Tensor]:
    """Before a forced first move to `first` (B, S) (POMO starts): the first type, in cyclic order, whose
    mask allows it, so that a start never breaks a zone or a capacity."""
    if not has_fleet(state):
        return dict(state)
    state = dict(state)
    vtype = state["vtype"]
    chosen = torch.full_like(vtype, -1)
    for _ in range(state["veh_cap"].shape[1]):
        state["vtype"] = vtype
        ok = action_mask(state).gather(2, first.unsqueeze(-1)).squeeze(-1)
        chosen = torch.where((chosen < 0) & ok, vtype, chosen)
        vtype = next_type(state, vtype, with_vehicles_left=False)
    state["vtype"] = torch.where(chosen < 0, state["vtype"], chosen)
    return state


def _new_route(departure: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Per-route quantities of a vehicle leaving the depot: delivered (`used`) and picked up so far, the
    peak of picked-minus-delivered over the route's prefixes (`excess`: the load at any point is the route's
    total delivery plus that prefix's excess), whether a pickup was made, the time it is ready to leave
    its current node, and the distance driven."""
    zero = torch.zeros(departure.shape, dtype=dtype, device=departure.device)
    return {
        "used": zero,
        "picked": zero,
        "excess": zero,
        "in_backhaul": zero.bool(),
        "time": departure.to(dtype),
        "route_dist": torch.zeros_like(departure),
    }


def rows(matrix: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """matrix (B, M, N+1), current (B, S) row indices (nodes, or vehicle types) -> those rows (B, S, N+1)."""
    return matrix.gather(1, current.unsqueeze(-1).expand(-1, -1, matrix.shape[-1]))


def entries(matrix: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """matrix (B, M, N+1), src and dst (B, ...) row and column indices -> matrix[b, src, dst], shaped like src."""
    b, n1 = matrix.shape[0], matrix.shape[-1]
    return matrix.reshape(b, -1).gather(1, (src * n1 + dst).reshape(b, -1)).reshape(src.shape)


def step(state: Mapping[str, torch.Tensor], action: torch.Tensor) -> dict[str, torch.Tensor]:
    """Move every rollout to `action` (B, S); returning to the depot empties the vehicle."""
    demand = state["demand"]
    d = demand.gather(1, action)  # (B, S)
    at_depot = action == 0
    used = torch.where(at_depot, torch.zeros_like(d), state["used"] + d)
    visited = state["visited"].scatter(2, action.unsqueeze(-1), True)
    visited[..., 0] = False
    new = {"current": action, "used": used, "visited": visited, "demand": demand}
    if has_fleet(state):
        new.update(_fleet_step(state, action))
    if not has_attributes(state):
        return new
    p = state["pickup"].gather(1, action)
    picked = state["picked"] + p
    arrive = state["time"] + entries(state["duration"], state["current"], action)
    start = torch.maximum(arrive, state["tw"][..., 0].gather(1, action))
    route = {
        "used": used,
        "picked": picked,
        "excess": torch.maximum(state["excess"], picked - used),
        "in_backhaul": state["in_backhaul"] | (p > 0),
        "time": start + state["service"].gather(1, action),
        "route_dist": state["route_dist"] + entries(state["dist"], state["current"], action),
    }
    fresh = _new_route(state["tw"][:, :1, 0].expand_as(used), used.dtype)
    new.update({k: torch.where(at_depot, fresh[k], v) for k, v in route.items()})
    new.update({k: state[k] for k in ATTRIBUTES})
    return new


def _fleet_step(state: Mapping[str, torch.Tensor], action: torch.Tensor) -> dict[str, torch.Tensor]:
    """The vehicle-type bookkeeping and the fleet objective of one move."""
    cur, vtype = state["current"], state["vtype"]
    at_depot, was_depot = action == 0, cur == 0
    finished = all_served(state) & was_depot  # padding after the last route: nothing changes
    arc = entries(state["dist"], cur, action)
    if "open_route" in state:
        arc = arc.masked_fill(state["open_route"][:, None] & at_depot, 0)
    unit, fixed = of_type(state["veh_unit"], vtype), of_type(state["veh_fixed"], vtype)
    pref = entries(state["veh_pref"], vtype, action).masked_fill(at_depot, 0)
    skip = at_depot & was_depot & ~finished
    cost = state["cost"] + torch.where(skip | finished, 0.0, unit * arc + torch.where(was_depot, fixed, 0.0) - pref)
    ended = at_depot & ~was_depot  # a route came back: one vehicle of its type used
    one_hot = torch.nn.functional.one_hot(vtype, state["vused"].shape[-1]).to(state["vused"].dtype)
    vused = state["vused"] + one_hot * ended.unsqueeze(-1)
    new_state = {**state, "vused": vused}
    exhausted = ended & (of_type(vused, vtype) >= of_type(state["veh_count"], vtype))
    vtype = torch.where(exhausted, next_type(new_state, vtype, with_vehicles_left=True), vtype)
    # a switch goes to the next type with vehicles left; after K-1 in a row (the current type can serve nothing
    # left, nor can the others with vehicles) to any type, so that every client is reached, counts or not
    num_types = state["veh_cap"].shape[1]
    switch_to = torch.where(
        state["skips"] < num_types - 1,
        next_type(new_state, vtype, with_vehicles_left=True),
        next_type(new_state, vtype, with_vehicles_left=False),
    )
    vtype = torch.where(skip, switch_to, vtype)
    skips = torch.where(skip, state["skips"] + 1, torch.zeros_like(state["skips"]))
    return {
        **{key: state[key] for key in FLEET},
        "dist": state["dist"],
        "vtype": vtype,
        "vused": vused,
        "skips": skips,
        "cost": cost,
    }


def all_served(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return state["visited"][..., 1:].all(-1)


def done(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, S): every client served and the vehicle back at the depot."""
    return all_served(state) & (state["current"] == 0)


def action_mask(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, S, N+1) True where the next move is feasible."""
    cap = capacity(state)
    if has_attributes(state):
        fits = _attributes_allow(state)
    else:
        fits = state["used"].unsqueeze(-1) + state["demand"].unsqueeze(1) <= _last(cap) + EPS
    mask = ~state["visited"] & fits
    finished = all_served(state)
    at_depot = state["current"] == 0
    if has_fleet(state):  # the current type's zone; at the depot, the depot means "the next type"
        mask &= rows(state["veh_allowed"], state["vtype"])
        stuck = ~mask[..., 1:].any(-1)
        may_skip = (state["skips"] < state["veh_cap"].shape[1] - 1) | stuck
        mask[..., 0] = ~at_depot | finished | may_skip
    else:  # the depot: not twice in a row (empty routes), always once everything is served
        mask[..., 0] = ~at_depot | finished
    mask[..., 1:] &= ~finished.unsqueeze(-1)
    return mask


def _last(x: torch.Tensor | float) -> torch.Tensor | float:
    return x.unsqueeze(-1) if isinstance(x, torch.Tensor) else x


def _attributes_allow(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, S, N+1): where the current route can go next under capacity (with pickups), backhaul order,
    time windows, and the duration and distance limits (return to the depot included unless routes are open)."""
    d, p = state["demand"].unsqueeze(1), state["pickup"].unsqueeze(1)  # (B, 1, N+1)
    used, picked = state["used"].unsqueeze(-1), state["picked"].unsqueeze(-1)
    # adding j raises every earlier load by d_j: the peak is the new total delivery plus the new excess
    peak = used + d + torch.maximum(state["excess"].unsqueeze(-1), picked + p - used - d)
    ok = peak <= _last(capacity(state)) + EPS
    ok &= ~(state["linehaul_first"][:, None, None] & state["in_backhaul"].unsqueeze(-1) & (d > 0))

    tw, closed = state["tw"].unsqueeze(1), ~state["open_route"][:, None, None]
    arrive = state["time"].unsqueeze(-1) + rows(state["duration"], state["current"])
    ok &= arrive <= tw[..., 1] + EPS
    finish = torch.maximum(arrive, tw[..., 0]) + state["service"].unsqueeze(1)
    back = finish + torch.where(closed, state["duration"][:, :, 0].unsqueeze(1), 0.0)
    depart, close = state["tw"][:, 0, 0][:, None, None], state["tw"][:, 0, 1][:, None, None]
    ok &= ~closed | (back <= close + EPS)
    ok &= back - depart <= state["max_duration"][:, None, None] + EPS
    length = state["route_dist"].unsqueeze(-1) + rows(state["dist"], state["current"])
    length = length + torch.where(closed, state["dist"][:, :, 0].unsqueeze(1), 0.0)
    return ok & (length <= state["max_distance"][:, None, None] + EPS)


def tour_cost(dist: torch.Tensor, actions: torch.Tensor, open_route: torch.Tensor | None = None) -> torch.Tensor:
    """Length of each tour (B, S, T) of node indices, from and back to the depot, read from `dist`;
    where `open_route` (B,) is set, the returns to the depot are free."""
    depot = actions.new_zeros(*actions.shape[:2], 1)
    path = torch.cat([depot, actions, depot], dim=-1)
    edges = entries(dist, path[..., :-1], path[..., 1:])
    if open_route is not None:
        edges = edges.masked_fill(open_route[:, None, None] & (path[..., 1:] == 0), 0)
    return edges.sum(-1)


def replay(
    data: Mapping[str, torch.Tensor], actions: torch.Tensor, check: bool = False, record_types: bool = False
) -> dict[str, torch.Tensor]:
    """The final state after actions (B, S, T), the first move's vehicle type chosen as the policy does; with
    `check`, AssertionError at the first move the masks forbid; with `record_types`, the vehicle type in force
    at each move under the key `step_types` (B, S, T)."""
    state, types = reset(data, actions.shape[1]), []
    for t in range(actions.shape[-1]):
        a = actions[..., t]
        if t == 0:
            state = choose_start_type(state, a)
        if check:
            allowed = action_mask(state).gather(2, a.unsqueeze(-1)).squeeze(-1)  # padding after done: the depot
            assert allowed.all(), f"step {t}: a move the rules forbid (capacity, order, time, length or zone)"
        if record_types:
            types.append(state["vtype"])
        state = step(state, a)
    if record_types:
        state["step_types"] = torch.stack(types, dim=-1)
    return state


def cost(data: Mapping[str, torch.Tensor], actions: torch.Tensor) -> torch.Tensor:
    """(B, S): each rollout's cost: the tour length, or with a fleet its fixed, per-distance and preference
    terms (replayed through the dynamics, which know each route's vehicle type)."""
    if has_fleet(data):
        return replay(data, actions)["cost"]
    return tour_cost(data["dist"], actions, data.get("open_route"))


def route_types(data: Mapping[str, torch.Tensor], tours: list[list[int]]) -> list[list[int]]:
    """The vehicle type of each route of each of one instance's tours (node indices, routes separated by the
    depot), from one replay of them all."""
    starts = [[t for t, (a, b) in enumerate(zip([0, *tour], tour)) if a == 0 and b != 0] for tour in tours]
    if not has_fleet(data):
        return [[0] * len(s) for s in starts]
    width = max(len(tour) for tour in tours)
    actions = torch.tensor([[tour + [0] * (width - len(tour)) for tour in tours]])
    step_types = replay({k: v[:1] for k, v in data.items()}, actions, record_types=True)["step_types"][0]
    return [step_types[r, s].tolist() for r, s in enumerate(starts)]


def validate(data: Mapping[str, torch.Tensor], actions: torch.Tensor) -> None:
    """Raise AssertionError unless each tour (B, S, T) visits every client once, each move allowed when made."""
    b, s, _ = actions.shape
    n = data["demand"].shape[1] - 1
    sorted_clients = actions.sort(-1).values
    counts = torch.zeros(b, s, n + 1, dtype=torch.long, device=actions.device)
    counts.scatter_add_(2, sorted_clients, torch.ones_like(sorted_clients))
    assert (counts[..., 1:] == 1).all(), "a client is not served exactly once"
    replay(data, actions, check=True)
