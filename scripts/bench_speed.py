"""Neural construction time for one instance, in-process after loading the checkpoint, idle and under load.

    python scripts/bench_speed.py --size 100 --repeats 10
    python scripts/bench_speed.py --road --size 999 --repeats 3    # Monaco roads, the matrix-aware policy
    python scripts/bench_speed.py --threads 1 --load 0             # one configuration only
    python scripts/bench_speed.py --layout xlike --size 100,500,1000,2000 --greedy-only --threads 1 \
        --repeats 3 --decoders whole,sectors --plot runs/bench/rollout-scaling.png   # one rollout against clients

For each torch thread count (`--threads`, default: torch's own default and 1,
which nco uses) and each machine state (`--load`, default: idle and with one
CPU-bound process per core beside it), prints the median and best wall time of
greedy decoding (one rollout) and of multi-start + 8-fold augmentation (800
rollouts for 100 clients), side by side in one table; then the import and
checkpoint-loading times that a one-off `nco solve` also pays. Several sizes
(`--size 100,1000`) give one table of every size; `--plot` draws the greedy
rollout's median time against the clients on log-log axes, a line per machine
state and decoder (`--decoders`: the whole instance at once, or by sectors, nco/solvers/sectors.py).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import resource
import statistics
import time

from cpu_load import cpu_load, load_average  # scripts/ is on the path of a script run from it


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="100", help="clients, or several comma-separated")
    ap.add_argument("--layout", choices=("uniform", "xlike"), default="uniform", help="planar instances' layout")
    ap.add_argument("--greedy-only", action="store_true", help="skip the 800-rollout pass (big sizes)")
    ap.add_argument("--plot", help="PNG: greedy rollout time against clients, log-log")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", help="comma-separated torch thread counts (default: torch's default,1)")
    ap.add_argument("--load", help="comma-separated numbers of CPU-bound processes beside it (default: 0,cores)")
    ap.add_argument("--checkpoint", default=None, help="default: the shipped one for the instance's features")
    ap.add_argument("--road", action="store_true", help="an instance on Monaco's roads (asymmetric matrices)")
    ap.add_argument(
        "--decoders",
        default="auto",
        help="comma-separated: whole (one rollout over every client), sectors (nco/solvers/sectors.py), auto (as"
        " nco decides)",
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    import torch

    from envs.model.check import check
    from nco.solvers import construct
    from nco.threads import available_cores

    t_import = time.perf_counter() - t0
    cores = available_cores()
    torch_default = torch.get_num_threads()
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({torch_default, 1}, reverse=True)
    loads = [int(k) for k in args.load.split(",")] if args.load else [0, cores]
    instances = _instances(args, [int(n) for n in args.size.split(",")])
    decoders = args.decoders.split(",")
    if not set(decoders) <= {"whole", "sectors", "auto"}:
        ap.error(f"--decoders: whole, sectors or auto, got {args.decoders}")
    if args.repeats < 1:
        ap.error(f"--repeats must be 1 or more, got {args.repeats}")
    t0 = time.perf_counter()
    checkpoint = construct.prepare(instances[0], args.checkpoint)
    t_load = time.perf_counter() - t0

    print(
        f"{platform.processor() or platform.machine()}, {cores} cores, torch {torch.__version__} (default"
        f" {torch_default} threads); {args.size} clients; {args.repeats} repeats after 2 warm-up runs;"
        f" {load_average()} at the start"
    )
    print(f"{', '.join(i.name for i in instances)}; checkpoint {checkpoint}")
    print(f"import {t_import:.2f} s, checkpoint load {t_load:.3f} s")
    print(
        "| clients | torch threads | machine | decoder | decoding | rollouts | median (s) | best (s) | cost |"
        " max RSS so far (MiB) |\n|---:|---:|---|---|---|---:|---:|---:|---:|---:|"
    )
    passes = [("greedy", None, 1)] + ([] if args.greedy_only else [("multi-start + 8x augmentation", 100, 8)])
    greedy: dict[str, list[tuple[int, float]]] = {}
    for procs in loads:
        with cpu_load(procs):
            if procs:
                time.sleep(1.0)  # let the spinners take their cores
            machine = "idle" if not procs else f"{procs} CPU-bound processes beside it"
            for inst, n, decoder, (name, starts, aug) in itertools.product(instances, threads, decoders, passes):
                split = {"whole": False, "sectors": True, "auto": None}[decoder]
                times = []
                for k in range(args.repeats + 2):
                    sol = construct.solve(
                        inst, checkpoint, num_starts=starts, num_augment=aug, threads=n, by_sectors=split
                    )
                    if k >= 2:
                        times.append(sol.timings["construct"])
                median = statistics.median(times)
                used = f"sectors ({sol.meta['sectors']})" if "sectors" in sol.meta else "whole"
                if name == "greedy":
                    label = f"{decoder}, {machine}, {n} thread(s)"
                    greedy.setdefault(label, []).append((inst.num_clients, median))
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(
                    f"| {inst.num_clients} | {n} | {machine} | {used} | {name} | {sol.meta['rollouts']} |"
                    f" {median:.4f} | {min(times):.4f} | {check(inst, sol).cost:,.0f} | {rss:.0f} |",
                    flush=True,
                )
    if args.plot:
        _plot(greedy, args.plot, checkpoint)
    print(
        f"peak memory (max RSS) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB;"
        f" {os.getloadavg()[0]:.1f} load average at the end"
    )


def _instances(args, sizes: list[int]) -> list:
    """One seeded instance per size: on Monaco's roads (the dataset read once), else planar of --layout."""
    if args.road:
        from envs.roads.city_dataset import DEFAULT_ROAD_DATASET, load_city_dataset, sample_instance

        dataset = load_city_dataset(DEFAULT_ROAD_DATASET)
        return [sample_instance(dataset, n, "all", args.seed) for n in sizes]
    from envs.generate.cvrp import uniform_instance, xlike_instance

    make = xlike_instance if args.layout == "xlike" else uniform_instance
    return [make(n, seed=args.seed) for n in sizes]


def _plot(greedy: dict[str, list[tuple[int, float]]], path: str, checkpoint) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in greedy.items():
        ax.loglog(*zip(*points), marker="o", label=label)
    ax.set_xlabel("clients")
    ax.set_ylabel("one greedy rollout (s)")
    ax.set_title(f"one greedy rollout, {os.path.basename(str(checkpoint))}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
