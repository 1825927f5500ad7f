"""Behaviour fingerprint: numbers that must not change when code moves (issue 16's restructuring).

    python scripts/regression.py --out before.json            # record
    python scripts/regression.py --compare before.json        # re-measure and show every difference

Every figure is deterministic (fixed seeds, no clock-held budgets, one torch thread):
- each shipped checkpoint on shipped instances it serves: the greedy rollout's cost and the 800-rollout
  (100 starts x 8 views) cost;
- PyVRP's genetic search for a fixed number of iterations, OR-Tools' first solution, both baselines'
  constructions (time limit 0), all costed by the checker;
- the checker's reports of the shipped best-known solutions;
- one short training run's validation cost (10 clients, 1 epoch, seed 0).
Exit status 1 with --compare when any number differs by more than 1e-9 relative.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
TOLERANCE = 1e-9

# shipped checkpoint -> instances it is meant for (two each, where the set has two)
POLICY_CASES = {
    "cvrp100": ["city.json", "x/X-n101-k25.vrp"],
    "road100_matrix": ["monaco/city.json"],
    "fleet100": ["hfvrp/X101-FSMFD.vrp", "hfvrp/X110-HD.vrp"],
    "variants100": ["solomon/C101.vrp", "solomon/R101.vrp"],
    "svrp50": ["svrp/city-day-100.json"],
    "roadtw100": ["monaco/day.json"],
}
BASELINE_CASES = ["city.json", "x/X-n101-k25.vrp", "solomon/C101.vrp", "hfvrp/X101-FSMFD.vrp"]
PYVRP_ITERATIONS = 300


def load(rel: str):
    from envs.io.load import load_instance

    return load_instance(DATA / rel)


def report_dict(report) -> dict:
    return {
        "cost": report.cost,
        "feasible": report.feasible,
        "routes": report.num_routes,
        "violations": len(report.violations),
    }


def policy_figures() -> dict:
    from envs.model.check import check
    from nco.solvers import construct

    out = {}
    for name, files in POLICY_CASES.items():
        checkpoint = ROOT / "nco" / "checkpoints" / f"{name}.pt"
        for rel in files:
            inst = load(rel)
            if inst.travel_model is not None:
                from envs.model.travel_model import planning_instance

                inst = planning_instance(inst, 0.9)
            greedy = construct.solve(inst, checkpoint, num_starts=None, num_augment=1, threads=1)
            multi = construct.solve(inst, checkpoint, num_starts=100, num_augment=8, threads=1)
            out[f"{name} on {rel}"] = {"greedy": check(inst, greedy).cost, "800 rollouts": check(inst, multi).cost}
    return out


def baseline_figures() -> dict:
    import warnings

    import pyvrp
    from pyvrp.stop import MaxIterations

    from baselines import ortools_solver, pyvrp_solver
    from envs.model.check import check
    from nco.solvers import genetic

    warnings.filterwarnings("ignore", module="pyvrp")  # C101's penalty bound: a note, not a figure
    out = {}
    for rel in BASELINE_CASES:
        inst = load(rel)
        data, ints = pyvrp_solver.build_problem_data(inst)
        result = pyvrp.solve(data, stop=MaxIterations(PYVRP_ITERATIONS), seed=0, display=False)
        run = genetic.GeneticRun(result=result, trace=[], num_seeds=0)
        ga = genetic.to_solution(inst, run, ints, 0.0, "pyvrp", {})
        out[rel] = {
            f"pyvrp {PYVRP_ITERATIONS} iterations": report_dict(check(inst, ga)),
            "pyvrp construction": report_dict(check(inst, pyvrp_solver.solve(inst, time_limit=0))),
            "ortools first solution": report_dict(check(inst, ortools_solver.solve(inst, time_limit=0))),
        }
    return out


def checker_figures() -> dict:
    from envs.io.vrplib_format import load_vrplib_solution
    from envs.model.check import check

    out = {}
    for sol in sorted(DATA.rglob("*.sol"))[:12]:
        vrp = sol.with_suffix(".vrp")
        if not vrp.exists():
            continue
        inst = load(str(vrp.relative_to(DATA)))
        out[str(sol.relative_to(DATA))] = report_dict(check(inst, load_vrplib_solution(inst, sol)))
    return out


def training_figures(tmp: Path) -> dict:
    from nco.train.run import TrainConfig, train

    cfg = TrainConfig(
        num_clients=10,
        epochs=1,
        batch_size=16,
        train_size=64,
        val_size=32,
        seed=0,
        out_dir=str(tmp / "run"),
        logger="none",
        progress_bar=False,
        accelerator="cpu",
        devices=1,
    )
    return {"10 clients, 1 epoch, seed 0: validation cost": train(cfg)["val_cost"]}


def measure() -> dict:
    import tempfile

    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    doc = {
        "commit": commit.stdout.strip(),
        "policy": policy_figures(),
        "baselines": baseline_figures(),
        "checker": checker_figures(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        doc["training"] = training_figures(Path(tmp))
    doc["seconds"] = round(time.perf_counter() - started, 1)
    return doc


def flatten(doc, prefix: str = "") -> dict:
    if not isinstance(doc, dict):
        return {prefix: doc}
    out = {}
    for k, v in doc.items():
        if k in ("commit", "seconds"):
            continue
        out.update(flatten(v, f"{prefix} / {k}" if prefix else k))
    return out


def differences(before: dict, after: dict) -> list[str]:
    a, b = flatten(before), flatten(after)
    rows = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        same = x == y or (
            isinstance(x, int | float) and isinstance(y, int | float) and abs(x - y) <= TOLERANCE * max(1, abs(x))
        )
        if not same:
            rows.append(f"| {key} | {x} | {y} |")
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", help="write the figures here (JSON)")
    p.add_argument("--compare", help="figures recorded earlier: print every difference, exit 1 if any")
    args = p.parse_args()
    doc = measure()
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    if not args.compare:
        print(json.dumps(doc, indent=1))
        return 0
    before = json.loads(Path(args.compare).read_text())
    rows = differences(before, doc)
    count = len(flatten(doc))
    print(f"{count} figures, commit {before.get('commit')} against {doc['commit']}: {len(rows)} differ")
    if rows:
        print("| figure | before | after |\n|---|---|---|\n" + "\n".join(rows))
    return 1 if rows else 0


if __name__ == "__main__":
    sys.exit(main())
