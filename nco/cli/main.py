"""`nco` command line: solve, check, train, and the OSRM road engine (osrm build, osrm serve).

Bad input ends in one line `error: ...` on stderr and exit status 2, never a
traceback (set NCO_DEBUG=1 to see one). Exit statuses: 0 feasible, 1 infeasible
or incomplete, 2 bad input, 3 no solution found within the budget, 130 after
Ctrl-C, 143 after SIGTERM.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from envs.errors import (
    EXIT_BAD_INPUT,
    EXIT_FEASIBLE,
    EXIT_INFEASIBLE,
    EXIT_NO_SOLUTION,
    Interrupted,
    NcoError,
    NoSolutionFound,
)
from nco.cli.render import policy_name, say, shown, summary, trace_text
from nco.solvers.pipeline import TIME_LIMIT_ZERO, SolveOptions, solve_and_check
from nco.solvers.registry import ALIASES
from nco.solvers.registry import SOLVERS as REGISTERED
from nco.threads import INFERENCE_THREADS, available_cores, split_cores

INSTANCE_SUFFIXES = (".json", ".vrp", ".txt")


class Terminated(Exception):
    """SIGTERM arrived: unwind like Ctrl-C does, so that servers stop and the exit status says why."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (nco embedded in another program): its handlers stay
        previous = None
    try:
        return args.func(args)
    except BrokenPipeError:  # `nco solve ... | head`: the reader left; the work is done and its files written
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return getattr(args, "exit_code", EXIT_FEASIBLE)
    except NoSolutionFound as e:
        return fail(str(e), code=EXIT_NO_SOLUTION)
    except NcoError as e:
        return fail(str(e), code=EXIT_BAD_INPUT if e.exit_code is None else e.exit_code)
    except KeyboardInterrupt:
        return fail("interrupted", code=130)
    except Terminated:
        return fail("terminated (SIGTERM)", code=143)
    except Exception as e:  # noqa: BLE001 - the CLI promises one line, not a traceback
        if os.environ.get("NCO_DEBUG"):
            raise
        return fail(
            f"unexpected {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} (NCO_DEBUG=1 shows more)"
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"error: {shown(message)}", file=sys.stderr)  # one line, whatever a file name or id holds
    return code


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += " (default: %(default)s)"
        return text


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"nco {version('nco')}"
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "nco (not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nco", description="Neural vehicle routing: solve, check and train.", formatter_class=HelpFormatter
    )
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True)

    def add_parser(parent, name: str, **kwargs) -> argparse.ArgumentParser:
        return parent.add_parser(name, formatter_class=HelpFormatter, **kwargs)

    s = add_parser(sub, "solve", help="solve an instance file (JSON or VRPLIB) or every instance in a folder")
    s.add_argument("--instance", required=True, help="city.json, a VRPLIB .vrp file, or a folder of them")
    s.add_argument(
        "--solver", choices=[*REGISTERED, *ALIASES], default="hybrid", metavar="NAME",
        help="; ".join(f"{k}: {v}" for k, v in REGISTERED.items()) + "; nco: the old name of hybrid",
    )  # fmt: skip
    s.add_argument(
        "--time-limit",
        type=float,
        default=3.0,
        help="wall-clock seconds for the solve, start-up (imports, loading the checkpoint) excluded; any budget"
        " returns at least a construction. 0 = the construction alone, no search: "
        + "; ".join(f"{k}: {v}" for k, v in TIME_LIMIT_ZERO.items()),
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
    s.add_argument(
        "--workers", type=int, default=0,
        help="processes for a folder (default: one per core, at most one per file; never more than the cores)",
    )  # fmt: skip
    s.add_argument(
        "--threads", type=int, default=None,
        help=f"torch threads of the policy (default {INFERENCE_THREADS}: fastest for one instance, and robust on a busy"
        " machine; a folder gives each worker at most its share of the cores)",
    )  # fmt: skip
    s.add_argument("--quiet", action="store_true", help="print only the one-line summary")
    add_matrix_source(s)
    s.set_defaults(func=cmd_solve)

    c = add_parser(
        sub, "check", help="check a solution (nco JSON or VRPLIB .sol) against its instance and print its cost",
        description="Re-check a saved plan with the checker. The summary's cost, vehicles, time, feasibility"
        " and violations are the check's own; what the file says of its solve (time, policy, notes) is labelled"
        " 'the file says'. Where the file states a cost, distance, feasibility or vehicle count (a JSON's fields,"
        " a .sol's Cost line) that the check contradicts, a 'note: the file claims ...' line says so; a cost"
        " agrees within 1e-6 relative or half a unit of its last written decimal (a .sol Cost rounded to an"
        " integer agrees; it may also be in PyVRP's x1e5 units). Exit status: 0 feasible and every claim"
        " agrees; 1 infeasible, or a claim disagrees (the file is wrong); 2 unreadable or malformed file.",
    )  # fmt: skip
    c.add_argument("--instance", required=True, help="the instance file the plan is for (JSON or VRPLIB)")
    c.add_argument(
        "--solution", required=True,
        help="nco's solution JSON (nco solve --output), or VRPLIB solution text (a .sol file: 'Route #1: 3 5 7'"
        " lines numbering the clients 1..n in file order, the depot left out, and an optional 'Cost 123' line)",
    )  # fmt: skip
    add_matrix_source(c)
    c.set_defaults(func=cmd_check)

    o = add_parser(sub, "osrm", help="the OSRM road engine: build a road graph from OpenStreetMap data, serve it")
    osub = o.add_subparsers(dest="osrm_command", required=True)
    ob = add_parser(osub, "build", help="build a road graph (MLD) from an OSM extract (.osm.pbf)")
    ob.add_argument("--pbf", required=True, help="OpenStreetMap extract, e.g. data/osm/monaco.osm.pbf")
    ob.add_argument("--out", help="folder for the graph files (default: a folder named after the extract beside it)")
    ob.add_argument("--profile", default="car", help="routing profile: car, bicycle, foot or a .lua file (default car)")
    ob.set_defaults(func=cmd_osrm_build)
    og = add_parser(osub, "serve", help="serve a road graph over HTTP in the foreground (Ctrl-C stops)")
    og.add_argument("--graph", required=True, help="the graph's base path FILE.osrm (as printed by nco osrm build)")
    og.add_argument("--port", type=int, default=5000, help="TCP port to listen on")
    og.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    og.add_argument("--max-table-size", type=int, default=1000, help="largest table (locations) one request may ask for")
    og.set_defaults(func=cmd_osrm_serve)

    t = add_parser(sub, "train", help="train or fine-tune a policy (REINFORCE + POMO baseline, Lightning)")
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
    t.add_argument("--epochs", type=int, default=10, help="passes, each over --train-size fresh instances")
    t.add_argument("--batch-size", type=int, default=64, help="instances per gradient step")
    t.add_argument("--train-size", type=int, default=10_000, help="instances per epoch (fresh each epoch)")
    t.add_argument("--val-size", type=int, default=256, help="validation instances (the same every epoch)")
    t.add_argument("--starts", type=int, default=0, help="POMO starts per instance (0 = one per client)")
    t.add_argument("--lr", type=float, default=1e-4, help="Adam's learning rate")
    t.add_argument("--matrix-lr", type=float, help="learning rate of a matrix policy's matrix-reading parameters"
                   " (default --lr; higher when fine-tuning from a planar checkpoint)")
    t.add_argument("--layers", type=int, default=6, help="encoder layers (a new policy; --init-from keeps its own)")
    t.add_argument("--embed-dim", type=int, default=128, help="embedding width (a new policy)")
    t.add_argument("--out", default="runs/cvrp", help="run folder: best.pt/last.pt (+ .json), logs, Lightning ckpts")
    t.add_argument("--init-from", help="nco checkpoint to start from (fine-tuning)")
    t.add_argument("--resume", help="Lightning checkpoint to resume exactly (e.g. RUN/lightning/last.ckpt)")
    t.add_argument("--accelerator", default="auto", help="auto, cpu, gpu")
    t.add_argument("--devices", default="auto", help="number of devices or 'auto' (DDP across several GPUs)")
    t.add_argument("--nodes", type=int, default=1, help="machines for multi-node DDP")
    t.add_argument("--logger", choices=("csv", "tensorboard", "none"), default="csv", help="metrics log format")
    t.add_argument("--max-time", help="wall-clock cap DD:HH:MM:SS")
    t.add_argument("--seed", type=int, default=1234, help="random seed of the training data and the model")
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
    p.add_argument(
        "--unreachable",
        choices=("refuse", "drop", "report"),
        default="refuse",
        help="with --osrm-url, pairs of locations with no road route (one-way streets out of a clipped extract):"
        " refuse (default) names one and stops; drop solves the clients with a road route from the depot and"
        " back, lists the others (summary, the solution's dropped_clients) and exits 1 as for an incomplete plan;"
        " report prints which locations cannot reach which, and writes it as JSON to --output when given,"
        " without solving (exit 1 if any pair has no route, 0 if none)",
    )
    p.add_argument(
        "--osrm-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with --osrm-url, the longest wait for each request to the server, from connect to its answer's last"
        " byte (a server that stalls or trickles is refused in one line)",
    )


def load_options(args) -> dict:
    """Keyword arguments for envs.io.load.load_instance (where lon/lat instances get their matrices)."""
    if args.unreachable != "refuse" and not args.osrm_url:  # only road tables have unreachable pairs
        raise NcoError(f"--unreachable {args.unreachable} needs --osrm-url")
    if not 0 < args.osrm_timeout < math.inf:  # also refuses nan, which argparse's float accepts
        raise NcoError(f"--osrm-timeout must be a positive number of seconds, got {args.osrm_timeout:g}")
    return {
        "osrm_url": args.osrm_url,
        "haversine": args.haversine,
        "unreachable": args.unreachable,
        "osrm_timeout": args.osrm_timeout,
    }


# ---------------------------------------------------------------------- --unreachable report
def report_unreachable(args) -> int:
    """`--unreachable report`: print which locations cannot reach which by road, instead of solving.

    The loader answers with UnreachablePairs, carrying the road table; with --output the report is
    also written there as JSON. Exit 1 (incomplete) if any pair has no road route, 0 if none.
    """
    from envs.io.json_format import dumps
    from envs.io.load import load_instance
    from envs.roads.osrm_client import UnreachablePairs

    try:
        load_instance(args.instance, **load_options(args))
    except UnreachablePairs as found:
        say(reachability_text(found))
        if getattr(args, "output", None):
            missing, ids = found.missing, found.ids
            rows = [
                {
                    "id": ids[i],
                    "cannot_reach": [ids[j] for j in missing[i].nonzero()[0]],
                    "cannot_be_reached_from": [ids[j] for j in missing[:, i].nonzero()[0]],
                }
                for i in range(len(ids))
                if missing[i].any() or missing[:, i].any()
            ]
            doc = {
                "instance": found.name,
                "locations": len(ids),
                "ordered_pairs": len(ids) * (len(ids) - 1),
                "unreachable_pairs": int(missing.sum()),
                "dropped_by_drop": found.dropped,
                "unreachable": rows,
            }
            from envs.io.output_files import write_text

            write_text(args.output, dumps(doc))
        return found.exit_code
    raise NcoError(f"{args.instance}: no road table to report on")  # the loader raises in report mode


def reachability_text(found, first: int = 3) -> str:
    """A table of the locations with unreachable pairs: how many locations each cannot reach and how many
    cannot reach it, the first few of each, whether --unreachable drop would drop it; then the one-line total."""
    missing, ids = found.missing, found.ids
    dropped = set(map(str, found.dropped))

    def few(js) -> str:
        names = [shown(ids[j]) for j in js[:first]]
        return f"{len(js)}" + (f" ({', '.join(names)}{', ...' if len(js) > first else ''})" if len(js) else "")

    rows = [
        (shown(ids[i]), few(out.nonzero()[0]), few(into.nonzero()[0]), "dropped" if str(ids[i]) in dropped else "")
        for i, (out, into) in enumerate(zip(missing, missing.T))
        if out.any() or into.any()
    ]
    lines = [f"{shown(found.name)}: road reachability of {len(ids)} locations (the depot and {len(ids) - 1} clients)"]
    if rows:
        head = ("location", "cannot reach", "cannot be reached from", "--unreachable drop")
        widths = [max(len(r[k]) for r in [head, *rows]) for k in range(4)]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    lines.append(found.total)
    return "\n".join(lines)


# ---------------------------------------------------------------------- solve
def options(args) -> SolveOptions:
    """The solve's options from the command line, checked; the solver's name as the registry spells it."""
    from nco.solvers.registry import canonical, options_for

    name = canonical(args.solver)
    opts = SolveOptions(
        solver=options_for(name, 0.0).solver,
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
        threads=args.threads,
    )
    opts.validate(OPTION_NAMES)
    if name == "policy":  # the policy alone: no search, whatever the budget
        opts = replace(opts, time_limit=0.0)
    if name == "ortools+policy":
        opts = replace(opts, warm_start=True)
    return opts


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


# what each SolveOptions field is called on the command line, for SolveOptions.validate's messages
OPTION_NAMES = {
    "time_limit": "--time-limit",
    "solver": "--solver",
    "num_starts": "--starts",
    "num_seeds": "--seeds",
    "num_augment": "--augment",
    "decode": "--decode",
    "samples": "--samples",
    "threads": "--threads",
    "seed": "--seed",
}


def cmd_solve(args) -> int:
    """Solve one file (or each file of a folder). Everything that can be refused is refused before the solve
    (options, output paths, the instance); the summary is printed before the optional files are written, and
    a write that fails names its file without losing the plan. Ctrl-C or SIGTERM ends the search with its best
    plan so far, printed and saved as interrupted (exit 130 or 143)."""
    path = Path(args.instance)
    opts = options(args)
    opts.validate(OPTION_NAMES)
    if args.workers < 0:
        raise NcoError(f"--workers must be 1 or more (0: one per core), got {args.workers}")
    if path.is_dir():
        return solve_folder(path, args, opts)
    if args.unreachable == "report":
        return report_unreachable(args)
    if opts.threads and opts.threads > available_cores():  # more threads than cores only wait for each other
        print(f"note: {available_cores()} policy threads, not {opts.threads}: {available_cores()} cores", file=sys.stderr)
        opts = replace(opts, threads=available_cores())
    check_targets(args, folder=False)
    from envs.io.load import load_instance

    instance = load_instance(path, **load_options(args))
    if args.plot and instance.coords is None:
        raise NcoError(f"--plot {args.plot}: instance {instance.name} has no coordinates to draw")
    solution, report, stopped = solve_stoppably(instance, opts, announce=progress_wanted())
    complete = report.feasible and not instance.dropped  # dropped clients: an incomplete plan
    args.exit_code = 128 + stopped if stopped else EXIT_FEASIBLE if complete else EXIT_INFEASIBLE
    say(summary(instance, solution, report, routes=not args.quiet))
    if args.trace:
        say(trace_text(solution))
    try:
        write_outputs(instance, solution, report, args.output, args.plot)
    except NcoError:
        if args.quiet:  # the routes are not on the screen: print them, so the plan is not lost with the file
            say("\n".join(summary(instance, solution, report).splitlines()[1:]))
        raise
    if args.trace_plot:
        from nco.cli.plot import plot_trace

        try:
            plot_trace(solution, args.trace_plot, instance.name)
        except ValueError as e:  # the solution is already written: say why there is no picture
            raise NcoError(str(e)) from None
    return args.exit_code


def check_targets(args, folder: bool) -> None:
    """Refuse an output path that could not be written, before the budget is spent on a plan it would lose."""
    from envs.io.output_files import check_file_target, check_folder_target

    check = check_folder_target if folder else check_file_target
    if args.output:
        check(args.output, f"--output {args.output}")
    if args.plot:
        if folder:
            check(args.plot, f"--plot {args.plot}")
        else:
            from nco.cli.plot import check_plot_target

            check_plot_target(args.plot, f"--plot {args.plot}")
    if getattr(args, "trace_plot", None):
        if folder:
            raise NcoError("--trace-plot draws one solve's curve; it does not apply to a folder")
        from nco.cli.plot import check_plot_target

        check_plot_target(args.trace_plot, f"--trace-plot {args.trace_plot}")


def progress_wanted(on_a_terminal: bool = True) -> bool:
    """Progress lines on stderr: as NCO_PROGRESS says (1 on, 0 off), else on a terminal (folder workers: not
    by default, their lines would break the progress bar)."""
    flag = os.environ.get("NCO_PROGRESS", "")
    return flag == "1" if flag in ("0", "1") else on_a_terminal and sys.stderr.isatty()


def solve_stoppably(instance, opts: SolveOptions, announce: bool = False):
    """solve_and_check with Ctrl-C and SIGTERM deferred to the search: (solution, report, signal or 0). An
    interrupted solve's plan is the best so far, with a note saying so. `announce`: a stderr line when the
    solve starts (from then on a signal stops the search, not the process)."""
    from envs import interrupt

    try:
        with interrupt.stoppable():
            if announce:
                print(f"solving {shown(instance.name)} ({instance.num_clients} clients) with {opts.solver} for"
                      f" {opts.time_limit:g} s; Ctrl-C stops it with the best plan so far", file=sys.stderr, flush=True)  # fmt: skip
            try:
                solution, report = solve_and_check(instance, opts)
            finally:
                stopped = interrupt.requested() or 0
                interrupt.reset()
    except NoSolutionFound as e:
        if stopped:  # nothing to save: say it was the signal, not the budget
            raise Interrupted(f"interrupted by {interrupt.signal_name(stopped)} before any plan: {e}", stopped) from None
        raise
    if stopped:
        note = f"interrupted by {interrupt.signal_name(stopped)}: the best plan found so far"
        name = interrupt.signal_name(stopped)  # meta.interrupted: for programs reading the JSON
        solution = replace(solution, notes=[note, *solution.notes], meta={**solution.meta, "interrupted": name})
    return solution, report, stopped


def write_outputs(instance, solution, report, output: str | None, plot: str | None) -> None:
    if output:
        from envs.io.json_format import save_solution_json

        save_solution_json(instance, solution, report, output)
    if plot:
        from nco.cli.plot import plot_routes

        plot_routes(instance, solution, report, plot)


_worker_stop = 0  # in a folder's worker process: the signal that ended the batch (its next files do not start)


def _worker_init() -> None:
    """A folder worker records Ctrl-C and SIGTERM instead of dying: the solve running stops at its next check
    (interrupt.stoppable) and saves its best plan; files not yet started are skipped."""

    def record(signum, frame):
        global _worker_stop
        _worker_stop = _worker_stop or signum

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, record)


