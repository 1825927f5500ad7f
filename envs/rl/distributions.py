"""Batched sampling of training data as tensors (the RL environment's generator).

Same distribution as envs.generate.cvrp.uniform_instance, drawn directly as
normalised tensors so that a training epoch needs no Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from envs.generate.cvrp import capacity_for
from envs.model.features import FEATURES, Feature

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Distribution:
    """A distribution `nco train --distribution NAME` draws instances from (its rl4co generator, keyed by the
    same name, is envs.rl.env.GENERATORS[NAME]); what a policy trained on it reads, and what it was trained on."""

    name: str
    description: str
    groups: tuple[str, ...] = ()  # the policy's attribute groups it needs (nco.policy.model.ATTRIBUTE_GROUPS)
    features: frozenset[Feature] = frozenset()  # the instance features it draws (a checkpoint's trained_on)
    family: str = "CVRP"  # the variant its checkpoints are named for
    city: bool = False  # drawn from a city dataset (`nco train --dataset`)

    def __post_init__(self) -> None:
        bad = set(self.features) - set(FEATURES)
        if bad:
            raise ValueError(f"distribution {self.name}: {sorted(bad)} are not features")


# One registry of the training distributions; --variants (RouteFinder's mixes) is drawn over `uniform`.
DISTRIBUTIONS: dict[str, Distribution] = {
    d.name: d
    for d in (
        Distribution("uniform", "depot and clients uniform in the unit square (the NCO benchmark)"),
        Distribution("xlike", "CVRPLIB X-like depot placement, clustered clients and demand profiles"),
        Distribution(
            "asymmetric", "uniform points, asymmetric detour matrices", features=frozenset({Feature.ASYMMETRIC})
        ),
        Distribution(
            "road",
            "locations of a city dataset on its road matrices",
            features=frozenset({Feature.ASYMMETRIC}),
            city=True,
        ),
        Distribution(
            "roadtw",
            "delivery days on a city dataset's roads: time windows and service times (envs/generate/road_days.py)",
            groups=("time_windows",),
            features=frozenset({Feature.ASYMMETRIC, Feature.SERVICE_TIMES, Feature.TIME_WINDOWS}),
            family="VRPTW",
            city=True,
        ),
        Distribution(
            "fleet",
            "heterogeneous and profiled fleets (2-5 types, the X cost mixes, zones, preferences)",
            groups=("fleet",),
            features=frozenset(
                {Feature.FIXED_COSTS, Feature.FLEET_LIMIT, Feature.HETEROGENEOUS_FLEET, Feature.PROFILES}
            ),
            family="HFVRP",
        ),
        Distribution(
            "svrp",
            "SVRPBench-like city days with stochastic travel times",
            groups=("time_windows",),
            features=frozenset({Feature.SERVICE_TIMES, Feature.STOCHASTIC, Feature.TIME_WINDOWS}),
            family="SVRP",
        ),
    )
}


def uniform_batch(batch_size: int, num_clients: int, generator: torch.Generator | None = None) -> dict:
    """Depot and clients uniform in the unit square, demand uniform in 1..9, Euclidean costs."""
    import torch  # here, not at the top: the registry above is read by `nco --help` without torch

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
    import torch

    data = uniform_batch(batch_size, num_clients, generator)
    n1 = num_clients + 1
    detour = 1.0 + 0.6 * torch.rand(batch_size, n1, n1, generator=generator)
    data["dist"] = data["dist"] * detour
    data["duration"] = data["dist"] * (0.8 + 0.4 * torch.rand(batch_size, n1, n1, generator=generator))
    return data
