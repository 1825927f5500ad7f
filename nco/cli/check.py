"""`nco check`: re-check a saved plan (nco's JSON or a VRPLIB .sol) against its instance, and the file's claims."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

from envs.errors import EXIT_FEASIBLE, EXIT_INFEASIBLE
from nco.cli.matrix_source import load_options, report_unreachable
from nco.cli.render import policy_name, say, shown, summary

CLAIM_REL_TOL = 1e-6  # a file's stated cost or distance agrees with the check's within this (relative)


def cmd_check(args) -> int:
    """Re-check a saved plan: the summary's figures are the check's own (its time, not the solve's); what
    the file says of itself is labelled so, and every claim it makes (cost, distance, feasibility, vehicles)
    that the check contradicts is a `note:` line and exit 1 (see the subparser's help)."""
    if args.unreachable == "report":  # the instance's road reachability, as for nco solve; the plan is not read
        return report_unreachable(args)
    from envs.io.load import load_instance
    from envs.model.check import check

    started = time.perf_counter()
    instance = load_instance(args.instance, **load_options(args))
    solution, claims, said, scales = _read_checked_solution(instance, Path(args.solution))
    report = check(instance, solution)
    own = replace(solution, timings={"total": time.perf_counter() - started}, meta={})
    head = summary(instance, own, report, routes=False).splitlines()
    body = summary(instance, own, report).splitlines()[len(head) :]
    notes = _claim_notes(claims, report, scales)
    extra = ([f"  the file says: {'; '.join(said)}"] if said else []) + [f"  note: {n}" for n in notes]
    args.exit_code = EXIT_FEASIBLE if report.feasible and not notes else EXIT_INFEASIBLE  # also after `| head`
    say("\n".join(head + extra + body))
    return args.exit_code


def _read_checked_solution(instance, path: Path):
    """A solution file for `nco check`: (Solution, its claims, what else it says, the units its cost may use).

    nco's JSON if the text starts with `{` or `[`; VRPLIB solution text if the name ends in `.sol` or a line
    reads `Route #k: ...`; else JSON (whose reader says what is wrong)."""

    from envs.io.json_format import read_json, solution_from_dict
    from envs.io.vrplib_format import PYVRP_EXACT_SCALE, load_vrplib_solution

    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:  # missing, a folder, unreadable: the reader of its kind says so in one line
        text = ""
    is_json = text.lstrip().startswith(("{", "["))
    if not is_json and (path.suffix.lower() == ".sol" or re.search(r"^\s*route\s*#?\s*\d*\s*:", text, re.I | re.M)):
        solution = load_vrplib_solution(instance, path, solver="unknown")
        claims = {"cost": solution.meta["cost"]} if "cost" in solution.meta else {}
        # a .sol Cost may be in the instance's units or PyVRP's exact objective (x1e5), as envs/vrplib_format reads
        return replace(solution, meta={}), claims, [], (1.0, PYVRP_EXACT_SCALE)
    doc = read_json(path)
    solution = solution_from_dict(instance, doc, source=path.name)
    claims = {k: doc[k] for k in ("cost", "distance", "feasible", "num_routes") if k in doc}
    said, meta = [], solution.meta
    if solution.timings:
        said.append(f"solved in {solution.timings.get('total', sum(solution.timings.values())):.3f} s")
    if meta.get("checkpoint"):
        said.append(f"policy {shown(policy_name(meta['checkpoint']))}")
    if meta.get("planned_on"):
        said.append(f"planned on {shown(meta['planned_on'])} (the check uses nominal times)")
    if meta.get("robust"):
        said.append("robust metrics on sampled travel times (not re-checked)")
    if meta.get("note"):
        said.append(f"note: {shown(meta['note'])}")
    return solution, claims, said, (1.0,)


def _claim_notes(claims: dict, report, scales: tuple[float, ...]) -> list[str]:
    """One line per claim of the file that the check's figures contradict.

    A number agrees when it is the check's within CLAIM_REL_TOL, or within half a unit of its own last
    written decimal (VRPLIB costs are often rounded to integers); a .sol Cost also in PyVRP's x1e5 units."""

    def agrees(value: float, truth: float) -> bool:
        half = 0.5 if isinstance(value, int) else _half_last_decimal(value)
        return any(abs(value / k - truth) <= max(half / k, CLAIM_REL_TOL * abs(truth)) for k in scales)

    def shown(truth: float, value: float) -> str:  # enough digits to differ from the claim as written
        for digits in (6, 8, 10, 12, 17):
            text = f"{truth:.{digits}g}"
            if text != str(value):
                return text
        return repr(truth)

    state = "feasible" if report.feasible else f"INFEASIBLE ({len(report.violations)} violations)"
    notes = []
    if "feasible" in claims and bool(claims["feasible"]) != report.feasible:
        notes.append(f"the file claims {'feasible' if claims['feasible'] else 'infeasible'}; the check finds {state}")
    for key, truth in (("cost", report.cost), ("distance", report.distance)):
        value = claims.get(key)
        if value is not None and not agrees(value, truth):
            notes.append(f"the file claims {key} {value}; the check finds {shown(truth, value)}")
    if "num_routes" in claims and claims["num_routes"] != report.num_routes:
        notes.append(f"the file claims {claims['num_routes']} vehicles; the check finds {report.num_routes}")
    return notes


def _half_last_decimal(value: float) -> float:
    """Half a unit of the last decimal Python writes for `value` (1.0: 0.05; 260.17: 0.005; 1e-05: 0)."""
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 0.0
    return 0.5 * 10.0 ** -len(text.split(".")[1])