def _solve_one(
    path: str, opts: SolveOptions, output: str | None, plot: str | None, load: dict | None = None
) -> tuple[str, str, int, bool]:
    """Worker: solve one file into the given output and plot paths; (path, its summary line, its exit status,
    whether its plan is feasible and complete).
    Errors come back as that file's line, so the other files still finish."""
    from envs.io.load import load_instance

    global _worker_stop
    name = shown(Path(path).name)
    if _worker_stop:
        return path, f"{name}: not started (interrupted)", 128 + _worker_stop, False
    try:
        instance = load_instance(path, **(load or {}))
        if plot and instance.coords is None:
            plot = None  # one file without coordinates does not stop the batch; its line says so
            missing = " (no picture: the instance has no coordinates)"
        else:
            missing = ""
        solution, report, stopped = solve_stoppably(instance, opts, announce=progress_wanted(on_a_terminal=False))
        _worker_stop = _worker_stop or stopped
        write_outputs(instance, solution, report, output, plot)
        line = summary(instance, solution, report, routes=False) + missing
        complete = report.feasible and not instance.dropped
        return path, line, 128 + stopped if stopped else EXIT_FEASIBLE if complete else EXIT_INFEASIBLE, complete
    except NcoError as e:
        return path, f"error: {e}", EXIT_BAD_INPUT if e.exit_code is None else e.exit_code, False
    except Exception as e:  # noqa: BLE001 - one file's failure is that file's line, not the batch's end
        first = str(e).splitlines()[0] if str(e) else ""
        return path, f"error: {name}: unexpected {type(e).__name__}: {first}", EXIT_BAD_INPUT, False


