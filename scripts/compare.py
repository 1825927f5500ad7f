"""Compare nco with OR-Tools and PyVRP on shared instance sets; print a Markdown table, save a plot.

    # 128 uniform CVRP100 instances (fixed seed); gap to PyVRP run for 10 s per instance
    python scripts/compare.py uniform --count 128 --size 100 --time-limit 5 --reference-time 10
    # the X instances shipped in data/x, gap to best known, by size bucket (or only the 600-1000-client ones)
    python scripts/compare.py x --folder data/x --time-limit 5
    python scripts/compare.py x --min-clients 600 --solvers policy-greedy,policy,hybrid@5,pyvrp@5,ortools@5
    # asymmetric CVRP100 on Monaco's roads, from the dataset's held-out locations; planar vs matrix-aware policy
    python scripts/compare.py road --count 64 --workers 2 --solvers \
        policy-greedy:nco/checkpoints/cvrp100.pt,policy:nco/checkpoints/cvrp100.pt,policy-greedy,policy,hybrid@1,hybrid@5,ortools@5,pyvrp@1,pyvrp@5
    # delivery days with time windows on Monaco's roads and a limited fleet (envs.generate.road_days); the
    # matrix-aware time-window policy (roadtw100) against the planar variants policy
    python scripts/compare.py roadtw --count 16 --size 100 --solvers \
        policy:nco/checkpoints/variants100.pt,policy-greedy,policy,hybrid@5,ortools@5,pyvrp@5
    # generated 100-client instances of each variant (envs.generate.variants), 16 per variant; gap to PyVRP 10 CPU-s
    # (OR-Tools 10 s, wall time on one core, where PyVRP cannot model the variant); rows per variant
    python scripts/compare.py variants --count 16 --variants CVRP,VRPTW,OVRP,VRPB,VRPL,VRPMB,OVRPTW,VRPBLTW,OVRPMBL
    # the 56 Solomon VRPTW instances shipped in data/solomon, gap to best known (distance, DIMACS)
    python scripts/compare.py solomon --solvers policy-greedy,policy,pyvrp@10
    # the heterogeneous-fleet X instances shipped in data/hfvrp, gap to best known, rows per fleet type
    python scripts/compare.py hfvrp --solvers policy-greedy,policy,hybrid@5,ortools@5,pyvrp@5
    # generated profiled fleets (random, sector and cluster zones; preferences), gap to PyVRP 10 CPU-s
    python scripts/compare.py profiled --count 8 --size 100
    # Gehring-Homberger-style time windows (envs.generate.homberger): 2 per class, 1,000 clients, 250 vehicles
    python scripts/compare.py homberger --count 2 --size 1000 --solvers policy-greedy,hybrid@10,pyvrp@10,ortools@10
    # ... with tight fleets: 90% of the vans the savings construction needs
    python scripts/compare.py homberger --count 2 --size 1000 --fleet-share 0.9 --solvers policy-greedy,hybrid@10,pyvrp@10,ortools@10
    # the robust benchmark: SVRPBench-like cities with stochastic travel times, 50/100/200 clients; every
    # solver plans on expected travel times (or SPEC~Q: the Q quantile at peak congestion) and every solution
    # is replayed under --samples sampled travel times by the one Monte Carlo evaluator (envs.model.robust)
    python scripts/compare.py robust --count 8 --sizes 50,100,200 --solvers hybrid@5~0.9,ortools@5,pyvrp@5

A solver spec is NAME[:CHECKPOINT][@SECONDS][~QUANTILE] with NAME a solver of
the registry (nco.solvers.registry): policy-greedy, policy (multi-start +
augmentation), hybrid, ortools, pyvrp, ortools+policy (the old nco-greedy, nco
and nco-hybrid are aliases for one release); SECONDS defaults to --time-limit; QUANTILE (stochastic instances) plans
on that quantile of travel times instead of their expectation. Without a CHECKPOINT nco picks the shipped one for the
instance (the matrix-aware road100_matrix for asymmetric matrices), as `nco solve` does.

Every solution is validated by the checker; costs are the checker's. A solver
that cannot model an instance (PyVRP and linehaul-first backhauls) gets
"cannot model" in the tables instead of a number. Solvers
run side by side in worker processes (one core each). Results go to
--out (results.csv, table.md, plot.png); reference runs are cached in
reference.csv there and reused when the same instances are asked again.

Every option is checked before any instance is loaded: one that the set or the solver list would not read,
or a value that cannot work (a checkpoint or folder that is not there, a count of 0, more X instances than
the folder holds), is refused with one `error:` line and exit status 2, as `nco` refuses bad input.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import numpy as np

from envs.errors import EXIT_BAD_INPUT, NcoError, UnsupportedFeatureError
from envs.model.check import check
from envs.model.instance import Instance
from nco.solvers.pipeline import SolveOptions, solve_and_check
from nco.solvers.registry import SOLVERS, options_for

BUCKETS = ((100, 300), (300, 600), (600, 1001))
ROBUST_COLUMNS = ("expected_cost", "cost_std", "tw_feasibility", "routes_on_time", "expected_lateness")


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker: fair to the single-threaded baselines


def group_of(instance: Instance) -> str:
    """The table row an instance belongs to: its variant (generated sets), its Solomon class, else 'all'."""
    name = instance.name
    m = re.match(r"^X\d+-(\w+)$", name)
    if m:  # heterogeneous-fleet X: the fleet type (HVRP, HD, FSMF, FSMD, FSMFD)
        return m.group(1)
    if "-n" in name:
        return name.split("-")[0].upper() if not name.startswith(("uniform", "xlike")) else "all"
    m = re.match(r"^(RC|R|C)([12])\d\d$", name.upper())
    return f"{m.group(1)}{m.group(2)}" if m else "all"


def _run(instance: Instance, opts: SolveOptions) -> dict:
    row = {"instance": instance.name, "n": instance.num_clients, "group": group_of(instance)}
    try:
        solution, report = solve_and_check(instance, opts)  # timed after the solver's imports
    except NcoError as e:  # not a number: the table says why
        status = "cannot model" if isinstance(e, UnsupportedFeatureError) else "failed"
        return row | {
            "solver": label(opts, _policy_of(instance, opts, None)),
            "cost": float("nan"),
            "feasible": False,
            "seconds": float("nan"),
            "status": f"{status}: {e}",
        }
    elapsed = solution.timings["total"]
    if not report.feasible:
        print(f"warning: {opts.solver} infeasible on {instance.name}: {report.violations[0]}", file=sys.stderr)
    robust = solution.meta.get("robust")
    return (
        row
        | {
            "solver": label(opts, _policy_of(instance, opts, solution)),
            "cost": report.cost,
            "feasible": report.feasible,
            "seconds": elapsed,
            "status": "ok" if report.feasible else f"infeasible: {report.violations[0]}",
        }
        | ({k: robust[k] for k in ROBUST_COLUMNS} if robust else {})
    )


def _policy_of(instance: Instance, opts: SolveOptions, solution) -> str | None:
    """The policy a row names: the one that ran, or the one nco picks for the instance where the hybrid's GA
    ran unseeded (a short budget on a busy machine), so that one solver stays one row."""
    if opts.solver != "nco":
        return None
    from nco.policy.checkpoints import ROBUST_CHECKPOINT, default_checkpoint

    ran = solution.meta.get("checkpoint") if solution is not None else None
    picked = ROBUST_CHECKPOINT if instance.travel_model is not None else default_checkpoint(instance.features())
    return ran or opts.checkpoint or str(picked)


def label(opts: SolveOptions, checkpoint: str | None = None) -> str:
    """The solver's row name; nco rows name the policy that ran (given, or picked for the instance)."""
    checkpoint = checkpoint or opts.checkpoint
    path = Path(checkpoint) if checkpoint else None
    name = path.parent.name if path and path.stem in ("best", "last") else path.stem if path else ""
    ckpt = f", {name}" if name and (opts.solver == "nco" or opts.warm_start) else ""
    ckpt += f", q {opts.plan_quantile:g}" if opts.plan_quantile is not None else ""
    if opts.solver == "nco" and opts.time_limit > 0:
        return f"nco hybrid ({opts.time_limit:g} s{ckpt})"
    if opts.solver == "nco":
        return f"nco policy (starts {opts.num_starts or 1}, aug {opts.num_augment}{ckpt})"
    name = "ortools+policy" if opts.warm_start else opts.solver
    return f"{name} ({opts.time_limit:g} s{ckpt})"


