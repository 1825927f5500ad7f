"""Expert iteration: the policy learns from the search it seeds.

Each round the teacher (the policy-seeded genetic search, nco.train.labels) solves new instances, seeded by
the current policy; the policy is then trained to imitate every label so far (cross-entropy over the labelled
visit sequences, teacher forcing through `nco.policy.model.Follow`, which picks, among the plan's equivalent
sequences, the one the policy itself rates highest); the better policy then seeds the next labels. The
round's CPU is split between labelling and training by `label_share`.

Everything that makes a run continue is kept in its folder: `state.pt` (policy, optimizer, round, clocks, the
validation history) and `labels.npz` (nco.train.labels), so a run that stops, for a budget or a signal,
resumes where it stopped. Checkpoints (`best.pt`, `last.pt`) are nco checkpoints whose JSON records the
cumulative training minutes and the validation history (nco.train.ledger).

Plain torch, no Lightning: a round alternates a search and a training phase, which Lightning's loop does not
model, and the inference path stays free of Lightning imports.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from envs.errors import Interrupted, NcoError
from envs.generate.variants import parse_variants
from envs.rl.batch import stack_instances
from envs.rl.routing_env import RoutingEnv
from nco.policy.checkpoints import load_checkpoint, save_checkpoint
from nco.policy.model import AttentionPolicy, Follow, PolicyConfig, augment
from nco.train import ledger
from nco.train.labels import DIRECTED, LabelSet, Teacher, label, merged, plan_arrays, route_heads, sample_instance


@dataclass
class ExpertConfig:
    source: str = "uniform"  # nco.train.labels.sample_instance: uniform | xlike | a variant name
    num_clients: int = 100
    # CPU-minutes of this call, on top of a resumed run's (labels, training, all but validation); on a GPU, wall
    minutes: float = 30.0
    steps_per_round: int | None = None  # fixed training steps a round (else the CPU share after label_share)
    out_dir: str = "runs/expert"
    init_from: str | None = None  # nco checkpoint to start from (else a new policy of `policy`)
    policy: PolicyConfig | None = None
    labels_per_round: int = 32
    label_seconds: float = 1.0  # the teacher's budget per instance
    label_share: float = 0.5  # of each round's CPU, the share spent labelling
    label_file: str | None = None  # labels to start from and add to (default OUT/labels.npz)
    batch_size: int = 32
    starts: int = 16  # labelled sequences per instance and step (different route ends to start from)
    lr: float = 1e-4
    val_size: int = 128
    val_seed: int = 20261207
    seed: int = 1
    workers: int = 1  # labelling processes
    threads: int = 1  # torch threads while training
    device: str = "cpu"
    max_rounds: int | None = None

    def validate(self) -> None:
        for name in ("num_clients", "labels_per_round", "batch_size", "starts", "val_size", "workers", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise NcoError(f"{name} must be a whole number >= 1, got {value!r}")
        if not (math.isfinite(self.minutes) and self.minutes > 0):
            raise NcoError(f"minutes must be > 0, got {self.minutes}")
        if not 0 < self.label_share < 1:
            raise NcoError(f"label_share must be between 0 and 1, got {self.label_share}")
        if not (self.label_seconds > 0 and self.lr > 0):
            raise NcoError("label_seconds and lr must be > 0")
        sample_instance(self.source, 2, 0)  # an unknown source fails here, in one line


class CpuClock:
    """CPU seconds of this process (all threads) and of its finished children, less what `exclude` leaves out.
    With `wall`, wall-clock seconds instead: on a GPU the process's CPU time says little of what it used."""

    def __init__(self, before: float = 0.0, wall: bool = False):
        self.before, self.excluded, self.wall = before, 0.0, wall
        self.pool = None  # a labelling pool, whose running workers' CPU counts
        self.start = self.now()

    def now(self) -> float:
        """The raw reading (CPU or wall seconds), for timing a block to `exclude`."""
        if self.wall:
            return time.perf_counter()
        return cpu_now(list(self.pool._processes or ()) if self.pool else [])  # noqa: SLF001

    def seconds(self) -> float:
        return self.before + self.now() - self.start - self.excluded

    def exclude(self, seconds: float) -> None:
        self.excluded += seconds


