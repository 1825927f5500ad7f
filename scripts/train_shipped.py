"""Reproduce the shipped checkpoints.

    python scripts/train_shipped.py --minutes-50 25 --minutes-100 55     # cvrp100: POMO, 50 clients then 100
    python scripts/train_shipped.py --variant road --minutes-100 82      # road100_matrix
    python scripts/train_shipped.py --variant multi --minutes-100 40     # variants100 (all 24 variants)
    python scripts/train_shipped.py --variant multi --minutes-100 40 --moe        # the MoE policy, same budget
    python scripts/train_shipped.py --variant multi --minutes-100 15 --scratch    # from scratch (no cvrp100)
    python scripts/train_shipped.py --variant fleet --minutes-100 40     # fleet100 (types, costs, zones)
    python scripts/train_shipped.py --variant svrp --minutes-100 15      # svrp50 (stochastic travel times)

cvrp100 is copied to nco/checkpoints/cvrp100.{pt,json}. road100_matrix is the
matrix-aware policy fine-tuned from cvrp100 (its weights transplanted, the
attention bias silent, the pointer starting with a nearest-neighbour prior) on 100-client instances drawn from the Monaco
dataset's training locations, copied to nco/checkpoints/road100_matrix.
variants100 is fine-tuned from cvrp100 on mixed batches of every variant of
envs.generate.variants (the attribute columns cvrp100 lacks start at zero: adapter
layers), copied to nco/checkpoints/variants100; --moe trains the
mixture-of-experts policy (4 experts, top 2, each starting as cvrp100's
feed-forward layer) and --scratch a dense policy from random weights on the
same data, for the comparisons (neither is installed unless --install).
fleet100 is fine-tuned from cvrp100 on heterogeneous, profiled fleets
(envs.generate.fleets: the four fleet mixes of the X heterogeneous sets, zones,
preferences; half on uniform, half on X-like positions), copied to
nco/checkpoints/fleet100. svrp50 is fine-tuned from variants100 on
SVRPBench-like city days of 50 clients (envs.generate.svrp): it decodes on
expected travel times and is charged the lateness of sampled days
(envs.rl.sampled_times), copied to nco/checkpoints/svrp50. On a
2-core CPU the budget is what limits quality; on a GPU raise the minutes (and
--batch-size) and the same recipe goes much further.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from nco.policy.checkpoints import (
    DEFAULT_CHECKPOINT,
    FLEET_CHECKPOINT,
    MATRIX_CHECKPOINT,
    ROBUST_CHECKPOINT,
    VARIANTS_CHECKPOINT,
    read_checkpoint_info,
)
from nco.policy.model import PolicyConfig
from nco.train.run import TrainConfig, train

# --variant: (run name, clients, the checkpoint it starts from, where it is installed)
FINE_TUNED = {
    "fleet": ("fleet100", 100, DEFAULT_CHECKPOINT, FLEET_CHECKPOINT),
    "svrp": ("svrp50", 50, VARIANTS_CHECKPOINT, ROBUST_CHECKPOINT),
}


def hms(minutes: float) -> str:
    s = int(minutes * 60)
    return f"00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=("cvrp", "road", "multi", "fleet", "svrp"), default="cvrp")
    ap.add_argument(
        "--variants", default="all", help="--variant multi: the training mix (envs.generate.variants names)"
    )
    ap.add_argument("--moe", action="store_true", help="--variant multi: mixture-of-experts encoder")
    ap.add_argument("--scratch", action="store_true", help="--variant multi: start from random weights")
    ap.add_argument("--minutes-50", type=float, default=25)
    ap.add_argument("--minutes-100", type=float, default=55)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--out", default="runs/shipped")
    ap.add_argument("--install", help="default nco/checkpoints/cvrp100, or road100_matrix for --variant road")
    args = ap.parse_args()
    out = Path(args.out)
    if args.variant == "multi":
        run = out / ("variants100" + ("_moe" if args.moe else "") + ("_scratch" if args.scratch else ""))
        train(
            TrainConfig(
                num_clients=100,
                variants=args.variants,
                epochs=1000,
                batch_size=args.batch_size,
                train_size=960,
                val_size=128,
                lr=args.lr if args.scratch else args.lr / 2,
                out_dir=str(run),
                init_from=None if args.scratch else str(DEFAULT_CHECKPOINT),
                moe_experts=4 if args.moe else 0,
                max_time=hms(args.minutes_100),
                progress_bar=False,
            )
        )
        if args.install or not (args.moe or args.scratch):
            install(run, Path(args.install or VARIANTS_CHECKPOINT))
        return
    if args.variant in FINE_TUNED:  # fleet100, svrp50: a distribution of their own, from a shipped policy
        name, clients, init, target = FINE_TUNED[args.variant]
        run = out / name
        train(
            TrainConfig(
                num_clients=clients,
                distribution=args.variant,
                epochs=1000,
                batch_size=args.batch_size,
                train_size=960,
                val_size=128,
                lr=args.lr / 2,
                out_dir=str(run),
                init_from=str(init),
                max_time=hms(args.minutes_100),
                progress_bar=False,
            )
        )
        install(run, Path(args.install or target))
        return
    if args.variant == "road":
        own = read_checkpoint_info(DEFAULT_CHECKPOINT)["config"]
        run = out / "road100"
        train(
            TrainConfig(
                num_clients=100,
                distribution="road",
                epochs=1000,
                batch_size=args.batch_size,
                train_size=1600,
                val_size=128,
                lr=args.lr / 2,
                matrix_lr=args.lr * 5,
                out_dir=str(run),
                policy=PolicyConfig(**{**own, "matrix": True}),
                init_from=str(DEFAULT_CHECKPOINT),
                max_time=hms(args.minutes_100),
                progress_bar=False,
            )
        )
        install(run, Path(args.install or MATRIX_CHECKPOINT))
        return
    init = None
    if args.minutes_50 > 0:
        train(
            TrainConfig(
                num_clients=50,
                epochs=1000,
                batch_size=args.batch_size,
                train_size=3200,
                val_size=128,
                lr=args.lr,
                out_dir=str(out / "n50"),
                max_time=hms(args.minutes_50),
                progress_bar=False,
            )
        )
        init = str(out / "n50" / "best.pt")
    train(
        TrainConfig(
            num_clients=100,
            epochs=1000,
            batch_size=args.batch_size,
            train_size=1600,
            val_size=128,
            lr=args.lr,
            out_dir=str(out / "n100"),
            init_from=init,
            max_time=hms(args.minutes_100),
            progress_bar=False,
        )
    )
    install(out / "n100", Path(args.install or DEFAULT_CHECKPOINT))


def install(run: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    for ext in (".pt", ".json"):
        shutil.copy(run / f"best{ext}", dest.with_suffix(ext))
    print(f"installed {dest.with_suffix('.pt')}")


if __name__ == "__main__":
    main()
