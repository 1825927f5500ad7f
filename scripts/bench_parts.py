"""By parts or the whole instance: the hybrid's two ways of searching a big instance, side by side.

    python scripts/bench_parts.py                                    # 1000, 2000, 5000 clients; 10 s and 30 s
    python scripts/bench_parts.py --sizes 2000,3000 --budgets 10,60 --layouts xlike,uniform

For each seeded instance (X-like or uniform layout, seed 1) and budget, `hybrid.solve` runs once improving its
best construction by parts (nco/solvers/by_parts.py) and once with PyVRP's genetic search over the whole
instance, each in a fresh process on one core, one after the other. It prints both costs (the checker's), the
solve's wall time, and which one `hybrid.by_parts_pays` would pick: the figures behind its thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def child(layout: str, n: int, budget: float, parts: bool) -> dict:
    """One solve in this process (the parent's memory and imports are not shared with it)."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the goals say
    from envs.generate.cvrp import uniform_instance, xlike_instance
    from envs.model.check import check
    from nco.solvers import hybrid

    make = {"xlike": xlike_instance, "uniform": uniform_instance}[layout]
    inst = make(n, seed=1)
    sol = hybrid.solve(inst, budget, seed=0, parts=parts)
    report = check(inst, sol)
    return {
        "cost": report.cost,
        "feasible": report.feasible,
        "solve_s": sol.timings["total"],
        "auto": "parts" if hybrid.by_parts_pays(inst, budget) else "whole",
    }


def run(layout: str, n: int, budget: float, parts: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", f"{layout},{n},{budget},{int(parts)}"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        return {"cost": float("nan"), "feasible": False, "solve_s": float("nan"), "auto": out.stderr.strip()[-120:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,2000,5000")
    p.add_argument("--budgets", default="10,30")
    p.add_argument("--layouts", default="xlike")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        layout, n, budget, parts = args.child.split(",")
        print(json.dumps(child(layout, int(n), float(budget), bool(int(parts)))))
        return 0
    print("| layout | clients | budget s | by parts | s | whole | s | parts vs whole | auto picks |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for layout in args.layouts.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            for budget in (float(b) for b in args.budgets.split(",")):
                a, b = run(layout, n, budget, True), run(layout, n, budget, False)
                ratio = a["cost"] / b["cost"] - 1
                print(
                    f"| {layout} | {n} | {budget:g} | {a['cost']:,.0f} | {a['solve_s']:.1f} | {b['cost']:,.0f} |"
                    f" {b['solve_s']:.1f} | {ratio:+.2%} | {a['auto']} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
