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


def instance_tensors(
    instance: Instance, normalize_costs: bool = False, need_coords: bool = True
) -> dict[str, torch.Tensor]:
    """locs (1, N+1, 2), demand over capacity (1, N+1), dist and duration (1, N+1, N+1).

    With normalize_costs the matrices are divided by the coordinate span (or by
    their mean where there are no coordinates), so that rewards are on the
    unit-square scale used in training. Without coordinates, locs are zeros:
    only a matrix-aware policy (need_coords=False) can work from those.
    """
    if instance.coords is None and not need_coords:
        locs, span = np.zeros((instance.num_nodes, 2)), float(instance.distance.mean()) or 1.0
    else:
        locs, span = planar(instance)
    dist, dur = instance.distance, instance.duration
    if normalize_costs:
        dist, dur = dist / span, dur / (float(dur.mean()) or 1.0) * float(dist.mean() / span)
    dtype = torch.float32 if normalize_costs else torch.float64
    return {
        "locs": torch.tensor(locs, dtype=torch.float32)[None],
        "demand": torch.tensor(instance.demand / instance.fleet[0].capacity, dtype=torch.float32)[None],
        "dist": torch.tensor(dist, dtype=dtype)[None],
        "duration": torch.tensor(dur, dtype=dtype)[None],
    }


def stack_instances(instances: list[Instance]) -> dict[str, torch.Tensor]:
    """A training batch from same-size instances (costs normalised)."""
    parts = [instance_tensors(i, normalize_costs=True) for i in instances]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
