"""Neural construction: a trained policy turns an Instance into a Solution in one batched rollout.

Planar features (coordinates scaled to the unit square, demand over capacity)
feed the policy; the best rollout is chosen by its cost on the instance's own
distance matrix, so asymmetric or road matrices are honoured in the choice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from envs.errors import CheckpointError, InstanceError, NoSolutionFound
from envs.model.check import check, unservable_clients
from envs.model.features import FLEET, VARIANT, Feature
from envs.model.instance import Instance, require_features
from envs.model.solution import Solution
from envs.rl import dynamics as dyn
from envs.rl.batch import instance_tensors
from envs.rl.distributions import uniform_batch
from nco.policy.checkpoints import DEFAULT_CHECKPOINT, default_checkpoint, load_checkpoint
from nco.policy.model import AttentionPolicy, OutOfTime
from nco.solvers import sectors
from nco.threads import torch_threads

# Any policy decodes under the environment's masks, so its routes honour all of these; the shipped
# checkpoint for an instance (default_checkpoint) is the one trained to read what the instance has.
SUPPORTED = frozenset({Feature.ASYMMETRIC, Feature.FLEET_LIMIT}) | VARIANT | FLEET


class FleetTooSmall(NoSolutionFound):
    """Every rollout needs more routes than the instance has vehicles (valid input: the search may fit it)."""


@dataclass(frozen=True)
class Construction:
    """What the policy built: its best plan and the distinct best rollouts behind it, with how they were made."""

    solution: Solution  # the best rollout that fits the fleet
    pool: tuple[Solution, ...]  # the distinct best rollouts, best first, as bare plans (pool[0]: `solution`'s routes)
    checkpoint: str
    rollouts: int  # how many rollouts ran (the greedy floor, the probe, the multi-start pass)
    seconds: float
    num_starts: int  # of the widest pass that finished (0: the greedy rollout alone)
    num_augment: int


_CACHE: dict[tuple, tuple[AttentionPolicy, dict]] = {}
CACHED_POLICIES = 8  # the most recently used are kept: expert iteration seeds each round with a new checkpoint


def cached_policy(checkpoint: str | Path | None = None) -> tuple[AttentionPolicy, dict]:
    """Load a checkpoint once per process (solving a folder reuses it), warmed up by a tiny rollout so that
    torch's first-call costs are paid at start-up rather than inside a time budget. A file rewritten at the
    same path (a training run's best.pt) is loaded again."""
    path = Path(checkpoint or DEFAULT_CHECKPOINT).with_suffix(".pt")
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:  # load_checkpoint says what is wrong with it
        stamp = None
    key = (str(checkpoint), stamp)
    if key not in _CACHE:
        policy, info = load_checkpoint(checkpoint)
        with torch_threads(None), torch.inference_mode():
            policy(uniform_batch(1, 5), num_starts=2, num_augment=2)
        _CACHE[key] = policy, info
    _CACHE[key] = _CACHE.pop(key)  # the newest last
    while len(_CACHE) > CACHED_POLICIES:
        del _CACHE[next(iter(_CACHE))]
    return _CACHE[key]


def prepare(instance: Instance, checkpoint: str | Path | None = None) -> Path | str | None:
    """The checkpoint for `instance` (the given one, else the shipped default for its features), loaded and
    warmed up now, so that a time budget started afterwards pays no start-up. None if the policy cannot read
    the instance."""
    if not instance.features() <= SUPPORTED:
        return None
    checkpoint = checkpoint or default_checkpoint(instance.features())
    cached_policy(checkpoint)
    return checkpoint


def solve(instance: Instance, checkpoint: str | Path | None = None, **options) -> Solution:
    """The policy's best plan (`build`'s solution): the solver `policy`, and the hybrid's with no budget."""
    return build(instance, checkpoint, **options).solution


def build(
    instance: Instance,
    checkpoint: str | Path | None = None,
    num_starts: int | None = 100,
    num_augment: int = 8,
    decode: str = "greedy",
    keep: int = 1,
    max_seconds: float | None = None,
    greedy_seconds: float | None = None,
    threads: int | None = None,
    by_sectors: bool | None = None,
) -> Construction:
    """Construct routes with the policy.

    num_starts: POMO starts (capped at the number of clients; None or 0 = single
    greedy rollout). num_augment: 1, 2, 4 or 8 symmetric views. keep: how many
    distinct best rollouts to keep in the pool, for seeding a search. threads:
    torch threads (None: one, see nco/threads.py).

    max_seconds: a time cap, held by the clock. One greedy rollout comes first,
    the floor of what the policy returns, and may run until `greedy_seconds`
    (default max_seconds); OutOfTime if it does not finish by then. Then, within
    max_seconds, a probe of 8 starts measures the speed and the multi-start pass
    is cut to the rollouts that fit (never more than num_starts x num_augment);
    a pass that runs past the cap is dropped and what finished is kept.
    The Construction's seconds, rollouts and num_starts say what really ran.
    by_sectors: decode by sectors (nco/solvers/sectors.py) where the instance allows it; None: where it pays.
    """
    require_features(instance, SUPPORTED, "nco")
    alone = unservable_clients(instance)
    if alone:  # routes are built one client at a time: a client no route can hold would stall them
        raise InstanceError(f"instance {instance.name}: {alone}")
    checkpoint = prepare(instance, checkpoint)
    policy, info = cached_policy(checkpoint)
    bias = distance_bias(info)
    roll = partial(policy, distance_bias=bias)  # every rollout decodes with the checkpoint's settings
    split = sectors.pays(instance) if by_sectors is None else by_sectors and sectors.can_split(instance)
    if split:  # big instances: parts of the training size, decoded as one batch
        args = (num_starts, num_augment, decode, keep, max_seconds, greedy_seconds, threads)
        return _build_by_sectors(instance, policy, roll, checkpoint, info, *args)
    started = time.perf_counter()
    with torch_threads(threads), torch.inference_mode():
        data = instance_tensors(instance, need_coords=not policy.cfg.matrix)
        n = instance.num_clients
        starts = min(num_starts, n) if num_starts else None
        if max_seconds is None:  # no budget: the rollouts asked for, however long they take
            runs = [roll(data, num_starts=starts, num_augment=num_augment, decode=decode)]
        else:
            floor = started + (max_seconds if greedy_seconds is None else max(greedy_seconds, max_seconds))
            runs = [roll(data, decode="greedy", deadline=floor)]  # raises OutOfTime if even this does not fit
            if starts:
                starts, num_augment = _multi_start(roll, data, runs, starts, num_augment, decode, started + max_seconds)
            else:
                num_augment = 1
        width = max(r.actions.shape[-1] for r in runs)
        tours = torch.cat([torch.nn.functional.pad(r.actions[0], (0, width - r.actions.shape[-1])) for r in runs])
        costs, used, counts = _costs_and_fleet_use(instance, data, runs, tours)
        fits = (used <= counts).all(-1)  # rollouts ignore vehicle counts: keep those that fit the fleet
        if not fits.any():
            raise FleetTooSmall(
                f"instance {instance.name}: no policy rollout fits in the fleet ({_fleet_text(instance)};"
                f" the fewest routes found: {int(used.sum(-1).min())})"
            )
        costs = costs.masked_fill(~fits, float("inf"))
        pool, seen = [], set()
        for r in torch.argsort(costs).tolist():
            if not torch.isfinite(costs[r]):
                break
            key = tuple(np.trim_zeros(tours[r].numpy()).tolist())  # depot padding does not make a new solution
            if key in seen:
                continue
            seen.add(key)
            pool.append(tours[r].tolist())
            if len(pool) >= keep:
                break
        types = dyn.route_types(data, pool)
    elapsed = time.perf_counter() - started
    meta = _meta(checkpoint, info, int(tours.shape[0]), elapsed, starts, num_augment, decode)
    best = Solution.from_giant_tour(pool[0], "nco", types=types[0], timings={"construct": elapsed}, meta=meta)
    plans = tuple(Solution.from_giant_tour(t, "nco", types=k) for t, k in zip(pool, types))  # bare, to seed a search
    return Construction(best, plans, str(checkpoint), int(tours.shape[0]), elapsed, starts or 0, num_augment)


def _build_by_sectors(
    instance,
    policy,
    roll,
    checkpoint,
    info,
    num_starts,
    num_augment,
    decode,
    keep,
    max_seconds,
    greedy_seconds,
    threads,
) -> Construction:
    """build() on a big instance, by sectors (nco/solvers/sectors.py): the same greedy floor, probe and
    multi-start pass, each a rollout of every sector at once that keeps each sector's best."""
    started = time.perf_counter()
    with torch_threads(threads), torch.inference_mode():
        groups = sectors.batches(instance, need_coords=not policy.cfg.matrix)  # once, for every pass

        def whole(_data, **decoding):  # one plan of the whole, from each sector's best rollout
            return sectors.rollout(groups, roll, **decoding)

        smallest = min(len(nodes) - 1 for _, batch, _ in groups for nodes in batch)
        starts = min(num_starts, smallest) if num_starts else None
        if max_seconds is None:
            tours = [whole(None, num_starts=starts, num_augment=num_augment, decode=decode)]
        else:
            floor = started + (max_seconds if greedy_seconds is None else max(greedy_seconds, max_seconds))
            tours = [whole(None, decode="greedy", deadline=floor)]
            if starts:
                starts, num_augment = _multi_start(
                    whole, None, tours, starts, num_augment, decode, started + max_seconds
                )
            else:
                num_augment = 1
    plans = sorted(
        {tuple(t): Solution.from_giant_tour(t, "nco") for t in tours}.values(), key=lambda p: check(instance, p).cost
    )[: max(1, keep)]
    elapsed = time.perf_counter() - started
    meta = _meta(checkpoint, info, len(tours), elapsed, starts, num_augment, decode)
    meta["sectors"] = sum(len(ids) for ids, _, _ in groups)
    best = replace(plans[0], timings={"construct": elapsed}, meta=meta)
    return Construction(best, tuple(plans), str(checkpoint), len(tours), elapsed, starts or 0, num_augment)


def _meta(checkpoint, info: dict, rollouts: int, elapsed: float, starts, num_augment: int, decode: str) -> dict:
    """What a construction records of how it was made (either decoder)."""
    bias = distance_bias(info)
    return {
        "checkpoint": str(checkpoint),
        "rollouts": rollouts,
        "seconds": round(elapsed, 4),
        "num_starts": starts or 0,
        "num_augment": num_augment,
        "decode": decode,
        **({"distance_bias": bias} if bias else {}),
        "trained_on": info.get("trained_on"),
    }


def distance_bias(info: dict) -> float:
    """The checkpoint's decoding setting `decoding.distance_bias` (0 where it has none): distance-aware attention
    reshaping, measured per checkpoint (README, "Decoding larger instances") and written into its JSON."""
    value = (info.get("decoding") or {}).get("distance_bias", 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e3:
        raise CheckpointError(f"checkpoint decoding.distance_bias must be a number from 0 to 1000, got {value!r}")
    return float(value)


def _multi_start(policy, data, runs: list, starts: int, augment: int, decode: str, deadline: float) -> tuple[int, int]:
    """After the greedy floor: a probe of 8 starts, then the widest multi-start pass that fits before `deadline`,
    appended to `runs`. Returns the (starts, augmentation) of the widest pass that finished ((0, 1): none)."""
    probe = min(8, starts)
    began = time.perf_counter()
    if began >= deadline:
        return 0, 1
    try:
        runs.append(policy(data, num_starts=probe, decode=decode, deadline=deadline))
    except OutOfTime:
        return 0, 1
    now = time.perf_counter()
    per_rollout = (now - began) / probe  # batching only makes wider passes cheaper per rollout
    # 0.7: a margin for what one probe cannot see (memory traffic of wide batches); the deadline holds regardless
    wide, augment = _fit(int(0.7 * (deadline - now) / per_rollout), starts, augment)
    if wide * augment <= probe:
        return probe, 1
    try:
        runs.append(policy(data, num_starts=wide, num_augment=augment, decode=decode, deadline=deadline))
    except OutOfTime:
        return probe, 1
    return wide, augment


def _costs_and_fleet_use(
    instance: Instance, data: dict, runs: list, tours: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per rollout (R rows of `tours`): its cost, the vehicles of each type it uses (R, K), and the counts (K,)."""
    if dyn.has_fleet(data):
        costs = torch.cat([r.cost[0] for r in runs])
        used = torch.cat([r.routes_per_type[0] for r in runs])
        return costs, used, data["veh_count"][0].to(used.dtype)
    costs = dyn.tour_cost(data["dist"], tours[None], data.get("open_route"))[0]
    used = ((tours != 0) & (torch.nn.functional.pad(tours[:, :-1], (1, 0)) == 0)).sum(-1, keepdim=True)
    count = instance.fleet[0].count
    return costs, used.to(costs.dtype), torch.tensor([float("inf") if count is None else count], dtype=costs.dtype)


def _fleet_text(instance: Instance) -> str:
    parts = [
        f"{'unlimited' if v.count is None else v.count} x {v.name or f'type {k}'}" for k, v in enumerate(instance.fleet)
    ]
    return ", ".join(parts)


def _fit(rollouts: int, starts: int, augment: int) -> tuple[int, int]:
    """The largest (starts, augmentation) within `rollouts`, augmentation first cut; (0, 1) when nothing fits."""
    while augment > 1 and rollouts < augment * min(starts, 8):
        augment //= 2
    return max(0, min(starts, rollouts // augment)), augment