def output_names(files: list[str]) -> dict[str, str]:
    """Each file's stem for its outputs (a.json: a.solution.json, a.png); files whose stems collide (a.json
    and a.vrp) keep their whole names (a.json.solution.json, a.vrp.solution.json) so none overwrites another."""
    from collections import Counter

    stems = Counter(Path(f).stem for f in files)
    return {f: Path(f).stem if stems[Path(f).stem] == 1 else Path(f).name for f in files}


def solve_folder(folder: Path, args, opts: SolveOptions) -> int:
    """Solve every instance file of `folder` in worker processes; each file fails alone (its own error line).
    Ctrl-C or SIGTERM: the running solves stop with their best plans (saved, marked interrupted), files not
    started are skipped, every file's line is printed, and the exit status is 130 or 143."""
    files = sorted(str(p) for p in folder.iterdir() if p.suffix in INSTANCE_SUFFIXES and p.is_file())
    files = [f for f in files if not f.endswith(".solution.json")]
    if not files:
        raise NcoError(f"no instance files (*.json, *.vrp, *.txt) in folder {folder}")
    check_targets(args, folder=True)
    load = load_options(args)
    names = output_names(files)
    if any(names[f] != Path(f).stem for f in files):
        print("note: files with one stem and different suffixes keep their suffix in their output names"
              " (a.json.solution.json)", file=sys.stderr)  # fmt: skip
    # never more busy threads than cores: policies decode with their share of the cores each
    workers, threads = split_cores(args.workers, args.threads, len(files))
    if args.workers > workers:
        print(f"note: {workers} workers, not {args.workers}: {available_cores()} cores, {len(files)} files",
              file=sys.stderr)  # fmt: skip
    if args.threads and args.threads > threads:
        print(f"note: {threads} policy threads per worker, not {args.threads}: {available_cores()} cores for"
              f" {workers} workers", file=sys.stderr)  # fmt: skip
    opts = replace(opts, threads=threads)
    started = time.perf_counter()
    from tqdm import tqdm

    def outputs(f: str) -> tuple[str | None, str | None]:
        stem = names[f]
        return (
            str(Path(args.output) / f"{stem}.solution.json") if args.output else None,
            str(Path(args.plot) / f"{stem}.png") if args.plot else None,
        )

    results: dict[str, tuple[str, bool]] = {}
    stop = {"signal": 0}
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
        futures = {pool.submit(_solve_one, f, opts, *outputs(f), load): f for f in files}

        def on_signal(signum, frame):
            if stop["signal"]:  # a second signal: end now, the running solves with it
                for proc in list(pool._processes.values()):
                    proc.kill()
                raise KeyboardInterrupt if signum == signal.SIGINT else Terminated()
            stop["signal"] = signum
            for fut in futures:
                fut.cancel()  # files not started stay unstarted
            for proc in list(pool._processes.values()):  # a SIGTERM to nco alone reaches the solves too
                try:
                    os.kill(proc.pid, signum)
                except OSError:
                    pass

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            bar = tqdm(as_completed(futures), total=len(files), unit="instance", disable=None, file=sys.stderr)
            for fut in bar:
                f = futures[fut]
                if fut.cancelled():
                    results[f] = (f"{shown(Path(f).name)}: not started (interrupted)", False)
                    continue
                try:
                    _, line, _, complete = fut.result()
                except Exception as e:  # noqa: BLE001 - a worker that died (memory): that file's line
                    line, complete = f"error: {shown(Path(f).name)}: its worker process ended ({type(e).__name__})", False
                results[f] = (line, complete)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    for f in files:
        say(results[f][0])
    feasible = sum(complete for _, complete in results.values())
    tail = f"{len(files)} instances, {feasible} feasible, {time.perf_counter() - started:.1f} s with {workers} workers"
    if stop["signal"]:
        done = sum(not line.endswith("not started (interrupted)") for line, _ in results.values())
        from envs import interrupt

        say(f"{tail}; interrupted by {interrupt.signal_name(stop['signal'])}: {done} of {len(files)} files ran")
        return 128 + stop["signal"]
    say(tail)
    return 0 if feasible == len(files) else 1


