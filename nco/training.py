"""Training: REINFORCE with the shared POMO baseline, as a Lightning module on rl4co's base.

Imports rl4co and lightning (seconds), so only `nco train` loads it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from rl4co.models.rl.common.base import RL4COLitModule
from rl4co.utils.trainer import RL4COTrainer

from envs.errors import NcoError
from envs.profiles import MIXES
from envs.rl_env import DEFAULT_ROAD_DATASET, GENERATORS, CVRPEnv, VariantGenerator
from envs.variants import parse_variants
from nco.checkpoint import load_checkpoint, save_checkpoint, transplant
from nco.policy import AttentionPolicy, PolicyConfig


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
    """After each validation, write the nco checkpoint (state dict + JSON): `last` always, `best` when improved."""

    def __init__(self, out_dir: Path, meta: dict):
        self.out_dir, self.meta = out_dir, meta
        self.best = float("inf")
        self.started = time.time()

    def on_validation_epoch_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        cost = float(trainer.callback_metrics.get("val/cost", float("nan")))
        meta = {
            **self.meta,
            "epochs_done": trainer.current_epoch + 1,
            "instances_seen": (trainer.current_epoch + 1) * module.data_cfg["train_data_size"],
            "train_seconds": round(time.time() - self.started, 1),
            "val_cost": cost,
        }
        save_checkpoint(module.policy, self.out_dir / "last.pt", meta)
        curve = self.out_dir / "curve.csv"  # the learning curve: validation cost against time and data
        with curve.open("a") as f:
            if f.tell() == 0:
                f.write("epoch,train_seconds,instances_seen,val_cost\n")
            f.write(f"{meta['epochs_done']},{meta['train_seconds']},{meta['instances_seen']},{cost}\n")
        if cost < self.best:
            self.best = cost
            save_checkpoint(module.policy, self.out_dir / "best.pt", meta)


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
    variants: str | None = None  # envs.variants names, comma-separated (or "all"): mixed-variant batches
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


# What a distribution's instances have beyond CVRP: the attribute groups the policy must read, the Instance
# features it is trained on, and its name in the checkpoint (--variants batches name their own).
DISTRIBUTIONS = {
    "asymmetric": ((), ("asymmetric",), "CVRP"),
    "road": ((), ("asymmetric",), "CVRP"),
    "fleet": (("fleet",), ("fixed_costs", "fleet_limit", "heterogeneous_fleet", "profiles"), "HFVRP"),
    "svrp": (("time_windows",), ("service_times", "stochastic", "time_windows"), "SVRP"),
}


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


def train(cfg: TrainConfig) -> dict:
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    variants = parse_variants(cfg.variants) if cfg.variants else None
    if variants and cfg.distribution != "uniform":
        raise NcoError("--variants draws its own instances (uniform positions); leave --distribution at uniform")
    attributes, features, name = DISTRIBUTIONS.get(cfg.distribution, ((), (), "CVRP"))
    if variants:
        features = set().union(*(v.attributes for v in variants)) | ({"service_times"} if any(
            v.time_windows for v in variants) else set())  # fmt: skip
    if cfg.init_from:  # fine-tuning; into another architecture (--policy) by copying the weights that fit
        policy, _ = load_checkpoint(cfg.init_from)
        target = policy_for(cfg.policy or policy.cfg, variants, cfg.moe_experts, cfg.moe_top_k, attributes)
        if target != policy.cfg:  # new attribute columns start at zero (efficient adapter layers)
            policy = transplant(policy, AttentionPolicy(target))
        policy.train()
    else:
        policy = AttentionPolicy(
            policy_for(cfg.policy or PolicyConfig(), variants, cfg.moe_experts, cfg.moe_top_k, attributes)
        )
    if variants:
        env = CVRPEnv(generator=VariantGenerator(cfg.num_clients, [v.name for v in variants]))
    else:
        extra = {"dataset": cfg.dataset} if cfg.distribution == "road" else {}
        env = CVRPEnv(generator=GENERATORS[cfg.distribution](cfg.num_clients, **extra))
    module = POMO(
        env,
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
    loggers = []
    if cfg.logger == "csv":
        loggers.append(CSVLogger(out, name="logs"))
    elif cfg.logger == "tensorboard":
        import importlib.util

        if not (importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX")):
            raise NcoError("--logger tensorboard needs the tensorboard package: pip install -e '.[tensorboard]'")
        loggers.append(TensorBoardLogger(out, name="logs"))
    cpu = cfg.accelerator == "cpu" or (cfg.accelerator == "auto" and not torch.cuda.is_available())
    trainer = RL4COTrainer(
        max_epochs=cfg.epochs,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        logger=loggers or False,
        callbacks=[
            ExportPolicy(out, meta),
            ModelCheckpoint(dirpath=out / "lightning", save_last=True, save_top_k=0),
        ],
        # rl4co's mixed-precision defaults are ~3x slower on CPUs.
        precision="32-true" if cpu else "bf16-mixed",
        matmul_precision="highest" if cpu else "high",
        enable_progress_bar=cfg.progress_bar,
        max_time=cfg.max_time,
        log_every_n_steps=10,
    )
    trainer.fit(module, ckpt_path=cfg.resume)
    result = {
        "out_dir": str(out),
        "best": str(out / "best.pt"),
        "val_cost": float(trainer.callback_metrics.get("val/cost", float("nan"))),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
