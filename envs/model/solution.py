"""The one solution type every solver returns."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Route:
    """Clients visited in order by one vehicle of type `vehicle_type`; the depot is implicit."""

    visits: list[int]
    vehicle_type: int = 0


@dataclass
class Solution:
    routes: list[Route]
    solver: str
    timings: dict[str, float] = field(default_factory=dict)  # seconds, by phase
    meta: dict = field(default_factory=dict)  # solver-specific facts (iterations, seeds, ...), for the file
    notes: list[str] = field(default_factory=list)  # how it was made, where the user should know (in order)
    trace: list[tuple[float, float]] | None = None  # the anytime curve: (seconds from the start, best cost so far)

    def file_meta(self) -> dict:
        """`meta` as the solution file holds it: the solver's facts, the notes joined as `note`, the trace."""
        out = dict(self.meta)
        if self.trace is not None:
            out["trace"] = [[float(t), float(c)] for t, c in self.trace]
        if self.notes:
            out["note"] = "; ".join(self.notes)
        return out

    def noted(self, *notes: str | None) -> Solution:
        """This solution with `notes` added after its own (a new object; the solver's is left as it was)."""
        from dataclasses import replace

        return replace(self, notes=[*self.notes, *filter(None, notes)])

    @classmethod
    def from_giant_tour(cls, tour, solver: str, types: list[int] | None = None, **kw) -> Solution:
        """Split a node sequence where it passes the depot (0) into routes, of vehicle `types` in order."""
        routes, cur = [], []
        for node in tour:
            node = int(node)
            if node == 0:
                if cur:
                    routes.append(Route(cur))
                cur = []
            else:
                cur.append(node)
        if cur:
            routes.append(Route(cur))
        for route, k in zip(routes, types or []):
            route.vehicle_type = k
        return cls(routes=routes, solver=solver, **kw)