# ---------------------------------------------------------------------- check
CLAIM_REL_TOL = 1e-6  # a file's stated cost or distance agrees with the check's within this (relative)


def cmd_check(args) -> int:
    """Re-check a saved plan: the summary's figures are the check's own (its time, not the solve's); what
    the file says of itself is labelled so, and every claim it makes (cost, distance, feasibility, vehicles)
    that the check contradicts is a `note:` line and exit 1 (see the subparser's help)."""
    if args.unreachable == "report":  # the instance's road reachability, as for nco solve; the plan is not read
        return report_unreachable(args)
    from envs.io.load import load_instance
    from envs.model.check import check

    started = time.perf_counter()
    instance = load_instance(args.instance, **load_options(args))
    solution, claims, said, scales = _read_checked_solution(instance, Path(args.solution))
    report = check(instance, solution)
    own = replace(solution, timings={"total": time.perf_counter() - started}, meta={})
    head = summary(instance, own, report, routes=False).splitlines()
    body = summary(instance, own, report).splitlines()[len(head) :]
    notes = _claim_notes(claims, report, scales)
    extra = ([f"  the file says: {'; '.join(said)}"] if said else []) + [f"  note: {n}" for n in notes]
    args.exit_code = EXIT_FEASIBLE if report.feasible and not notes else EXIT_INFEASIBLE  # also after `| head`
    say("\n".join(head + extra + body))
    return args.exit_code


