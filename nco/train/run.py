"""Training: REINFORCE with the shared POMO baseline, as a Lightning module on rl4co's base.

Imports rl4co and lightning (seconds), so only `nco train` loads it.

A run stops cleanly on Ctrl-C (SIGINT) or SIGTERM: the first signal asks the trainer to stop at the next batch
boundary, a second stops at once; either way the current policy is saved as `last.pt` and the exact-resume
Lightning state as `lightning/last.ckpt`, and train() raises TrainingInterrupted (see _SignalStop for what
becomes of the signal afterwards).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from rl4co.models.rl.common.base import RL4COLitModule
from rl4co.utils.trainer import RL4COTrainer

from envs.errors import Interrupted, NcoError
from envs.generate.fleets import MIXES
from envs.generate.variants import parse_variants
from envs.rl.distributions import DISTRIBUTIONS
from envs.rl.env import DEFAULT_ROAD_DATASET, GENERATORS, CVRPEnv, VariantGenerator
from nco.policy.checkpoints import FORMAT, load_checkpoint, save_checkpoint, transplant
from nco.policy.model import AttentionPolicy, PolicyConfig
from nco.threads import available_cores, torch_threads


class TrainingInterrupted(Interrupted):
    """SIGINT or SIGTERM stopped train(); the policy and the Lightning state were saved first.

    `exit_code` is the shell's convention for a process ended by the signal (130 for SIGINT, 143 for SIGTERM),
    which the CLI returns."""

    def __init__(self, message: str, signum: int, last: Path | None, checkpoint: Path | None):
        super().__init__(message, signum)
        self.signum, self.last, self.checkpoint = signum, last, checkpoint


class KeyboardTrainingInterrupted(TrainingInterrupted, KeyboardInterrupt):
    """Ctrl-C where Python's default SIGINT handler was in force: still a KeyboardInterrupt, so that a caller
    that stops on one (pytest, a REPL) still does."""


class POMO(RL4COLitModule):
    """REINFORCE whose baseline is the mean reward over the S starts of the same instance."""

    def __init__(
        self, env: CVRPEnv, policy: AttentionPolicy, num_starts: int | None = None, matrix_lr: float | None = None,
        num_variants: int = 1, aux_weight: float = 0.01, **kwargs,
    ):  # fmt: skip
        super().__init__(env, policy, **kwargs)
        self.num_starts = num_starts
        self.matrix_lr = matrix_lr
        self.aux_weight = aux_weight
        # Per-variant reward normalisation (RouteFinder): each variant's advantages are divided by a running
        # mean of its cost, so variants with long tours (time windows) do not drown the others' gradients.
        self.register_buffer("variant_scale", torch.zeros(num_variants))

    def configure_optimizers(self, parameters=None):
        """Adam; the matrix-reading parameters at their own rate when set (Adam moves a weight about lr per
        step, so a distance weight that should travel units needs more than the fine-tuning rate)."""
        fast = self.policy.matrix_parameters() if self.matrix_lr else []
        if fast:
            ids = {id(p) for p in fast}
            rest = [p for p in self.parameters() if id(p) not in ids]
            parameters = [{"params": rest}, {"params": fast, "lr": self.matrix_lr}]
        return super().configure_optimizers(parameters)

    def shared_step(self, batch, batch_idx: int, phase: str, dataloader_idx: int | None = None):
        n = batch["demand"].shape[-1] - 1
        starts = self.num_starts or n
        train = phase == "train"
        out = self.policy(batch, num_starts=starts, decode="sampling" if train else "greedy")
        # with a fleet the decoding state already holds each rollout's cost: no replay needed
        reward = -out.cost if out.cost is not None else self.env.get_reward(batch, out.actions)  # (B, S)
        metrics = {"reward": reward.max(-1).values.mean(), "cost": -reward.max(-1).values.mean()}
        if train:
            advantage = reward - reward.mean(-1, keepdim=True)
            if "variant" in batch.keys():
                advantage = advantage / self._variant_scale(batch["variant"], -reward.mean(-1)).unsqueeze(-1)
            loss = -(advantage * out.log_likelihood).mean()
            if self.policy.cfg.moe_experts:
                aux = self.policy.aux_loss
                metrics["aux_loss"] = aux
                loss = loss + self.aux_weight * aux
            metrics["loss"] = loss
        self.log_metrics(metrics, phase, dataloader_idx=dataloader_idx)
        return {"loss": metrics.get("loss")}

    @torch.no_grad()
    def _variant_scale(self, variant: torch.Tensor, cost: torch.Tensor, momentum: float = 0.9) -> torch.Tensor:
        """Update each variant's running mean cost with this batch and return it per instance (B,)."""
        scale = self.variant_scale
        for v in variant.unique().tolist():
            mean = cost[variant == v].mean()
            scale[v] = mean if scale[v] == 0 else momentum * scale[v] + (1 - momentum) * mean
        return scale[variant].clamp_min(1e-6)

    def instantiate_metrics(self, metrics: dict):
        train = ["loss", "reward", "cost"] + (["aux_loss"] if self.policy.cfg.moe_experts else [])
        super().instantiate_metrics(metrics or {"train": train, "val": ["reward", "cost"], "test": ["reward", "cost"]})


