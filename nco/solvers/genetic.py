"""The genetic search nco refines with: PyVRP's hybrid genetic search, run by nco, seeded with its constructions.

PyVRP 0.12's `GeneticAlgorithm` accepts initial solutions; this module sets it up as `pyvrp.solve` does, but
starting from the given seeds, under nco's clock (a wall-clock deadline, a CPU-time budget for reference runs,
Ctrl-C), recording the anytime curve, and skipping its set-up where a giant instance would spend the budget on
it. The instance reaches PyVRP through the baseline adapter's public converters (baselines.pyvrp_solver:
build_problem_data, to_pyvrp_solution, from_pyvrp_solution); the hybrid (nco/solvers/hybrid.py) and the PyVRP
baseline both run this search, so that they differ only in where the search starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pyvrp
from pyvrp import CostEvaluator
from pyvrp.crossover import ordered_crossover, selective_route_exchange
from pyvrp.diversity import broken_pairs_distance
from pyvrp.PenaltyManager import PenaltyManager, PenaltyParams
from pyvrp.search import LocalSearch, compute_neighbours

from baselines.pyvrp_solver import from_pyvrp_solution
from envs import interrupt
from envs.errors import NoSolutionFound
from envs.model.instance import Instance
from envs.model.solution import Solution

if TYPE_CHECKING:
    from baselines.scaling import IntegerData


CONSTRUCTION_SHARE = 0.5  # the savings construction may take up to half the budget (it takes milliseconds) ...
CONSTRUCTION_MIN_S = 0.2  # ... and at least this long, so that no budget is too short for a sensible plan


def construction_deadline(started: float, time_limit: float, share: float = CONSTRUCTION_SHARE) -> float:
    """When a construction started at `started` must stop: `share` of the budget, but never sooner than
    CONSTRUCTION_MIN_S (a 100-client savings construction takes ~0.01 s, a greedy rollout ~0.1 s): a budget
    shorter than that is overrun by the construction rather than answered with one route per client."""
    return started + max(share * time_limit, CONSTRUCTION_MIN_S)


class SearchSkipped(Exception):
    """The genetic search's set-up does not fit what is left of the budget: the caller keeps its construction.

    On 5,000 clients building PyVRP's data, the neighbourhoods, the penalties and the population takes some
    10 s, so a 5 s budget would end three times late for no iteration at all."""


# the genetic search's set-up against what it follows (measured at 1,000 to 5,000 clients): building PyVRP's
# data takes 3-9x the savings construction (5x at 5,000), and the search's own set-up 1-2.5x the building
BUILD_PER_SAVINGS = 6.0
SETUP_PER_BUILD = 1.5


def setup_fits(initial, started: float, time_limit: float, deadline: float | None, build_s: float | None = None):
    """SearchSkipped when, with a plan in hand, the next set-up step would end past `deadline`: before the
    build, judged by the construction's time (`initial.timings['construct']`); after it, by the build's."""
    if deadline is None or initial is None:
        return
    left = deadline - time.perf_counter()
    if build_s is None:
        need = BUILD_PER_SAVINGS * initial.timings.get("construct", 0.0)
        what = "building its data"
    else:
        need = SETUP_PER_BUILD * build_s
        what = "its neighbourhoods and population"
    if need > left:
        raise SearchSkipped(
            f"the genetic search was skipped: {what} would take about {need:.1f} s, and"
            f" {max(0.0, left):.1f} s of the {time_limit:g} s are left; this is the construction"
        )


def construction_only(
    plan: Solution, solver: str, started: float, meta: dict, notes: list[str], trace: list | None = None
) -> Solution:
    """A construction returned as the solver's answer, when the search had no time to start."""
    elapsed = time.perf_counter() - started
    return replace(
        plan,
        solver=solver,
        meta={**plan.meta, **meta, "num_iterations": 0},
        notes=[*plan.notes, *notes],
        trace=trace or [],
        timings={"construct": plan.timings.get("construct", elapsed), "search": 0.0, "total": elapsed},
    )


def idle_search_note(run: GeneticRun, seconds: float) -> str | None:
    """What to tell the user when the genetic search ran no iteration in its `seconds`: the plan is the start."""
    if run.result.num_iterations:
        return None
    return f"the genetic search ran no iteration in the {max(0.0, seconds):.2f} s left: this is its starting plan"


@dataclass
class GeneticRun:
    result: pyvrp.Result
    trace: list[tuple[float, int]]  # (seconds since the run started, best penalised cost) at each improvement
    num_seeds: int


class _RecordingStop:
    """A time limit that also records the best cost each time it improves (the anytime curve).

    PyVRP checks its stopping criterion only between iterations, and one local
    search on a 1000-client instance can take a tenth of a second or more; so
    no iteration is started that, taking as long as the slowest of the last
    few, would end past the limit. `clock` is wall time by default; time.process_time gives a
    CPU-time budget, which a shared machine cannot shrink (reference runs).
    """

    def __init__(self, seconds: float, clock=time.perf_counter):
        self.seconds = max(0.0, seconds)
        self.clock = clock
        self.started = self.last = clock()
        self.trace: list[tuple[float, int]] = []
        self.recent: list[float] = []  # the last iterations' durations

    def expired(self, next_step: float = 0.0) -> bool:
        return self.clock() - self.started + next_step >= self.seconds or interrupt.requested() is not None

    def __call__(self, best_cost: float) -> bool:
        now = self.clock()
        elapsed, self.recent, self.last = now - self.started, [*self.recent[-4:], now - self.last], now
        if not self.trace or best_cost < self.trace[-1][1]:
            self.trace.append((elapsed, best_cost))
        return elapsed + max(self.recent) >= self.seconds or interrupt.requested() is not None  # Ctrl-C: the best