def _read_checked_solution(instance, path: Path):
    """A solution file for `nco check`: (Solution, its claims, what else it says, the units its cost may use).

    nco's JSON if the text starts with `{` or `[`; VRPLIB solution text if the name ends in `.sol` or a line
    reads `Route #k: ...`; else JSON (whose reader says what is wrong)."""

    from envs.io.json_format import read_json, solution_from_dict
    from envs.io.vrplib_format import PYVRP_EXACT_SCALE, load_vrplib_solution

    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:  # missing, a folder, unreadable: the reader of its kind says so in one line
        text = ""
    is_json = text.lstrip().startswith(("{", "["))
    if not is_json and (path.suffix.lower() == ".sol" or re.search(r"^\s*route\s*#?\s*\d*\s*:", text, re.I | re.M)):
        solution = load_vrplib_solution(instance, path, solver="unknown")
        claims = {"cost": solution.meta["cost"]} if "cost" in solution.meta else {}
        # a .sol Cost may be in the instance's units or PyVRP's exact objective (x1e5), as envs/vrplib_format reads
        return replace(solution, meta={}), claims, [], (1.0, PYVRP_EXACT_SCALE)
    doc = read_json(path)
    solution = solution_from_dict(instance, doc, source=path.name)
    claims = {k: doc[k] for k in ("cost", "distance", "feasible", "num_routes") if k in doc}
    said, meta = [], solution.meta
    if solution.timings:
        said.append(f"solved in {solution.timings.get('total', sum(solution.timings.values())):.3f} s")
    if meta.get("checkpoint"):
        said.append(f"policy {shown(policy_name(meta['checkpoint']))}")
    if meta.get("planned_on"):
        said.append(f"planned on {shown(meta['planned_on'])} (the check uses nominal times)")
    if meta.get("robust"):
        said.append("robust metrics on sampled travel times (not re-checked)")
    if meta.get("note"):
        said.append(f"note: {shown(meta['note'])}")
    return solution, claims, said, (1.0,)