class ExportPolicy(Callback):
    """After each validation, write the nco checkpoint (state dict + JSON): `last` always, `best` when improved.

    It counts what was trained (epochs whose batches all ran, instances) itself, so that a run stopped
    mid-epoch says so, and keeps its best cost and training time in the Lightning checkpoint, so that a
    resumed run neither overwrites a better best.pt nor restarts the clock."""

    def __init__(self, out_dir: Path, meta: dict, train_size: int):
        self.out_dir, self.meta, self.train_size = out_dir, meta, train_size
        self.best = float("inf")
        self.started, self.seconds_before = time.time(), 0.0
        self.epochs_full, self.seen, self.batches, self.epoch_open = 0, 0, 0, False
        self.restored = False
        self.validated: tuple[int, float] | None = None  # (global step, val cost) of the last validation

    def state_dict(self) -> dict:
        return {"best": self.best, "train_seconds": self.train_seconds(), "epochs_full": self.epochs_full,
                "seen": self.seen}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.best, self.seconds_before = state["best"], state["train_seconds"]
        self.epochs_full, self.seen, self.restored = state["epochs_full"], state["seen"], True

    def train_seconds(self) -> float:
        return round(self.seconds_before + time.time() - self.started, 1)

    def on_train_start(self, trainer, module):
        if not self.restored:  # fresh, or resumed from a checkpoint older than this state: count from its epoch
            self.epochs_full, self.seen = trainer.current_epoch, trainer.current_epoch * self.train_size

    def on_train_epoch_start(self, trainer, module):
        self.batches, self.epoch_open = 0, True

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.batches += 1
        self.seen += int(batch.batch_size[0])

    def on_train_epoch_end(self, trainer, module):
        self.epochs_full += self.batches >= trainer.num_training_batches
        self.epoch_open = False

    def epochs_done(self, trainer) -> int:
        """Epochs whose every batch was trained (an epoch counts from its validation on)."""
        return self.epochs_full + (self.epoch_open and self.batches >= trainer.num_training_batches)

    def meta_for(self, trainer, val_cost: float | None) -> dict:
        meta = {**self.meta, "epochs_done": self.epochs_done(trainer), "instances_seen": self.seen,
                "train_seconds": self.train_seconds(), "val_cost": val_cost}  # fmt: skip
        if 0 < self.batches < trainer.num_training_batches:  # stopped part-way through an epoch
            meta["batches_into_epoch"] = self.batches
        return meta

    def on_validation_epoch_end(self, trainer, module):
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        cost = float(trainer.callback_metrics.get("val/cost", float("nan")))
        self.validated = (trainer.global_step, cost)
        meta = self.meta_for(trainer, _finite_or_none(cost))
        save_checkpoint(module.policy, self.out_dir / "last.pt", meta)
        curve = self.out_dir / "curve.csv"  # the learning curve: validation cost against time and data
        with curve.open("a") as f:
            if f.tell() == 0:
                f.write("epoch,train_seconds,instances_seen,val_cost\n")
            f.write(f"{meta['epochs_done']},{meta['train_seconds']},{meta['instances_seen']},{cost}\n")
        if cost < self.best:
            self.best = cost
            save_checkpoint(module.policy, self.out_dir / "best.pt", meta)

    def where(self, trainer) -> str:
        """Where training stands, for the interruption message."""
        if 0 < self.batches < trainer.num_training_batches:  # `batches` holds the last epoch's count until the next
            return f"in epoch {self.epochs_full + 1}, after batch {self.batches} of {trainer.num_training_batches}"
        done = self.epochs_done(trainer)
        return f"after epoch {done} of {trainer.max_epochs}" if done else "before the first batch"


