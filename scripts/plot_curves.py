"""Learning curves of training runs side by side: validation cost against training instances and minutes.

    python scripts/plot_curves.py runs/shipped/variants100 runs/shipped/variants100_moe \
        runs/shipped/variants100_scratch --out scripts/results/variants_curves.png

Each run folder's curve.csv (written by nco train after every validation) gives
one line; the same validation set is used by runs with the same variants,
size and --train-size, so their curves are comparable. Prints the table too.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def read_curve(run: Path) -> list[dict]:
    path = run / "curve.csv"
    if not path.exists():
        raise SystemExit(f"{path} not found: is {run} an nco train run folder?")
    return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(path.open())]


def label(run: Path) -> str:
    info = json.loads((run / "last.json").read_text()) if (run / "last.json").exists() else {}
    cfg = info.get("config", {})
    kind = f"MoE {cfg['moe_experts']} experts, top {cfg['moe_top_k']}" if cfg.get("moe_experts") else "dense"
    start = info.get("train_config", {}).get("init_from")
    return f"{run.name} ({kind}, {'from ' + Path(start).stem if start else 'from scratch'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/curves.png"))
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_n, ax) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    print("| run | minutes | epochs | instances | first val cost | last val cost | best |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for run in args.runs:
        curve = read_curve(run)
        minutes = [r["train_seconds"] / 60 for r in curve]
        costs = [r["val_cost"] for r in curve]
        ax_n.plot([r["instances_seen"] for r in curve], costs, marker="o", ms=3, label=label(run))
        ax.plot(minutes, costs, marker="o", ms=3, label=label(run))
        print(
            f"| {run.name} | {minutes[-1]:.1f} | {int(curve[-1]['epoch'])} | {int(curve[-1]['instances_seen'])}"
            f" | {costs[0]:.3f} | {costs[-1]:.3f} | {min(costs):.3f} |"
        )
    ax_n.set_xlabel("training instances")
    ax_n.set_ylabel("validation cost (greedy, best of the POMO starts)")
    ax.set_xlabel("training minutes (this machine)")
    for a in (ax_n, ax):
        a.grid(alpha=0.3)
    ax_n.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