def _claim_notes(claims: dict, report, scales: tuple[float, ...]) -> list[str]:
    """One line per claim of the file that the check's figures contradict.

    A number agrees when it is the check's within CLAIM_REL_TOL, or within half a unit of its own last
    written decimal (VRPLIB costs are often rounded to integers); a .sol Cost also in PyVRP's x1e5 units."""

    def agrees(value: float, truth: float) -> bool:
        half = 0.5 if isinstance(value, int) else _half_last_decimal(value)
        return any(abs(value / k - truth) <= max(half / k, CLAIM_REL_TOL * abs(truth)) for k in scales)

    def shown(truth: float, value: float) -> str:  # enough digits to differ from the claim as written
        for digits in (6, 8, 10, 12, 17):
            text = f"{truth:.{digits}g}"
            if text != str(value):
                return text
        return repr(truth)

    state = "feasible" if report.feasible else f"INFEASIBLE ({len(report.violations)} violations)"
    notes = []
    if "feasible" in claims and bool(claims["feasible"]) != report.feasible:
        notes.append(f"the file claims {'feasible' if claims['feasible'] else 'infeasible'}; the check finds {state}")
    for key, truth in (("cost", report.cost), ("distance", report.distance)):
        value = claims.get(key)
        if value is not None and not agrees(value, truth):
            notes.append(f"the file claims {key} {value}; the check finds {shown(truth, value)}")
    if "num_routes" in claims and claims["num_routes"] != report.num_routes:
        notes.append(f"the file claims {claims['num_routes']} vehicles; the check finds {report.num_routes}")
    return notes