def _finite_or_none(x: float) -> float | None:
    """JSON has no NaN: a missing or diverged cost is written as null."""
    return x if math.isfinite(x) else None


class _StopNow(BaseException):
    """A second signal: leave the training step at once. Not a KeyboardInterrupt, which Lightning answers with
    sys.exit(1), and not an Exception, which code inside the step might swallow."""


class _SignalStop(Callback):
    """SIGINT/SIGTERM handlers for the length of train(), and the callback that turns a signal into a stop.

    The first signal only sets a flag; the callback turns it into `trainer.should_stop` at the next batch end
    (agreed across DDP ranks), so the step in progress completes, Lightning validates once more (as for early
    stopping) and fit returns normally. A second signal raises _StopNow from wherever the handler runs.

    Lightning 2.6 registers its own SIGTERM handler after `on_fit_start` (its signal connector, which wraps
    ours and then raises SIGTERMException, a SystemExit, at the next batch end, which pytest records as a
    failed test and carries on). We take SIGTERM back in `on_sanity_check_start` and `on_train_start`, and
    treat a SIGTERMException that slips through in the window between as our stop. Lightning restores, at
    teardown, the handlers it found, which are ours; installed() restores the caller's.

    After the files are written, the signal's previous handler decides what the caller sees (redeliver()):
    SIG_DFL ends the process by the same signal (as it would have without us: pytest given SIGTERM ends),
    Python's default SIGINT handler gets a KeyboardTrainingInterrupted, and any other handler (the CLI's
    SIGTERM one) a TrainingInterrupted, whose message and exit code the CLI prints and returns. Signals
    ignored (SIG_IGN) stay ignored; off the main thread nothing is installed (Python allows handlers only
    there) and Lightning's own handling applies.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self.at_once = False  # a second signal cut the step short
        self.saving = False  # while the files are written, further signals only count
        self.previous: dict[int, Any] = {}

    @contextmanager
    def installed(self) -> Iterator[_SignalStop]:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                prev = signal.getsignal(sig)
                if prev not in (signal.SIG_IGN, None):  # None: set outside Python, so it could not be restored
                    self.previous[sig] = prev
            self._register()
        try:
            yield self
        except TrainingInterrupted as e:
            self._restore()
            self.redeliver(e)
            raise
        finally:
            self._restore()

    def _register(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in self.previous:
                signal.signal(sig, self._handle)

    def _restore(self) -> None:
        for sig, prev in self.previous.items():
            if signal.getsignal(sig) is not prev:
                signal.signal(sig, prev)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.signum = self.signum or signum
        if self.saving:
            return
        if self.count > 1:
            self.at_once = True
            raise _StopNow()
        name = signal.Signals(signum).name
        print(f"\n{name}: stopping after this batch and saving (send it again to stop at once)", file=sys.stderr,
              flush=True)  # fmt: skip

    def error(self, message: str, last: Path | None, checkpoint: Path | None) -> TrainingInterrupted:
        assert self.signum is not None
        default_int = self.signum == signal.SIGINT and self.previous.get(self.signum) is signal.default_int_handler
        return (KeyboardTrainingInterrupted if default_int else TrainingInterrupted)(
            message, self.signum, last, checkpoint
        )

    def redeliver(self, e: TrainingInterrupted) -> None:
        """With the caller's handlers back: where the signal's default action was in force, take it now."""
        if self.previous.get(e.signum) == signal.SIG_DFL:
            print(f"nco: {e}", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os.kill(os.getpid(), e.signum)  # ends the process; if the signal is blocked, the exception goes on

    def _sync(self, trainer) -> None:
        if trainer.strategy.reduce_boolean_decision(self.signum is not None, all=False):
            trainer.should_stop = True

    def on_sanity_check_start(self, trainer, module):
        self._register()

    def on_train_start(self, trainer, module):
        self._register()
        self._sync(trainer)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self._sync(trainer)

    def on_validation_end(self, trainer, module):
        if not trainer.sanity_checking:
            self._sync(trainer)

    def on_train_epoch_end(self, trainer, module):
        self._sync(trainer)


@dataclass
class TrainConfig:
    num_clients: int = 100
    distribution: str = "uniform"  # uniform | xlike | asymmetric | road | fleet | svrp (stochastic city days)
    dataset: str | None = None  # city dataset (.npz) for the road distribution
    epochs: int = 10
    batch_size: int = 64
    train_size: int = 10_000
    val_size: int = 256
    num_starts: int | None = None  # None: one start per client (POMO)
    lr: float = 1e-4
    matrix_lr: float | None = None  # learning rate of the matrix-reading parameters (None: lr)
    variants: str | None = None  # envs.generate.variants names, comma-separated (or "all"): mixed-variant batches
    moe_experts: int = 0  # > 0: a mixture-of-experts encoder (switched on also when fine-tuning a dense policy)
    moe_top_k: int = 2
    aux_weight: float = 0.01  # weight of the MoE load-balancing loss
    policy: PolicyConfig | None = None  # None: the --init-from checkpoint's architecture, else the default
    out_dir: str = "runs/cvrp100"
    init_from: str | None = None  # nco checkpoint whose weights start the run
    resume: str | None = None  # Lightning checkpoint to continue exactly
    accelerator: str = "auto"
    devices: str | int = "auto"
    num_nodes: int = 1
    logger: str = "csv"  # csv | tensorboard | none
    seed: int = 1234
    progress_bar: bool = True
    max_time: str | None = None  # "DD:HH:MM:SS" wall-clock cap

    def validate(self) -> None:
        """Refuse, in one line each, settings that Lightning would reject late and obscurely, or not at all
        (`--epochs 0` used to report a best.pt that was never written). Named by their `nco train` flags."""
        for flag, value in (("--size", self.num_clients), ("--batch-size", self.batch_size),
                            ("--epochs", self.epochs), ("--train-size", self.train_size),
                            ("--val-size", self.val_size), ("--nodes", self.num_nodes)):  # fmt: skip
            _whole_at_least(flag, value, 1)
        if self.num_starts is not None:
            _whole_at_least("--starts", self.num_starts, 1)
        self._validate_rates()
        if self.moe_experts:
            _whole_at_least("--experts", self.moe_experts, 1)
            if not 1 <= self.moe_top_k <= self.moe_experts:
                raise NcoError(f"--top-k must be between 1 and --experts ({self.moe_experts}), got {self.moe_top_k}")
        if self.distribution not in DISTRIBUTIONS:
            raise NcoError(f"unknown --distribution {self.distribution!r}; known: {', '.join(DISTRIBUTIONS)}")
        if self.logger not in ("csv", "tensorboard", "none"):
            raise NcoError(f"--logger must be csv, tensorboard or none, got {self.logger!r}")
        # the policy's own fields are checked by PolicyConfig itself
        self._validate_run()

    def _validate_rates(self) -> None:
        """--lr, --matrix-lr and --aux-weight: finite, and a learning rate that trains something."""
        if not _finite(self.lr) or self.lr < 0:
            raise NcoError(f"--lr must be a finite number > 0, got {self.lr}")
        if self.lr == 0 and not self.matrix_lr:  # --lr 0 with --matrix-lr trains the matrix-reading part alone
            raise NcoError("--lr must be > 0 (0 is allowed only with --matrix-lr, to train just those parameters)")
        if self.matrix_lr is not None and (not _finite(self.matrix_lr) or self.matrix_lr <= 0):
            raise NcoError(f"--matrix-lr must be a finite number > 0, got {self.matrix_lr}")
        if not _finite(self.aux_weight) or self.aux_weight < 0:
            raise NcoError(f"--aux-weight must be a finite number >= 0, got {self.aux_weight}")

    def _validate_run(self) -> None:
        """Where and how the run goes: --devices, --max-time, the --out folder, the --resume checkpoint."""
        devices = self.devices
        if not (devices == "auto" or (str(devices).isdigit() and int(devices) >= 1)):  # str(True) is no digit
            raise NcoError(f"--devices must be 'auto' or a positive number of devices, got {devices!r}")
        if self.max_time is not None and not re.fullmatch(r"\d+:\d{1,2}:\d{1,2}:\d{1,2}", self.max_time):
            raise NcoError(f"--max-time must be DD:HH:MM:SS (e.g. 00:02:00:00 for two hours), got {self.max_time!r}")
        out = Path(self.out_dir)
        if out.exists() and not out.is_dir():
            raise NcoError(f"--out {out} is a file, not a run folder")
        if self.resume:
            problem = _not_a_lightning_checkpoint(Path(self.resume))
            if problem:
                raise NcoError(f"--resume {self.resume}: {problem}")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _whole_at_least(flag: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise NcoError(f"{flag} must be a whole number >= {low}, got {value!r}")


def _not_a_lightning_checkpoint(path: Path) -> str | None:
    """Why `path` cannot be resumed from (None if it looks like a Lightning checkpoint), without unpickling it:
    torch.save writes a zip whose small `data.pkl` holds the dict's keys as plain strings, and Lightning's
    include `pytorch-lightning_version`; an nco policy (.pt) is a bare state dict with its .json beside it."""
    if not path.is_file():
        return "checkpoint not found"
    try:
        info = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        info = None
    if isinstance(info, dict) and info.get("format") == FORMAT:
        return ("this is an nco policy checkpoint, not a Lightning one: start from its weights with --init-from,"
                " or resume from RUN/lightning/last.ckpt")  # fmt: skip
    try:
        with zipfile.ZipFile(path) as z:
            pkl = next((n for n in z.namelist() if n.rsplit("/", 1)[-1] == "data.pkl"), None)
            keys = z.read(pkl) if pkl else b""
    except (zipfile.BadZipFile, OSError):
        keys = b""
    if b"pytorch-lightning_version" not in keys or b"state_dict" not in keys:
        return "not a Lightning checkpoint (resume from RUN/lightning/last.ckpt, as nco train writes it)"
    return None


def policy_for(
    base: PolicyConfig, variants: list | None, moe_experts: int = 0, moe_top_k: int = 2, extra: tuple[str, ...] = ()
) -> PolicyConfig:
    """`base` reading (at least) the attributes of `variants` and the `extra` groups, with a mixture-of-experts
    encoder if asked."""
    attrs = set(base.attributes).union(*(v.attributes for v in variants or []), extra)
    changes: dict = {"attributes": tuple(attrs)}
    if moe_experts:
        changes.update(moe_experts=moe_experts, moe_top_k=moe_top_k)
    return PolicyConfig(**{**base.to_dict(), **changes})


# Lightning's banners (GPU/TPU/HPU available, LOCAL_RANK, tips, "`Trainer.fit` stopped") are INFO on its
# loggers; rl4co warns about its own defaults ("val_file not set"). Real problems are WARNING/ERROR.
_QUIET_LOGGERS = {"lightning.pytorch": logging.WARNING, "lightning.fabric": logging.WARNING, "rl4co": logging.ERROR}
_QUIET_WARNINGS = (  # warnings.warn() messages (regexes) that say nothing to a user of `nco train`
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning calling torch's pytree
    r"The '\w+' does not have many workers",  # instances are generated in the main process by design
    r"The number of training batches \(\d+\) is smaller than the logging interval",  # tiny runs
    r"Checkpoint directory .* exists and is not empty",  # RUN/lightning/ on --resume, as it should be
)


@contextmanager
def _quiet() -> Iterator[None]:
    """Lightning and rl4co say only what matters for the length of train(); the caller's settings return."""
    loggers = {name: logging.getLogger(name) for name in _QUIET_LOGGERS}
    before = {name: lg.level for name, lg in loggers.items()}
    matmul = torch.get_float32_matmul_precision()  # RL4COTrainer sets it process-wide
    try:
        with warnings.catch_warnings():
            for pattern in _QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            for name, lg in loggers.items():
                if lg.level == logging.NOTSET or logging.INFO <= lg.level < _QUIET_LOGGERS[name]:  # DEBUG: asked for
                    lg.setLevel(_QUIET_LOGGERS[name])
            yield
    finally:
        for name, lg in loggers.items():
            lg.setLevel(before[name])
        torch.set_float32_matmul_precision(matmul)


