"""What nco prints: the solve summary, its routes and notes, the anytime trace, with every name and id from a
file escaped so that it prints as itself (the CLI and the Python API's SolveResult.summary share these)."""

from __future__ import annotations

import re
from pathlib import Path

# C0 and C1 controls (escape sequences, carriage return, newline), line separators and bidirectional overrides:
# what would let an instance's name or ids clear a terminal or forge a "feasible" line in a CI log
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def shown(value) -> str:
    """`value` as text that prints as itself: control characters escaped as \\xNN or \\uNNNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 256 else f"\\u{ord(m[0]):04x}", str(value))


def say(text: str) -> None:
    """Print lines nco composed (their own line breaks kept; anything else a file put there escaped)."""
    print("\n".join(shown(line) for line in text.split("\n")))


def dropped_line(dropped, first: int = 20) -> str:
    """The summary's line naming the clients --unreachable drop left out (the first `first` of them)."""
    more = f", ... ({len(dropped) - first} more)" if len(dropped) > first else ""
    names = ", ".join(map(shown, dropped[:first])) + more
    return f"  dropped {len(dropped)} unreachable client{'s' if len(dropped) != 1 else ''}: {names}"


def trace_text(solution) -> str:
    trace = solution.file_meta().get("trace")  # a solver's, or a solution file's
    if not trace:
        return "  (no anytime trace: this solver does not record one)"
    return "\n".join(["  best cost over time:"] + [f"  {t:8.3f} s  {c:.6g}" for t, c in trace])


def summary(instance, solution, report, routes: bool = True) -> str:
    total = solution.timings.get("total", sum(solution.timings.values()))
    head = (
        f"{shown(instance.name)}: {instance.num_clients} clients | solver {solution.solver} | cost {report.cost:.6g}"
        f" | {report.num_routes} vehicles | {total:.3f} s | {'feasible' if report.feasible else 'INFEASIBLE'}"
    )
    if solution.meta.get("checkpoint"):  # which policy built it: planar or matrix-aware
        head += f" | policy {policy_name(solution.meta['checkpoint'])}"
    if instance.best_known:
        head += f" | gap {100 * (report.cost - instance.best_known) / instance.best_known:+.2f}% to best known"
    lines = [head]
    if getattr(instance, "dropped", ()):  # --unreachable drop: clients of the file this plan does not serve
        lines.append(dropped_line(instance.dropped))
    note = solution.file_meta().get("note")
    if note:
        lines.append(f"  note: {note}")
    if solution.meta.get("planned_on"):
        lines.append(f"  planned on {solution.meta['planned_on']}; cost and feasibility above on nominal times")
    if solution.meta.get("robust"):
        import numpy as np

        from envs.model.robust import RobustReport

        robust = solution.meta["robust"]
        lines.append("  robust: " + RobustReport(**{**robust, "on_time": np.asarray(robust["on_time"])}).summary())
    if routes:
        ids = instance.ids
        for k, (route, st) in enumerate(zip([r for r in solution.routes if r.visits], report.routes)):
            veh = instance.fleet[route.vehicle_type]
            stops = " ".join(shown(ids[c]) for c in route.visits)
            lines.append(
                f"  route {k + 1:>3} [{shown(veh.name or route.vehicle_type)}] load {st.delivery:g}/{veh.capacity:g}"
                f" dist {st.distance:.6g}: {stops}"
            )
        lines += [f"  violation: {v}" for v in report.violations]
    return "\n".join(lines)


def policy_name(checkpoint: str | Path) -> str:
    """A checkpoint as the summary names it: a shipped one by its file (road100_matrix), a training run's
    best.pt or last.pt by its run folder too (runs/ft/best.pt: ft/best)."""
    path = Path(checkpoint)
    return f"{path.parent.name}/{path.stem}" if path.stem in ("best", "last") and path.parent.name else path.stem