def _half_last_decimal(value: float) -> float:
    """Half a unit of the last decimal Python writes for `value` (1.0: 0.05; 260.17: 0.005; 1e-05: 0)."""
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 0.0
    return 0.5 * 10.0 ** -len(text.split(".")[1])


# ---------------------------------------------------------------------- train
def cmd_train(args) -> int:
    from nco.policy.model import PolicyConfig

    for flag, value in (("--init-from", args.init_from), ("--resume", args.resume)):
        if value and not Path(value).exists():
            raise NcoError(f"{flag}: checkpoint not found: {value}")
    from nco.train.run import TrainConfig, train

    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    if args.init_from:  # the checkpoint's architecture; --policy may switch its matrix inputs on or off
        from nco.policy.checkpoints import checkpoint_config, read_checkpoint_info

        own = checkpoint_config(read_checkpoint_info(args.init_from), Path(args.init_from))
        policy = replace(own, matrix=args.policy == "matrix") if args.policy in ("attention", "matrix") else own
    else:
        try:
            policy = PolicyConfig(num_layers=args.layers, embed_dim=args.embed_dim, matrix=args.policy == "matrix")
        except ValueError as e:  # in the options' own names
            raise NcoError(str(e).replace("embed_dim", "--embed-dim").replace("num_layers", "--layers")) from None
    if args.variants:
        from envs.generate.variants import parse_variants

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
    if result["val_cost"] is None:  # e.g. --max-time ended the run before a validation; the note says why
        print(f"trained, but {result['note']}; checkpoint {result['checkpoint'] or 'none written'}")
        return 0 if result["checkpoint"] else 1
    print(f"trained: validation cost {result['val_cost']:.4f}; checkpoint {result['checkpoint']}")
    return 0


# ---------------------------------------------------------------------- osrm
def cmd_osrm_build(args) -> int:
    from envs.roads import osrm_engine

    started = time.perf_counter()
    graph = osrm_engine.build(args.pbf, args.out, profile=args.profile)
    print(
        f"built {graph} ({args.profile} profile, MLD) in {time.perf_counter() - started:.1f} s;"
        f" graph fingerprint {osrm_engine.graph_fingerprint(graph)}"
    )
    print(f"serve it with: nco osrm serve --graph {graph}")
    return 0


def cmd_osrm_serve(args) -> int:
    from envs.roads import osrm_engine

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
    except (KeyboardInterrupt, Terminated):  # Ctrl-C or SIGTERM (a service manager): no orphaned osrm-routed
        osrm_engine.stop(proc)
        print("stopped", flush=True)
        return 0
    return fail(f"osrm-routed exited with status {code}") if code else 0


if __name__ == "__main__":
    sys.exit(main())
