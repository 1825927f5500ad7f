"""PyVRP (hybrid genetic search) baseline: Instance in, Solution out.

`build_problem_data` turns an Instance into a `pyvrp.ProblemData` with the
same node numbering (depot 0, clients 1..n) and vehicle types in fleet order,
so that PyVRP routes map back one to one; it is the piece to reuse when
seeding PyVRP's genetic algorithm with other solutions (`to_pyvrp_solution`
converts a Solution for that).

The data follows the checker's conventions (envs/model/check.py): each vehicle
type's shift opens with the depot and may not start later (start_late = 0
after the shift to the depot's opening, see baselines/scaling.py), so route
duration, waiting included, is the return time; `max_duration` is the shift
duration and the depot's closing the shift's end.

Open routes: arcs into the depot cost nothing and take no time (see
baselines/scaling.py), so a route ends with its last service, as the checker
has it. Backhauls in mixed mode are PyVRP's own simultaneous pickup and
delivery (the load at any point is the deliveries still on board plus the
pickups made, as in the checker). PyVRP has no precedence between clients, so
it cannot model linehaul-first backhauls where the order can matter (some
client with a pickup and another with a delivery): `cannot_model` says so and
`solve` and `build_problem_data` refuse such an instance (as they do
preferences with distance limits, below).

Vehicle profiles become PyVRP routing profiles (per-profile distance
matrices). An allowed-client mask: every arc into a client the type may not
serve is longer than the type's distance limit, so a solution using one is
infeasible. Preferences (the checker's `- preference_weight * preference`):
each vehicle type gets its own matrix, its unit cost times distance plus, on
an arc into client j, the weight times (P - the type's preference for j), P
the largest preference (baselines/scaling.py), with unit distance cost 1; so
PyVRP's objective is the checker's cost plus n * weight * P, the same for
every solution, which the reported objective takes off. A mask is blocked in
the same matrix. Distances there are no longer the route's length, so
`cannot_model` refuses preferences together with distance limits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pyvrp
from pyvrp import CostEvaluator
from pyvrp.crossover import ordered_crossover, selective_route_exchange
from pyvrp.diversity import broken_pairs_distance
from pyvrp.PenaltyManager import PenaltyManager, PenaltyParams
from pyvrp.search import LocalSearch, compute_neighbours

from baselines.scaling import MODELLED_FEATURES, IntegerData, has_preferences, integerize
from envs import interrupt
from envs.errors import NoSolutionFound, UnsupportedFeatureError
from envs.model.instance import Instance, require_features
from envs.model.savings import savings
from envs.model.solution import Route, Solution

NAME = "pyvrp"
SUPPORTED: frozenset[str] = MODELLED_FEATURES


def cannot_model(instance: Instance) -> str | None:
    """Why this solver cannot model `instance`, in one line; None if it can."""
    try:
        require_features(instance, SUPPORTED, NAME)
    except UnsupportedFeatureError as e:
        return str(e)
    if has_preferences(instance) and "distance_limits" in instance.features():
        return (
            f"solver '{NAME}' cannot combine profile preferences with distance limits"
            f" (preferences are priced into each profile's distances; instance {instance.name})"
        )
    if instance.backhaul_mode == "linehaul_first" and _order_can_matter(instance):
        return (
            f"solver '{NAME}' cannot keep linehaul-first backhauls after the deliveries"
            f" (PyVRP has no visit order constraint; instance {instance.name})"
        )
    return None


def _order_can_matter(instance: Instance) -> bool:
    """Whether some client with a pickup and another with a delivery could share a route."""
    pick = np.flatnonzero(instance.backhaul[1:] > 0)
    drop = np.flatnonzero(instance.demand[1:] > 0)
    return bool(pick.size and drop.size and not (pick.size == drop.size == 1 and pick[0] == drop[0]))


def solve(
    instance: Instance, time_limit: float = 5.0, seed: int = 0, initial: Solution | None = None, cpu_time: bool = False
) -> Solution:
    """Run PyVRP's genetic algorithm for `time_limit` seconds with random seed `seed`.

    The search starts from `initial` if given, else from a savings construction
    (envs/model/savings.py), so that a budget too short for any iteration still returns
    a sensible plan, never PyVRP's random one-route-per-client start;
    meta['note'] says when the search ran no iteration. `time_limit` 0: the
    construction alone. The rest of the initial population is random. `cpu_time`
    counts the limit in CPU seconds of this process instead of wall time, so that
    a reference run gets its full search on a busy machine.
    Raises UnsupportedFeatureError where `cannot_model` gives a reason (features
    outside SUPPORTED, linehaul-first backhauls, preferences with distance
    limits), and NoSolutionFound when PyVRP's best solution is infeasible.
    """
    reason = cannot_model(instance)
    if reason:
        raise UnsupportedFeatureError(reason)
    t0 = time.perf_counter()
    construction = "given"
    if initial is None:
        initial = savings(instance, deadline=construction_deadline(t0, time_limit) if time_limit > 0 else None)
        construction = "savings" if initial is not None else "none (savings found no plan that fits the fleet)"
    meta = {"time_limit": time_limit, "seed": seed, "initial_used": initial is not None,
            "construction": construction, "clock": "cpu" if cpu_time else "wall"}  # fmt: skip
    if time_limit <= 0 and initial is None:
        raise NoSolutionFound(f"{NAME} --time-limit 0 returns its construction, and the savings construction found"
                              f" no plan that fits the fleet (instance {instance.name}): give it a budget")  # fmt: skip
    deadline = t0 + time_limit if time_limit > 0 and not cpu_time else None
    try:
        setup_fits(initial, t0, time_limit, deadline)
        data, ints = build_problem_data(instance)
        build_s = time.perf_counter() - t0
        setup_fits(initial, t0, time_limit, deadline, build_s)
        seeds = [to_pyvrp_solution(data, initial)] if initial is not None else []
        clock = time.process_time if cpu_time else time.perf_counter
        run = run_genetic(data, max(0.0, time_limit - build_s), seed=seed, initial=seeds, clock=clock, deadline=deadline)
    except SearchSkipped as skipped:
        return construction_only(initial, NAME, t0, {**meta, "note": str(skipped)})
    meta["build_s"] = build_s
    note = idle_search_note(run, time_limit - build_s) if time_limit > 0 else None  # 0: no search was asked for
    if note:
        meta["note"] = note
    return to_solution(instance, run, ints, time.perf_counter() - t0, NAME, meta, offset=build_s)


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
        raise SearchSkipped(f"the genetic search was skipped: {what} would take about {need:.1f} s, and"
                            f" {max(0.0, left):.1f} s of the {time_limit:g} s are left; this is the construction")  # fmt: skip


def construction_only(plan: Solution, solver: str, started: float, meta: dict) -> Solution:
    """A construction returned as the solver's answer, when the search had no time to start."""
    from dataclasses import replace

    elapsed = time.perf_counter() - started
    return replace(plan, solver=solver, meta={**plan.meta, **meta, "trace": [], "num_iterations": 0},
                   timings={"construct": plan.timings.get("construct", elapsed), "search": 0.0, "total": elapsed})  # fmt: skip


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
) -> GeneticRun:
    """PyVRP's hybrid genetic search, as `pyvrp.solve` sets it up, but starting from `initial` solutions.

    The initial population is `initial` topped up with random solutions to the
    minimum population size; the best initial solution is the incumbent from
    the start, so with no time left the best seed comes back unchanged.
    `deadline` (a perf_counter reading): with seeds in hand, SearchSkipped when a set-up step (the
    neighbourhoods, the penalties, the population) would start past it, so that set-up cannot run minutes
    past the budget on a giant instance.
    """

    def on_time(step: str) -> None:
        if initial and deadline is not None and (time.perf_counter() > deadline or interrupt.requested()):
            raise SearchSkipped(f"the genetic search was skipped: its set-up reached {step} past the budget;"
                                " this is the construction")  # fmt: skip

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
    """The run's best as our Solution; NcoError if PyVRP found nothing feasible.

    meta['trace'] holds (seconds, best cost) with times shifted by `offset`, the
    time spent before the search started, so that they count from the call.
    """
    best = run.result.best
    if not best.is_feasible():
        raise NoSolutionFound(
            f"{solver} found no feasible solution within {meta.get('time_limit', elapsed):g} s (instance {instance.name})"
        )
    objective = run.result.cost()
    return Solution(
        routes=[Route([int(c) for c in r.visits()], int(r.vehicle_type())) for r in best.routes()],
        solver=solver,
        timings={"solve": elapsed},
        meta={
            "objective": ints.to_cost(objective),
            "objective_scaled": int(objective),
            "num_iterations": int(run.result.num_iterations),
            "scale": ints.describe(),
            "trace": [(round(t + offset, 4), ints.to_cost(c)) for t, c in run.trace],
            **meta,
        },
    )


