"""What a checkpoint has been through: its cumulative training minutes and validation history, in its JSON.

Training accumulates (a run continues the last one's checkpoint), so each checkpoint's JSON carries a
`training` record: CPU- and GPU-minutes in total, and one entry per run (method, minutes, what it saw, the
validation cost it ended at). A checkpoint written before this record existed counts its own
`train_seconds` (one run, wall-clock on the training machine's cores), marked as an estimate.
"""

from __future__ import annotations

import datetime as _dt


def _untrained() -> dict:
    return {"cpu_minutes": 0.0, "gpu_minutes": 0.0, "runs": []}


def prior(info: dict) -> dict:
    """The training record of the checkpoint a run starts from (empty for a new policy)."""
    if not info:
        return _untrained()
    if isinstance(info.get("training"), dict):
        t = info["training"]
        return {
            "cpu_minutes": t.get("cpu_minutes", 0.0),
            "gpu_minutes": t.get("gpu_minutes", 0.0),
            "runs": t.get("runs", []),
        }
    seconds = float(info.get("train_seconds") or 0.0)
    if not seconds:  # a checkpoint that records no training (a new policy saved as is)
        return _untrained()
    run = {"method": "reinforce", "wall_minutes": round(seconds / 60, 1), "estimated": True}
    run["note"] = "before the training record: its own run's train_seconds only (runs it started from not counted)"
    return {"cpu_minutes": round(seconds / 60, 1), "gpu_minutes": 0.0, "runs": [run]}


def record(before: dict, run: dict, device: str) -> dict:
    """`before` with `run` added: run['minutes'] counts as CPU- or GPU-minutes by `device`."""
    minutes = float(run.get("minutes", 0.0))
    gpu = device.startswith("cuda")
    return {
        "cpu_minutes": round(before["cpu_minutes"] + (0.0 if gpu else minutes), 3),
        "gpu_minutes": round(before["gpu_minutes"] + (minutes if gpu else 0.0), 3),
        "runs": [*before["runs"], {**run, "device": "gpu" if gpu else "cpu", "date": _dt.date.today().isoformat()}],
    }


def meta(info: dict, before: dict, cfg, state, seconds: float, cost: float) -> dict:
    """The checkpoint JSON of an expert-iteration run (nco.train.expert) at this point."""
    from nco.train.labels import sample_instance

    features = sorted(sample_instance(cfg.source, 5, 0).features())
    base = {k: info[k] for k in ("variant", "variants", "features") if k in info}
    run = {
        "method": "expert-iteration",
        "minutes": round(seconds / 60, 3),
        "label_cpu_minutes": round(state.label_cpu_seconds / 60, 3),
        "rounds": state.round,
        "steps": state.steps,
        "source": cfg.source,
        "num_clients": cfg.num_clients,
        "val_cost": round(cost, 5),
    }
    return {
        "variant": base.get("variant", "cvrp" if not features else cfg.source),
        "features": sorted({*base.get("features", []), *features}),  # the start's, and what it now trained on
        **({"variants": base["variants"]} if "variants" in base else {}),
        "trained_on": {"num_clients": cfg.num_clients, "distribution": cfg.source},
        "training": record(before, run, cfg.device),
        "val_cost": cost,
        "validation": state.history[-50:],
    }
