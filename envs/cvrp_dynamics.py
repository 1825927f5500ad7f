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
of the work below is done), in the checker's conventions (envs/checker.py):
  duration (B, N+1, N+1)  travel times
  tw (B, N+1, 2), service (B, N+1)   windows [earliest, latest] start of service
                          (depot: [departure, latest return]) and service times
  pickup (B, N+1)         backhaul demand over capacity, brought to the depot
  linehaul_first (B,)     no client with a delivery after one with a pickup
  open_route (B,)         routes end at their last client
  max_duration, max_distance (B,)  route limits (inf = none)
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

EPS = 1e-5
ATTRIBUTES = ("dist", "duration", "tw", "service", "pickup", "linehaul_first", "open_route", "max_duration",
              "max_distance")  # fmt: skip


def has_attributes(state: Mapping[str, torch.Tensor]) -> bool:
    return "tw" in state


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
    return state


def _new_route(departure: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Per-route quantities of a vehicle leaving the depot: delivered (`used`) and picked up so far, the
    peak of picked-minus-delivered over the route's prefixes (`excess`: the load at any point is the route's
    total delivery plus that prefix's excess), whether a pickup was made, the time it is ready to leave
    its current node, and the distance driven."""
    zero = torch.zeros(departure.shape, dtype=dtype, device=departure.device)
    return {"used": zero, "picked": zero, "excess": zero, "in_backhaul": zero.bool(),
            "time": departure.to(dtype), "route_dist": torch.zeros_like(departure)}  # fmt: skip


def _rows(matrix: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """matrix (B, N+1, N+1), current (B, S) -> the current nodes' rows (B, S, N+1)."""
    return matrix.gather(1, current.unsqueeze(-1).expand(-1, -1, matrix.shape[-1]))


def _entries(matrix: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """matrix (B, N+1, N+1), src and dst (B, ...) node indices -> matrix[b, src, dst], shaped like src."""
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
    if not has_attributes(state):
        return new
    p = state["pickup"].gather(1, action)
    picked = state["picked"] + p
    arrive = state["time"] + _entries(state["duration"], state["current"], action)
    start = torch.maximum(arrive, state["tw"][..., 0].gather(1, action))
    route = {
        "used": used,
        "picked": picked,
        "excess": torch.maximum(state["excess"], picked - used),
        "in_backhaul": state["in_backhaul"] | (p > 0),
        "time": start + state["service"].gather(1, action),
        "route_dist": state["route_dist"] + _entries(state["dist"], state["current"], action),
    }
    fresh = _new_route(state["tw"][:, :1, 0].expand_as(used), used.dtype)
    new.update({k: torch.where(at_depot, fresh[k], v) for k, v in route.items()})
    new.update({k: state[k] for k in ATTRIBUTES})
    return new


def all_served(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return state["visited"][..., 1:].all(-1)


def done(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, S): every client served and the vehicle back at the depot."""
    return all_served(state) & (state["current"] == 0)


def action_mask(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, S, N+1) True where the next move is feasible."""
    if has_attributes(state):
        fits = _attributes_allow(state)
    else:
        fits = state["used"].unsqueeze(-1) + state["demand"].unsqueeze(1) <= 1.0 + EPS
    mask = ~state["visited"] & fits
    finished = all_served(state)
    # The depot: not twice in a row (empty routes), always once everything is served.
    mask[..., 0] = (state["current"] != 0) | finished
    mask[..., 1:] &= ~finished.unsqueeze(-1)
    return mask


def _attributes_allow(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, S, N+1): where the current route can go next under capacity (with pickups), backhaul order,
    time windows, and the duration and distance limits (return to the depot included unless routes are open)."""
    d, p = state["demand"].unsqueeze(1), state["pickup"].unsqueeze(1)  # (B, 1, N+1)
    used, picked = state["used"].unsqueeze(-1), state["picked"].unsqueeze(-1)
    # adding j raises every earlier load by d_j: the peak is the new total delivery plus the new excess
    peak = used + d + torch.maximum(state["excess"].unsqueeze(-1), picked + p - used - d)
    ok = peak <= 1.0 + EPS
    ok &= ~(state["linehaul_first"][:, None, None] & state["in_backhaul"].unsqueeze(-1) & (d > 0))

    tw, closed = state["tw"].unsqueeze(1), ~state["open_route"][:, None, None]
    arrive = state["time"].unsqueeze(-1) + _rows(state["duration"], state["current"])
    ok &= arrive <= tw[..., 1] + EPS
    finish = torch.maximum(arrive, tw[..., 0]) + state["service"].unsqueeze(1)
    back = finish + torch.where(closed, state["duration"][:, :, 0].unsqueeze(1), 0.0)
    depart, close = state["tw"][:, 0, 0][:, None, None], state["tw"][:, 0, 1][:, None, None]
    ok &= ~closed | (back <= close + EPS)
    ok &= back - depart <= state["max_duration"][:, None, None] + EPS
    length = state["route_dist"].unsqueeze(-1) + _rows(state["dist"], state["current"])
    length = length + torch.where(closed, state["dist"][:, :, 0].unsqueeze(1), 0.0)
    return ok & (length <= state["max_distance"][:, None, None] + EPS)


def tour_cost(dist: torch.Tensor, actions: torch.Tensor, open_route: torch.Tensor | None = None) -> torch.Tensor:
    """Length of each tour (B, S, T) of node indices, from and back to the depot, read from `dist`;
    where `open_route` (B,) is set, the returns to the depot are free."""
    depot = actions.new_zeros(*actions.shape[:2], 1)
    path = torch.cat([depot, actions, depot], dim=-1)
    edges = _entries(dist, path[..., :-1], path[..., 1:])
    if open_route is not None:
        edges = edges.masked_fill(open_route[:, None, None] & (path[..., 1:] == 0), 0)
    return edges.sum(-1)


def validate(data: Mapping[str, torch.Tensor], actions: torch.Tensor) -> None:
    """Raise AssertionError unless each tour (B, S, T) visits every client once, each move allowed when made."""
    b, s, _ = actions.shape
    n = data["demand"].shape[1] - 1
    sorted_clients = actions.sort(-1).values
    counts = torch.zeros(b, s, n + 1, dtype=torch.long, device=actions.device)
    counts.scatter_add_(2, sorted_clients, torch.ones_like(sorted_clients))
    assert (counts[..., 1:] == 1).all(), "a client is not served exactly once"
    state = reset(data, s)
    for t in range(actions.shape[-1]):
        a = actions[..., t]
        allowed = action_mask(state).gather(2, a.unsqueeze(-1)).squeeze(-1)  # padding after done: the depot
        assert allowed.all(), f"step {t}: a move the rules forbid (capacity, order, time or length)"
        state = step(state, a)