def run_all(instances: list[Instance], configs: list[SolveOptions], workers: int) -> list[dict]:
    jobs = [(inst, opts) for opts in configs for inst in instances]
    rows = []
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
        futures = [pool.submit(_run, inst, opts) for inst, opts in jobs]
        for k, fut in enumerate(futures, 1):
            rows.append(fut.result())
            if k % max(1, len(jobs) // 20) == 0 or k == len(jobs):
                print(f"  {k}/{len(jobs)} runs done", file=sys.stderr, flush=True)
    return rows


def _reference_run(instance: Instance, seconds: float) -> dict:
    """PyVRP for `seconds` CPU seconds; OR-Tools (guided local search, wall seconds on one core) where PyVRP
    cannot model the instance."""
    from baselines import ortools_solver, pyvrp_solver
    from envs.errors import NoSolutionFound

    try:
        if pyvrp_solver.cannot_model(instance) is None:
            solution = pyvrp_solver.solve(instance, time_limit=seconds, seed=1, cpu_time=True)
        else:
            solution = ortools_solver.solve(instance, time_limit=seconds, seed=1)
    except NoSolutionFound:  # no reference (a tight fleet): its gaps are NaN, the feasible counts still say it all
        return {
            "instance": instance.name,
            "n": instance.num_clients,
            "solver": reference_key(instance, seconds),
            "cost": math.nan,
            "feasible": False,
            "seconds": seconds,
        }
    report = check(instance, solution)
    if not report.feasible:
        raise SystemExit(f"reference {solution.solver} infeasible on {instance.name}: {report.violations[0]}")
    return {
        "instance": instance.name,
        "n": instance.num_clients,
        "solver": reference_key(instance, seconds),
        "cost": report.cost,
        "feasible": report.feasible,
        "seconds": solution.timings["solve"],
    }


def reference_key(instance: Instance, seconds: float) -> str:
    from baselines import pyvrp_solver

    return f"{'pyvrp' if pyvrp_solver.cannot_model(instance) is None else 'ortools'} ({seconds:g} s)"


def reference_costs(instances: list[Instance], ref_time: float, out: Path, workers: int) -> dict[str, float]:
    """Best known where the instance has one, else a PyVRP run of `ref_time` CPU seconds (cached in out/reference.csv).

    CPU seconds, not wall seconds, so that the reference is as strong on a busy machine as on an idle one.
    """
    ref = {i.name: i.best_known for i in instances if i.best_known}
    todo = [i for i in instances if i.name not in ref]
    cache = out / "reference.csv"
    keys = {i.name: reference_key(i, ref_time) for i in todo}
    if cache.exists():
        for r in csv.DictReader(cache.open()):
            if keys.get(r["instance"]) == r["solver"]:
                ref.setdefault(r["instance"], float(r["cost"]))
    todo = [i for i in todo if i.name not in ref]
    if todo:
        print(f"reference: {ref_time:g} s on {len(todo)} instances", file=sys.stderr)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(_reference_run, todo, [ref_time] * len(todo)))
        write_csv(cache, rows, append=True)
        ref.update({r["instance"]: r["cost"] for r in rows})
    return ref


