"""Random heterogeneous and profiled fleets (CAMP's profiled VRP) on top of the CVRP generators.

A fleet has 2-5 vehicle types whose capacities span 0.5-2.5 times the CVRP
capacity for n clients. As in the heterogeneous-fleet X sets (Pessoa, Sadykov,
Uchoa 2018) bigger vehicles cost more to send out (fixed cost) and to drive
(unit cost), in one of the four mixes: fixed and unit costs (FSMFD), fixed
only (FSMF), unit only (FSMD), or unit only with a limited fleet (HD).
Profiles add zones and preferences:
- zones bar the larger half of the types from some clients (a pedestrian
  centre, a district closed to trucks): "random" clients, an angular
  "sector" around the depot, or a "cluster" around one client; the smallest
  type may serve everyone, so every client can be served;
- preferences give each type a home sector (a driver who knows a district):
  preference 1 there, 0 elsewhere, weighted by `preference_weight`, a share
  of the mean distance.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from envs.generate.cvrp import capacity_for, uniform_instance, xlike_instance
from envs.model.instance import Instance, VehicleType

ZONES = ("random", "sector", "cluster")
MIXES = ("FSMFD", "FSMF", "FSMD", "HD")
ZONE_SHARE = 0.15  # share of the clients in a zone


def profiled_instance(
    n: int,
    seed: int,
    zones: str | None = "any",
    preferences: bool | None = None,
    mix: str | None = None,
    base: str = "uniform",
) -> Instance:
    """One random instance with a heterogeneous fleet. zones: one of ZONES, None for no zones, or "any" (a
    random choice among none and ZONES); preferences: None for a coin flip; mix: one of MIXES or None for a
    random one; base: "uniform" (unit square) or "xlike" (CVRPLIB X positions and demands)."""
    rng = np.random.default_rng(seed)
    inst = uniform_instance(n, seed) if base == "uniform" else xlike_instance(n, seed)
    if zones == "any":
        zones = [None, *ZONES][rng.integers(len(ZONES) + 1)]
    if zones is not None and zones not in ZONES:
        raise ValueError(f"unknown zone kind {zones!r}; known: {', '.join(ZONES)}")
    mix = mix or MIXES[rng.integers(len(MIXES))]
    if mix not in MIXES:
        raise ValueError(f"unknown fleet mix {mix!r}; known: {', '.join(MIXES)}")
    cap0 = inst.fleet[0].capacity if base == "xlike" else capacity_for(n)
    k = int(rng.integers(2, 6))
    factors = np.sort(rng.uniform(0.5, 2.5, k))
    caps = np.maximum(np.round(factors * cap0), inst.demand.max())
    size = caps / cap0
    mean_trip = 2 * float(inst.distance[0, 1:].mean())  # cost of sending a vehicle to a typical client and back
    fixed = rng.uniform(0.3, 1.5) * mean_trip * size**0.8 if mix in ("FSMFD", "FSMF") else np.zeros(k)
    unit = size ** rng.uniform(0.2, 0.6) if mix != "FSMF" else np.ones(k)
    counts: list[int | None] = [None] * k
    if mix == "HD" or rng.random() < 0.3:  # a limited fleet: about 1.3x the total demand in capacity
        share = rng.dirichlet(np.ones(k))
        counts = [max(1, int(np.ceil(1.3 * inst.demand.sum() * s / c))) for s, c in zip(share, caps)]

    coords = inst.coords
    allowed = np.ones((k, n + 1), dtype=bool)
    if zones is not None:
        zone = _zone(rng, coords, zones)
        allowed[(k + 1) // 2 :, zone] = False  # the larger half may not enter; the smallest always may
        allowed[0, :] = True
        if counts[0] is not None:  # enough small vehicles for the zone
            counts[0] = max(counts[0], int(np.ceil(1.3 * inst.demand[zone].sum() / caps[0])))
    preference, weight = None, inst.preference_weight
    if preferences if preferences is not None else rng.random() < 0.5:
        angle = _angles(coords)
        home = rng.uniform(0, 2 * np.pi, k)
        preference = [(np.cos(angle - h) > np.cos(np.pi / 4)).astype(float) for h in home]
        for p in preference:
            p[0] = 0.0
        weight = float(rng.uniform(0.05, 0.3) * inst.distance.mean())
    fleet = [
        VehicleType(
            capacity=float(caps[t]),
            count=counts[t],
            fixed_cost=float(fixed[t]),
            unit_cost=float(round(unit[t], 3)),
            allowed=None if allowed[t].all() else allowed[t],
            preference=None if preference is None else preference[t],
            name=f"type {t + 1} (cap {caps[t]:g})",
        )
        for t in range(k)
    ]
    return replace(inst, fleet=fleet, preference_weight=weight, name=f"profiled-{base}-n{n}-s{seed}")


def profiled_instances(n: int, count: int, seed: int, **kwargs) -> list[Instance]:
    """A fixed set: instance i seeded from (seed, i)."""
    children = np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64)
    return [profiled_instance(n, int(c), **kwargs) for c in children]


def _angles(coords: np.ndarray) -> np.ndarray:
    d = coords - coords[0]
    return np.arctan2(d[:, 1], d[:, 0])


def _zone(rng: np.random.Generator, coords: np.ndarray, kind: str) -> np.ndarray:
    """Client indices (1..n) of a zone of about ZONE_SHARE of the clients."""
    n = len(coords) - 1
    size = max(1, int(round(ZONE_SHARE * n)))
    if kind == "random":
        return 1 + rng.choice(n, size, replace=False)
    if kind == "sector":
        gap = np.angle(np.exp(1j * (_angles(coords)[1:] - rng.uniform(0, 2 * np.pi))))
        return 1 + np.argsort(np.abs(gap))[:size]
    centre = coords[1 + rng.integers(n)]
    return 1 + np.argsort(np.linalg.norm(coords[1:] - centre, axis=1))[:size]
