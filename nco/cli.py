"""`nco` command line: solve, check, train, and the OSRM road engine (osrm build, osrm serve).

Bad input ends in one line `error: ...` on stderr and exit status 2, never a
traceback (set NCO_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from envs.errors import NcoError
from nco.solve import SOLVERS, SolveOptions, solve_and_check

INSTANCE_SUFFIXES = (".json", ".vrp", ".txt")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NcoError as e:
        return fail(str(e))
    except KeyboardInterrupt:
        return fail("interrupted", code=130)
    except Exception as e:  # noqa: BLE001 - the CLI promises one line, not a traceback
        if os.environ.get("NCO_DEBUG"):
            raise
        return fail(
            f"unexpected {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} (NCO_DEBUG=1 shows more)"
        )


def fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nco", description="Neural vehicle routing: solve, check and train.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("solve", help="solve an instance file (JSON or VRPLIB) or every instance in a folder")
    s.add_argument("--instance", required=True, help="city.json, a VRPLIB .vrp file, or a folder of them")
    s.add_argument("--solver", choices=SOLVERS, default="nco", help="nco (trained policy), ortools or pyvrp")
    s.add_argument(
        "--time-limit",
        type=float,
        default=3.0,
        help="seconds for the whole solve (default 3); for nco, 0 = the policy alone, no search",
    )
    s.add_argument("--warm-start", action="store_true", help="ortools: start from the policy's best solution")
    s.add_argument("--seeds", type=int, default=5, help="nco: policy solutions seeding the genetic search")
    s.add_argument("--trace", action="store_true", help="print the best cost over time (nco, pyvrp, ortools)")
    s.add_argument("--trace-plot", help="PNG of the best cost over time")
    s.add_argument("--checkpoint", help="policy checkpoint (.pt with its .json); default: the shipped one")
    s.add_argument("--starts", type=int, default=100, help="POMO starts for nco (0 = single greedy rollout)")
    s.add_argument("--augment", type=int, choices=(1, 2, 4, 8), default=8, help="symmetric views for nco")
    s.add_argument(
        "--decode",
        choices=("greedy", "sampling"),
        default="greedy",
        help="nco: follow the policy greedily after each start, or sample from it",
    )
    s.add_argument("--seed", type=int, default=0, help="random seed of the search and of the robust evaluation")
    s.add_argument(
        "--samples",
        type=int,
        default=None,
        help="stochastic travel times: Monte Carlo samples of the robust evaluation (default 1000; 0 = none)",
    )
    s.add_argument(
        "--plan-quantile",
        default="0.9",
        help="stochastic travel times: plan on this quantile of each arc's travel time at peak congestion, or"
        " 'mean' for expected times (default 0.9: slack where traffic may bite)",
    )
    s.add_argument("--output", help="solution JSON file (a folder when solving a folder)")
    s.add_argument("--plot", help="PNG of the routes (a folder when solving a folder)")
    s.add_argument("--workers", type=int, default=0, help="processes for a folder (default: one per core)")
    s.add_argument("--quiet", action="store_true", help="print only the one-line summary")
    add_matrix_source(s)
    s.set_defaults(func=cmd_solve)

    c = sub.add_parser("check", help="check a solution JSON against its instance and print its cost")
    c.add_argument("--instance", required=True)
    c.add_argument("--solution", required=True)
    add_matrix_source(c)
    c.set_defaults(func=cmd_check)

    o = sub.add_parser("osrm", help="the OSRM road engine: build a road graph from OpenStreetMap data, serve it")
    osub = o.add_subparsers(dest="osrm_command", required=True)
    ob = osub.add_parser("build", help="build a road graph (MLD) from an OSM extract (.osm.pbf)")
    ob.add_argument("--pbf", required=True, help="OpenStreetMap extract, e.g. data/osm/monaco.osm.pbf")
    ob.add_argument("--out", help="folder for the graph files (default: a folder named after the extract beside it)")
    ob.add_argument("--profile", default="car", help="routing profile: car, bicycle, foot or a .lua file (default car)")
    ob.set_defaults(func=cmd_osrm_build)
    og = osub.add_parser("serve", help="serve a road graph over HTTP in the foreground (Ctrl-C stops)")
    og.add_argument("--graph", required=True, help="the graph's base path FILE.osrm (as printed by nco osrm build)")
    og.add_argument("--port", type=int, default=5000)
    og.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    og.add_argument("--max-table-size", type=int, default=1000, help="largest table (locations) one request may ask for")
    og.set_defaults(func=cmd_osrm_serve)

    t = sub.add_parser("train", help="train or fine-tune a policy (REINFORCE + POMO baseline, Lightning)")
    t.add_argument("--size", type=int, default=100, help="clients per training instance")
    t.add_argument(
        "--distribution",
        choices=("uniform", "xlike", "asymmetric", "road", "fleet", "svrp"),
        default="uniform",
        help="training instances: uniform (Kool et al.), X-like (Uchoa et al.), asymmetric (uniform with detoured"
        " one-way arcs), road (drawn from a city dataset's training split, see --dataset), fleet (heterogeneous,"
        " profiled fleets: types, costs, counts, zones, preferences) or svrp (city days with stochastic travel"
        " times: the reward charges the lateness of sampled days)",
    )
    t.add_argument("--dataset", help="city dataset .npz for --distribution road (default: data/monaco/monaco_1000.npz)")
    t.add_argument("--variants", help="train on mixed batches of these variants (comma-separated, or 'all'):"
                   " CVRP or [O]VRP[B|MB][L][TW], e.g. CVRP,VRPTW,OVRP,VRPB,VRPL. With --init-from, attributes the"
                   " checkpoint never saw get new zero-initialised input columns (adapter layers)")
    t.add_argument("--policy", choices=("attention", "matrix", "moe"),
                   help="attention (default): reads coordinates; matrix: also reads the distance/duration matrices;"
                   " moe: attention with mixture-of-experts feed-forward layers in the encoder (--experts, --top-k)."
                   " With --init-from the architecture is the checkpoint's, and naming another kind copies the"
                   " weights that fit (a planar checkpoint starts a matrix policy; a dense one an MoE policy)")
    t.add_argument("--experts", type=int, default=4, help="experts per MoE layer (--policy moe)")
    t.add_argument("--top-k", type=int, default=2, help="experts each node is routed to (--policy moe)")
    t.add_argument("--aux-weight", type=float, default=0.01, help="weight of the MoE load-balancing loss")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--train-size", type=int, default=10_000, help="instances per epoch (fresh each epoch)")
    t.add_argument("--val-size", type=int, default=256)
    t.add_argument("--starts", type=int, default=0, help="POMO starts per instance (0 = one per client)")
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--matrix-lr", type=float, help="learning rate of a matrix policy's matrix-reading parameters"
                   " (default --lr; higher when fine-tuning from a planar checkpoint)")
    t.add_argument("--layers", type=int, default=6, help="encoder layers (a new policy; --init-from keeps its own)")
    t.add_argument("--embed-dim", type=int, default=128)
    t.add_argument("--out", default="runs/cvrp", help="run folder: best.pt/last.pt (+ .json), logs, Lightning ckpts")
    t.add_argument("--init-from", help="nco checkpoint to start from (fine-tuning)")
    t.add_argument("--resume", help="Lightning checkpoint to resume exactly (e.g. RUN/lightning/last.ckpt)")
    t.add_argument("--accelerator", default="auto", help="auto, cpu, gpu")
    t.add_argument("--devices", default="auto", help="number of devices or 'auto' (DDP across several GPUs)")
    t.add_argument("--nodes", type=int, default=1, help="machines for multi-node DDP")
    t.add_argument("--logger", choices=("csv", "tensorboard", "none"), default="csv")
    t.add_argument("--max-time", help="wall-clock cap DD:HH:MM:SS")
    t.add_argument("--seed", type=int, default=1234)
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.set_defaults(func=cmd_train)
    return p


def add_matrix_source(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--osrm-url",
        metavar="URL",
        help="lon/lat instances without matrices: road distances (m) and durations (s) from this OSRM server",
    )
    g.add_argument(
        "--haversine",
        action="store_true",
        help="lon/lat instances without matrices: straight-line metres, durations at 30 km/h",
    )


def load_options(args) -> dict:
    """Keyword arguments for envs.loaders.load_instance (where lon/lat instances get their matrices)."""
    return {"osrm_url": args.osrm_url, "haversine": args.haversine}


# ---------------------------------------------------------------------- solve
def options(args) -> SolveOptions:
    return SolveOptions(
        solver=args.solver,
        time_limit=args.time_limit,
        seed=args.seed,
        checkpoint=args.checkpoint,
        num_starts=args.starts or None,
        num_augment=args.augment,
        decode=args.decode,
        num_seeds=args.seeds,
        warm_start=args.warm_start,
        plan_quantile=_quantile(args.plan_quantile),
        samples=args.samples,
    )


def _quantile(text: str) -> float | None:
    if text == "mean":
        return None
    try:
        q = float(text)
    except ValueError:
        q = float("nan")
    if not 0 < q < 1:
        raise NcoError(f"--plan-quantile must be 'mean' or a number between 0 and 1, got {text!r}")
    return q


def cmd_solve(args) -> int:
    path = Path(args.instance)
    if args.time_limit < 0:
        raise NcoError("--time-limit must be zero or positive")
    if path.is_dir():
        return solve_folder(path, args)
    from envs.loaders import load_instance

    instance = load_instance(path, **load_options(args))
    solution, report = solve_and_check(instance, options(args))
    write_outputs(instance, solution, report, args.output, args.plot)
    print(summary(instance, solution, report, routes=not args.quiet))
    if args.trace:
        print(trace_text(solution))
    if args.trace_plot:
        from nco.plot import plot_trace

        try:
            plot_trace(solution, args.trace_plot, instance.name)
        except ValueError as e:  # the solution is already written: say why there is no picture
            raise NcoError(str(e)) from None
    return 0 if report.feasible else 1


def trace_text(solution) -> str:
    trace = solution.meta.get("trace")
    if not trace:
        return "  (no anytime trace: this solver does not record one)"
    return "\n".join(["  best cost over time:"] + [f"  {t:8.3f} s  {c:.6g}" for t, c in trace])


def write_outputs(instance, solution, report, output: str | None, plot: str | None) -> None:
    if output:
        from envs.json_format import save_solution_json

        save_solution_json(instance, solution, report, output)
    if plot:
        from nco.plot import plot_routes

        plot_routes(instance, solution, report, plot)


def summary(instance, solution, report, routes: bool = True) -> str:
    total = solution.timings.get("total", sum(solution.timings.values()))
    head = (
        f"{instance.name}: {instance.num_clients} clients | solver {solution.solver} | cost {report.cost:.6g}"
        f" | {report.num_routes} vehicles | {total:.3f} s | {'feasible' if report.feasible else 'INFEASIBLE'}"
    )
    if solution.meta.get("checkpoint"):  # which policy built it: planar or matrix-aware
        head += f" | policy {Path(solution.meta['checkpoint']).stem}"
    if instance.best_known:
        head += f" | gap {100 * (report.cost - instance.best_known) / instance.best_known:+.2f}% to best known"
    lines = [head]
    if solution.meta.get("note"):
        lines.append(f"  note: {solution.meta['note']}")
    if solution.meta.get("planned_on"):
        lines.append(f"  planned on {solution.meta['planned_on']}; cost and feasibility above on nominal times")
    if solution.meta.get("robust"):
        import numpy as np

        from envs.robust import RobustReport

        robust = solution.meta["robust"]
        lines.append("  robust: " + RobustReport(**{**robust, "on_time": np.asarray(robust["on_time"])}).summary())
    if routes:
        ids = instance.ids
        for k, (route, st) in enumerate(zip([r for r in solution.routes if r.visits], report.routes)):
            veh = instance.fleet[route.vehicle_type]
            stops = " ".join(str(ids[c]) for c in route.visits)
            lines.append(
                f"  route {k + 1:>3} [{veh.name or route.vehicle_type}] load {st.delivery:g}/{veh.capacity:g}"
                f" dist {st.distance:.6g}: {stops}"
            )
        lines += [f"  violation: {v}" for v in report.violations]
    return "\n".join(lines)


def _solve_one(
    path: str, opts: SolveOptions, output: str | None, plot: str | None, load: dict | None = None
) -> tuple[str, str, bool]:
    """Worker: solve one file; errors come back as text so the other files still finish."""
    from envs.loaders import load_instance

    try:
        instance = load_instance(path, **(load or {}))
        solution, report = solve_and_check(instance, opts)
        stem = Path(path).stem
        write_outputs(
            instance,
            solution,
            report,
            str(Path(output) / f"{stem}.solution.json") if output else None,
            str(Path(plot) / f"{stem}.png") if plot else None,
        )
        return path, summary(instance, solution, report, routes=False), report.feasible
    except NcoError as e:
        return path, f"error: {e}", False


def solve_folder(folder: Path, args) -> int:
    files = sorted(str(p) for p in folder.iterdir() if p.suffix in INSTANCE_SUFFIXES and p.is_file())
    files = [f for f in files if not f.endswith(".solution.json")]
    if not files:
        raise NcoError(f"no instance files (*.json, *.vrp) in folder {folder}")
    workers = args.workers or min(len(files), os.cpu_count() or 1)
    opts = options(args)
    started = time.perf_counter()
    failed = 0
    from tqdm import tqdm

    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_solve_one, f, opts, args.output, args.plot, load_options(args)) for f in files]
        bar = tqdm(as_completed(futures), total=len(files), unit="instance", disable=None, file=sys.stderr)
        results = []
        for fut in bar:
            path, line, ok = fut.result()
            failed += not ok
            results.append((path, line))
    for _, line in sorted(results):
        print(line)
    print(
        f"{len(files)} instances, {len(files) - failed} feasible, {time.perf_counter() - started:.1f} s with {workers} workers"
    )
    return 0 if failed == 0 else 1


# ---------------------------------------------------------------------- check
def cmd_check(args) -> int:
    from envs.checker import check
    from envs.json_format import load_solution_json
    from envs.loaders import load_instance

    instance = load_instance(args.instance, **load_options(args))
    solution = load_solution_json(instance, args.solution)
    report = check(instance, solution)
    solution.timings.setdefault("total", 0.0)
    print(summary(instance, solution, report))
    return 0 if report.feasible else 1


# ---------------------------------------------------------------------- train
def cmd_train(args) -> int:
    from nco.policy import PolicyConfig

    for flag, value in (("--init-from", args.init_from), ("--resume", args.resume)):
        if value and not Path(value).exists():
            raise NcoError(f"{flag}: checkpoint not found: {value}")
    from nco.training import TrainConfig, train

    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    if args.init_from:  # the checkpoint's architecture; --policy may switch its matrix inputs on or off
        from nco.checkpoint import read_checkpoint_info

        own = PolicyConfig(**read_checkpoint_info(args.init_from)["config"])
        policy = replace(own, matrix=args.policy == "matrix") if args.policy in ("attention", "matrix") else own
    else:
        policy = PolicyConfig(num_layers=args.layers, embed_dim=args.embed_dim, matrix=args.policy == "matrix")
    if args.variants:
        from envs.variants import parse_variants

        try:
            parse_variants(args.variants)
        except ValueError as e:
            raise NcoError(f"--variants: {e}") from None
    cfg = TrainConfig(
        num_clients=args.size,
        distribution=args.distribution,
        epochs=args.epochs,
        batch_size=args.batch_size,
        train_size=args.train_size,
        val_size=args.val_size,
        num_starts=args.starts or None,
        lr=args.lr,
        matrix_lr=args.matrix_lr,
        variants=args.variants,
        moe_experts=args.experts if args.policy == "moe" else 0,
        moe_top_k=args.top_k,
        aux_weight=args.aux_weight,
        policy=policy,
        dataset=args.dataset,
        out_dir=args.out,
        init_from=args.init_from,
        resume=args.resume,
        accelerator=args.accelerator,
        devices=devices,
        num_nodes=args.nodes,
        logger=args.logger,
        seed=args.seed,
        progress_bar=not args.no_progress,
        max_time=args.max_time,
    )
    result = train(cfg)
    print(f"trained: validation cost {result['val_cost']:.4f}; checkpoint {result['best']}")
    return 0


# ---------------------------------------------------------------------- osrm
def cmd_osrm_build(args) -> int:
    from nco import osrm_engine

    started = time.perf_counter()
    graph = osrm_engine.build(args.pbf, args.out, profile=args.profile)
    print(
        f"built {graph} ({args.profile} profile, MLD) in {time.perf_counter() - started:.1f} s;"
        f" graph fingerprint {osrm_engine.graph_fingerprint(graph)}"
    )
    print(f"serve it with: nco osrm serve --graph {graph}")
    return 0


def cmd_osrm_serve(args) -> int:
    from nco import osrm_engine

    if not 0 < args.port < 65536:
        raise NcoError(f"--port must be between 1 and 65535, got {args.port}")
    graph = osrm_engine.check_graph(args.graph)
    proc = osrm_engine.serve(graph, args.port, args.max_table_size, ip=args.ip, quiet=False)
    print(
        f"serving {graph} at http://{args.ip}:{args.port} (OSRM {osrm_engine.version()}, MLD,"
        f" max table size {args.max_table_size}, graph fingerprint {osrm_engine.graph_fingerprint(graph)});"
        " Ctrl-C stops",
        flush=True,
    )
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        osrm_engine.stop(proc)
        print("stopped", flush=True)
        return 0
    return fail(f"osrm-routed exited with status {code}") if code else 0


if __name__ == "__main__":
    sys.exit(main())
