"""The solvers by name, one registry for the Python API (and, as they move here, the CLI and the scripts).

Explicit names replace the old magic values: `policy` is the trained policy alone (what `time_limit=0` meant
for "nco"), `hybrid` the policy-seeded genetic search (the default), `ortools+policy` OR-Tools started from
the policy's best. The old spelling `nco` is kept as an alias of `hybrid` for one release.
"""

from __future__ import annotations

from dataclasses import replace

from envs.errors import NcoError
from nco.solvers.pipeline import SolveOptions

SOLVERS = {
    "policy": "the trained policy alone: multi-start and augmentation, no search (milliseconds)",
    "hybrid": "the policy, then PyVRP's genetic search seeded by it, for the budget (the default)",
    "pyvrp": "PyVRP's genetic search from a savings construction",
    "ortools": "OR-Tools' guided local search from a cheapest-arc start",
    "ortools+policy": "OR-Tools' guided local search from the policy's best",
    "policy-greedy": "the trained policy's one greedy rollout (the fastest plan it makes)",
}
ALIASES = {"nco": "hybrid"}


def canonical(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in SOLVERS:
        raise NcoError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")
    return name


def options_for(name: str, time_limit: float, **overrides) -> SolveOptions:
    """The SolveOptions that run solver `name` for `time_limit` seconds (the policy alone ignores it)."""
    name = canonical(name)
    base = {
        "policy": SolveOptions("nco", 0.0),
        "policy-greedy": SolveOptions("nco", 0.0, num_starts=None, num_augment=1),
        "hybrid": SolveOptions("nco", time_limit),
        "pyvrp": SolveOptions("pyvrp", time_limit),
        "ortools": SolveOptions("ortools", time_limit),
        "ortools+policy": SolveOptions("ortools", time_limit, warm_start=True),
    }[name]
    return replace(base, **overrides)