def train(cfg: TrainConfig, callbacks: list[Callback] | None = None) -> dict:
    """Train as `cfg` says (extra Lightning `callbacks` run too) and return the run's summary (result.json).

    Raises NcoError for bad settings before anything starts, and TrainingInterrupted after SIGINT/SIGTERM
    (see _SignalStop). Uses every core the process may run on; the caller's torch thread count, logging
    levels and warning filters are restored on return."""
    cfg.validate()
    stop = _SignalStop()
    # the signal handlers are the outermost: a redelivered signal acts only once everything else is restored
    with stop.installed(), torch_threads(available_cores()), _quiet():
        try:
            return _train(cfg, stop, callbacks or [])
        except _StopNow:  # a second signal before Lightning started (fit catches its own): nothing to save yet
            name = signal.Signals(stop.signum or signal.SIGINT).name
            raise stop.error(f"training interrupted by {name} before it started: nothing saved", None, None) from None


def _train(cfg: TrainConfig, stop: _SignalStop, callbacks: list[Callback]) -> dict:
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    variants = parse_variants(cfg.variants) if cfg.variants else None
    if variants and cfg.distribution != "uniform":
        raise NcoError("--variants draws its own instances (uniform positions); leave --distribution at uniform")
    drawn = DISTRIBUTIONS[cfg.distribution]
    attributes, features, name = drawn.groups, sorted(drawn.features), drawn.family
    if variants:
        features = set().union(*(v.attributes for v in variants)) | ({"service_times"} if any(
            v.time_windows for v in variants) else set())  # fmt: skip
    policy = _start_policy(cfg, variants, attributes)
    module = POMO(
        _environment(cfg, variants),
        policy,
        num_starts=cfg.num_starts,
        matrix_lr=cfg.matrix_lr,
        num_variants=len(MIXES) if cfg.distribution == "fleet" else len(variants or [None]),
        aux_weight=cfg.aux_weight,
        batch_size=cfg.batch_size,
        val_batch_size=min(cfg.val_size, 64),
        train_data_size=cfg.train_size,
        val_data_size=cfg.val_size,
        test_data_size=cfg.val_size,
        optimizer_kwargs={"lr": cfg.lr, "weight_decay": 1e-6},
    )
    names = [v.name for v in variants] if variants else [name]
    meta = {
        "variant": ",".join(names),
        "variants": names,
        "features": sorted(features),
        "trained_on": {"num_clients": cfg.num_clients, "distribution": cfg.distribution}
        | ({"dataset": Path(cfg.dataset or DEFAULT_ROAD_DATASET).name} if cfg.distribution == "road" else {}),
        "train_config": {k: v for k, v in cfg.__dict__.items() if k != "policy"},
    }
    loggers = _loggers(cfg, out)
    export = ExportPolicy(out, meta, cfg.train_size)
    trainer = _trainer(cfg, out, loggers, stop, export, callbacks)
    return _fit(trainer, module, cfg.resume, export, stop, out)


