"""The policy on a big instance by sectors: the clients split by angle around the depot into parts of about the
size the policy was trained on, all parts decoded at once as one batch.

A rollout has a step per client and each step attends over every node, so one greedy rollout of 1,000
clients takes 1 s on one core (1,000+ sequential steps) and of 5,000 clients 19 s, on instances 10-50x
larger than any the policy saw in training. Split into sectors of ~100 clients (a sweep around the depot,
as in Gillett and Miller's sweep heuristic and the divide-and-conquer neural solvers such as GLOP and UDC),
the parts are the size the policy knows, and as one batch they take ~100 steps however many parts there are.
Routes of different parts are independent, so the parts' plans together are a plan of the whole; its cost is
the instance's own (by its matrix), and the search after it mends the seams between sectors.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from envs.model.features import FLEET, Feature
from envs.model.instance import Instance, sub_instance
from envs.rl import dynamics as dyn
from envs.rl.batch import instance_tensors, planar

SECTOR_CLIENTS = 100  # clients per sector at the least: the shipped policies' training size ...
ROUTES_PER_SECTOR = 10  # ... and room for about this many routes, so that few routes are cut by its edges
MAX_SECTOR_CLIENTS = 400
# clients; below, or with fewer than MIN_SECTORS sectors, one rollout over the whole instance: it costs less (one
# greedy rollout on X-like instances, seeds 1 and 7: whole 2-19% cheaper at 1,000 clients, 11% at 5,000) but
# takes longer (0.33 s against 0.12 s at 1,000 clients, 4.3 s against 0.44 s at 5,000; scripts/bench_speed.py)
SECTORS_FROM = 1000
MIN_SECTORS = 4


def sector_size(instance: Instance) -> int:
    """Clients per sector: SECTOR_CLIENTS, or room for ROUTES_PER_SECTOR routes where routes are long (X-n716-k35
    has ~20 clients a route: one greedy rollout is 58% over the best known with sectors of 100, 39% with 200),
    judged by capacity over the mean demand (at most MAX_SECTOR_CLIENTS)."""
    demand = float(np.mean(instance.demand[1:])) if instance.num_clients else 0.0
    per_route = instance.fleet[0].capacity / demand if demand > 0 else float(instance.num_clients)
    return int(min(MAX_SECTOR_CLIENTS, max(SECTOR_CLIENTS, ROUTES_PER_SECTOR * per_route)))


def sectors(instance: Instance, size: int | None = None) -> list[np.ndarray]:
    """The clients (node indices) in angular order around the depot, cut into ceil(n / size) sectors whose
    sizes differ by at most one (size: sector_size's by default)."""
    size = size or sector_size(instance)
    xy, _ = planar(instance)
    rel = xy[1:] - xy[0]
    order = np.argsort(np.arctan2(rel[:, 1], rel[:, 0]), kind="stable") + 1
    return np.array_split(order, max(1, math.ceil(instance.num_clients / size)))


def pays(instance: Instance) -> bool:
    """Whether the policy decodes `instance` by sectors: from SECTORS_FROM clients and MIN_SECTORS sectors, where
    it can (can_split)."""
    return instance.num_clients >= max(SECTORS_FROM, MIN_SECTORS * sector_size(instance)) and can_split(instance)


def can_split(instance: Instance) -> bool:
    """Sectors need coordinates (the angles) and one kind of vehicle without a count (a count is the whole
    fleet's, which parts decoded at once cannot share; profiled and priced fleets go whole)."""
    return (
        instance.coords is not None
        and instance.travel_model is None
        and not instance.features() & (FLEET | {Feature.FLEET_LIMIT})
    )


def batches(instance: Instance, need_coords: bool, size: int | None = None) -> list[tuple[list[int], list, dict]]:
    """The sectors as the policy's input, built once for every pass over them: per sector size, (the sectors'
    numbers, their nodes with the depot first, their tensors stacked into one batch)."""
    parts = sectors(instance, size)
    fleet = [instance.fleet[0]]
    out = []
    for m in sorted({len(p) for p in parts}):
        ids = [k for k, p in enumerate(parts) if len(p) == m]
        nodes = [np.concatenate([[0], parts[k]]) for k in ids]
        tensors = [
            instance_tensors(sub_instance(instance, v, fleet, instance.name), need_coords=need_coords) for v in nodes
        ]
        out.append((ids, nodes, {key: torch.cat([t[key] for t in tensors]) for key in tensors[0]}))
    return out


def rollout(groups: list[tuple[list[int], list, dict]], roll, **decoding) -> list[int]:
    """One plan of the whole as a giant tour (node indices, 0 between routes, the sectors in angular order):
    each sector's best rollout under `roll` (the policy with its settings, called with `decoding`) on the
    `batches`, one batch per sector size."""
    best: dict[int, list[int]] = {}
    for ids, nodes, data in groups:
        run = roll(data, **decoding)
        costs = dyn.tour_cost(data["dist"], run.actions, data.get("open_route"))  # (B, R)
        pick = costs.argmin(-1)
        for j, k in enumerate(ids):
            best[k] = [int(nodes[j][a]) for a in run.actions[j, pick[j]].tolist()]  # the depot stays 0
    tour: list[int] = []
    for k in sorted(best):
        tour += [0, *best[k]]
    return tour
