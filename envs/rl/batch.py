"""Instance -> batched tensors for the policy and the RL environment (the one conversion)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import numpy as np
import torch

from envs.errors import UnsupportedFeatureError
from envs.model import features
from envs.model.instance import Instance


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


# The attributes the batched dynamics handle beyond capacity, and their fleet group (envs/model/features.py).
VARIANT_FEATURES = features.VARIANT
FLEET_FEATURES = features.FLEET


class RoutingBatch(TypedDict, total=False):
    """The tensors of B instances of N clients, as the policy and the environment read them. The groups after
    the core are present as a whole or absent as a whole (batch_of checks it); an absent group is the neutral
    problem (no attributes: a plain CVRP; no fleet: one type of capacity 1, cost = distance)."""

    # core
    locs: torch.Tensor  # shape: (B, N+1, 2) planar features in [0, 1] (zeros for a matrix-only policy)
    demand: torch.Tensor  # shape: (B, N+1) demand over the reference capacity, depot 0
    dist: torch.Tensor  # shape: (B, N+1, N+1) the cost matrix, possibly asymmetric
    duration: torch.Tensor  # shape: (B, N+1, N+1) travel times (in the variant group; optional otherwise)
    # variant group (envs/rl/dynamics.ATTRIBUTES)
    tw: torch.Tensor  # shape: (B, N+1, 2) [earliest, latest] start of service; the depot's: the shift
    service: torch.Tensor  # shape: (B, N+1)
    pickup: torch.Tensor  # shape: (B, N+1) backhaul demand over capacity
    linehaul_first: torch.Tensor  # shape: (B,) bool
    open_route: torch.Tensor  # shape: (B,) bool
    max_duration: torch.Tensor  # shape: (B,) inf = no limit
    max_distance: torch.Tensor  # shape: (B,)
    # fleet group (envs/rl/dynamics.FLEET), K vehicle types, padding types have count 0
    veh_cap: torch.Tensor  # shape: (B, K) capacity over the reference
    veh_count: torch.Tensor  # shape: (B, K) inf = unlimited
    veh_fixed: torch.Tensor  # shape: (B, K) cost per route, in dist's units
    veh_unit: torch.Tensor  # shape: (B, K) cost per unit of dist
    veh_allowed: torch.Tensor  # shape: (B, K, N+1) bool, the zones
    veh_pref: torch.Tensor  # shape: (B, K, N+1) cost saved when that type serves that client
    # travel group (envs/rl/sampled_times.KEYS): a travel model for rewards under sampled times
    tm_base: torch.Tensor  # shape: (B, N+1, N+1) nominal durations
    tm_peaks: torch.Tensor  # shape: (B, P, 3) rush hours (time, width, amplitude)
    tm_noise: torch.Tensor  # shape: (B,)
    tm_rate: torch.Tensor  # shape: (B,)
    tm_delay: torch.Tensor  # shape: (B,)


CORE = ("demand",)  # the policy adds locs (and dist where it reads a matrix); costs read dist
GROUPS = {
    "variant": ("duration", "tw", "service", "pickup", "linehaul_first", "open_route", "max_duration", "max_distance"),
    "fleet": ("veh_cap", "veh_count", "veh_fixed", "veh_unit", "veh_allowed", "veh_pref"),
    "travel": ("tm_base", "tm_peaks", "tm_noise", "tm_rate", "tm_delay"),
}
BATCH_KEYS = frozenset(RoutingBatch.__annotations__)


def batch_of(data: Mapping[str, torch.Tensor], strict: bool = False) -> RoutingBatch:
    """The batch's own tensors of `data` (a batch, or a training state that also holds rollout tensors), each
    group checked whole; ValueError naming the keys a group lacks, and with `strict` a key no batch has (a
    typo would otherwise read as "no attributes")."""
    if strict:
        unknown = sorted(set(data.keys()) - BATCH_KEYS)
        if unknown:
            raise ValueError(f"batch has unknown keys {unknown}; a RoutingBatch has {sorted(BATCH_KEYS)}")
    missing = [k for k in CORE if k not in data]
    if missing:
        raise ValueError(f"batch lacks {missing}")
    for group, keys in GROUPS.items():
        have = [k for k in keys if k in data]
        if group == "variant":
            have = [k for k in have if k != "duration"]  # durations may come alone (asymmetric matrices)
            keys = keys[1:]
        if have and len(have) < len(keys):
            raise ValueError(f"batch has part of its {group} group: it lacks {[k for k in keys if k not in data]}")
    if "tw" in data and "duration" not in data:
        raise ValueError("batch has part of its variant group: it lacks ['duration']")
    return {k: data[k] for k in data.keys() if k in BATCH_KEYS}  # type: ignore[return-value]  (keys(): a TensorDict iterates rows)


def instance_tensors(
    instance: Instance,
    normalize_costs: bool = False,
    need_coords: bool = True,
    attributes: bool | None = None,
    fleet: bool | None = None,
    num_types: int | None = None,
) -> RoutingBatch:
    """locs (1, N+1, 2), demand over capacity (1, N+1), dist and duration (1, N+1, N+1), the variant
    attributes of envs/rl/dynamics.py when `attributes` (default: when the instance has any), and its
    fleet group when `fleet` (default: when it has several types, costs or profiles), padded to `num_types`.

    A stochastic instance is read as its planning copy on expected travel times, plus its travel model
    (envs.rl.sampled_times keys) for rewards that replay the routes under sampled times (training).

    With normalize_costs both matrices are scaled to a mean of MEAN_UNIT_DISTANCE,
    so that rewards of any instance (planar units, road metres or seconds) are on
    the unit-square scale of the uniform training data. Without coordinates,
    locs are zeros: only a matrix-aware policy (need_coords=False) can use those.
    """
    stochastic = None
    if instance.travel_model is not None:
        from envs.model.travel_model import planning_instance

        stochastic, instance = instance, planning_instance(instance)
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
    if fleet is None:
        fleet = bool(instance.features() & FLEET_FEATURES)
    cap = instance.max_capacity if fleet else instance.fleet[0].capacity
    out = {
        "locs": torch.tensor(locs, dtype=torch.float32)[None],
        "demand": torch.tensor(instance.demand / cap, dtype=torch.float32)[None],
        "dist": torch.tensor(dist, dtype=dtype)[None],
        "duration": torch.tensor(dur, dtype=dtype)[None],
    }
    if attributes is None:
        attributes = bool(instance.features() & VARIANT_FEATURES)
    if stochastic is not None:
        from envs.rl.sampled_times import travel_tensors

        out.update(travel_tensors(stochastic, t_scale, dtype))
    if fleet:
        out.update(_fleet_tensors(instance, cap, d_scale, dtype, num_types or len(instance.fleet)))
    if attributes:  # in the matrices' units (time scaled as durations, length as distances)
        veh = _one_limit(instance)
        out.update(
            {
                "demand": out["demand"].to(dtype),
                "tw": torch.tensor(instance.time_windows * t_scale, dtype=dtype)[None],
                "service": torch.tensor(instance.service * t_scale, dtype=dtype)[None],
                "pickup": torch.tensor(instance.backhaul / cap, dtype=dtype)[None],
                "linehaul_first": torch.tensor([instance.backhaul_mode == "linehaul_first"]),
                "open_route": torch.tensor([instance.open_routes]),
                "max_duration": torch.tensor([veh.max_duration * t_scale], dtype=dtype),
                "max_distance": torch.tensor([veh.max_distance * d_scale], dtype=dtype),
            }
        )
    return batch_of(out, strict=True)


def _fleet_tensors(instance: Instance, cap: float, d_scale: float, dtype: torch.dtype, k: int) -> dict:
    """The fleet group, costs in the distance matrix's (scaled) units; types beyond the fleet are padding."""
    n1, types = instance.num_nodes, instance.fleet
    if k < len(types):
        raise ValueError(f"{len(types)} vehicle types do not fit in {k}")
    out = {
        "veh_cap": torch.ones(1, k, dtype=dtype),
        "veh_count": torch.zeros(1, k, dtype=dtype),
        "veh_fixed": torch.zeros(1, k, dtype=dtype),
        "veh_unit": torch.ones(1, k, dtype=dtype),
        "veh_allowed": torch.zeros(1, k, n1, dtype=torch.bool),
        "veh_pref": torch.zeros(1, k, n1, dtype=dtype),
    }
    for t, v in enumerate(types):
        out["veh_cap"][0, t] = v.capacity / cap
        out["veh_count"][0, t] = float("inf") if v.count is None else v.count
        out["veh_fixed"][0, t] = v.fixed_cost * d_scale
        out["veh_unit"][0, t] = v.unit_cost
        out["veh_allowed"][0, t] = True if v.allowed is None else torch.from_numpy(v.allowed)
        if v.preference is not None:
            out["veh_pref"][0, t] = torch.from_numpy(instance.preference_weight * v.preference * d_scale)
    out["veh_pref"][..., 0] = 0
    return out


def _one_limit(instance: Instance):
    """The route limits the dynamics apply to every vehicle: they hold one pair for the whole fleet."""
    limits = {(v.max_duration, v.max_distance) for v in instance.fleet}
    if len(limits) > 1:
        raise UnsupportedFeatureError(
            f"instance {instance.name}: the policy needs one duration and distance limit for all vehicle types"
        )
    return instance.fleet[0]


def stack_instances(instances: list[Instance], need_coords: bool = True) -> RoutingBatch:
    """A training batch from same-size instances (costs normalised); variant attributes if any has one, the
    fleet group (padded to the most types) if any has a fleet."""
    attributes = any(i.features() & VARIANT_FEATURES for i in instances)
    fleet = any(i.features() & FLEET_FEATURES for i in instances)
    k = max(len(i.fleet) for i in instances)
    parts = [instance_tensors(i, True, need_coords, attributes, fleet, k) for i in instances]
    return batch_of({k: torch.cat([p[k] for p in parts]) for k in parts[0]}, strict=True)
