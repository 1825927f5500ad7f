"""Learning efficiency: validation cost against CPU-minutes, for several training methods side by side.

    python scripts/learning_curve.py --minutes 30 --size 100 --out runs/curve100            # both, from scratch
    python scripts/learning_curve.py --minutes 30 --init-from nco/checkpoints/cvrp100.pt     # continuing a policy
    python scripts/learning_curve.py --minutes 0.5 --size 20 --tiny --out /tmp/curve         # a smoke run

Methods (each in its own process, on its own core when there are enough, with one torch thread):
- reinforce: today's `nco train` (REINFORCE with the POMO shared baseline, Lightning), batch 32, lr 2e-4;
- expert: expert iteration (nco.train.expert): the policy-seeded genetic search labels instances, the policy
  imitates the labels; labelling counts in the minutes;
- expert+reinforce: expert iteration for --switch of the minutes, then reinforce from its best policy.

Both are charged the CPU time of their process (all threads, and labelling children), validation left out,
and validated on the same fixed instances (greedy, one start per client, no augmentation: POMO's validation
figure) every --every CPU-minutes. A run folder that exists is resumed, so the minutes accumulate. Prints the
table at equal CPU-minutes and writes OUT/curve.png and OUT/curve.json; the reference line is the checkpoint
given by --reference (default the shipped cvrp100) on the same instances.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ("reinforce", "expert", "expert+reinforce")


def tiny_policy():
    from nco.policy.model import PolicyConfig

    return PolicyConfig(embed_dim=32, num_heads=4, num_layers=2, ff_dim=64)


def run_expert(args, out: Path, minutes: float | None = None) -> None:
    from nco.train.expert import ExpertConfig, expert_iteration

    expert_iteration(
        ExpertConfig(
            source=args.source,
            num_clients=args.size,
            minutes=args.minutes if minutes is None else minutes,
            out_dir=str(out),
            init_from=args.init_from,
            policy=tiny_policy() if args.tiny else None,
            labels_per_round=args.labels_per_round,
            label_seconds=args.label_seconds,
            label_share=args.label_share,
            starts=args.starts,
            lr=args.lr,
            val_size=args.val_size,
            threads=1,
        )
    )


def run_expert_then_reinforce(args, out: Path) -> None:
    """Imitation first (cheap progress from a poor policy), then REINFORCE from its best checkpoint; one curve,
    the REINFORCE part's clock starting where expert iteration's stopped."""
    first = out / "expert"
    if not (out / "curve_cpu.csv").exists():
        run_expert(args, first, args.minutes * args.switch)
        rows = read_curve(first / "curve.csv")
        with (out / "curve_cpu.csv").open("w") as f:
            f.write("cpu_minutes,val_cost\n" + "".join(f"{t:.3f},{c:.5f}\n" for t, c in rows))
        run_reinforce(args, out, init_from=str(first / "best.pt"), minutes=args.minutes * (1 - args.switch))
    else:
        run_reinforce(args, out, init_from=str(first / "best.pt"))


def read_curve(path: Path) -> list[tuple[float, float]]:
    """(CPU-minutes, validation cost) of a curve file (either method's), [] if there is none yet."""
    if not path.exists():
        return []
    return [(float(r["cpu_minutes"]), float(r["val_cost"])) for r in csv.DictReader(path.open())]


def run_reinforce(args, out: Path, init_from: str | None = None, minutes: float | None = None) -> None:
    import torch
    from lightning.pytorch.callbacks import Callback

    from nco.train.expert import CpuClock, ExpertConfig, cpu_now, validation_batch, validation_cost
    from nco.train.run import TrainConfig, train

    val = validation_batch(ExpertConfig(source=args.source, num_clients=args.size, val_size=args.val_size))
    curve = out / "curve_cpu.csv"
    rows = read_curve(curve)
    clock = CpuClock(rows[-1][0] * 60 if rows else 0.0)
    budget = clock.seconds() + (args.minutes if minutes is None else minutes) * 60

    class Budget(Callback):
        """Stops at the CPU budget and validates on the fixed set every --every CPU-minutes (off the clock)."""

        last = clock.seconds() if rows else -1e9

        def _validate(self, module) -> None:
            t0 = cpu_now()
            cost = validation_cost(module.policy, val)
            new = not curve.exists()
            with curve.open("a") as f:
                f.write("cpu_minutes,val_cost\n" if new else "")
                f.write(f"{clock.seconds() / 60:.3f},{cost:.5f}\n")
            self.last = clock.seconds()
            clock.exclude(cpu_now() - t0)

        def on_train_start(self, trainer, module):
            if not rows:
                self._validate(module)

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if clock.seconds() - self.last >= args.every * 60 or clock.seconds() >= budget:
                self._validate(module)
            if clock.seconds() >= budget:
                trainer.should_stop = True

        def on_validation_epoch_start(self, trainer, module):
            self.v0 = cpu_now()

        def on_validation_epoch_end(self, trainer, module):  # Lightning's own small validation: off the clock
            clock.exclude(cpu_now() - self.v0)

    ckpt = out / "lightning" / "last.ckpt"
    cfg = TrainConfig(
        num_clients=args.size,
        distribution=args.source if args.source in ("uniform", "xlike") else "uniform",
        epochs=100_000,
        batch_size=32,
        train_size=1600 if not args.tiny else 320,
        val_size=16,
        lr=2e-4,
        out_dir=str(out),
        init_from=init_from or args.init_from,
        policy=tiny_policy() if args.tiny and not (init_from or args.init_from) else None,
        resume=str(ckpt) if ckpt.exists() else None,
        logger="none",
        progress_bar=False,
    )
    torch.set_num_threads(1)
    train(cfg, callbacks=[Budget()])


def _child(method: str, args, out: Path, core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})  # train() uses the cores it may run on: here one
    {"reinforce": run_reinforce, "expert": run_expert, "expert+reinforce": run_expert_then_reinforce}[method](args, out)


