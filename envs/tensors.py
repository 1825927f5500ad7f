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


# The attributes the batched dynamics handle beyond capacity (envs/cvrp_dynamics.py).
VARIANT_FEATURES = frozenset({"time_windows", "service_times", "backhauls", "open_routes", "duration_limits",
                              "distance_limits"})  # fmt: skip


def instance_tensors(
    instance: Instance, normalize_costs: bool = False, need_coords: bool = True, attributes: bool | None = None
) -> dict[str, torch.Tensor]:
    """locs (1, N+1, 2), demand over capacity (1, N+1), dist and duration (1, N+1, N+1), and the variant
    attributes of envs/cvrp_dynamics.py when `attributes` (default: when the instance has any).

    With normalize_costs both matrices are scaled to a mean of MEAN_UNIT_DISTANCE,
    so that rewards of any instance (planar units, road metres or seconds) are on
    the unit-square scale of the uniform training data. Without coordinates,
    locs are zeros: only a matrix-aware policy (need_coords=False) can use those.
    """
    if instance.coords is None and not need_coords:
        locs = np.zeros((instance.num_nodes, 2))
    else:
        locs, _ = planar(instance)
    d_scale = t_scale = 1.0
    if normalize_costs:
        d_scale = MEAN_UNIT_DISTANCE / (float(instance.distance.mean()) or 1.0)
        t_scale = MEAN_UNIT_DISTANCE / (float(instance.duration.mean()) or 1.0)
    dist, dur = instance.distance * d_scale, instance.duration * t_scale
    dtype = torch.float32 if normalize_costs else torch.float64
    cap = instance.fleet[0].capacity
    out = {
        "locs": torch.tensor(locs, dtype=torch.float32)[None],
        "demand": torch.tensor(instance.demand / cap, dtype=torch.float32)[None],
        "dist": torch.tensor(dist, dtype=dtype)[None],
        "duration": torch.tensor(dur, dtype=dtype)[None],
    }
    if attributes is None:
        attributes = bool(instance.features() & VARIANT_FEATURES)
    if attributes:  # in the matrices' units (time scaled as durations, length as distances)
        veh = instance.fleet[0]
        out.update({
            "demand": out["demand"].to(dtype),
            "tw": torch.tensor(instance.time_windows * t_scale, dtype=dtype)[None],
            "service": torch.tensor(instance.service * t_scale, dtype=dtype)[None],
            "pickup": torch.tensor(instance.backhaul / cap, dtype=dtype)[None],
            "linehaul_first": torch.tensor([instance.backhaul_mode == "linehaul_first"]),
            "open_route": torch.tensor([instance.open_routes]),
            "max_duration": torch.tensor([veh.max_duration * t_scale], dtype=dtype),
            "max_distance": torch.tensor([veh.max_distance * d_scale], dtype=dtype),
        })  # fmt: skip
    return out


def stack_instances(instances: list[Instance], need_coords: bool = True) -> dict[str, torch.Tensor]:
    """A training batch from same-size instances (costs normalised); variant attributes if any has one."""
    attributes = any(i.features() & VARIANT_FEATURES for i in instances)
    parts = [instance_tensors(i, True, need_coords, attributes) for i in instances]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
