"""Neural construction time for one instance, in-process after loading the checkpoint.

    python scripts/bench_speed.py --size 100 --repeats 20
    python scripts/bench_speed.py --road --size 999 --repeats 3    # Monaco roads, the matrix-aware policy

Prints the median and best wall time of greedy decoding (one rollout) and of
multi-start + 8-fold augmentation (800 rollouts for 100 clients), and the
import and checkpoint-loading times that a one-off `nco solve` also pays.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--checkpoint", default=None, help="default: the shipped one for the instance's features")
    ap.add_argument("--road", action="store_true", help="an instance on Monaco's roads (asymmetric matrices)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import torch

    from envs.generators import uniform_instance
    from nco import neural_solver

    t_import = time.perf_counter() - t0
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.road:
        from envs.city_dataset import DEFAULT_ROAD_DATASET, load_city_dataset, sample_instance

        inst = sample_instance(load_city_dataset(DEFAULT_ROAD_DATASET), args.size, "all", args.seed)
    else:
        inst = uniform_instance(args.size, args.seed)
    t0 = time.perf_counter()
    checkpoint = neural_solver.prepare(inst, args.checkpoint)
    t_load = time.perf_counter() - t0

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__},"
          f" {torch.get_num_threads()} threads; {args.size} clients; {args.repeats} repeats after 2 warm-up runs")
    print(f"{inst.name}; checkpoint {checkpoint}")
    print(f"import {t_import:.2f} s, checkpoint load {t_load:.3f} s")
    print("| decoding | rollouts | median (s) | best (s) |\n|---|---:|---:|---:|")
    for name, starts, aug in (("greedy", None, 1), ("multi-start + 8x augmentation", 100, 8)):
        times = []
        for k in range(args.repeats + 2):
            sol = neural_solver.solve(inst, checkpoint=checkpoint, num_starts=starts, num_augment=aug)
            if k >= 2:
                times.append(sol.timings["construct"])
        print(f"| {name} | {sol.meta['rollouts']} | {statistics.median(times):.4f} | {min(times):.4f} |")
    print(f"peak memory (max RSS) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