def read(out: Path, method: str) -> list[tuple[float, float]]:
    return read_curve(out / method / ("curve.csv" if method == "expert" else "curve_cpu.csv"))


def best_by(curve: list[tuple[float, float]], minutes: float) -> float | None:
    """The best validation cost reached within `minutes` CPU-minutes (None before the first validation)."""
    seen = [c for t, c in curve if t <= minutes + 1e-9]
    return min(seen) if seen else None


def reference_cost(args) -> float | None:
    from nco.policy.checkpoints import load_checkpoint
    from nco.train.expert import ExpertConfig, validation_batch, validation_cost

    if not args.reference:
        return None
    policy, _ = load_checkpoint(args.reference)
    return validation_cost(
        policy, validation_batch(ExpertConfig(source=args.source, num_clients=args.size, val_size=args.val_size))
    )


def report(args, out: Path) -> dict:
    curves = {m: read(out, m) for m in args.methods}
    for other in args.add:  # runs of other settings (another folder of this script), on the same figure
        args_file = other / "curve.json"
        settings = json.loads(args_file.read_text())["args"] if args_file.exists() else {}
        for m in METHODS:
            if read(other, m):
                note = ", ".join(f"{k} {settings[k]}" for k in ("label_share", "lr", "starts") if k in settings)
                curves[f"{m} ({other.name}{': ' + note if note else ''})"] = read(other, m)
    ref = reference_cost(args)
    marks = sorted({round(args.minutes * f, 2) for f in (0.1, 0.25, 0.5, 0.75, 1.0)})
    print(f"validation cost (mean of {args.val_size} {args.source} instances, {args.size} clients) by CPU-minutes")
    width = max(10, *(len(m) + 2 for m in curves))
    print(f"{'method':<{width}}" + "".join(f"{m:>10}" for m in marks))
    for m, c in curves.items():
        cells = [best_by(c, t) for t in marks]
        print(f"{m:<{width}}" + "".join(f"{x:>10.3f}" if x is not None else f"{'-':>10}" for x in cells))
    if ref is not None:
        print(f"reference {args.reference}: {ref:.3f}")
        for m, c in curves.items():
            hit = next((t for t, v in c if v <= ref), None)
            print(f"  {m} reaches it at {hit:.1f} CPU-minutes" if hit is not None else f"  {m}: not reached")
    result = {"curves": curves, "reference": ref, "reference_checkpoint": args.reference, "args": vars(args)}
    (out / "curve.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    plot(curves, ref, args, out / "curve.png")
    return result


def plot(curves: dict, ref: float | None, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m, c in curves.items():
        if c:
            ax.plot([t for t, _ in c], [v for _, v in c], marker="o", ms=3, label=m)
    if ref is not None:
        ax.axhline(ref, color="grey", ls="--", label=f"reference: {Path(args.reference).stem}")
    ax.set_xlabel("CPU-minutes (labels and search included; validation not)")
    ax.set_ylabel(f"validation cost ({args.source}, n={args.size}, greedy multi-start)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated: {', '.join(METHODS)}")
    ap.add_argument("--minutes", type=float, default=30, help="CPU-minutes per method (a resumed run adds to its own)")
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--source", default="uniform", help="uniform | xlike | a variant name (expert only)")
    ap.add_argument("--init-from", help="start both from this nco checkpoint (default: from scratch)")
    ap.add_argument("--every", type=float, default=2.0, help="CPU-minutes between validations (reinforce)")
    ap.add_argument("--labels-per-round", type=int, default=32)
    ap.add_argument("--label-seconds", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=2e-4, help="expert iteration's learning rate")
    ap.add_argument("--switch", type=float, default=0.25, help="expert+reinforce: the share of minutes imitating")
    ap.add_argument("--label-share", type=float, default=0.5, help="expert: the share of CPU spent labelling")
    ap.add_argument("--starts", type=int, default=16, help="expert: labelled sequences per instance and step")
    ap.add_argument("--val-size", type=int, default=128)
    ap.add_argument("--reference", default=None, help="checkpoint drawn as a line (default: the shipped cvrp100)")
    ap.add_argument("--tiny", action="store_true", help="a tiny policy (smoke tests)")
    ap.add_argument("--report-only", action="store_true", help="print and plot what the run folders hold")
    ap.add_argument("--out", type=Path, default=Path("runs/curve"))
    ap.add_argument("--add", type=Path, action="append", default=[], help="another run folder to show beside")
    args = ap.parse_args()
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown method {unknown[0]!r}; methods: {', '.join(METHODS)}")
    if args.reference is None and not args.tiny and args.source == "uniform" and args.size == 100:
        from nco.policy.checkpoints import DEFAULT_CHECKPOINT

        args.reference = str(DEFAULT_CHECKPOINT)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        cores = sorted(os.sched_getaffinity(0))
        ctx = get_context("spawn")
        procs = []
        for k, m in enumerate(args.methods):
            core = cores[k] if len(cores) >= len(args.methods) else None
            p = ctx.Process(target=_child, args=(m, args, args.out / m, core), name=m)
            p.start()
            procs.append(p)
        for p in procs:
            p.join()
        failed = [p.name for p in procs if p.exitcode]
        if failed:
            raise SystemExit(f"method {failed[0]} failed (exit {procs[0].exitcode}): see its output above")
    report(args, args.out)


if __name__ == "__main__":
    main()
