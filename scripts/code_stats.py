"""The code's shape, per package: modules, lines, functions, and the most complex functions (McCabe, via ruff).

    python scripts/code_stats.py                 # this checkout
    python scripts/code_stats.py --top 10 --tree /path/to/another/checkout

Lines are non-blank lines of .py files; complexity is ruff's C901 (mccabe) measure of every function.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

PACKAGES = ("nco", "envs", "baselines")


def complexities(tree: Path) -> list[tuple[int, str, str]]:
    """(complexity, file, function) of every function of the packages."""
    cmd = [
        sys.executable,
        "-m",
        "ruff",
        "check",
        "--select",
        "C901",
        "--config",
        "lint.mccabe.max-complexity=0",
        "--output-format",
        "concise",
        "--no-cache",
        "--exit-zero",
        *PACKAGES,
    ]
    out = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"(\S+?):\d+:\d+: C901 `(.+)` is too complex \((\d+) > 0\)", line)
        if m:
            rows.append((int(m.group(3)), m.group(1), m.group(2)))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=Path.cwd(), help="the checkout to measure")
    ap.add_argument("--top", type=int, default=8, help="how many of the most complex functions to list")
    args = ap.parse_args(argv)
    funcs = complexities(args.tree)
    by_pkg: dict[str, list] = defaultdict(list)
    for cc, path, _name in funcs:
        by_pkg[Path(path).parts[0]].append(cc)
    print("| package | modules | lines | functions | over CC 10 |")
    print("|---|---:|---:|---:|---:|")
    total = [0, 0, 0, 0]
    for pkg in PACKAGES:
        files = sorted((args.tree / pkg).rglob("*.py"))
        lines = sum(sum(1 for s in f.read_text().splitlines() if s.strip()) for f in files)
        ccs = by_pkg.get(pkg, [])
        over = sum(cc > 10 for cc in ccs)
        row = [len(files), lines, len(ccs), over]
        total = [a + b for a, b in zip(total, row)]
        print(f"| {pkg} | {row[0]} | {row[1]:,} | {row[2]} | {over} ({100 * over / max(1, len(ccs)):.1f}%) |")
    print(f"| all | {total[0]} | {total[1]:,} | {total[2]} | {total[3]} ({100 * total[3] / max(1, total[2]):.1f}%) |")
    print()
    print("| complexity | function |")
    print("|---:|---|")
    for cc, path, name in sorted(funcs, reverse=True)[: args.top]:
        print(f"| {cc} | {path} `{name}` |")


if __name__ == "__main__":
    main()