def write_csv(path: Path, rows: list[dict], append: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not (append and path.exists())
    with path.open("a" if append else "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            w.writeheader()
        w.writerows(rows)


def table(rows: list[dict], ref: dict[str, float], buckets: bool) -> str:
    solvers = list(dict.fromkeys(r["solver"] for r in rows))
    groups = [("all", lambda n: True)]
    if buckets:
        groups = [(f"{lo}–{hi - 1}", lambda n, lo=lo, hi=hi: lo <= n < hi) for lo, hi in BUCKETS]
    lines = [
        "| set | solver | instances | mean cost | mean gap % | feasible | mean time (s) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for gname, member in groups:
        for s in solvers:
            sel = [r for r in rows if r["solver"] == s and member(r["n"])]
            if not sel:
                continue
            if all(r["status"].startswith("cannot model") for r in sel):
                lines.append(f"| {gname} | {s} | {len(sel)} | cannot model | – | – | – |")
                continue
            sel = [r for r in sel if r["status"] == "ok"] or sel
            gaps = [100 * (r["cost"] - ref[r["instance"]]) / ref[r["instance"]] for r in sel]
            lines.append(
                f"| {gname} | {s} | {len(sel)} | {np.mean([r['cost'] for r in sel]):.4f} | {np.mean(gaps):.2f}"
                f" | {sum(r['feasible'] for r in sel)}/{len(sel)} | {np.mean([r['seconds'] for r in sel]):.3f} |"
            )
    return "\n".join(lines)


def variant_table(rows: list[dict], ref: dict[str, float], ref_names: dict[str, str]) -> str:
    """Rows per group (variant or Solomon class), a column per solver: mean gap %, 'cannot model', or the
    count of infeasible or failed runs beside the gap of the rest."""
    solvers = list(dict.fromkeys(r["solver"] for r in rows))
    groups = list(dict.fromkeys(r["group"] for r in rows))
    lines = ["| set | reference | " + " | ".join(solvers) + " |", "|---|---|" + "---:|" * len(solvers)]
    for g in [*groups, "all"] if len(groups) > 1 else groups:
        cells = []
        for s in solvers:
            sel = [r for r in rows if r["solver"] == s and (g == "all" or r["group"] == g)]
            ok = [r for r in sel if r["status"] == "ok"]
            if sel and all(r["status"].startswith("cannot model") for r in sel):
                cells.append("cannot model")
            elif not ok:
                cells.append("–" if not sel else f"0/{len(sel)} feasible")
            else:
                gap = np.mean([100 * (r["cost"] - ref[r["instance"]]) / ref[r["instance"]] for r in ok])
                modelled = [r for r in sel if not r["status"].startswith("cannot model")]
                note = "" if len(ok) == len(modelled) else f" ({len(ok)}/{len(modelled)} ok)"
                if len(modelled) < len(sel):
                    note += f" ({len(modelled)}/{len(sel)} modelled)"
                cells.append(f"{gap:.2f}{note}")
        names = sorted({ref_names[r["instance"]] for r in rows if g == "all" or r["group"] == g})
        lines.append(f"| {g} | {', '.join(names)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], ref: dict[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for s in dict.fromkeys(r["solver"] for r in rows):
        sel = [r for r in rows if r["solver"] == s and r["status"] == "ok"]
        if not sel:
            continue
        gaps = [100 * (r["cost"] - ref[r["instance"]]) / ref[r["instance"]] for r in sel]
        ax.scatter(np.mean([r["seconds"] for r in sel]), np.mean(gaps), s=60, label=s)
    ax.set_xscale("log")
    ax.set_xlabel("mean time per instance (s, log)")
    ax.set_ylabel("mean gap to reference (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))  # outside: no point hidden
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# this script's old spellings, kept for one release ("nco" is the policy alone here, the hybrid in `nco solve`)
OLD_NAMES = {"nco-greedy": "policy-greedy", "nco": "policy", "nco-hybrid": "hybrid"}


def spec_parts(spec: str) -> tuple[str, str, str, str]:
    """NAME[:CHECKPOINT][@SECONDS][~QUANTILE] -> (name, checkpoint, seconds, quantile), '' where not given;
    the name as the solver registry spells it (nco.solvers.registry)."""
    spec, _, quantile = spec.partition("~")
    spec, _, seconds = spec.partition("@")
    name, _, checkpoint = spec.partition(":")
    return OLD_NAMES.get(name, name), checkpoint, seconds, quantile


def solver_spec(spec: str, args) -> SolveOptions:
    """NAME[:CHECKPOINT][@SECONDS][~QUANTILE] -> SolveOptions (check_options has vetted it)."""
    name, checkpoint, seconds, quantile = spec_parts(spec)
    budget = float(seconds) if seconds else args.time_limit
    options = {
        "plan_quantile": float(quantile) if quantile else None,
        "samples": args.samples if args.set == "robust" else None,
        "seed": args.sample_seed,
    }
    if name in NCO_SPECS:
        options["checkpoint"] = checkpoint or args.checkpoint
    if name == "policy":
        options["num_starts"] = args.starts
    return options_for(name, budget, **options)


def robust_table(rows: list[dict]) -> str:
    """Per size and solver: Monte Carlo means (expected cost, its spread, time-window feasibility, routes fully
    on time, lateness), the expected cost relative to OR-Tools' on the same instances, and the solve time."""
    solvers = list(dict.fromkeys(r["solver"] for r in rows))
    ortools = {
        r["instance"]: r["expected_cost"] for r in rows if r["solver"].startswith("ortools") and r["status"] == "ok"
    }
    lines = [
        "| clients | solver | instances | expected cost | cost std | vs OR-Tools | TW feasibility | routes on time"
        " | lateness | nominally feasible | time (s) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in [*sorted({r["n"] for r in rows}), "all"]:
        for s in solvers:
            sel = [r for r in rows if r["solver"] == s and (n == "all" or r["n"] == n) and "expected_cost" in r]
            if not sel:
                continue
            rel = [r["expected_cost"] / ortools[r["instance"]] for r in sel if r["instance"] in ortools]
            mean = {k: np.mean([r[k] for r in sel]) for k in (*ROBUST_COLUMNS, "seconds")}
            lines.append(
                f"| {n} | {s} | {len(sel)} | {mean['expected_cost']:.1f} | {mean['cost_std']:.1f}"
                f" | {(np.mean(rel) - 1) * 100:+.2f}% | {mean['tw_feasibility']:.4f} | {mean['routes_on_time']:.4f}"
                f" | {mean['expected_lateness']:.1f} | {sum(r['feasible'] for r in sel)}/{len(sel)}"
                f" | {mean['seconds']:.2f} |"
            )
    return "\n".join(lines)


# The options each set reads, besides COMMON; one given explicitly to a set that does not read it is refused.
GENERATED = {"count", "size", "seed", "reference_time", "reference_only"}
FOLDER = {"count", "folder", "reference_only"}  # shipped instances: the reference is their best known
SET_OPTIONS = {
    "uniform": GENERATED,
    "x": FOLDER | {"min_clients"},
    "road": GENERATED | {"dataset"},
    "roadtw": GENERATED | {"dataset"},
    "variants": GENERATED | {"variants"},
    "solomon": FOLDER | {"keep_fleet"},
    "hfvrp": FOLDER,
    "profiled": GENERATED,
    "homberger": GENERATED | {"fleet_share"},
    "robust": {"count", "seed", "sizes", "samples"},  # no reference: the solvers are compared with each other
}
COMMON = {"set", "solvers", "sample_seed", "workers", "out", "time_limit", "checkpoint", "starts"}
NCO_SPECS = ("policy-greedy", "policy", "hybrid", "ortools+policy")  # the specs that run a policy
TIMED_SPECS = ("hybrid", "ortools", "pyvrp", "ortools+policy")
ALL_SPECS = tuple(SOLVERS)
# The COMMON options only some solver specs read: (does this spec read it?, which specs do).
SPEC_OPTIONS = {
    "starts": (lambda name, ckpt, secs: name == "policy", "only policy (nco) specs"),
    "checkpoint": (lambda name, ckpt, secs: name in NCO_SPECS and not ckpt, "only nco specs without :CHECKPOINT"),
    "time_limit": (
        lambda name, ckpt, secs: name in TIMED_SPECS and not secs,
        "only hybrid, ortools, pyvrp and ortools+policy specs without @SECONDS",
    ),
}


def refuse(message: str) -> NoReturn:
    """One line on stderr and the bad-input status, as `nco` does."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own errors: one line too, not usage + error
        refuse(message)


def positive_int(text: str) -> int:
    value = int(text)  # a ValueError reads "invalid positive_int value"
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def seconds(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text}")
    return value


def client_counts(text: str) -> tuple[int, ...]:
    try:
        return tuple(positive_int(x) for x in text.split(","))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"expected positive client counts, comma-separated, got {text!r}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan  # fails every range check


def folder_of(args) -> Path:
    return Path(args.folder or f"data/{args.set}")


def given_options(ap: argparse.ArgumentParser, argv: list[str] | None, dests) -> set[str]:
    """The options the command line sets: parsed again onto placeholders, argparse fills no default in."""
    unset = object()
    parsed = ap.parse_args(argv, argparse.Namespace(**dict.fromkeys(dests, unset)))
    return {dest for dest, value in vars(parsed).items() if value is not unset}


def check_checkpoint(flag: str, path: str) -> None:
    pt = Path(path).with_suffix(".pt")  # as nco.policy.checkpoints reads it; checked here without importing torch
    if not pt.is_file():
        refuse(f"{flag}: checkpoint not found: {path}")
    if not pt.with_suffix(".json").is_file():
        refuse(f"{flag}: checkpoint {path} has no configuration file {pt.with_suffix('.json').name} beside it")


def check_options(args, given: set[str]) -> None:
    """Refuse, before any instance is loaded, an option the set or the solvers would ignore and a value that
    cannot work (argparse's types have vetted the numbers)."""
    specs = [(spec, *spec_parts(spec)) for spec in args.solvers.split(",")]
    for spec, name, ckpt, secs, quantile in specs:
        if name not in ALL_SPECS:
            refuse(f"--solvers: unknown solver {name!r} in {spec!r}; choose from {', '.join(ALL_SPECS)}")
        if ckpt and name not in NCO_SPECS:
            refuse(f"--solvers: {spec!r}: {name} takes no checkpoint")
        if secs and name not in TIMED_SPECS:
            refuse(f"--solvers: {spec!r}: {name} takes no time budget (hybrid does)")
        if secs and not 0 <= _number(secs) < math.inf:
            refuse(f"--solvers: {spec!r}: the budget must be a finite number of seconds >= 0")
        if quantile and args.set != "robust":
            refuse(f"--solvers: {spec!r}: a quantile needs stochastic travel times (the robust set)")
        if quantile and not 0 < _number(quantile) < 1:
            refuse(f"--solvers: {spec!r}: the quantile must be a number strictly between 0 and 1")
        if ckpt:
            check_checkpoint("--solvers", ckpt)
    uses = SET_OPTIONS[args.set] | COMMON
    uses -= {opt for opt, (reads, _) in SPEC_OPTIONS.items() if not any(reads(n, c, t) for _, n, c, t, _ in specs)}
    for dest in (d for d in vars(args) if d in given - uses):
        flag = "--" + dest.replace("_", "-")
        if dest in SPEC_OPTIONS:
            refuse(f"{flag}: no spec in --solvers reads it ({SPEC_OPTIONS[dest][1]} do)")
        sets = [s for s, opts in SET_OPTIONS.items() if dest in opts]
        refuse(f"{flag}: the {args.set} set does not use it (only {', '.join(sets)})")
    if args.set == "robust" and not any(name == "ortools" for _, name, *_ in specs):
        refuse("--solvers: the robust set compares expected costs with OR-Tools': include an ortools spec")
    if args.checkpoint:  # given, so read (else refused above)
        check_checkpoint("--checkpoint", args.checkpoint)
    if args.set == "variants":
        from envs.generate.variants import parse_variants

        try:
            parse_variants(args.variants)
        except ValueError as e:
            refuse(f"--variants: {e}")
    if "dataset" in uses and not Path(args.dataset).is_file():
        refuse(f"--dataset: city dataset not found: {args.dataset}")
    if "folder" in uses:
        folder = folder_of(args)
        if not folder.is_dir():
            refuse(f"--folder: not a directory: {folder}")
        available = len(list(folder.glob("*.vrp")))
        if not available:
            refuse(f"--folder: no .vrp instances in {folder}")
        if "count" in given and args.count > available:  # not fewer than asked, silently
            refuse(f"--count: {args.count} instances asked, {folder} holds {available}")
    out = Path(args.out or f"runs/bench/{args.set}")
    existing = next(p for p in (out, *out.parents) if p.exists())  # what mkdir would build on
    if not existing.is_dir():
        refuse(f"--out: {existing} is not a directory")


def main(argv: list[str] | None = None) -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("set", choices=SET_OPTIONS)
    ap.add_argument("--sizes", type=client_counts, default=(50, 100, 200), help="robust set: client counts")
    ap.add_argument("--samples", type=positive_int, default=1000, help="robust set: Monte Carlo samples per solution")
    ap.add_argument(
        "--sample-seed", type=int, default=0, help="seed of the solvers and (robust set) of the Monte Carlo evaluation"
    )
    ap.add_argument(
        "--variants",
        default="CVRP,VRPTW,OVRP,VRPB,VRPL,VRPMB,OVRPTW,VRPBLTW,OVRPMBL",
        help="variants set: envs.generate.variants names, comma-separated (or all)",
    )
    ap.add_argument("--keep-fleet", action="store_true", help="solomon: keep the VEHICLES limit (default: unlimited)")
    ap.add_argument(
        "--dataset", default="data/monaco/monaco_1000.npz", help="city dataset for the road and roadtw sets"
    )
    ap.add_argument(
        "--count",
        type=positive_int,
        default=128,
        help="generated sets: instances (per variant, zone kind or size), default 128; x, solomon,"
        " hfvrp: the first COUNT of the folder in the table's order (by clients for x and hfvrp,"
        " by name for solomon), default all; more than the folder holds is refused",
    )
    ap.add_argument("--size", type=positive_int, default=100, help="clients per generated instance (not robust)")
    ap.add_argument("--seed", type=int, default=2026, help="generated sets: seed of the instances")
    ap.add_argument("--folder", default=None, help="x, solomon, hfvrp: the folder of .vrp files (default data/SET)")
    ap.add_argument(
        "--fleet-share",
        type=float,
        default=None,
        help="homberger: vehicles = this share of the routes the savings construction needs (default: n/4)",
    )
    ap.add_argument(
        "--min-clients", type=positive_int, default=None, help="x: only instances of this many clients or more"
    )
    ap.add_argument(
        "--time-limit",
        type=seconds,
        default=5.0,
        help="seconds per instance for hybrid, OR-Tools and PyVRP specs without @SECONDS",
    )
    ap.add_argument(
        "--reference-time",
        type=seconds,
        default=10.0,
        help="PyVRP CPU seconds for the reference of generated sets (x, solomon, hfvrp: best known)",
    )
    ap.add_argument("--checkpoint", default=None, help="policy of nco specs without :CHECKPOINT")
    ap.add_argument("--starts", type=positive_int, default=100, help="multi-start of the nco spec")
    ap.add_argument(
        "--solvers",
        default="policy-greedy,policy,ortools,pyvrp",
        help="comma list of " + ", ".join(SOLVERS) + " (the old nco-greedy, nco and nco-hybrid still work)",
    )
    ap.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=None, help="results folder (default runs/bench/SET)")
    ap.add_argument("--reference-only", action="store_true", help="compute and cache the reference, then stop")
    args = ap.parse_args(argv)
    given = given_options(ap, argv, vars(args))
    check_options(args, given)
    limit = args.count if "count" in given else None  # folder sets: all unless asked

    if args.set == "uniform":
        from envs.generate.cvrp import uniform_instances

        instances = uniform_instances(args.size, args.count, args.seed)
        title = f"{args.count} uniform CVRP{args.size} (seed {args.seed})"
    elif args.set == "road":
        from envs.roads.city_dataset import load_city_dataset, sample_instance

        city = load_city_dataset(args.dataset)
        instances = [sample_instance(city, args.size, "test", args.seed + i) for i in range(args.count)]
        title = f"{args.count} asymmetric CVRP{args.size} on {city.name} roads (held-out locations, seed {args.seed})"
    elif args.set == "roadtw":
        from envs.generate.road_days import road_day_set
        from envs.roads.city_dataset import load_city_dataset

        city = load_city_dataset(args.dataset)
        instances = road_day_set(city, args.size, args.count, args.seed)
        title = (
            f"{args.count} delivery days with time windows on {city.name} roads, {args.size} clients, the vans"
            f" savings needs (seed {args.seed})"
        )
    elif args.set == "variants":
        from envs.generate.variants import parse_variants, variant_instances

        variants = parse_variants(args.variants)
        instances = [
            i for k, v in enumerate(variants) for i in variant_instances(v, args.size, args.count, args.seed + k)
        ]
        title = f"{args.count} generated instances of each of {len(variants)} variants, {args.size} clients (seed {args.seed})"
    elif args.set == "hfvrp":
        from envs.io.load import load_instance

        files = sorted(folder_of(args).glob("*.vrp"))
        instances = sorted((load_instance(f) for f in files), key=lambda i: i.num_clients)[:limit]
        title = f"{len(instances)} heterogeneous-fleet X instances ({folder_of(args)})"
    elif args.set == "profiled":
        from envs.generate.fleets import ZONES, profiled_instances

        instances = []
        for k, zone in enumerate(ZONES):
            for i, inst in enumerate(profiled_instances(args.size, args.count, args.seed + k, zones=zone)):
                instances.append(replace(inst, name=f"{zone}-n{args.size}-{i}"))
        title = f"{args.count} generated profiled fleets per zone kind, {args.size} clients (seed {args.seed})"
    elif args.set == "homberger":
        from envs.generate.homberger import homberger_set

        instances = homberger_set(args.size, args.count, args.seed)
        fleet = f"a fleet of {max(1, args.size // 4)}"
        if args.fleet_share is not None:  # tight fleets: fewer vans than the savings construction needs
            from envs.model.check import check
            from envs.model.savings import savings

            def tight(inst):
                count = max(1, int(args.fleet_share * check(inst, savings(inst)).num_routes))
                return replace(inst, fleet=[replace(inst.fleet[0], count=count)])

            instances = [tight(i) for i in instances]
            fleet = f"{args.fleet_share:g} x the vans the savings construction needs"
        title = (
            f"{args.count} Gehring-Homberger-style time-window instances per class (R1 C1 RC1 R2 C2 RC2),"
            f" {args.size} clients, {fleet} (seed {args.seed})"
        )
    elif args.set == "robust":
        from envs.generate.svrp import svrp_instances

        instances = svrp_instances(args.sizes, args.count, args.seed)
        title = (
            f"{args.count} SVRPBench-like cities per size {args.sizes} (seed {args.seed}); Monte Carlo:"
            f" {args.samples} samples, seed {args.sample_seed}"
        )
    elif args.set == "solomon":
        from envs.io.load import load_instance

        instances = [load_instance(f) for f in sorted(folder_of(args).glob("*.vrp"))[:limit]]
        if not args.keep_fleet:  # the policy and the references minimise distance; the fleet is not the objective
            instances = [
                replace(inst, fleet=[replace(inst.fleet[0], count=None), *inst.fleet[1:]]) for inst in instances
            ]
        title = f"{len(instances)} Solomon VRPTW instances ({'fleet limits kept' if args.keep_fleet else 'unlimited fleet'})"
    else:
        from envs.io.load import load_instance

        files = sorted(folder_of(args).glob("*.vrp"))
        instances = sorted((load_instance(f) for f in files), key=lambda i: i.num_clients)
        instances = [i for i in instances if i.num_clients >= (args.min_clients or 0)][:limit]
        least = f", {args.min_clients}+ clients" if args.min_clients else ""
        title = f"{len(instances)} X instances ({folder_of(args)}{least})"
    out = Path(args.out or f"runs/bench/{args.set}")
    out.mkdir(parents=True, exist_ok=True)

    configs = [solver_spec(spec, args) for spec in args.solvers.split(",")]
    if args.set == "robust":  # no reference: the solvers are compared with each other under the evaluator
        rows = run_all(instances, configs, args.workers)
        write_csv(out / "results.csv", rows)
        header = f"{title}; {platform.processor() or platform.machine()}, {args.workers} workers (one core each)"
        md = robust_table(rows)
        (out / "table.md").write_text(header + "\n\n" + md + "\n")
        print(header + "\n\n" + md + f"\n\nwritten: {out}/results.csv, table.md")
        return
    ref = reference_costs(instances, args.reference_time, out, args.workers)
    if args.reference_only:
        print(f"reference cached in {out / 'reference.csv'} for {len(ref)} instances")
        return
    rows = run_all(instances, configs, args.workers)
    write_csv(out / "results.csv", rows)
    md = table(rows, ref, buckets=args.set == "x")
    if args.set in ("variants", "solomon", "hfvrp", "profiled", "homberger"):
        names = {i.name: "best known" if i.best_known else reference_key(i, args.reference_time) for i in instances}
        md = variant_table(rows, ref, names) + "\n\n" + md
    ref_name = "best known" if args.set in ("x", "solomon", "hfvrp") else f"PyVRP {args.reference_time:g} CPU-s"
    if args.set in ("variants", "profiled"):
        ref_name += " (OR-Tools where PyVRP cannot model the variant)"
    header = (
        f"{title}; gap to {ref_name}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores,"
        f" {args.workers} workers (one core each)"
    )
    (out / "table.md").write_text(header + "\n\n" + md + "\n")
    plot(rows, ref, out / "plot.png", title)
    print(header + "\n\n" + md)
    print(f"\nwritten: {out}/results.csv, table.md, plot.png")


if __name__ == "__main__":
    main()
