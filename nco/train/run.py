"""Training: `train(TrainConfig)` builds the policy, the environment and the trainer, fits, and writes the
nco checkpoints (nco/train/config.py: the options; module.py: REINFORCE with the POMO baseline; callbacks.py:
checkpoints and clean stops).

Imports rl4co and lightning (seconds), so only `nco train` loads it.
"""

from __future__ import annotations

import json
import logging
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from rl4co.utils.trainer import RL4COTrainer

from envs.errors import NcoError
from envs.generate.fleets import MIXES
from envs.generate.variants import parse_variants
from envs.rl.distributions import DISTRIBUTIONS
from envs.rl.env import DEFAULT_ROAD_DATASET, GENERATORS, CVRPEnv, VariantGenerator
from nco.policy.checkpoints import load_checkpoint, read_checkpoint_info, save_checkpoint, transplant
from nco.policy.model import AttentionPolicy, PolicyConfig
from nco.threads import available_cores, torch_threads
from nco.train import ledger
from nco.train.callbacks import (
    ExportPolicy,
    TrainingInterrupted,
    _finite_or_none,
    _SignalStop,
    _StopNow,
)
from nco.train.config import TrainConfig, policy_for
from nco.train.module import POMO

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
        features = set().union(*(v.attributes for v in variants)) | (
            {"service_times"} if any(v.time_windows for v in variants) else set()
        )
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
        | ({"dataset": Path(cfg.dataset or DEFAULT_ROAD_DATASET).name} if drawn.city else {}),
        "train_config": {k: v for k, v in cfg.__dict__.items() if k != "policy"},
    }
    loggers = _loggers(cfg, out)
    prior = ledger.prior(read_checkpoint_info(cfg.init_from) if cfg.init_from else {})
    export = ExportPolicy(out, meta, cfg.train_size, prior, "cpu" if _on_cpu(cfg) else "cuda")
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
    return AttentionPolicy(
        policy_for(cfg.policy or PolicyConfig(), variants, cfg.moe_experts, cfg.moe_top_k, attributes)
    )


def _environment(cfg: TrainConfig, variants: list | None) -> CVRPEnv:
    """The environment drawing the training instances: mixed variant batches, or the --distribution's."""
    if variants:
        return CVRPEnv(generator=VariantGenerator(cfg.num_clients, [v.name for v in variants]))
    extra = {"dataset": cfg.dataset} if DISTRIBUTIONS[cfg.distribution].city else {}
    return CVRPEnv(generator=GENERATORS[cfg.distribution](cfg.num_clients, **extra))


def _on_cpu(cfg: TrainConfig) -> bool:
    """Whether the run trains on the CPU: asked for, or 'auto' without a GPU."""
    return cfg.accelerator == "cpu" or (cfg.accelerator == "auto" and not torch.cuda.is_available())


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
    cpu = _on_cpu(cfg)
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
            "validation cost was NaN (training diverged: try a lower --lr)"
            if cost is not None
            else "no validation finished (--max-time ended the run first?)"
        )
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