def run_genetic(
    data: pyvrp.ProblemData,
    seconds: float,
    seed: int = 0,
    initial: list[pyvrp.Solution] | tuple = (),
    clock=time.perf_counter,
    educate: bool = False,
    deadline: float | None = None,
    load_penalty_floor: float = 0.0,
) -> GeneticRun:
    """PyVRP's hybrid genetic search, as `pyvrp.solve` sets it up, but starting from `initial` solutions.

    The initial population is `initial` topped up with random solutions to the
    minimum population size; the best initial solution is the incumbent from
    the start, so with no time left the best seed comes back unchanged.
    `deadline` (a perf_counter reading): with seeds in hand, SearchSkipped when a set-up step (the
    neighbourhoods, the penalties, the population) would start past it, so that set-up cannot run minutes
    past the budget on a giant instance. `load_penalty_floor`: the least initial penalty per unit of excess
    load (PyVRP's is the mean arc's cost per mean load, too cheap where the depot is far: see by_parts).
    """

    def on_time(step: str) -> None:
        if initial and deadline is not None and (time.perf_counter() > deadline or interrupt.requested()):
            raise SearchSkipped(
                f"the genetic search was skipped: its set-up reached {step} past the budget; this is the construction"
            )

    params = solve_params(data)
    rng = pyvrp.RandomNumberGenerator(seed=seed)
    on_time("the neighbourhoods")
    neighbours = compute_neighbours(data, params.neighbourhood)
    on_time("the local search")
    search = LocalSearch(data, rng, neighbours)
    for op in params.node_ops:
        if op.supports(data):
            search.add_node_operator(op(data))
    for op in params.route_ops:
        if op.supports(data):
            search.add_route_operator(op(data))
    stop = _RecordingStop(seconds, clock)
    on_time("the penalties")
    penalties = PenaltyManager.init_from(data, params.penalty)
    if load_penalty_floor:
        loads, tw, dist = penalties.penalties()
        penalties = PenaltyManager(([max(p, load_penalty_floor) for p in loads], tw, dist), params.penalty)
    on_time("the population")
    init = _educate(initial, search, penalties, stop) if educate else list(initial)
    while len(init) < params.population.min_pop_size:
        init.append(pyvrp.Solution.make_random(data, rng))
    algo = pyvrp.GeneticAlgorithm(
        data,
        penalties,
        rng,
        pyvrp.Population(broken_pairs_distance, params.population),
        search,
        selective_route_exchange if data.num_vehicles > 1 else ordered_crossover,
        init,
        params.genetic,
    )
    return GeneticRun(algo.run(stop, collect_stats=False), stop.trace, len(initial))


def _educate(initial, search, penalties, stop) -> list[pyvrp.Solution]:
    """Each seed after local search, while time lasts. The search penalises rather than forbids overload, so an
    infeasible result is searched again with boosted penalties (PyVRP's repair); a seed whose search still ends
    infeasible or worse stays as it was, so the incumbent stays feasible."""
    evaluator = penalties.cost_evaluator()
    loads, tw, dist = penalties.penalties()
    boosted = [CostEvaluator([p * 10.0**k for p in loads], tw * 10.0**k, dist * 10.0**k) for k in (1, 2, 3)]
    out, last = [], 0.0
    for sol in initial:
        if stop.expired(last):
            out.append(sol)
            continue
        began = stop.clock()
        improved = search(sol, evaluator)
        for repair in boosted:  # as PyVRP repairs offspring: again, with overload priced ever higher
            if improved.is_feasible():
                break
            improved = search(improved, repair)
        last = stop.clock() - began
        out.append(improved if evaluator.cost(improved) < evaluator.cost(sol) else sol)
    stop.last = stop.clock()  # the seeds' search is not a GA iteration: the first one is timed from here
    return out


def to_solution(
    instance: Instance, run: GeneticRun, ints: IntegerData, elapsed: float, solver: str, meta: dict, offset: float = 0.0
) -> Solution:
    """The run's best as our Solution; NoSolutionFound if PyVRP found nothing feasible.

    Its trace holds (seconds, best cost) with times shifted by `offset`, the
    time spent before the search started, so that they count from the call.
    """
    best = run.result.best
    if not best.is_feasible():
        raise NoSolutionFound(
            f"{solver} found no feasible solution within {meta.get('time_limit', elapsed):g} s (instance {instance.name})"
        )
    objective = run.result.cost()
    return Solution(
        routes=from_pyvrp_solution(best),
        solver=solver,
        timings={"solve": elapsed},
        meta={
            "objective": ints.to_cost(objective),
            "objective_scaled": int(objective),
            "num_iterations": int(run.result.num_iterations),
            "scale": ints.describe(),
            **meta,
        },
        trace=[(round(t + offset, 4), ints.to_cost(c)) for t, c in run.trace],
    )


def solve_params(data: pyvrp.ProblemData) -> pyvrp.SolveParams:
    """PyVRP's default parameters, with the penalty ceiling raised to fit the data's scale.

    PyVRP caps its penalties at 1e5, which suits edge costs of 1e2-1e4; our
    scaled data (baselines/scaling.py) reaches 1e5-1e6 per edge and more with
    non-unit costs, where a capped penalty per unit of excess load is too cheap
    to drive the search to feasibility. The ceiling is set to 1e4 times the
    largest initial penalty PyVRP computes from the data, as for its usual data.
    """
    default = PenaltyParams()
    initial = PenaltyManager.init_from(data, PenaltyParams(max_penalty=float("inf"))).penalties()
    largest = max([*initial[0], initial[1], initial[2]])
    penalty = replace(default, max_penalty=max(default.max_penalty, 1e4 * largest))
    return pyvrp.SolveParams(penalty=penalty)