def cpu_now(live: Sequence[int] = ()) -> float:
    """CPU seconds of this process, its ended children and the running processes `live` (a labelling pool,
    whose CPU getrusage counts only once they end)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime + sum(map(_process_cpu, live))


def _process_cpu(pid: int) -> float:
    try:  # /proc/PID/stat: utime and stime are fields 14 and 15, in clock ticks
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _policy(cfg: ExpertConfig) -> tuple[AttentionPolicy, dict]:
    """A new policy, or the --init-from one, reading the attributes the source's instances have (columns it
    lacks start at zero: nco.policy.checkpoints.transplant)."""
    from nco.policy.checkpoints import transplant
    from nco.train.config import policy_for

    variants = [] if cfg.source in ("uniform", "xlike") else parse_variants([cfg.source])
    if cfg.init_from:
        policy, info = load_checkpoint(cfg.init_from)
        target = policy_for(policy.cfg, variants)
        if target != policy.cfg:
            policy = transplant(policy, AttentionPolicy(target))
        return policy.to(cfg.device).train(), info
    return AttentionPolicy(policy_for(cfg.policy or PolicyConfig(), variants)).to(cfg.device).train(), {}


def plan_batch(labels: LabelSet, idx: list[int], starts: int, rng: np.random.Generator, device: str):
    """The instances `idx` as a training batch, a random square symmetry each, and the plans to follow from
    `starts` route ends drawn for each."""
    batch, features = labels.batch(idx)
    n1 = batch["demand"].shape[1]
    succ, pred, first, rev = [], [], [], []
    for feats, i in zip(features, idx):
        reversible = not (feats & DIRECTED)
        s, p = plan_arrays(labels.tours[i], n1)
        heads = route_heads(labels.tours[i], reversible)
        succ.append(s), pred.append(p), rev.append(reversible)
        first.append(rng.choice(heads, size=starts, replace=len(heads) < starts))
    views = torch.as_tensor(rng.integers(8, size=len(idx)))
    locs = augment(batch["locs"]).view(8, len(idx), n1, 2)
    batch["locs"] = locs[views, torch.arange(len(idx))]
    follow = Follow(
        torch.as_tensor(np.stack(succ), device=device),
        torch.as_tensor(np.stack(pred), device=device),
        torch.as_tensor(np.stack(first), device=device),
        torch.as_tensor(rev, device=device),
    )
    return {k: v.to(device) for k, v in batch.items()}, follow


def imitation_loss(policy: AttentionPolicy, batch: dict, follow: Follow) -> torch.Tensor:
    """Mean negative log-likelihood per decision of the labelled sequences."""
    out = policy(batch, follow=follow)
    steps = batch["demand"].shape[-1] - 1
    return -out.log_likelihood.mean() / steps


def validation_batch(cfg: ExpertConfig) -> dict:
    children = np.random.SeedSequence(cfg.val_seed).generate_state(cfg.val_size, dtype=np.uint64)
    return stack_instances([sample_instance(cfg.source, cfg.num_clients, int(s)) for s in children])


@torch.no_grad()
def validation_cost(policy: AttentionPolicy, batch: dict, chunk: int = 32) -> float:
    """Mean over the instances of the best greedy multi-start rollout (one start per client, no augmentation):
    the figure Lightning's validation reports for POMO, on a fixed set."""
    was = policy.training
    policy.eval()
    n = batch["demand"].shape[-1] - 1
    costs = []
    device = next(policy.parameters()).device
    for lo in range(0, batch["demand"].shape[0], chunk):
        part = {k: v[lo : lo + chunk].to(device) for k, v in batch.items()}
        out = policy(part, num_starts=n)
        cost = out.cost if out.cost is not None else RoutingEnv(part).cost(out.actions)
        costs.append(cost.min(-1).values.float().cpu())
    policy.train(was)
    return float(torch.cat(costs).mean())


@dataclass
class RunState:
    round: int = 0
    cpu_seconds: float = 0.0  # this run's (across resumes)
    label_cpu_seconds: float = 0.0
    steps: int = 0
    best: float = float("inf")
    history: list[dict] = field(default_factory=list)  # one row per validation


def expert_iteration(cfg: ExpertConfig, on_validate=None) -> dict:
    """Run expert iteration for cfg.minutes CPU-minutes more (resuming OUT/state.pt if there); returns the summary."""
    cfg.validate()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _run(cfg, out, on_validate)
    finally:
        torch.set_num_threads(before)


