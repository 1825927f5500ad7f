"""Checkpoints: a plain state_dict (`NAME.pt`) beside a JSON of the model's configuration (`NAME.json`).

They load with `torch.load(..., weights_only=True)`; nothing is unpickled.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from envs.errors import CheckpointError
from envs.io.output_files import replaced, write_text
from nco.policy.model import AttentionPolicy, PolicyConfig, input_columns

FORMAT = "nco-checkpoint/1"
PACKAGE_DATA = Path(__file__).resolve().parent.parent / "checkpoints"  # package data: `pip install .` ships them
DEFAULT_CHECKPOINT = PACKAGE_DATA / "cvrp100.pt"
MATRIX_CHECKPOINT = PACKAGE_DATA / "road100_matrix.pt"  # matrix-aware, for explicit asymmetric matrices
VARIANTS_CHECKPOINT = PACKAGE_DATA / "variants100.pt"  # reads time windows, backhauls, open routes, limits
ROAD_TW_CHECKPOINT = PACKAGE_DATA / "roadtw100.pt"  # matrix-aware and reading time windows: delivery days on roads
FLEET_CHECKPOINT = PACKAGE_DATA / "fleet100.pt"  # reads vehicle types, costs, counts and preferences
ROBUST_CHECKPOINT = PACKAGE_DATA / "svrp50.pt"  # time windows, trained on sampled travel times to leave slack
# Where a planar policy is transplanted into a matrix-aware one, the pointer starts with this weight on
# the matrix distance from the current node (a nearest-neighbour prior). Measured on 32 held-out Monaco
# CVRP100 (POMO, 100 starts): planar cvrp100 alone costs 15% more than nearest-neighbour multi-start on
# the road matrix; with weight 10 it costs 5% more, and its own logits still matter enough to learn from.
TRANSPLANT_DIST_WEIGHT = 10.0


def default_checkpoint(features: frozenset[str]) -> Path:
    """The shipped checkpoint for an instance: on asymmetric matrices with time windows and no other route
    attribute, the matrix-aware time-window policy; else the multi-variant policy for time windows, backhauls,
    open routes or route limits; else the fleet policy for several vehicle types, costs or profiles; else
    matrix-aware for asymmetric matrices; else planar (each when shipped). Any of them decodes under every mask."""
    from envs.model.features import POLICY_GROUPS
    from envs.rl.batch import FLEET_FEATURES, VARIANT_FEATURES

    route = features & VARIANT_FEATURES  # the route attributes: windows, backhauls, open routes, limits
    if "asymmetric" in features and route and route <= POLICY_GROUPS["time_windows"] and ROAD_TW_CHECKPOINT.exists():
        return ROAD_TW_CHECKPOINT
    if route and VARIANTS_CHECKPOINT.exists():
        return VARIANTS_CHECKPOINT
    if features & FLEET_FEATURES and FLEET_CHECKPOINT.exists():
        return FLEET_CHECKPOINT
    if "asymmetric" in features and MATRIX_CHECKPOINT.exists():
        return MATRIX_CHECKPOINT
    return DEFAULT_CHECKPOINT


def save_checkpoint(policy: AttentionPolicy, path: str | Path, meta: dict | None = None) -> Path:
    path = Path(path).with_suffix(".pt")
    with replaced(path) as tmp:  # an interrupted save leaves the previous checkpoint whole
        torch.save({k: v.detach().cpu() for k, v in policy.state_dict().items()}, tmp)
    info = {"format": FORMAT, "policy": "attention", "config": policy.cfg.to_dict(), **(meta or {})}
    write_text(path.with_suffix(".json"), json.dumps(info, indent=2) + "\n")
    return path


def read_checkpoint_info(path: str | Path) -> dict:
    path = Path(path).with_suffix(".pt")
    meta = path.with_suffix(".json")
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not meta.exists():
        raise CheckpointError(f"checkpoint {path} has no configuration file {meta.name} beside it")
    try:
        info = json.loads(meta.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint configuration {meta} is not valid JSON: {e}") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise CheckpointError(f"{meta} is not an nco checkpoint configuration (expected format {FORMAT})")
    return info


def load_checkpoint(path: str | Path | None = None, device: str = "cpu") -> tuple[AttentionPolicy, dict]:
    """Load a policy in eval mode and its info dict; CheckpointError on any mismatch."""
    path = Path(path or DEFAULT_CHECKPOINT).with_suffix(".pt")
    info = read_checkpoint_info(path)
    cfg = checkpoint_config(info, path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # torch raises several types for corrupt files
        text = str(e)
        reason = text.splitlines()[0].split(". ")[0][:160] if text else type(e).__name__
        if "Unsupported global" in text:  # never torch's advice to unpickle it: a file can carry code
            reason = "it holds pickled Python objects besides tensors, and nco loads weights only"
        elif "Weights only load failed" in text:
            reason = "not a PyTorch weights file (or a damaged one)"
        raise CheckpointError(f"checkpoint {path} cannot be read as policy weights: {reason}") from None
    policy = AttentionPolicy(cfg)
    try:
        policy.load_state_dict(state)
    except (RuntimeError, AttributeError) as e:
        first = str(e).replace("\n", " ").replace("\t", "")[:200]
        raise CheckpointError(f"checkpoint {path} does not match its configuration: {first}") from None
    return policy.to(device).eval(), info


def checkpoint_config(info: dict, path: Path) -> PolicyConfig:
    """The checkpoint's model configuration, each field checked by name (a file may have been edited by hand)."""
    from dataclasses import fields

    config = info.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"checkpoint {path}: its configuration has no 'config' object")
    known = [f.name for f in fields(PolicyConfig)]
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise CheckpointError(
            f"checkpoint {path}: unknown configuration field {unknown[0]!r} (known: {', '.join(known)})"
        )
    try:
        return PolicyConfig(**config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: configuration {e}") from None


def transplant(source: AttentionPolicy, target: AttentionPolicy) -> AttentionPolicy:
    """`target` with every weight of `source` that fits, for fine-tuning across architectures.

    Input layers are matched by column name (nco.policy.model.input_columns): the
    columns `source` has are copied and the rest start at zero, so a policy
    fine-tuned to attributes (or matrices) it never saw starts out behaving as
    before (RouteFinder's efficient adapter layers); a new global-attribute
    layer starts silent too. Into a mixture-of-experts encoder, every expert
    starts as a copy of the dense feed-forward layer it replaces. From a planar
    policy to a matrix-aware one the edge bias starts silent and the pointer's
    distance term at TRANSPLANT_DIST_WEIGHT, because on real roads the planar
    layout alone is a poor guide.
    """
    src, state = source.state_dict(), target.state_dict()
    s_cols, t_cols = input_columns(source.cfg), input_columns(target.cfg)
    for key in state:
        layer = key.split(".")[0]
        if key.endswith(".weight") and layer in t_cols and key.count(".") == 1:  # a named-column input layer
            state[key] = torch.zeros_like(state[key])
            if key in src:
                for j, name in enumerate(t_cols[layer]):
                    if name in s_cols[layer]:
                        state[key][:, j] = src[key][:, s_cols[layer].index(name)]
            continue
        origin = re.sub(r"\.ff\.experts\.\d+\.", ".ff.", key)  # an expert starts as the dense layer
        if key in src and src[key].shape == state[key].shape:
            state[key] = src[key].clone()
        elif origin != key and origin in src and src[origin].shape == state[key].shape:
            state[key] = src[origin].clone()
    target.load_state_dict(state)
    if target.cfg.matrix and not source.cfg.matrix:
        with torch.no_grad():
            target.edge_bias[-1].weight.zero_()
            target.edge_bias[-1].bias.zero_()
            target.dist_weight.fill_(TRANSPLANT_DIST_WEIGHT)
    return target
