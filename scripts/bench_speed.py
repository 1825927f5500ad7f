"""Neural construction time for one instance, in-process after loading the checkpoint, idle and under load.

    python scripts/bench_speed.py --size 100 --repeats 10
    python scripts/bench_speed.py --road --size 999 --repeats 3    # Monaco roads, the matrix-aware policy
    python scripts/bench_speed.py --threads 1 --load 0             # one configuration only

For each torch thread count (`--threads`, default: torch's own default and 1,
which nco uses) and each machine state (`--load`, default: idle and with one
CPU-bound process per core beside it), prints the median and best wall time of
greedy decoding (one rollout) and of multi-start + 8-fold augmentation (800
rollouts for 100 clients), side by side in one table; then the import and
checkpoint-loading times that a one-off `nco solve` also pays.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time

from cpu_load import cpu_load, load_average  # scripts/ is on the path of a script run from it


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", help="comma-separated torch thread counts (default: torch's default,1)")
    ap.add_argument("--load", help="comma-separated numbers of CPU-bound processes beside it (default: 0,cores)")
    ap.add_argument("--checkpoint", default=None, help="default: the shipped one for the instance's features")
    ap.add_argument("--road", action="store_true", help="an instance on Monaco's roads (asymmetric matrices)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import torch

    from envs.generate.cvrp import uniform_instance
    from nco.solvers import construct
    from nco.threads import available_cores

    t_import = time.perf_counter() - t0
    cores = available_cores()
    torch_default = torch.get_num_threads()
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({torch_default, 1}, reverse=True)
    loads = [int(k) for k in args.load.split(",")] if args.load else [0, cores]
    if args.road:
        from envs.roads.city_dataset import DEFAULT_ROAD_DATASET, load_city_dataset, sample_instance

        inst = sample_instance(load_city_dataset(DEFAULT_ROAD_DATASET), args.size, "all", args.seed)
    else:
        inst = uniform_instance(args.size, args.seed)
    t0 = time.perf_counter()
    checkpoint = construct.prepare(inst, args.checkpoint)
    t_load = time.perf_counter() - t0

    print(
        f"{platform.processor() or platform.machine()}, {cores} cores, torch {torch.__version__} (default"
        f" {torch_default} threads); {args.size} clients; {args.repeats} repeats after 2 warm-up runs;"
        f" {load_average()} at the start"
    )
    print(f"{inst.name}; checkpoint {checkpoint}")
    print(f"import {t_import:.2f} s, checkpoint load {t_load:.3f} s")
    print("| torch threads | machine | decoding | rollouts | median (s) | best (s) |\n|---:|---|---|---:|---:|---:|")
    for procs in loads:
        with cpu_load(procs):
            if procs:
                time.sleep(1.0)  # let the spinners take their cores
            for n in threads:
                for name, starts, aug in (("greedy", None, 1), ("multi-start + 8x augmentation", 100, 8)):
                    times = []
                    for k in range(args.repeats + 2):
                        sol = construct.solve(inst, checkpoint, num_starts=starts, num_augment=aug, threads=n)
                        if k >= 2:
                            times.append(sol.timings["construct"])
                    machine = "idle" if not procs else f"{procs} CPU-bound processes beside it"
                    print(
                        f"| {n} | {machine} | {name} | {sol.meta['rollouts']} | {statistics.median(times):.4f} |"
                        f" {min(times):.4f} |",
                        flush=True,
                    )
    print(
        f"peak memory (max RSS) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB;"
        f" {os.getloadavg()[0]:.1f} load average at the end"
    )


if __name__ == "__main__":
    main()
