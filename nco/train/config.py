"""What a training run is asked to do (`nco train`'s options), checked before anything starts."""

from __future__ import annotations

import json
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.errors import NcoError
from envs.rl.distributions import DISTRIBUTIONS
from nco.policy.checkpoints import FORMAT
from nco.policy.model import PolicyConfig


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
        for flag, value in (
            ("--size", self.num_clients),
            ("--batch-size", self.batch_size),
            ("--epochs", self.epochs),
            ("--train-size", self.train_size),
            ("--val-size", self.val_size),
            ("--nodes", self.num_nodes),
        ):
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
        return (
            "this is an nco policy checkpoint, not a Lightning one: start from its weights with --init-from,"
            " or resume from RUN/lightning/last.ckpt"
        )
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
