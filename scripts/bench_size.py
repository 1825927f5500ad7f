"""Big instances under a budget: wall time and peak memory of `nco solve` from 1,000 to 10,000 clients.

    python scripts/bench_size.py                                  # 1000, 5000, 10000 clients, 5 s, 3 solvers
    python scripts/bench_size.py --sizes 2000,10000 --time-limit 10 --solvers nco,pyvrp

Each run is a fresh `python -m nco solve` process on a seeded X-like instance (envs.generate.cvrp.xlike_instance,
seed 1; written once to --folder), so the wall time holds everything a user waits for: imports, loading and
the matrices, the solve, the check. Peak memory is the process's maximum resident set (wait4's ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def instance_file(n: int, folder: Path) -> Path:
    """The seeded instance of n clients, generated once in a child process: a big parent would inflate every
    later child's ru_maxrss, which counts the memory it was forked with."""
    path = folder / f"xlike-{n}-s1.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        code = (
            "from envs.generate.cvrp import xlike_instance; from envs.io.json_format import save_instance_json;"
            f" save_instance_json(xlike_instance({n}, seed=1), {str(path)!r})"
        )
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return path


def run(path: Path, solver: str, budget: float) -> dict:
    """One `nco solve` process: its wall time, its own peak memory (wait4), and its summary's figures."""
    import tempfile

    cmd = [
        sys.executable,
        "-m",
        "nco",
        "solve",
        "--instance",
        str(path),
        "--solver",
        solver,
        "--time-limit",
        str(budget),
        "--quiet",
    ]
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - began
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    head = stdout.splitlines()[0] if stdout else ""
    found = re.search(r"cost (\S+) \| (\d+) vehicles \| ([\d.]+) s \| (\w+)", head)
    note = next((ln.strip() for ln in stdout.splitlines() if ln.strip().startswith("note:")), stderr.strip())
    return {
        "wall": wall,
        "peak_mb": usage.ru_maxrss / 1024,
        "cost": found[1] if found else "-",
        "solve": found[3] if found else "-",
        "state": found[4] if found else f"exit {proc.returncode}",
        "note": note[:160],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,5000,10000")
    p.add_argument("--solvers", default="nco,pyvrp,ortools")
    p.add_argument("--time-limit", type=float, default=5.0)
    p.add_argument("--folder", default="/tmp/nco-bench-size", help="where the generated instances are kept")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"budget {args.time_limit:g} s; {os.cpu_count()} cores; wall = the whole command (imports and loading too)")
    print("| clients | solver | wall s | solve s | peak MB | cost | result | note |")
    print("|---:|---|---:|---:|---:|---:|---|---|")
    for n in sizes:
        path = instance_file(n, Path(args.folder))
        for solver in args.solvers.split(","):
            r = run(path, solver, args.time_limit)
            note = r["note"].replace("|", "\\|")
            print(
                f"| {n} | {solver} | {r['wall']:.1f} | {r['solve']} | {r['peak_mb']:.0f} | {r['cost']} |"
                f" {r['state']} | {note} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
