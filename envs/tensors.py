"""Instance -> batched tensors for the policy and the RL environment (the one conversion)."""

from __future__ import annotations

import numpy as np
import torch

from envs.errors import UnsupportedFeatureError
from envs.instance import Instance


def planar(instance: Instance) -> tuple[np.ndarray, float]:
    """Coordinates as a picture in [0, 1]^2, aspect ratio kept (lon/lat projected locally), and the scale used."""
    if instance.coords is None:
        raise UnsupportedFeatureError(f"the policy needs coordinates and instance {instance.name} has only a matrix")
    c = instance.coords.copy()
    if instance.coord_system == "lonlat":
        c[:, 0] *= np.cos(np.radians(c[:, 1].mean()))
    c -= c.min(0)
    span = float(c.max()) or 1.0
    return c / span, span


MEAN_UNIT_DISTANCE = 0.5214  # mean distance between two uniform points of the unit square


def instance_tensors(
    instance: Instance, normalize_costs: bool = False, need_coords: bool = True
) -> dict[str, torch.Tensor]:
    """locs (1, N+1, 2), demand over capacity (1, N+1), dist and duration (1, N+1, N+1).

    With normalize_costs both matrices are scaled to a mean of MEAN_UNIT_DISTANCE,
    so that rewards of any instance (planar units, road metres or seconds) are on
    the unit-square scale of the uniform training data. Without coordinates,
    locs are zeros: only a matrix-aware policy (need_coords=False) can use those.
    """
    if instance.coords is None and not need_coords:
        locs = np.zeros((instance.num_nodes, 2))
    else:
        locs, _ = planar(instance)
    dist, dur = instance.distance, instance.duration
    if normalize_costs:
        dist = dist * (MEAN_UNIT_DISTANCE / (float(dist.mean()) or 1.0))
        dur = dur * (MEAN_UNIT_DISTANCE / (float(dur.mean()) or 1.0))
    dtype = torch.float32 if normalize_costs else torch.float64
    return {
        "locs": torch.tensor(locs, dtype=torch.float32)[None],
        "demand": torch.tensor(instance.demand / instance.fleet[0].capacity, dtype=torch.float32)[None],
        "dist": torch.tensor(dist, dtype=dtype)[None],
        "duration": torch.tensor(dur, dtype=dtype)[None],
    }


def stack_instances(instances: list[Instance], need_coords: bool = True) -> dict[str, torch.Tensor]:
    """A training batch from same-size instances (costs normalised)."""
    parts = [instance_tensors(i, normalize_costs=True, need_coords=need_coords) for i in instances]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