def _start_policy(cfg: TrainConfig, variants: list | None, attributes: tuple[str, ...]) -> AttentionPolicy:
    """A new policy, or the --init-from checkpoint's (fine-tuning), reading what the training data holds."""
    if cfg.init_from:  # fine-tuning; into another architecture (--policy) by copying the weights that fit
        policy, _ = load_checkpoint(cfg.init_from)
        target = policy_for(cfg.policy or policy.cfg, variants, cfg.moe_experts, cfg.moe_top_k, attributes)
        if target != policy.cfg:  # new attribute columns start at zero (efficient adapter layers)
            policy = transplant(policy, AttentionPolicy(target))
        policy.train()
        return policy
    return AttentionPolicy(policy_for(cfg.policy or PolicyConfig(), variants, cfg.moe_experts, cfg.moe_top_k, attributes))


def _environment(cfg: TrainConfig, variants: list | None) -> CVRPEnv:
    """The environment drawing the training instances: mixed variant batches, or the --distribution's."""
    if variants:
        return CVRPEnv(generator=VariantGenerator(cfg.num_clients, [v.name for v in variants]))
    extra = {"dataset": cfg.dataset} if cfg.distribution == "road" else {}
    return CVRPEnv(generator=GENERATORS[cfg.distribution](cfg.num_clients, **extra))