def build_problem_data(instance: Instance) -> tuple[pyvrp.ProblemData, IntegerData]:
    """PyVRP data for `instance` (same node and vehicle-type numbering) and the integer scaling used.

    Raises UnsupportedFeatureError where `cannot_model` gives a reason.
    """
    reason = cannot_model(instance)
    if reason:
        raise UnsupportedFeatureError(reason)
    ints = integerize(instance)
    n1 = instance.num_nodes
    xy = instance.coords if instance.coords is not None else np.zeros((n1, 2))

    depot = pyvrp.Depot(x=float(xy[0, 0]), y=float(xy[0, 1]), tw_early=0, tw_late=int(ints.tw_late[0]))
    clients = [
        pyvrp.Client(
            x=float(xy[i, 0]),
            y=float(xy[i, 1]),
            delivery=[int(ints.demand[i])],
            pickup=[int(ints.pickup[i])],
            service_duration=int(ints.service[i]),
            tw_early=int(ints.tw_early[i]),
            tw_late=int(ints.tw_late[i]),
            name=str(instance.ids[i]),
        )
        for i in range(1, n1)
    ]

    # One distance matrix ("routing profile") per distinct (costs, mask). Without preferences: the plain
    # matrix, and the type's unit cost. With preferences: the type's unit cost times distance plus its surcharge
    # on arcs into clients (baselines/scaling.py), and unit cost 1; every type then has its own matrix.
    distances: list[np.ndarray] = []
    profile_of: dict[bytes, int] = {}
    vehicle_types = []
    for k, veh in enumerate(instance.fleet):
        mask = veh.allowed if veh.allowed is not None and not veh.allowed[1:].all() else None
        unit, max_distance = ints.unit_cost[k], ints.max_distance[k]
        if ints.preference is None:
            key, matrix, horizon = b"plain", ints.distance, ints.distance_horizon
        else:
            key = b"pref" + np.int64(unit).tobytes() + ints.preference[k].tobytes()
            matrix = ints.distance * unit + ints.preference[k][None, :]
            np.fill_diagonal(matrix, 0)
            horizon = int(matrix.max(axis=1).sum()) + 1  # more than any route's length in this matrix
            unit, max_distance = 1, horizon  # no distance limit: cannot_model refuses one with preferences
        if mask is not None:
            key += b"mask" + mask.tobytes()
            depot_column = matrix[:, 0].copy()
            matrix = matrix.copy()
            matrix[:, ~mask] = horizon + 1  # longer than the type's distance limit: a route using it is infeasible
            matrix[:, 0] = depot_column
            np.fill_diagonal(matrix, 0)
        if key not in profile_of:
            profile_of[key] = len(distances)
            distances.append(matrix)
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=ints.count[k],
                capacity=[ints.capacity[k]],
                fixed_cost=ints.fixed_cost[k],
                tw_early=0,
                tw_late=int(ints.tw_late[0]),
                start_late=0,
                shift_duration=ints.max_duration[k],
                max_distance=max_distance,
                unit_distance_cost=unit,
                profile=profile_of[key],
                name=veh.name or f"type{k}",
            )
        )
    data = pyvrp.ProblemData(
        clients=clients,
        depots=[depot],
        vehicle_types=vehicle_types,
        distance_matrices=distances,
        duration_matrices=[ints.duration] * len(distances),
    )
    return data, ints


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


def to_pyvrp_solution(data: pyvrp.ProblemData, solution: Solution) -> pyvrp.Solution:
    """`solution` as a PyVRP solution over `data` from build_problem_data (same numbering)."""
    routes = [pyvrp.Route(data, [int(c) for c in r.visits], int(r.vehicle_type)) for r in solution.routes if r.visits]
    return pyvrp.Solution(data, routes)
