"""Run a command idle and again with CPU-bound processes beside it; print both wall times side by side.

    python scripts/under_load.py -- .venv/bin/nco solve --instance data/monaco/city.json --quiet
    python scripts/under_load.py --load 2 --grep policy -- .venv/bin/nco solve --instance data/city.json --quiet

Each run's output is printed (or only its lines containing --grep), then one table of wall times. The load
is `--load` busy-looping processes (default: one per core), started before the loaded run and stopped after.
"""

from __future__ import annotations

import argparse
import subprocess
import time

from cpu_load import cpu_load, load_average  # scripts/ is on the path of a script run from it

from nco.threads import available_cores


def run(cmd: list[str], grep: str | None) -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    text = proc.stdout + proc.stderr
    if grep:
        text = "\n".join(line for line in text.splitlines() if grep in line)
    return wall, proc.returncode, text.rstrip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--load", type=int, default=available_cores(), help="CPU-bound processes in the loaded run")
    ap.add_argument("--grep", help="print only the output lines containing this text")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("give the command after --")
    rows = []
    for label, procs in (("idle", 0), (f"{args.load} CPU-bound processes beside it", args.load)):
        with cpu_load(procs):
            if procs:
                time.sleep(1.0)  # let the spinners take their cores
            state = load_average()
            wall, code, text = run(cmd, args.grep)
        print(f"--- {label} ({state} before the run): exit {code}, {wall:.2f} s\n{text}")
        rows.append((label, wall, code))
    print(f"\n{' '.join(cmd)}\n{available_cores()} cores\n| machine | wall (s) | exit |\n|---|---:|---:|")
    for label, wall, code in rows:
        print(f"| {label} | {wall:.2f} | {code} |")


if __name__ == "__main__":
    main()
