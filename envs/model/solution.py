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
    meta: dict = field(default_factory=dict)  # solver-specific facts (iterations, seeds, ...)

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
