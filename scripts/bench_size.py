"""The scaling table: time, peak memory and cost gap of `nco solve` from 1,000 to 10,000 clients, every solver
at equal budgets.

    python scripts/bench_size.py                                        # 1000, 5000, 10000 clients at 5 s
    python scripts/bench_size.py --sizes 1000,2000,5000,10000 --budgets 10,60 --load 0,1   # idle, then busy
    python scripts/bench_size.py --sizes 2000 --budgets 10 --solvers hybrid,pyvrp --layout uniform
    python scripts/bench_size.py --dataset monaco_3000.npz --sizes 2999 --budgets 10   # on Monaco's roads

Each run is a fresh `python -m nco solve` process on one core (the first allowed one; `--load K` runs K
busy-looping processes beside it, to measure a busy machine) on a seeded instance (X-like or uniform layout,
seed 1; written once to --folder), so the wall time holds everything a user waits for: imports, loading and
the matrices, the solve, the check. Peak memory is the process's maximum resident set (wait4's ru_maxrss).
`--load 0,1` runs the whole grid idle and then busy, in one run, one table. The policy alone
(policy-greedy: one greedy rollout; policy: multi-start and augmentation) runs once per size and load (it
has no budget). The gap is to the best cost any run found on that
instance. Where PyVRP ran for a longer budget, `pyvrp matches` is when its anytime curve first reached the
hybrid's result at each budget (or that it never did): the budget PyVRP alone needs to match the hybrid.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cpu_load import cpu_load, load_average  # scripts/ is on the path of a script run from it

ROOT = Path(__file__).resolve().parent.parent


def instance_file(n: int, folder: Path, layout: str = "xlike", dataset: str | None = None) -> Path:
    """The seeded instance of n clients, generated once in a child process: a big parent would inflate every
    later child's ru_maxrss, which counts the memory it was forked with. With `dataset` (a city dataset, see
    scripts/build_city_dataset.py), n of its locations on its road matrices instead."""
    name = Path(dataset).stem if dataset else layout
    path = folder / f"{name}-{n}-s1.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        make = (
            f"sample_instance(load_city_dataset({str(dataset)!r}), {n}, 'all', 1)"
            if dataset
            else f"{layout}_instance({n}, seed=1)"
        )
        code = (
            "from envs.generate.cvrp import uniform_instance, xlike_instance;"
            " from envs.roads.city_dataset import load_city_dataset, sample_instance;"
            " from envs.io.json_format import save_instance_json;"
            f" save_instance_json({make}, {str(path)!r})"
        )
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return path


def run(path: Path, solver: str, budget: float, core: int | None = None) -> dict:
    """One `nco solve` process: its wall time, its own peak memory (wait4), and its solution's figures."""
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "solution.json"
        cmd = [sys.executable, "-m", "nco", "solve", "--instance", str(path), "--solver", solver]
        cmd += ["--time-limit", str(budget), "--output", str(output), "--quiet"]
        pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
        began = time.perf_counter()
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, preexec_fn=pin)
            _, status, usage = os.wait4(proc.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - began
            out.seek(0), err.seek(0)
            stdout, stderr = out.read(), err.read()
        sol = json.loads(output.read_text()) if output.exists() else None
    notes = [ln.strip()[len("note:") :].strip() for ln in stdout.splitlines() if ln.strip().startswith("note:")]
    failed = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {code}"
    feasible = bool(sol and sol["feasible"])
    return {
        "solver": solver,
        "budget": budget,
        "wall": wall,
        "peak_mb": usage.ru_maxrss / 1024,
        "cost": sol["cost"] if feasible else None,
        "solve": sol["timings"]["total"] if sol else None,
        "routes": sol["num_routes"] if sol else None,
        "trace": sol["meta"].get("trace", []) if sol else [],
        "state": ("feasible" if feasible else "infeasible") if sol else f"exit {code}",
        "note": "; ".join(notes) if sol else failed,
    }


def matches(runs: list[dict]) -> dict[tuple[int, float], str]:
    """For each (load, budget) of the hybrid, when the longest PyVRP run under the same load first reached its
    cost on its anytime curve."""
    out = {}
    for r in runs:
        same = [p for p in runs if p["solver"] == "pyvrp" and p["trace"] and p["load"] == r["load"]]
        if r["solver"] not in ("hybrid", "nco") or r["cost"] is None or not same:
            continue
        pyvrp = max(same, key=lambda p: p["budget"])
        when = next((t for t, c in pyvrp["trace"] if c <= r["cost"] * (1 + 1e-9)), None)
        out[r["load"], r["budget"]] = (
            f"pyvrp reaches it at {when:.1f} s"
            if when is not None
            else f"pyvrp does not reach it in {pyvrp['budget']:g} s"
        )
    return out


def table(n: int, runs: list[dict]) -> list[str]:
    """The rows of one size: gaps to the best cost any run found."""
    best = min((r["cost"] for r in runs if r["cost"] is not None), default=None)
    match = matches(runs)
    rows = []
    for r in runs:
        gap = f"{r['cost'] / best - 1:+.2%}" if r["cost"] is not None and best else "-"
        cost = f"{r['cost']:,.0f}" if r["cost"] is not None else "-"
        solve = f"{r['solve']:.1f}" if r["solve"] is not None else "-"
        budget = "-" if r["solver"].startswith("policy") else f"{r['budget']:g}"
        note = r["note"][:140].replace("|", "\\|")
        if r["solver"] in ("hybrid", "nco") and (r["load"], r["budget"]) in match:
            note = "; ".join(filter(None, [match[r["load"], r["budget"]], note]))
        rows.append(
            f"| {n} | {r['load']} | {r['solver']} | {budget} | {r['wall']:.1f} | {solve} | {r['peak_mb']:.0f} | {cost} | {gap} |"
            f" {r['routes'] or '-'} | {r['state']} | {note} |"
        )
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,5000,10000")
    p.add_argument("--solvers", default="policy-greedy,hybrid,pyvrp,ortools")
    p.add_argument("--budgets", "--time-limit", default="5", help="seconds, comma-separated")
    p.add_argument("--layout", choices=("xlike", "uniform"), default="xlike")
    p.add_argument("--dataset", help="a city dataset (.npz): its locations on its road matrices, not --layout")
    p.add_argument("--load", default="0", help="busy-looping processes beside each run; several (0,1): side by side")
    p.add_argument("--folder", default="/tmp/nco-bench-size", help="where the generated instances are kept")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    budgets = [float(b) for b in args.budgets.split(",")]
    loads = [int(k) for k in args.load.split(",")]
    core = sorted(os.sched_getaffinity(0))[0]
    print(
        f"{args.dataset or args.layout} instances, seed 1; budgets {', '.join(f'{b:g}' for b in budgets)} s; one core per run"
        f" (of {os.cpu_count()}); {' then '.join(map(str, loads))} busy processes beside it; wall = the whole command"
        " (imports and loading too)"
    )
    runs: dict[int, list[dict]] = {n: [] for n in sizes}
    for load in loads:
        with cpu_load(load):
            for n in sizes:
                path = instance_file(n, Path(args.folder), args.layout, args.dataset)
                for solver in args.solvers.split(","):
                    for budget in [0.0] if solver.startswith("policy") else budgets:
                        runs[n].append({**run(path, solver, budget, core), "load": load})
                        r = runs[n][-1]
                        print(
                            f"  load {load}: {n} {solver} {budget:g} s: {r['cost']} in {r['wall']:.1f} s",
                            file=sys.stderr,
                            flush=True,
                        )
            print(f"{load} busy: {load_average()}")
    print("| clients | busy | solver | budget s | wall s | solve s | peak MB | cost | gap | routes | result | note |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    print("\n".join(line for n in sizes for line in table(n, runs[n])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