def _loggers(cfg: TrainConfig, out: Path) -> list:
    """The --logger's metrics logger, writing under RUN/logs (none for 'none')."""
    if cfg.logger == "csv":
        return [CSVLogger(out, name="logs")]
    if cfg.logger == "tensorboard":
        import importlib.util

        if not (importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX")):
            raise NcoError("--logger tensorboard needs the tensorboard package: pip install -e '.[tensorboard]'")
        return [TensorBoardLogger(out, name="logs")]
    return []


def _trainer(
    cfg: TrainConfig, out: Path, loggers: list, stop: _SignalStop, export: ExportPolicy, callbacks: list[Callback]
) -> RL4COTrainer:
    """The Lightning trainer: the signal stop, the policy export, the exact-resume checkpoint, then `callbacks`."""
    cpu = cfg.accelerator == "cpu" or (cfg.accelerator == "auto" and not torch.cuda.is_available())
    try:
        return RL4COTrainer(
            max_epochs=cfg.epochs,
            accelerator=cfg.accelerator,
            devices=cfg.devices,
            num_nodes=cfg.num_nodes,
            logger=loggers or False,
            callbacks=[
                stop,
                export,
                # The exact-resume state after every epoch: as a top-1 checkpoint named "last" without a monitor
                # (the newest wins), since Lightning 2.6 writes save_last=True only after another checkpoint of
                # the same step, which save_top_k=0 never writes, so a killed run had nothing until it ended.
                ModelCheckpoint(
                    dirpath=out / "lightning",
                    filename="last",
                    save_top_k=1,
                    save_last=False,
                    every_n_epochs=1,
                    enable_version_counter=False,
                ),
                *callbacks,
            ],
            # rl4co's mixed-precision defaults are ~3x slower on CPUs.
            precision="32-true" if cpu else "bf16-mixed",
            matmul_precision="highest" if cpu else "high",
            enable_progress_bar=cfg.progress_bar,
            enable_model_summary=False,  # a table of two rows (env, policy): noise for a user
            max_time=cfg.max_time,
            log_every_n_steps=10,
        )
    except MisconfigurationException as e:  # e.g. --accelerator gpu on a machine without one
        raise NcoError(f"Lightning refused the settings: {str(e).splitlines()[0]}") from None


def _fit(trainer, module: POMO, resume: str | None, export: ExportPolicy, stop: _SignalStop, out: Path) -> dict:
    """Run the training and write result.json; after a signal, save where it stopped and raise."""
    try:
        trainer.fit(module, ckpt_path=resume)
    except (_StopNow, SIGTERMException):  # a second signal; or Lightning's SIGTERM handler acted first
        if stop.signum is None:
            raise
    finally:
        stop.saving = True  # from here a signal only counts: the files below are being written
    if stop.signum is not None:
        raise _save_interrupted(trainer, module, export, stop, out)
    result = _summary(out, trainer, export)
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    if stop.signum is not None:  # came while the summary was written: the run is complete, but stop as asked
        raise _save_interrupted(trainer, module, export, stop, out)
    return result


def _summary(out: Path, trainer, export: ExportPolicy) -> dict:
    """result.json: names only files that exist, and null (with the reason) for a cost there is none of."""
    best, last = out / "best.pt", out / "last.pt"
    cost = trainer.callback_metrics.get("val/cost")
    result = {
        "out_dir": str(out),
        "best": str(best) if best.exists() else None,
        "last": str(last) if last.exists() else None,
        "val_cost": _finite_or_none(float(cost)) if cost is not None else None,
        "best_val_cost": _finite_or_none(export.best),
    }
    result["checkpoint"] = result["best"] or result["last"]
    if result["val_cost"] is None:
        result["note"] = (
            "validation cost was NaN (training diverged: try a lower --lr)" if cost is not None
            else "no validation finished (--max-time ended the run first?)"
        )  # fmt: skip
    return result


def _save_interrupted(trainer, module: POMO, export: ExportPolicy, stop: _SignalStop, out: Path) -> TrainingInterrupted:
    """Write last.pt (ExportPolicy's meta, plus which signal) and lightning/last.ckpt; the exception to raise."""
    assert stop.signum is not None
    name = signal.Signals(stop.signum).name
    last, ckpt = out / "last.pt", out / "lightning" / "last.ckpt"
    validated = export.validated is not None and export.validated[0] == trainer.global_step
    meta = export.meta_for(trainer, _finite_or_none(export.validated[1]) if validated else None)
    where = export.where(trainer) + (" (stopped at once by a second signal)" if stop.at_once else "")
    saved: list[str] = []
    if trainer.is_global_zero:
        save_checkpoint(module.policy, last, {**meta, "interrupted": name})
        saved.append(str(last))
    try:
        trainer.save_checkpoint(ckpt)
        saved.append(str(ckpt))
        hint = f" (resume with --resume {ckpt})"
    except Exception as e:  # noqa: BLE001 - the policy is saved; say why the exact state is not
        hint = f"; could not write {ckpt}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ckpt = None
    if trainer.is_global_zero:
        result = {"out_dir": str(out), "interrupted": name, "last": str(last), "lightning": str(ckpt) if ckpt else None}
        (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    message = f"training interrupted by {name} {where}: saved {' and '.join(saved) or 'nothing'}{hint}"
    return stop.error(message, last if trainer.is_global_zero else None, ckpt)
