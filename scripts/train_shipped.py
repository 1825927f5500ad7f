"""Reproduce the shipped checkpoints.

    python scripts/train_shipped.py --minutes-50 25 --minutes-100 55     # cvrp100: POMO, 50 clients then 100
    python scripts/train_shipped.py --variant road --minutes-100 82      # road100_matrix
    python scripts/train_shipped.py --variant multi --minutes-100 40     # variants100 (all 24 variants)
    python scripts/train_shipped.py --variant multi --minutes-100 40 --moe        # the MoE policy, same budget
    python scripts/train_shipped.py --variant multi --minutes-100 15 --scratch    # from scratch (no cvrp100)
    python scripts/train_shipped.py --variant fleet --minutes-100 40     # fleet100 (types, costs, zones)
    python scripts/train_shipped.py --variant svrp --minutes-100 15      # svrp50 (stochastic travel times)
    python scripts/train_shipped.py --variant roadtw --minutes-100 100   # roadtw100 (time windows on roads)
    python scripts/train_shipped.py --continue cvrp100 --minutes 60       # continue it: expert iteration
    python scripts/train_shipped.py --continue cvrp100 --minutes 10 --device cuda --workers 14 --out $OUT

--continue NAME trains a shipped policy further for --minutes (CPU-minutes; wall-minutes on a GPU) by expert
iteration (nco.train.expert): the run folder OUT/NAME-expert keeps the optimizer, the labels and the clocks,
so the next call resumes it. The candidate replaces nco/checkpoints/NAME only when it is better on held-out
instances (a fixed set neither training nor its validation sees); its JSON then records the cumulative
training minutes of every run behind it and the held-out comparison. --no-install only reports. This is the
script a GPU runs: it trains for the minutes given and writes the checkpoints into --out.

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
(envs.rl.sampled_times), copied to nco/checkpoints/svrp50. roadtw100 is
road100_matrix with time-window columns at zero, fine-tuned on delivery days on
the Monaco dataset's training locations (envs.generate.road_days: shifts, service
times, windows), copied to nco/checkpoints/roadtw100. On a
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
    ROAD_TW_CHECKPOINT,
    ROBUST_CHECKPOINT,
    VARIANTS_CHECKPOINT,
    read_checkpoint_info,
)
from nco.policy.model import PolicyConfig
from nco.train.run import TrainConfig, train

# --variant: (run name, clients, the checkpoint it starts from, where it is installed, training instances an
# epoch, the matrix-reading parameters' learning rate as a multiple of --lr or None)
FINE_TUNED = {
    "fleet": ("fleet100", 100, DEFAULT_CHECKPOINT, FLEET_CHECKPOINT, 960, None),
    "svrp": ("svrp50", 50, VARIANTS_CHECKPOINT, ROBUST_CHECKPOINT, 960, None),
    # road100_matrix with time-window columns at zero, on delivery days (envs/generate/road_days.py)
    "roadtw": ("roadtw100", 100, MATRIX_CHECKPOINT, ROAD_TW_CHECKPOINT, 1600, 5),
}


def hms(minutes: float) -> str:
    s = int(minutes * 60)
    return f"00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


ROOT = Path(__file__).resolve().parents[1]
# --continue: what each shipped policy is continued on (expert iteration's label source and size)
CONTINUED = {"cvrp100": ("uniform", 100, DEFAULT_CHECKPOINT)}
HELD_OUT_SEED = 777_2026  # the held-out set's seed: not the expert run's validation seed


def held_out_cost(checkpoint: Path, source: str, size: int, count: int) -> float:
    from nco.policy.checkpoints import load_checkpoint
    from nco.train.expert import ExpertConfig, validation_batch, validation_cost

    policy, _ = load_checkpoint(checkpoint)
    cfg = ExpertConfig(source=source, num_clients=size, val_size=count, val_seed=HELD_OUT_SEED)
    return validation_cost(policy, validation_batch(cfg))


def continue_with_expert(args, run: Path, installed: Path, source: str, size: int) -> None:
    from nco.train.expert import ExpertConfig, expert_iteration

    expert_iteration(
        ExpertConfig(
            source=source,
            num_clients=size,
            minutes=args.minutes,
            out_dir=str(run),
            init_from=str(installed),
            labels_per_round=args.labels_per_round,
            label_seconds=args.label_seconds,
            batch_size=args.batch_size,
            lr=args.lr / 2,
            workers=args.workers,
            threads=args.threads,
            device=args.device,
            max_rounds=args.max_rounds,
            val_size=args.val_size,
            label_share=args.label_share,
            starts=args.starts,
            label_file=str(args.labels or ROOT / "data" / "labels" / f"{source}{size}.npz"),
        ),
        on_validate=lambda row: print(
            f"round {row['round']}: {row['labels']} labels, {row['cpu_minutes']:.1f} min,"
            f" validation {row['val_cost']:.4f}",
            flush=True,
        ),
    )


def continue_with_reinforce(args, run: Path, installed: Path, size: int) -> None:
    """REINFORCE (nco train) from the installed policy, resuming the run folder's exact state if there is one;
    the run stops at --minutes more of wall-clock time."""
    import json

    ckpt = run / "lightning" / "last.ckpt"
    done = json.loads((run / "last.json").read_text())["train_seconds"] / 60 if ckpt.exists() else 0.0
    train(
        TrainConfig(
            num_clients=size,
            epochs=100_000,
            batch_size=args.batch_size,
            train_size=1600,
            val_size=args.val_size,
            lr=args.lr / 2,
            out_dir=str(run),
            init_from=str(installed),
            resume=str(ckpt) if ckpt.exists() else None,
            max_time=hms(done + args.minutes),
            accelerator="gpu" if args.device.startswith("cuda") else "cpu",
            progress_bar=False,
        )
    )


def continue_shipped(args) -> None:
    import json

    source, size, installed = CONTINUED[args.continue_]
    installed = Path(args.install or installed)
    run = Path(args.out) / f"{args.continue_}-{args.method}"
    if args.method == "reinforce":
        continue_with_reinforce(args, run, installed, size)
    else:
        continue_with_expert(args, run, installed, source, size)
    before = held_out_cost(installed, source, size, args.held_out)
    after = held_out_cost(run / "best.pt", source, size, args.held_out)
    print(
        f"held-out ({args.held_out} {source} instances, {size} clients): installed {before:.4f}, candidate {after:.4f}"
    )
    if after >= before:
        print(f"kept {installed} (the candidate is not better)")
        return
    info = json.loads((run / "best.json").read_text())
    info["held_out"] = {
        "instances": args.held_out,
        "source": source,
        "seed": HELD_OUT_SEED,
        "before": round(before, 5),
        "after": round(after, 5),
    }
    (run / "best.json").write_text(json.dumps(info, indent=2) + "\n")
    if args.no_install:
        print(f"better by {100 * (1 - after / before):.2f}%; not installed (--no-install): {run / 'best.pt'}")
        return
    install(run, installed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--continue", dest="continue_", choices=sorted(CONTINUED), help="continue this shipped policy")
    ap.add_argument("--method", choices=("expert", "reinforce"), default="expert", help="--continue: how")
    ap.add_argument("--minutes", type=float, default=30, help="--continue: CPU-minutes to add (wall on a GPU)")
    ap.add_argument("--device", default="cpu", help="--continue: cpu or cuda")
    ap.add_argument("--workers", type=int, default=1, help="--continue: labelling processes")
    ap.add_argument("--threads", type=int, default=None, help="--continue: torch threads (default: the cores)")
    ap.add_argument("--labels-per-round", type=int, default=32)
    ap.add_argument("--label-seconds", type=float, default=1.0)
    ap.add_argument("--held-out", type=int, default=128, help="--continue: held-out instances")
    ap.add_argument(
        "--labels",
        type=Path,
        help="--continue: the label file to start from and add to (default data/labels/SOURCE+SIZE.npz, shipped)",
    )
    ap.add_argument("--label-share", type=float, default=0.5, help="--continue: the share of CPU spent labelling")
    ap.add_argument("--starts", type=int, default=16, help="--continue: labelled sequences per instance and step")
    ap.add_argument("--val-size", type=int, default=128, help="--continue: the run's validation instances")
    ap.add_argument("--max-rounds", type=int, default=None, help="--continue: stop after this many rounds")
    ap.add_argument("--no-install", action="store_true", help="--continue: report, never replace")
    ap.add_argument("--variant", choices=("cvrp", "road", "multi", *FINE_TUNED), default="cvrp")
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
    if args.continue_:
        if args.threads is None:
            from nco.threads import available_cores

            args.threads = available_cores()
        continue_shipped(args)
        return
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
    if args.variant in FINE_TUNED:  # fleet100, svrp50, roadtw100: a distribution of their own, from a shipped policy
        name, clients, init, target, per_epoch, matrix_lr = FINE_TUNED[args.variant]
        run = out / name
        train(
            TrainConfig(
                num_clients=clients,
                distribution=args.variant,
                epochs=1000,
                batch_size=args.batch_size,
                train_size=per_epoch,
                val_size=128,
                lr=args.lr / 2,
                matrix_lr=args.lr * matrix_lr if matrix_lr else None,
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
