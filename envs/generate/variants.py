"""Named VRP variants as attribute combinations, and their random instances (RouteFinder's distribution).

A variant name is `[O]VRP[B|MB][L][TW]` (case-insensitive) or `CVRP`:
O open routes, B backhauls served after all linehauls of a route, MB mixed
backhauls, L a route length (distance) limit, TW time windows with service
times. So VRPTW, OVRP, VRPB, VRPL, OVRPMBLTW, ... 24 in all (ALL_VARIANTS).

The instances follow RouteFinder (Berto et al., TMLR 2025) and MTPOMO (Liu et
al., KDD 2024): depot and clients uniform in the unit square, travel time =
Euclidean distance, linehaul demands 1..9 and the capacity of
envs.generate.cvrp.CAPACITIES; with backhauls 20% of the clients (at least one)
have a pickup of 1..9 instead of a delivery; the length limit is 3; the depot
is open over [0, 4.6], services take 0.15..0.18 and each client's window is
0.18..0.2 long, opening no earlier than the direct drive from the depot and
late enough only for what still lets the vehicle return in time (so every
client can be served on a route of its own).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace

import numpy as np

from envs.generate.cvrp import capacity_for
from envs.model.distances import euclidean
from envs.model.instance import Instance, VehicleType

HORIZON = 4.6
SERVICE = (0.15, 0.18)
WINDOW = (0.18, 0.2)
LENGTH_LIMIT = 3.0
BACKHAUL_SHARE = 0.2

_NAME = re.compile(r"^(o?)vrp(mb|b)?(l?)(tw)?$")


@dataclass(frozen=True)
class Variant:
    name: str  # canonical, upper case
    open_routes: bool = False
    backhauls: str | None = None  # None, "linehaul_first" or "mixed"
    length_limit: bool = False
    time_windows: bool = False

    @property
    def attributes(self) -> frozenset[str]:
        """The policy's attribute groups (nco.policy.model.ATTRIBUTE_GROUPS) this variant uses."""
        out = {"open_routes"} if self.open_routes else set()
        out |= {"backhauls"} if self.backhauls else set()
        out |= {"distance_limits"} if self.length_limit else set()
        return frozenset(out | ({"time_windows"} if self.time_windows else set()))


def parse_variant(name: str) -> Variant:
    """`VRPTW`, `ovrpmbl`, ... -> Variant; ValueError naming the grammar otherwise."""
    key = name.strip().lower()
    if key == "cvrp":
        return Variant("CVRP")
    m = _NAME.match(key)
    if not m:
        raise ValueError(f"unknown variant {name!r}: expected CVRP or [O]VRP[B|MB][L][TW], e.g. VRPTW, OVRPMBL")
    o, b, lim, tw = m.groups()
    if not (o or b or lim or tw):
        return Variant("CVRP")
    return Variant(
        key.upper(),
        open_routes=bool(o),
        backhauls={"b": "linehaul_first", "mb": "mixed", None: None}[b],
        length_limit=bool(lim),
        time_windows=bool(tw),
    )


def parse_variants(spec: str | list[str]) -> list[Variant]:
    """A comma-separated list (or `all`) -> distinct variants, in the order given."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    if [n.strip().lower() for n in names] == ["all"]:
        names = ALL_VARIANTS
    out: list[Variant] = []
    for n in names:
        if n.strip():
            v = parse_variant(n)
            if v not in out:
                out.append(v)
    if not out:
        raise ValueError("no variant given")
    return out


ALL_VARIANTS = [
    ("O" if o else "") + "VRP" + b + ("L" if lim else "") + ("TW" if tw else "")
    for o, b, lim, tw in itertools.product((False, True), ("", "B", "MB"), (False, True), (False, True))
]
ALL_VARIANTS[0] = "CVRP"


def variant_instance(variant: str | Variant, n: int, seed: int) -> Instance:
    """One random instance of `variant` with n clients (deterministic in n and seed)."""
    v = parse_variant(variant) if isinstance(variant, str) else variant
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    coords = rng.random((n + 1, 2))
    dist = euclidean(coords, "exact")
    demand = np.concatenate([[0.0], rng.integers(1, 10, size=n)]).astype(np.float64)
    pickup = np.zeros(n + 1)
    if v.backhauls:
        back = rng.random(n) < BACKHAUL_SHARE
        back[rng.integers(n)] = True
        pickup[1:][back] = demand[1:][back]
        demand[1:][back] = 0.0
    windows = service = None
    if v.time_windows:
        service = np.concatenate([[0.0], rng.uniform(*SERVICE, size=n)])
        length = rng.uniform(*WINDOW, size=n)
        to, back_ = dist[0, 1:], dist[1:, 0]
        latest_open = np.maximum(to, HORIZON - back_ - service[1:] - length)
        opens = to + rng.random(n) * (latest_open - to)
        windows = np.column_stack([np.concatenate([[0.0], opens]), np.concatenate([[HORIZON], opens + length])])
    return Instance(
        distance=dist,
        demand=demand,
        fleet=[VehicleType(capacity=float(capacity_for(n)), max_distance=LENGTH_LIMIT if v.length_limit else np.inf)],
        name=f"{v.name.lower()}-n{n}-s{seed}",
        coords=coords,
        backhaul=pickup,
        backhaul_mode=v.backhauls or "linehaul_first",
        time_windows=windows,
        service=service,
        open_routes=v.open_routes,
    )


def variant_instances(variant: str | Variant, n: int, count: int, seed: int) -> list[Instance]:
    """A fixed set of `count` instances; instance i is seeded from (seed, i)."""
    v = parse_variant(variant) if isinstance(variant, str) else variant
    children = np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64)
    out = []
    for i, child in enumerate(children):
        name = f"{v.name.lower()}-n{n}-s{seed}-{i:0{len(str(max(count - 1, 0)))}d}"
        out.append(replace(variant_instance(v, n, int(child)), name=name))
    return out
