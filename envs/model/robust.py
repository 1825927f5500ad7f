"""How a fixed solution fares under its instance's stochastic travel times (Monte Carlo).

Solvers plan on a deterministic matrix (envs.model.travel_model.planning_instance);
this module replays their routes, unchanged, under sampled travel times with
the checker's conventions: a route leaves the depot when it opens, waits for a
window's opening, service starts at max(arrival, opening), and a vehicle that
arrives late still serves on arrival and carries on. Open routes do not return.

Cost of one sample: the checker's cost with each arc's distance term scaled by
its realised / nominal time ratio (delays cost in proportion, e.g. fuel and
driver time); fixed costs and preferences are unchanged, and arcs of zero
duration keep their distance cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from envs.errors import InstanceError
from envs.model.check import EPS, check
from envs.model.instance import Instance
from envs.model.solution import Solution


@dataclass
class RobustReport:
    """Monte Carlo statistics of one solution; probabilities are shares of samples."""

    samples: int
    seed: int
    cost: float  # deterministic checker cost
    expected_cost: float
    cost_std: float  # over samples (population std)
    cost_p95: float
    expected_travel_time: float  # sum of realised arc times per sample, averaged
    travel_time_std: float
    # Indexed by node: on_time[c] = P(service at client c starts by its window's close), 0 if c is not served;
    # on_time[0] = share of (sample, closed route) pairs back at the depot by its close (1 with only open routes).
    on_time: np.ndarray = field(repr=False)
    tw_feasibility: float  # mean of on_time over the clients
    routes_on_time: float  # share of (sample, route) pairs with every client, and a closed route's return, on time
    expected_lateness: float  # mean per sample of total lateness at clients and closed routes' returns

    def summary(self) -> str:
        return (
            f"expected cost {self.expected_cost:.6g} (deterministic {self.cost:.6g}, std {self.cost_std:.3g},"
            f" p95 {self.cost_p95:.6g}), on time {100 * self.tw_feasibility:.1f}% of clients and"
            f" {100 * self.routes_on_time:.1f}% of routes, expected lateness {self.expected_lateness:.3g}"
            f" ({self.samples} samples, seed {self.seed})"
        )

    def as_dict(self) -> dict:
        """Plain JSON types."""
        out = {
            k: float(getattr(self, k))
            for k in (
                "cost",
                "expected_cost",
                "cost_std",
                "cost_p95",
                "expected_travel_time",
                "travel_time_std",
                "tw_feasibility",
                "routes_on_time",
                "expected_lateness",
            )
        }
        return {"samples": int(self.samples), "seed": int(self.seed), **out, "on_time": self.on_time.tolist()}


def evaluate(instance: Instance, solution: Solution, samples: int = 1000, seed: int = 0) -> RobustReport:
    """Replay `solution` under `samples` draws of the instance's travel model (all samples at once)."""
    model = instance.travel_model
    if model is None:
        raise InstanceError(f"{instance.name}: robust evaluation needs a travel model; the instance has none")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    _check_routes(instance, solution)
    rng = np.random.default_rng(seed)
    tally = _Tally.empty(samples, instance.num_nodes)
    for route in solution.routes:
        visits = [int(c) for c in route.visits]
        if visits:
            tally.replay(instance, visits, instance.fleet[route.vehicle_type].unit_cost, rng)
    return tally.report(instance, solution, samples, seed)


def _check_routes(instance: Instance, solution: Solution) -> None:
    """Refuse a route that the replay could not walk (an unknown client or vehicle type)."""
    n1 = instance.num_nodes
    for r, route in enumerate(solution.routes):
        bad = [c for c in route.visits if not 1 <= int(c) < n1]
        if bad or not 0 <= route.vehicle_type < len(instance.fleet):
            raise InstanceError(f"{instance.name}: route {r} has an unknown client or vehicle type")


@dataclass
class _Tally:
    """What the replay of the routes so far adds up to, per sample (arrays) or over samples (shares)."""

    extra_cost: np.ndarray  # sampled cost minus the deterministic cost
    travel: np.ndarray
    lateness: np.ndarray
    on_time: np.ndarray  # per node
    depot_ok: float = 0.0
    closed_routes: int = 0
    route_ok: float = 0.0
    num_routes: int = 0

    @classmethod
    def empty(cls, samples: int, n1: int) -> _Tally:
        return cls(np.zeros(samples), np.zeros(samples), np.zeros(samples), np.zeros(n1))

    def replay(self, instance: Instance, visits: list[int], unit: float, rng: np.random.Generator) -> None:
        """Walk one non-empty route under every sample at once, with the checker's conventions."""
        model, samples = instance.travel_model, self.extra_cost.shape[0]
        tw, svc, dist, dur = instance.time_windows, instance.service, instance.distance, instance.duration
        path = [0, *visits] + ([] if instance.open_routes else [0])
        t = np.full(samples, tw[0, 0])
        all_ok = np.ones(samples, dtype=bool)
        for a, b in zip(path[:-1], path[1:]):
            if a != 0:
                t = t + svc[a]
            base = dur[a, b]
            realised = model.sample_times(np.full(samples, base), t, rng)
            self.travel += realised
            if base > 0:
                self.extra_cost += unit * dist[a, b] * (realised / base - 1.0)
            t = t + realised
            ok = t <= tw[b, 1] + EPS
            self.lateness += np.where(ok, 0.0, t - tw[b, 1])
            all_ok &= ok
            if b == 0:
                self.depot_ok += ok.mean()
                self.closed_routes += 1
                continue
            self.on_time[b] = ok.mean()
            t = np.maximum(t, tw[b, 0])
        self.route_ok += all_ok.mean()
        self.num_routes += 1

    def report(self, instance: Instance, solution: Solution, samples: int, seed: int) -> RobustReport:
        extra_cost, travel, on_time = self.extra_cost, self.travel, self.on_time
        on_time[0] = self.depot_ok / self.closed_routes if self.closed_routes else 1.0
        cost = check(instance, solution).cost
        return RobustReport(
            samples=samples,
            seed=seed,
            cost=cost,
            # From the differences, so that a neutral model reproduces the checker's cost exactly.
            expected_cost=cost + float(extra_cost.mean()),
            cost_std=float(extra_cost.std()),
            cost_p95=cost + float(np.quantile(extra_cost, 0.95)),
            expected_travel_time=float(travel.mean()),
            travel_time_std=float(travel.std()),
            on_time=on_time,
            tw_feasibility=float(on_time[1:].mean()),
            routes_on_time=float(self.route_ok / self.num_routes) if self.num_routes else 1.0,
            expected_lateness=float(self.lateness.mean()),
        )
