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
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

EPS = 1e-5


def reset(data: Mapping[str, torch.Tensor], num_rollouts: int) -> dict[str, torch.Tensor]:
    demand = data["demand"]
    b, n1 = demand.shape
    dev = demand.device
    return {
        "current": torch.zeros(b, num_rollouts, dtype=torch.long, device=dev),
        "used": torch.zeros(b, num_rollouts, device=dev),
        "visited": torch.zeros(b, num_rollouts, n1, dtype=torch.bool, device=dev),
        "demand": demand,
    }


def step(state: Mapping[str, torch.Tensor], action: torch.Tensor) -> dict[str, torch.Tensor]:
    """Move every rollout to `action` (B, S); returning to the depot empties the vehicle."""
    demand = state["demand"]
    d = demand.gather(1, action)  # (B, S)
    at_depot = action == 0
    used = torch.where(at_depot, torch.zeros_like(d), state["used"] + d)
    visited = state["visited"].scatter(2, action.unsqueeze(-1), True)
    visited[..., 0] = False
    return {"current": action, "used": used, "visited": visited, "demand": demand}


def all_served(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return state["visited"][..., 1:].all(-1)


def done(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, S): every client served and the vehicle back at the depot."""
    return all_served(state) & (state["current"] == 0)


def action_mask(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, S, N+1) True where the next move is feasible."""
    demand = state["demand"].unsqueeze(1)  # (B, 1, N+1)
    fits = state["used"].unsqueeze(-1) + demand <= 1.0 + EPS
    mask = ~state["visited"] & fits
    finished = all_served(state)
    # The depot: not twice in a row (empty routes), always once everything is served.
    mask[..., 0] = (state["current"] != 0) | finished
    mask[..., 1:] &= ~finished.unsqueeze(-1)
    return mask


def tour_cost(dist: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Length of each tour (B, S, T) of node indices, from and back to the depot, read from `dist`."""
    b, s, t = actions.shape
    n1 = dist.shape[-1]
    depot = actions.new_zeros(b, s, 1)
    path = torch.cat([depot, actions, depot], dim=-1)
    flat = (path[..., :-1] * n1 + path[..., 1:]).reshape(b, -1)
    return dist.reshape(b, -1).gather(1, flat).reshape(b, s, t + 1).sum(-1)


def validate(data: Mapping[str, torch.Tensor], actions: torch.Tensor) -> None:
    """Raise AssertionError unless each tour (B, S, T) visits every client once within capacity."""
    b, s, _ = actions.shape
    n = data["demand"].shape[1] - 1
    sorted_clients = actions.sort(-1).values
    counts = torch.zeros(b, s, n + 1, dtype=torch.long, device=actions.device)
    counts.scatter_add_(2, sorted_clients, torch.ones_like(sorted_clients))
    assert (counts[..., 1:] == 1).all(), "a client is not served exactly once"
    state = reset(data, s)
    for t in range(actions.shape[-1]):
        state = step(state, actions[..., t])
        assert (state["used"] <= 1.0 + EPS).all(), "capacity exceeded"
