"""Integer data for the baseline solvers, which both work in whole numbers.

`integerize(instance)` scales each quantity by a power of ten and rounds it,
once, for every adapter:

- distances (and distance limits) share one scale, times (durations, service
  times, time windows, duration limits) another, loads a third, and the
  per-distance vehicle costs a fourth. A scale is 1 when its values are
  already whole; otherwise it is the smallest power of ten that makes them
  whole, but no larger than needed to bring the largest value to about
  1e5-1e6 (beyond that the values are rounded).
- Rounding is conservative, so that whatever the solver deems feasible the
  checker does too: travel distances, travel times, service times, window
  openings and demands are rounded up; window closings, limits and
  capacities are rounded down. Exact (already whole) data is unchanged.
- Times are shifted so that the depot opens at 0: the checker's routes leave
  the depot when it opens, and the solvers' routes start at time 0.
- Loads: deliveries (`demand`) and pickups (`pickup`, the instance's
  backhaul) share one scale. How pickups load the vehicle (mixed or
  linehaul-first, envs/model/check.py) is each adapter's business.
- Open routes end at their last client: every arc into the depot gets zero
  distance and zero travel time, so a route's return is free, its length is
  the checker's, and its end time is the end of its last service, which is
  what the checker measures the duration limit against. The checker applies
  no depot closing to open routes (there is no return), so the depot's
  closing becomes `horizon`.
- Infinite window closings and duration limits become `horizon`, a time no
  route can exceed; infinite distance limits become `distance_horizon`.

Profile preferences (the checker's `- preference_weight * preference`)
become a non-negative surcharge on every arc into a client, per vehicle type:
`preference[k, j] = Q - q[k, j]` with `q[k, j]` the weight times type k's
preference for client j in objective units and `Q` the largest of them. Every
client is served once, so each solution pays the same `preference_offset` =
n * Q on top of its checker cost; `to_cost` takes it off. When preferences are
present, the costs get one more power of ten (at most what makes the
q's whole, and never so much that a solution's objective could pass about
1e14), folded into `cost_scale`, `unit_cost` and `fixed_cost`; q's that are
still not whole are rounded to the nearest unit.

The solvers' objective in these units converts back with `to_cost`; the
checker, not this value, is the authority on a solution's cost.

What the integer model holds: every number of an Instance is at most
envs.model.instance.MAX_MAGNITUDE (1e15), and a scale only grows values below about
1e5-1e7 (see `choose_scale`), so each scaled value fits int64. Both solvers
also add values up along routes (OR-Tools' cumuls and objective, PyVRP's
int64 distances, durations, loads and costs, and its penalised costs, which
multiply excesses by penalties), so `integerize` refuses, with an
InstanceError naming the largest value involved, an instance where a route
total could pass MAX_TOTAL = 2**53 (~9.0e15) in scaled units: the
horizons (every node's longest leg, every service, the latest opening), all
loads together, and the objective of a plan (2n arcs at the dearest unit
cost and longest leg, every vehicle's fixed cost, every surcharge). 2**53
keeps integer objectives exact as floats (`to_cost`) and leaves a factor
2**10 below int64's 2**63 for the solvers' own arithmetic on them; an
instance of up to ~9000 nodes whose entries are all at MAX_MAGNITUDE is
inside it. Fleet counts beyond n and capacities beyond all the load
together change nothing and are clipped to those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs.errors import InstanceError
from envs.model.features import Feature
from envs.model.instance import Instance

_TOL = 1e-6  # slack, in scaled units, before rounding up or down
_MAX_DIGITS = 9  # never scale by more than 10**9
_MAX_OBJECTIVE = 1e14  # the preference scale stops where a solution's objective could reach this
MAX_TOTAL = 2**53  # the most a route total or objective may reach in scaled units (module doc)


# What the integer model below represents, and so what both baselines honour.
MODELLED_FEATURES: frozenset[Feature] = frozenset(Feature) - {Feature.STOCHASTIC}  # solvers plan on a copy


@dataclass(frozen=True)
class IntegerData:
    """An Instance in whole numbers; arrays are int64, lists are per vehicle type."""

    distance_scale: int
    time_scale: int
    load_scale: int
    cost_scale: int  # multiplies unit costs
    distance: np.ndarray  # (n+1, n+1), zero diagonal
    duration: np.ndarray  # (n+1, n+1), zero diagonal
    service: np.ndarray  # (n+1,), depot 0
    tw_early: np.ndarray  # (n+1,), relative to the depot's opening
    tw_late: np.ndarray  # (n+1,), at most horizon; tw_late[0] is the depot's closing
    demand: np.ndarray  # (n+1,) delivery, depot 0
    pickup: np.ndarray  # (n+1,) backhaul pickup, depot 0
    capacity: list[int]
    count: list[int]  # unlimited types get one vehicle per client
    fixed_cost: list[int]  # in objective units: distance_scale * cost_scale
    unit_cost: list[int]
    max_duration: list[int]  # at most horizon
    max_distance: list[int]  # at most distance_horizon
    horizon: int
    distance_horizon: int
    # (num types, n+1) int64, objective units: surcharge on an arc into node j for type k; None without preferences
    preference: np.ndarray | None = None
    preference_offset: int = 0  # objective units every solution pays on top of its cost: n * Q (see module doc)

    @property
    def objective_scale(self) -> int:
        """Objective units per unit of checker cost."""
        return self.distance_scale * self.cost_scale

    def to_cost(self, objective: float) -> float:
        """A solution's objective (fixed costs, arc costs and preference surcharges) in checker cost."""
        return float(objective - self.preference_offset) / self.objective_scale

    def describe(self) -> dict:
        """The scales, for a Solution's meta."""
        return {
            "distance": self.distance_scale,
            "time": self.time_scale,
            "load": self.load_scale,
            "cost": self.cost_scale,
        }


