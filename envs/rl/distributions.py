"""Batched sampling of training data as tensors (the RL environment's generator).

Same distribution as envs.generate.cvrp.uniform_instance, drawn directly as
normalised tensors so that a training epoch needs no Python loop.
"""

from __future__ import annotations

import torch

from envs.generate.cvrp import capacity_for


def uniform_batch(batch_size: int, num_clients: int, generator: torch.Generator | None = None) -> dict:
    """Depot and clients uniform in the unit square, demand uniform in 1..9, Euclidean costs."""
    locs = torch.rand(batch_size, num_clients + 1, 2, generator=generator)
    demand = torch.randint(1, 10, (batch_size, num_clients + 1), generator=generator).float()
    demand[:, 0] = 0
    return {
        "locs": locs,
        "demand": demand / capacity_for(num_clients),
        "dist": torch.cdist(locs, locs),
    }


def asymmetric_batch(batch_size: int, num_clients: int, generator: torch.Generator | None = None) -> dict:
    """Uniform instances whose matrices are asymmetric: each directed arc is its straight line times a
    detour factor in [1, 1.6) (one-way streets, turn restrictions), and durations vary per arc by +-20%."""
    data = uniform_batch(batch_size, num_clients, generator)
    n1 = num_clients + 1
    detour = 1.0 + 0.6 * torch.rand(batch_size, n1, n1, generator=generator)
    data["dist"] = data["dist"] * detour
    data["duration"] = data["dist"] * (0.8 + 0.4 * torch.rand(batch_size, n1, n1, generator=generator))
    return data

