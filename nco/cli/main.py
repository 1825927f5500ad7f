"""`nco` command line: solve, check, train, and the OSRM road engine (osrm build, osrm serve).

Bad input ends in one line `error: ...` on stderr and exit status 2, never a
traceback (set NCO_DEBUG=1 to see one). Exit statuses: 0 feasible, 1 infeasible
or incomplete, 2 bad input, 3 no solution found within the budget, 130 after
Ctrl-C, 143 after SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from envs.errors import EXIT_BAD_INPUT, EXIT_FEASIBLE, EXIT_NO_SOLUTION, NcoError, NoSolutionFound
from envs.rl.distributions import DISTRIBUTIONS
from nco.cli.check import cmd_check
from nco.cli.exits import Terminated, fail
from nco.cli.osrm import cmd_osrm_build, cmd_osrm_serve
from nco.cli.solve import cmd_solve
from nco.cli.train import cmd_train
from nco.solvers.pipeline import TIME_LIMIT_ZERO
from nco.solvers.registry import ALIASES
from nco.solvers.registry import SOLVERS as REGISTERED
from nco.threads import INFERENCE_THREADS


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
        "--solver",
        choices=[*REGISTERED, *ALIASES],
        default="hybrid",
        metavar="NAME",
        help="; ".join(f"{k}: {v}" for k, v in REGISTERED.items()) + "; nco: the old name of hybrid",
    )
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
        "--workers",
        type=int,
        default=0,
        help="processes for a folder (default: one per core, at most one per file; never more than the cores)",
    )
    s.add_argument(
        "--threads",
        type=int,
        default=None,
        help=f"torch threads of the policy (default {INFERENCE_THREADS}: fastest for one instance, and robust on a busy"
        " machine; a folder gives each worker at most its share of the cores)",
    )
    s.add_argument("--quiet", action="store_true", help="print only the one-line summary")
    add_matrix_source(s)
    s.set_defaults(func=cmd_solve)

    c = add_parser(
        sub,
        "check",
        help="check a solution (nco JSON or VRPLIB .sol) against its instance and print its cost",
        description="Re-check a saved plan with the checker. The summary's cost, vehicles, time, feasibility"
        " and violations are the check's own; what the file says of its solve (time, policy, notes) is labelled"
        " 'the file says'. Where the file states a cost, distance, feasibility or vehicle count (a JSON's fields,"
        " a .sol's Cost line) that the check contradicts, a 'note: the file claims ...' line says so; a cost"
        " agrees within 1e-6 relative or half a unit of its last written decimal (a .sol Cost rounded to an"
        " integer agrees; it may also be in PyVRP's x1e5 units). Exit status: 0 feasible and every claim"
        " agrees; 1 infeasible, or a claim disagrees (the file is wrong); 2 unreadable or malformed file.",
    )
    c.add_argument("--instance", required=True, help="the instance file the plan is for (JSON or VRPLIB)")
    c.add_argument(
        "--solution",
        required=True,
        help="nco's solution JSON (nco solve --output), or VRPLIB solution text (a .sol file: 'Route #1: 3 5 7'"
        " lines numbering the clients 1..n in file order, the depot left out, and an optional 'Cost 123' line)",
    )
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
    og.add_argument(
        "--max-table-size", type=int, default=1000, help="largest table (locations) one request may ask for"
    )
    og.set_defaults(func=cmd_osrm_serve)

    t = add_parser(
        sub, "train", help="train or fine-tune a policy (REINFORCE + POMO baseline with Lightning, or expert iteration)"
    )
    t.add_argument(
        "--method",
        choices=("reinforce", "expert"),
        default="reinforce",
        help="reinforce: REINFORCE with the POMO baseline (Lightning); expert: expert iteration, the policy-seeded"
        " genetic search labels instances and the policy imitates them, for --minutes CPU-minutes, resuming the"
        " run in --out if there is one (uniform or xlike --distribution, or one --variants name)",
    )
    t.add_argument("--minutes", type=float, default=30, help="--method expert: CPU-minutes to train (wall on a GPU)")
    t.add_argument("--label-seconds", type=float, default=1.0, help="--method expert: the search's budget a label")
    t.add_argument("--labels-per-round", type=int, default=32, help="--method expert: new labels each round")
    t.add_argument("--workers", type=int, default=1, help="--method expert: labelling processes")
    t.add_argument("--size", type=int, default=100, help="clients per training instance")
    t.add_argument(
        "--distribution",
        choices=tuple(DISTRIBUTIONS),
        default="uniform",
        help="training instances: uniform (Kool et al.), X-like (Uchoa et al.), asymmetric (uniform with detoured"
        " one-way arcs), road (drawn from a city dataset's training split, see --dataset), roadtw (delivery days on those"
        " roads: time windows, service times), fleet (heterogeneous,"
        " profiled fleets: types, costs, counts, zones, preferences) or svrp (city days with stochastic travel"
        " times: the reward charges the lateness of sampled days)",
    )
    t.add_argument(
        "--dataset", help="city dataset .npz for --distribution road or roadtw (default: data/monaco/monaco_1000.npz)"
    )
    t.add_argument(
        "--variants",
        help="train on mixed batches of these variants (comma-separated, or 'all'):"
        " CVRP or [O]VRP[B|MB][L][TW], e.g. CVRP,VRPTW,OVRP,VRPB,VRPL. With --init-from, attributes the"
        " checkpoint never saw get new zero-initialised input columns (adapter layers)",
    )
    t.add_argument(
        "--policy",
        choices=("attention", "matrix", "moe"),
        help="attention (default): reads coordinates; matrix: also reads the distance/duration matrices;"
        " moe: attention with mixture-of-experts feed-forward layers in the encoder (--experts, --top-k)."
        " With --init-from the architecture is the checkpoint's, and naming another kind copies the"
        " weights that fit (a planar checkpoint starts a matrix policy; a dense one an MoE policy)",
    )
    t.add_argument("--experts", type=int, default=4, help="experts per MoE layer (--policy moe)")
    t.add_argument("--top-k", type=int, default=2, help="experts each node is routed to (--policy moe)")
    t.add_argument("--aux-weight", type=float, default=0.01, help="weight of the MoE load-balancing loss")
    t.add_argument("--epochs", type=int, default=10, help="passes, each over --train-size fresh instances")
    t.add_argument("--batch-size", type=int, default=64, help="instances per gradient step")
    t.add_argument("--train-size", type=int, default=10_000, help="instances per epoch (fresh each epoch)")
    t.add_argument("--val-size", type=int, default=256, help="validation instances (the same every epoch)")
    t.add_argument("--starts", type=int, default=0, help="POMO starts per instance (0 = one per client)")
    t.add_argument("--lr", type=float, default=1e-4, help="Adam's learning rate")
    t.add_argument(
        "--matrix-lr",
        type=float,
        help="learning rate of a matrix policy's matrix-reading parameters"
        " (default --lr; higher when fine-tuning from a planar checkpoint)",
    )
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


if __name__ == "__main__":
    sys.exit(main())