def choose_scale(values: np.ndarray, target_digits: int = 5, extra: np.ndarray | None = None) -> int:
    """The power of ten that makes `values` (and `extra`) whole, capped so the largest becomes ~10**target_digits.

    `values` may be a matrix: it is read by blocks of rows, never copied whole; its entries are finite (an
    Instance's matrices are) and non-negative or not, as `extra`'s."""
    values = np.asarray(values, dtype=np.float64)
    blocks = _blocks(values)
    if extra is not None:
        e = np.abs(np.asarray(extra, dtype=np.float64).ravel())
        blocks.append(e[np.isfinite(e)])
    flat = values.ravel()
    probe = np.abs(flat[:: max(1, flat.size // 4096)])  # a scale that leaves a sampled value fractional is not it
    probe = probe[np.isfinite(probe)]
    if all(_whole(b) for b in [probe, *blocks]):
        return 1
    top = max((float(np.abs(b).max()) for b in blocks if b.size), default=0.0)
    cap = max(0, min(_MAX_DIGITS, target_digits - math.floor(math.log10(top)))) if top > 0 else 0
    for k in range(cap + 1):
        if _whole(probe * 10**k) and all(_whole(b, 10**k) for b in blocks):
            return 10**k
    return 10**cap


def _blocks(m: np.ndarray, rows: int = 256) -> list[np.ndarray]:
    """Views of `m` (flattened if not a matrix) by blocks of rows: whole-number tests on each keep the
    temporaries to a block's size."""
    if m.ndim != 2:
        v = np.abs(m.ravel())
        return [v[np.isfinite(v)]]
    return [m[lo : lo + rows] for lo in range(0, m.shape[0], rows)]


def integerize(instance: Instance, max_routes: int | None = None) -> IntegerData:
    """The instance in whole numbers; `max_routes`: the vehicles a type with no count gets (else one per client).

    The matrices are handled in place, with no n x n temporaries beside them (10,000 clients: 0.8 GB each)."""
    inst = instance
    n1 = inst.num_nodes
    fleet = inst.fleet

    # Distances and distance limits (the diagonal counts as 0, whatever the matrix says).
    dist = inst.distance.copy()
    np.fill_diagonal(dist, 0.0)
    if inst.open_routes:
        dist[:, 0] = 0.0  # the return is free
    max_dist = np.array([v.max_distance for v in fleet], dtype=np.float64)
    ds = choose_scale(dist, extra=max_dist[np.isfinite(max_dist)])
    largest_distance = _largest(dist, "distance")
    _fits(dist.max(axis=1).sum() * ds, inst, "a route's distance", largest_distance, ds)

    # Times, relative to the depot's opening.
    # the usual CVRP: durations are the distances (one array, or an equal copy)
    same = inst.duration is inst.distance or np.array_equal(inst.duration, inst.distance)
    dur = dist if same else inst.duration.copy()  # the same edits as dist's below: the diagonal, open returns
    np.fill_diagonal(dur, 0.0)
    if inst.open_routes:
        dur[:, 0] = 0.0  # and instant: the route ends with its last service
    svc = inst.service.copy()
    svc[0] = 0.0  # the checker does not count service at the depot
    tw = inst.time_windows - inst.time_windows[0, 0]
    max_dur = np.array([v.max_duration for v in fleet], dtype=np.float64)
    ts = choose_scale(dur, extra=np.concatenate([svc, tw[np.isfinite(tw)], max_dur[np.isfinite(max_dur)]]))
    late_open = float(np.max(tw[:, 0], initial=0.0))
    _fits(
        (late_open + svc.sum() + dur.max(axis=1).sum()) * ts,
        inst,
        "a route's time (latest opening, every service and every longest leg)",
        _largest_time(inst, dur, svc, tw[:, 0]),
        ts,
    )
    # the matrices in whole numbers, each scaled in place (one matrix when durations are the distances)
    if same and ts == ds:
        distance = duration = _up_in_place(dist, ds)
    else:
        duration = _up_in_place(dur.copy() if same else dur, ts)
        distance = _up_in_place(dist, ds)
    distance_horizon = int(distance.max(axis=1).sum()) + 1
    max_distance = [_down(min(m * ds, distance_horizon)) if np.isfinite(m) else distance_horizon for m in max_dist]
    service = _up(svc * ts)
    tw_early = np.maximum(_up(tw[:, 0] * ts), 0)
    # No route can be later than the latest opening plus every service and longest leg.
    horizon = int(tw_early.max()) + int(service.sum()) + int(duration.max(axis=1).sum()) + 1
    late = np.where(np.isfinite(tw[:, 1]), np.minimum(np.nan_to_num(tw[:, 1], posinf=0.0) * ts, horizon), horizon)
    tw_late = np.maximum(_down(late), 0)
    if inst.open_routes:
        tw_late[0] = horizon  # no return, so no depot closing (as in the checker)
    tw_early = np.minimum(tw_early, tw_late)
    tw_early[0] = 0
    max_duration = [_down(min(m * ts, horizon)) if np.isfinite(m) else horizon for m in max_dur]

    # Loads.
    caps = np.array([v.capacity for v in fleet], dtype=np.float64)
    ls = choose_scale(np.concatenate([inst.demand, inst.backhaul]), target_digits=6)  # capacities round down exactly
    loads = np.concatenate([inst.demand[1:], inst.backhaul[1:]])
    k = int(np.argmax(loads))
    field = "demand" if k < n1 - 1 else "pickup"
    largest_load = f"{field} {loads[k]:g} of {inst._label(k % (n1 - 1) + 1)}"
    _fits(loads.sum() * ls, inst, "all the load together", largest_load, ls)
    demand = _up(inst.demand * ls)
    demand[0] = 0
    pickup = _up(inst.backhaul * ls)
    pickup[0] = 0
    # A capacity beyond all the load together never binds: past MAX_TOTAL it is clipped there, so that it fits.
    total_load = max(int(demand.sum()) + int(pickup.sum()), 1)
    capacity = [int(c) for c in _down(np.where(caps * ls > MAX_TOTAL, total_load, caps * ls))]

    # Costs: objective = sum of fixed + unit * distance, all scaled by ds * cs.
    units = np.array([v.unit_cost for v in fleet], dtype=np.float64)
    cs = choose_scale(units, target_digits=4)
    unit_cost = [int(round(u * cs)) for u in units]
    fixed_cost = [int(round(v.fixed_cost * ds * cs)) for v in fleet]

    n = inst.num_clients
    unlimited = n if max_routes is None else max(1, min(int(max_routes), n))  # more than n vehicles never serve
    counts = [min(int(v.count), n) if v.count is not None else unlimited for v in fleet]
    top_unit = int(np.argmax(units))
    costs = f"unit_cost {units[top_unit]:g} of {fleet[top_unit].name or f'vehicle type {top_unit}'}"
    top_fixed = int(np.argmax([v.fixed_cost for v in fleet]))
    if fleet[top_fixed].fixed_cost * ds * cs > units[top_unit] * cs * float(distance.max()):
        costs = f"fixed_cost {fleet[top_fixed].fixed_cost:g} of {fleet[top_fixed].name or f'vehicle type {top_fixed}'}"
    objective = 2 * n * float(max(unit_cost)) * float(distance.max()) + sum(
        float(f) * c for f, c in zip(fixed_cost, counts)
    )
    _fits(objective, inst, "a plan's cost", f"{costs}, {largest_distance}", ds * cs)
    preference, offset = None, 0
    if has_preferences(inst):
        # q[k, j]: the weight times type k's preference for client j, in objective units before the extra scale.
        q = inst.preference_weight * np.array(
            [np.zeros(n1) if v.preference is None else v.preference for v in fleet], dtype=np.float64
        )
        q[:, 0] = 0.0
        q *= ds * cs
        # A bound on any solution's objective: every arc at its dearest, every vehicle used, every surcharge.
        fixed_total = sum(f * (v.count or n) for f, v in zip(fixed_cost, fleet))
        most = (n + 1) * float(max(unit_cost)) * float(distance.max()) + fixed_total + n * float(np.ptp(q[:, 1:]))
        ps = choose_scale(q[:, 1:], target_digits=6)
        while ps > 1 and most * ps > _MAX_OBJECTIVE:
            ps //= 10
        _fits(
            (objective + n * float(np.ptp(q[:, 1:]))) * ps,
            inst,
            "a plan's cost with preferences",
            f"preference_weight {inst.preference_weight:g} times preferences up to "
            f"{max(float(np.abs(v.preference).max()) for v in fleet if v.preference is not None):g}",
            ds * cs * ps,
        )
        cs *= ps
        unit_cost = [u * ps for u in unit_cost]
        fixed_cost = [f * ps for f in fixed_cost]
        qi = np.round(q * ps).astype(np.int64)
        top = int(qi[:, 1:].max())
        preference = top - qi
        preference[:, 0] = 0  # nothing on arcs into the depot
        offset = n * top
    return IntegerData(
        distance_scale=ds,
        time_scale=ts,
        load_scale=ls,
        cost_scale=cs,
        distance=distance,
        duration=duration,
        service=service,
        tw_early=tw_early,
        tw_late=tw_late,
        demand=demand,
        pickup=pickup,
        capacity=capacity,
        count=counts,
        fixed_cost=fixed_cost,
        unit_cost=unit_cost,
        max_duration=max_duration,
        max_distance=max_distance,
        horizon=horizon,
        distance_horizon=distance_horizon,
        preference=preference,
        preference_offset=offset,
    )


def has_preferences(instance: Instance) -> bool:
    """Whether profile preferences enter the cost (a positive weight and a non-zero preference somewhere)."""
    return instance.preference_weight > 0 and any(
        v.preference is not None and np.any(v.preference[1:] != 0) for v in instance.fleet
    )


def _fits(total: float, inst: Instance, what: str, largest: str, scale: int) -> None:
    """Refuse an instance whose scaled `total` (a bound on a route total) passes MAX_TOTAL."""
    if not total <= MAX_TOTAL:
        scaled = f" once scaled by {scale}" if scale != 1 else ""
        raise InstanceError(
            f"{inst.name}: too large for the integer solvers: {what} could reach {total:.3g}{scaled},"
            f" beyond 2**53 ~ {MAX_TOTAL:.3g} (largest: {largest})"
        )


def _largest(m: np.ndarray, what: str) -> str:
    i, j = np.unravel_index(int(np.argmax(m)), m.shape)
    return f"{what} matrix entry [{i}][{j}] = {m[i, j]:g}"


def _largest_time(inst: Instance, dur: np.ndarray, svc: np.ndarray, opening: np.ndarray) -> str:
    top = max(float(dur.max()), float(svc.max()), float(opening.max()))
    if top == float(opening.max()) and top > 0:
        j = int(np.argmax(opening))
        return f"time window of {inst._label(j)} opening {top:g} after the depot's"
    if top == float(svc.max()) and top > 0:
        j = int(np.argmax(svc))
        return f"service time {svc[j]:g} of {inst._label(j)}"
    return _largest(dur, "duration")


def _whole(v: np.ndarray, scale: int = 1) -> bool:
    """Whether `v * scale` is whole (within _TOL); the sign does not matter."""
    if scale != 1:
        v = v * scale
    return bool(np.all(np.abs(v - np.round(v)) <= _TOL))


def _up(v) -> np.ndarray | int:
    out = np.ceil(np.asarray(v, dtype=np.float64) - _TOL).astype(np.int64)
    return out if out.ndim else int(out)


def _up_in_place(m: np.ndarray, scale: int) -> np.ndarray:
    """_up(m * scale) for a matrix of our own, scaled and rounded in place (one int64 copy, no other temporary)."""
    m *= scale
    m -= _TOL
    np.ceil(m, out=m)
    return m.astype(np.int64)


def _down(v) -> np.ndarray | int:
    out = np.floor(np.asarray(v, dtype=np.float64) + _TOL).astype(np.int64)
    return out if out.ndim else int(out)
