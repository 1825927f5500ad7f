"""SolveResult: what every solve returns, typed (the plan, its check, its notes, its anytime trace, timings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envs.model.check import Report
from envs.model.instance import Instance
from envs.model.solution import Solution


@dataclass(frozen=True)
class SolveResult:
    """A checked plan. `report` is the checker's (the authority on cost and feasibility); `routes` name the
    clients by the instance's ids."""

    instance: Instance
    solution: Solution
    report: Report
    solver: str
    notes: tuple[str, ...] = ()
    trace: tuple[tuple[float, float], ...] = ()  # (seconds since the solve began, best cost so far)
    timings: dict[str, float] = field(default_factory=dict)
    interrupted: str | None = None  # the signal that stopped the search (SIGINT, SIGTERM), if one did

    @classmethod
    def of(cls, instance: Instance, solution: Solution, report: Report, solver: str) -> SolveResult:
        trace = tuple((float(t), float(c)) for t, c in solution.trace or ())
        interrupted = solution.meta.get("interrupted")
        return cls(
            instance, solution, report, solver, tuple(solution.notes), trace, dict(solution.timings), interrupted
        )

    @property
    def cost(self) -> float:
        return self.report.cost

    @property
    def feasible(self) -> bool:
        return self.report.feasible

    @property
    def routes(self) -> list[dict[str, Any]]:
        """One dict a used route: vehicle_type (its name where the fleet names it), clients (ids, in visit
        order), distance, duration, load, cost."""
        return self.to_dict()["routes"]

    def summary(self, routes: bool = True) -> str:
        """The text `nco solve` prints: the headline, the notes, and one line a route."""
        from nco.cli.render import summary

        return summary(self.instance, self.solution, self.report, routes=routes)

    def to_dict(self) -> dict[str, Any]:
        """The solution JSON document (as `nco solve --output` writes it)."""
        from envs.io.json_format import solution_to_dict

        return solution_to_dict(self.instance, self.solution, self.report)

    def to_frame(self):
        """A pandas DataFrame, one row a stop: route, vehicle_type, stop (1, 2, ...), client, demand."""
        try:
            import pandas as pd
        except ImportError:
            from envs.errors import NcoError

            raise NcoError("SolveResult.to_frame needs pandas: pip install 'nco[frame]'") from None
        rows = [
            {
                "route": r + 1,
                "vehicle_type": route["vehicle_type"],
                "stop": k + 1,
                "client": client,
                "demand": float(self.instance.demand[self.solution.routes[r].visits[k]]),
            }
            for r, route in enumerate(self.to_dict()["routes"])
            for k, client in enumerate(route["clients"])
        ]
        return pd.DataFrame(rows, columns=["route", "vehicle_type", "stop", "client", "demand"])