def _run(cfg: ExpertConfig, out: Path, on_validate) -> dict:
    state, label_path = RunState(), Path(cfg.label_file or out / "labels.npz")
    if (out / "state.pt").exists():  # resumed: the saved policy, optimizer and clocks, not --init-from's
        saved = torch.load(out / "state.pt", map_location=cfg.device, weights_only=True)
        policy = AttentionPolicy(PolicyConfig(**json.loads(saved["policy_config"]))).to(cfg.device).train()
        policy.load_state_dict(saved["policy"])
        opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
        opt.load_state_dict(saved["optimizer"])
        state = RunState(**json.loads(saved["run"]))
        info = json.loads(saved["info"])
    else:
        policy, info = _policy(cfg)
        opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    labels = LabelSet.load(label_path) if label_path.exists() else LabelSet.empty(cfg.source, cfg.num_clients)
    if (labels.source, labels.num_clients) != (cfg.source, cfg.num_clients):
        raise NcoError(
            f"{label_path} holds {labels.source}/{labels.num_clients} labels, not {cfg.source}/{cfg.num_clients}"
        )
    prior = ledger.prior(info)
    val = validation_batch(cfg)
    clock = CpuClock(state.cpu_seconds, wall=cfg.device != "cpu")
    rng = np.random.default_rng([cfg.seed, state.round, len(labels)])  # a shared label file: new instances
    budget = state.cpu_seconds + cfg.minutes * 60

    def validate(phase: str, loss: float | None = None) -> None:
        t0 = clock.now()
        cost = validation_cost(policy, val)
        row = {
            "round": state.round,
            "steps": state.steps,
            "labels": len(labels),
            "cpu_minutes": round(clock.seconds() / 60, 3),
            "label_cpu_minutes": round(state.label_cpu_seconds / 60, 3),
            "val_cost": round(cost, 5),
            "train_loss": None if loss is None else round(loss, 4),
            "phase": phase,
        }
        state.history.append(row)
        _append_curve(out / "curve.csv", row)
        meta = ledger.meta(info, prior, cfg, state, clock.seconds(), cost)
        save_checkpoint(policy, out / "last.pt", meta)
        if cost < state.best:
            state.best = cost
            save_checkpoint(policy, out / "best.pt", meta)
        if on_validate:
            on_validate(row)
        clock.exclude(clock.now() - t0)

    if not state.history:
        validate("start")
    pool = None
    if cfg.workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        pool = ProcessPoolExecutor(cfg.workers, mp_context=get_context("spawn"))
        clock.pool = pool  # getrusage counts children only once they end: the live workers are read from /proc
    from nco.cli.exits import Terminated  # what the command line raises on SIGTERM

    try:
        while clock.seconds() < budget and (cfg.max_rounds is None or state.round < cfg.max_rounds):
            state.round += 1
            steps_before, losses = state.steps, []
            # 1. the teacher, seeded by the current policy
            t0 = clock.seconds()
            teacher_ckpt = out / "teacher" / f"round{state.round}.pt"
            save_checkpoint(policy, teacher_ckpt, {"variant": info.get("variant", "cvrp")})
            seeds = rng.integers(0, 2**62, size=cfg.labels_per_round)
            fresh = label(cfg.source, cfg.num_clients, seeds, Teacher(str(teacher_ckpt), cfg.label_seconds), pool=pool)
            labels = merged(labels, fresh)
            labels.save(label_path)
            labelled = clock.seconds() - t0
            state.label_cpu_seconds += labelled
            # 2. imitate every label so far, for the training share of the round
            train_until = min(budget, clock.seconds() + labelled * (1 - cfg.label_share) / cfg.label_share)
            for _ in _steps(cfg.steps_per_round, lambda until=train_until: clock.seconds() < until):
                idx = rng.choice(len(labels), size=min(cfg.batch_size, len(labels)), replace=False).tolist()
                batch, follow = plan_batch(labels, idx, cfg.starts, rng, cfg.device)
                with torch.autocast("cuda", torch.bfloat16, enabled=cfg.device.startswith("cuda")):
                    loss = imitation_loss(policy, batch, follow)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
                opt.step()
                state.steps += 1
                losses.append(loss.item())
            state.cpu_seconds = clock.seconds()
            if state.steps > steps_before:  # else the budget ended while labelling: the labels are kept
                validate("round", float(np.mean(losses)))
            _save_state(out, policy, opt, state, info)
            for old in (out / "teacher").glob("round*"):
                if not old.name.startswith(f"round{state.round}."):
                    old.unlink()
    except (KeyboardInterrupt, Terminated) as stop:  # keep what was done: the labels are saved each round
        state.round -= 1  # the round in progress counts as not done; its training steps are kept
        state.cpu_seconds = clock.seconds()
        save_checkpoint(
            policy,
            out / "last.pt",
            {
                **ledger.meta(
                    info, prior, cfg, state, state.cpu_seconds, state.best if state.history else float("inf")
                ),
                "val_cost": None,
                "interrupted": True,
            },
        )
        _save_state(out, policy, opt, state, info)
        signum = signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT
        raise Interrupted(
            f"training interrupted by {signal.Signals(signum).name} after {state.round} rounds: saved {out / 'state.pt'}"
            f" and {len(labels)} labels; the same command resumes",
            signum,
        ) from None
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        shutil.rmtree(out / "teacher", ignore_errors=True)  # the rounds' seeding checkpoints: temporary
    state.cpu_seconds = clock.seconds()
    _save_state(out, policy, opt, state, info)
    summary = {
        "out_dir": str(out),
        "best": str(out / "best.pt"),
        "last": str(out / "last.pt"),
        "best_val_cost": state.best,
        "rounds": state.round,
        "steps": state.steps,
        "labels": len(labels),
        "cpu_minutes": round(state.cpu_seconds / 60, 2),
        "label_cpu_minutes": round(state.label_cpu_seconds / 60, 2),
    }
    (out / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _steps(count: int | None, more):
    """Yield for `count` steps, or while more() holds."""
    k = 0
    while (k < count) if count is not None else more():
        k += 1
        yield k


def _append_curve(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a") as f:
        if new:
            f.write(",".join(row) + "\n")
        f.write(",".join(str(v) for v in row.values()) + "\n")


def _save_state(out: Path, policy: AttentionPolicy, opt, state: RunState, info: dict) -> None:
    from envs.io.output_files import replaced

    blob = {
        "policy": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
        "policy_config": json.dumps(policy.cfg.to_dict()),
        "optimizer": opt.state_dict(),
        "run": json.dumps(asdict(state)),
        "info": json.dumps(info),
    }
    with replaced(out / "state.pt") as tmp:
        torch.save(blob, tmp)
