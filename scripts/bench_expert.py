"""The cost of expert iteration's two phases, idle and with CPU-bound processes beside it, side by side.

    python scripts/bench_expert.py                     # 8 labels of 100 clients at 1 s, 10 imitation steps
    python scripts/bench_expert.py --load 2 --size 50

Labelling: wall and CPU seconds per label and the teacher's mean cost (its budget is wall time, so a busy
machine gives it less CPU). Imitation: wall and CPU seconds per step (batch 32, 16 sequences an instance,
one torch thread). The labels come from the shipped cvrp100-seeded search; nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cpu_load import cpu_load  # noqa: E402


def measure(args) -> dict:
    import numpy as np
    import torch

    from nco.policy.checkpoints import DEFAULT_CHECKPOINT, load_checkpoint
    from nco.train.expert import imitation_loss, plan_batch
    from nco.train.labels import Teacher, label

    torch.set_num_threads(1)
    wall, cpu = time.perf_counter(), time.process_time()
    labels = label(
        "uniform", args.size, range(10_000, 10_000 + args.labels), Teacher(str(DEFAULT_CHECKPOINT), args.seconds)
    )
    out = {
        "label_wall": (time.perf_counter() - wall) / args.labels,
        "label_cpu": (time.process_time() - cpu) / args.labels,
    }
    out["label_cost"] = float(labels.costs.mean())
    policy, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    policy.train()
    opt = torch.optim.Adam(policy.parameters(), lr=1e-5)
    rng = np.random.default_rng(0)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        idx = rng.choice(len(labels), size=min(32, len(labels)), replace=len(labels) < 32).tolist()
        batch, follow = plan_batch(labels, idx, 16, rng, "cpu")
        loss = imitation_loss(policy, batch, follow)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out["step_wall"] = (time.perf_counter() - wall) / args.steps
    out["step_cpu"] = (time.process_time() - cpu) / args.steps
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--labels", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--load", type=int, default=1, help="CPU-bound processes beside the loaded run")
    args = ap.parse_args()
    idle = measure(args)
    with cpu_load(args.load):
        busy = measure(args)
    print(f"expert iteration, {args.size} clients, teacher {args.seconds} s; idle | {args.load} CPU-bound beside")
    for key, what in (
        ("label_wall", "wall s a label"),
        ("label_cpu", "CPU s a label"),
        ("label_cost", "teacher's mean cost"),
        ("step_wall", "wall s an imitation step"),
        ("step_cpu", "CPU s an imitation step"),
    ):
        print(f"  {what:<26} {idle[key]:>9.3f} | {busy[key]:>9.3f}")


if __name__ == "__main__":
    main()
