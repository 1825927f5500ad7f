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

SECTOR_CLIENTS = 100  # clients per sector: the shipped policies' training size
SECTORS_FROM = 500  # clients; below, one rollout over the whole instance


def sectors(instance: Instance, size: int = SECTOR_CLIENTS) -> list[np.ndarray]:
    """The clients (node indices) in angular order around the depot, cut into ceil(n / size) sectors whose
    sizes differ by at most one."""
    xy, _ = planar(instance)
    rel = xy[1:] - xy[0]
    order = np.argsort(np.arctan2(rel[:, 1], rel[:, 0]), kind="stable") + 1
    return np.array_split(order, max(1, math.ceil(instance.num_clients / size)))


def pays(instance: Instance) -> bool:
    """Whether the policy decodes `instance` by sectors: from SECTORS_FROM clients, where it has coordinates
    (the angles) and one kind of vehicle without a count (a count is the whole fleet's, which parts decoded at
    once cannot share; profiled and priced fleets go whole)."""
    return (
        instance.num_clients >= SECTORS_FROM
        and instance.coords is not None
        and instance.travel_model is None
        and not instance.features() & (FLEET | {Feature.FLEET_LIMIT})
    )


def rollout(instance: Instance, roll, need_coords: bool, size: int = SECTOR_CLIENTS, **decoding) -> list[int]:
    """One plan of the whole as a giant tour (node indices, 0 between routes): each sector's best rollout under
    `roll` (the policy with its settings, called with `decoding`), the sectors of one size in one batch."""
    parts = sectors(instance, size)
    fleet = [instance.fleet[0]]
    best: dict[int, list[int]] = {}
    for m in sorted({len(p) for p in parts}):
        ids = [k for k, p in enumerate(parts) if len(p) == m]
        nodes = [np.concatenate([[0], parts[k]]) for k in ids]
        batches = [
            instance_tensors(sub_instance(instance, v, fleet, instance.name), need_coords=need_coords) for v in nodes
        ]
        data = {key: torch.cat([b[key] for b in batches]) for key in batches[0]}
        run = roll(data, **decoding)
        costs = dyn.tour_cost(data["dist"], run.actions, data.get("open_route"))  # (B, R)
        pick = costs.argmin(-1)
        for j, k in enumerate(ids):
            best[k] = [int(nodes[j][a]) for a in run.actions[j, pick[j]].tolist()]  # the depot stays 0
    tour: list[int] = []
    for k in range(len(parts)):
        tour += [0, *best[k]]
    return tour
