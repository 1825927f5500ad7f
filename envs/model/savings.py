"""Clarke-Wright (parallel) savings: the construction every solver can return, whatever its budget.

A search with no time left must still hand back something sensible, not one route per client. This builds
it in milliseconds for 100 clients and seconds for 10,000, on any instance the checker (envs/model/check.py)
can judge, and honours exactly what the checker checks: loads (deliveries leave with the vehicle, pickups
accumulate), linehaul-first ordering, time windows and the depot's closing, duration and distance limits,
open routes, allowed masks, vehicle counts, and the fleet cost with its preference term. The travel model
is not checked, so it is ignored.

Conventions:
- start from one route per client, each on the cheapest vehicle type that can serve it alone;
- merge the route ending at i into the route starting at j in decreasing order of the directed saving
  s(i, j) = c(i, 0) + c(0, j) - c(i, j) (c(i, 0) = 0 on open routes: the checker charges no return), over
  each client's `neighbours` nearest clients; where direction cannot matter (symmetric matrices, closed
  routes, no windows, no backhauls) a route may be reversed to join at either end, as in the classical method;
- a merge is taken when the merged route is feasible for some vehicle type and its cheapest such type costs
  no more than the two routes did; so every route is feasible at every step and a deadline can stop at any;
- vehicle counts are met at the end by moving routes to other types (a min-cost transportation by
  successive shortest paths over the types); where the routes still do not fit, count-aware strategies
  follow (STRATEGIES), then all again over wider candidate lists, and None is returned only if none of
  them fits the fleet.
Solution.meta holds "cost" (the checker's cost, as computed here), "complete" (False when the deadline
stopped the merging), "strategy" (the index in STRATEGIES that gave the routes) and "neighbours" (the
candidate list's width; 0 when the deadline had passed before any merge).
"""

from __future__ import annotations

import time

import numpy as np

from envs.model.instance import Instance
from envs.model.solution import Route, Solution

TOL = 1e-7  # slack on every limit; stricter than the checker's 1e-6, so what passes here passes there
CLOCK_EVERY = 256  # merge attempts between clock reads (a power of two)
ROW_CHUNK = 512  # rows per block in the neighbour search, to bound its memory
# Merge strategies, each a list of phases (allow_worse, same_mask, counted). The first is classical savings;
# each next one starts afresh, only when the routes so far cannot be fitted to the vehicle counts:
# allow_worse takes merges that cost more (fewer, fuller routes); same_mask merges only routes that the same
# vehicle types may serve (keeps zone clients off the big vehicles' routes); counted never puts a route on a
# type whose count is used up.
STRATEGIES = (
    ((False, False, False), (True, False, False)),
    ((False, True, True), (True, True, True), (True, False, True)),
    ((False, False, True), (True, False, True)),
)
WIDER = 4  # where no strategy fits the counts, all are tried again with this many times the neighbours


def savings(instance: Instance, deadline: float | None = None, neighbours: int = 40) -> Solution | None:
    """A checker-feasible savings solution, or None when the vehicle counts cannot be met (or some client
    cannot be served even on a route of its own). `deadline` is a time.perf_counter() value: past it, merging
    stops and the routes built so far are returned."""
    t0 = time.perf_counter()
    built = _Builder(instance)
    if not built.ok:
        return None
    if deadline is not None and t0 >= deadline:
        return _solution(built, built.assign(), t0, False, 0, 0)
    reversible, timed = _reversible(instance, built.timed, deadline), built.timed
    widths = [neighbours] + ([WIDER * neighbours] if 0 < neighbours < instance.num_clients - 1 else [])
    for width in widths:  # a wider candidate list only where no strategy fitted the counts
        cand = _candidates(instance, width, reversible, timed, deadline)
        if cand is None:  # the deadline passed while the candidates were listed
            built = built or _Builder(instance)
            return _solution(built, built.assign(), t0, False, 0, 0)
        for strategy, phases in enumerate(STRATEGIES):
            if built is None:
                built = _Builder(instance)
            built.reversible = reversible
            for allow_worse, same_mask, counted in phases:
                complete = built.merge(cand, deadline, allow_worse, same_mask, counted)
                types = built.assign()
                if types is not None or not complete:
                    return _solution(built, types, t0, complete, strategy, width)
            built = None
    return None


def _solution(
    built: _Builder, types: np.ndarray | None, t0: float, complete: bool, strategy: int, width: int
) -> Solution | None:
    if types is None:
        return None
    ids, fleet, pw = built.route_ids(), built.inst.fleet, built.pw
    cost = 0.0
    for r, k in zip(ids, types.tolist()):
        pref = built.pref[r]
        cost += fleet[k].fixed_cost + fleet[k].unit_cost * built.dist[r] - (pw * pref[k] if pref else 0.0)
    return Solution(
        routes=[Route(list(built.seq[r]), k) for r, k in zip(ids, types.tolist())],
        solver="savings",
        timings={"construct": time.perf_counter() - t0},
        meta={"cost": cost, "complete": complete, "strategy": strategy, "neighbours": width},
    )


def _candidates(
    inst: Instance, neighbours: int, reversible: bool, timed: bool, deadline: float | None
) -> tuple[list, list, list] | None:
    """Candidate joins (i, j, d[i, j]) from each client's nearest neighbours, best saving first; None if the
    deadline passes first."""
    n = inst.num_clients
    k = min(int(neighbours), n - 1)
    if k <= 0:
        return [], [], []
    d = inst.distance
    rows = []
    for lo in range(1, n + 1, ROW_CHUNK):
        if deadline is not None and time.perf_counter() > deadline:
            return None
        block = d[lo : min(lo + ROW_CHUNK, n + 1), 1:].copy()
        block[np.arange(block.shape[0]), np.arange(lo - 1, lo - 1 + block.shape[0])] = np.inf  # not itself
        rows.append(np.argpartition(block, k - 1, axis=1)[:, :k] + 1)
    nbr = np.concatenate(rows).ravel()
    own = np.repeat(np.arange(1, n + 1), k)
    if reversible:  # unordered pairs
        key = np.unique(np.minimum(own, nbr) * (n + 1) + np.maximum(own, nbr))
    else:  # both directions of every neighbour pair
        key = np.unique(np.concatenate([own * (n + 1) + nbr, nbr * (n + 1) + own]))
    i, j = np.divmod(key, n + 1)
    dij = d[i, j]
    s = d[0, j] - dij + (0.0 if inst.open_routes else d[i, 0])
    if timed:  # j's window closes before i's earliest departure could reach it: never a join
        tw, svc = inst.time_windows, inst.service
        keep = tw[i, 0] + (svc[i] + inst.duration[i, j]) <= tw[j, 1] + TOL
        i, j, dij, s = i[keep], j[keep], dij[keep], s[keep]
    order = np.argsort(-s, kind="stable")
    return i[order].tolist(), j[order].tolist(), dij[order].tolist()


class _Builder:
    """Routes keyed by an id (a client of theirs) with the statistics a merge check needs."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        n = self.n = inst.num_clients
        fleet = inst.fleet
        d, dur, tw, svc = inst.distance, inst.duration, inst.time_windows, inst.service
        dem, back = inst.demand, inst.backhaul
        self.closed = not inst.open_routes
        # timed: some window can make a vehicle wait or be late, so routes are simulated; else durations add up
        self.timed = bool(np.any(tw[1:, 0] > tw[0, 0]) or np.any(np.isfinite(tw[:, 1])))
        self.linehaul_first = inst.backhaul_mode == "linehaul_first" and bool(np.any(back > 0))
        self.reversible = False  # set by savings() once it knows (a check of the whole matrices)
        pw = inst.preference_weight
        self.prefs = pw > 0 and any(v.preference is not None for v in fleet)
        # per type: (bit, capacity, distance limit, duration limit, fixed cost, unit cost), limits with TOL
        self.types = [
            (1 << k, v.capacity + TOL, v.max_distance + TOL, v.max_duration + TOL, v.fixed_cost, v.unit_cost)
            for k, v in enumerate(fleet)
        ]
        self.max_cap = max(v.capacity for v in fleet) + TOL
        self.pw = pw

        # One route per client, all quantities as the checker computes them, vectorised.
        c = np.arange(1, n + 1)
        closed = 1.0 if self.closed else 0.0
        dist1 = d[0, c] + closed * d[c, 0]
        peak1 = np.maximum(dem[c], dem[c] + (back[c] - dem[c]))
        ok = np.ones(n, dtype=bool)
        if self.timed:
            arrive = tw[0, 0] + dur[0, c]
            ok &= arrive <= tw[c, 1] + TOL
            start = np.maximum(arrive, tw[c, 0])
            end = start + (svc[c] + dur[c, 0]) if self.closed else start + svc[c]
            if self.closed:
                ok &= end <= tw[0, 1] + TOL
            span1 = end
        else:
            start = np.zeros(n)
            span1 = dur[0, c] + svc[c] + closed * dur[c, 0]
        pref1 = np.zeros((len(fleet), n))
        cost = np.full((len(fleet), n), np.inf)
        for k, v in enumerate(fleet):
            fits = ok & (peak1 <= self.types[k][1]) & (dist1 <= self.types[k][2])
            fits &= (span1 - tw[0, 0] if self.timed else span1) <= self.types[k][3]
            if v.allowed is not None:
                fits &= v.allowed[c]
            if v.preference is not None and self.prefs:
                pref1[k] = v.preference[c]
            cost[k] = np.where(fits, v.fixed_cost + v.unit_cost * dist1 - pw * pref1[k], np.inf)
        self.ok = bool(np.isfinite(cost).any(axis=0).all())
        if not self.ok:
            return
        masks = (np.isfinite(cost) * (1 << np.arange(len(fleet)))[:, None]).sum(0).astype(np.int64)
        vtype = cost.argmin(0)

        pad = [0.0]
        self.seq: list[list[int] | None] = [None] + [[i] for i in range(1, n + 1)]
        self.route_of = list(range(n + 1))
        self.dist = pad + dist1.tolist()
        self.span = pad + span1.tolist()  # timed: the end time; else the duration (no waiting without windows)
        self.delivery = pad + dem[c].tolist()
        self.pickup = pad + back[c].tolist()
        self.peak = pad + peak1.tolist()
        self.has_back = [False] + (back[c] > 0).tolist()
        self.has_line = [False] + (dem[c] > 0).tolist()
        self.mask = [0] + masks.tolist()
        self.vtype = [0] + vtype.tolist()
        self.used = np.bincount(vtype, minlength=len(fleet)).tolist()  # routes per type
        self.limit = [n + 1 if v.count is None else v.count for v in fleet]
        self.cost = pad + cost[vtype, np.arange(n)].tolist()
        self.pref = [None] + (pref1.T.tolist() if self.prefs else [None] * n)
        self.begin = pad + start.tolist()  # service start per client (timed only)
        self.alive = n
        # matrices as rows of Python floats where cheap, else numpy indexing
        self.d0 = d[0].tolist()
        self.di0 = d[:, 0].tolist()
        self.t0 = dur[0].tolist()
        self.ti0 = dur[:, 0].tolist()
        self.svc = svc.tolist()
        self.close = tw[:, 1].tolist()
        self.open = tw[:, 0].tolist()

    def route_ids(self) -> list[int]:
        return [r for r in range(1, self.n + 1) if self.seq[r] is not None]

    def _best_type(self, mask: int, peak: float, dist: float, span: float, pref: list | None) -> tuple[int, float]:
        best, best_cost = -1, np.inf
        pw = self.pw
        for k, (bit, cap, max_dist, max_span, fixed, unit) in enumerate(self.types):
            if mask & bit and peak <= cap and dist <= max_dist and span <= max_span:
                c = fixed + unit * dist - (pw * pref[k] if pref is not None else 0.0)
                if c < best_cost:
                    best, best_cost = k, c
        return best, best_cost

    def _simulate(self, i: int, sb: list[int]) -> tuple[float, list[float]] | None:
        """Service starts along route `sb` entered from client i (until they meet the old ones), and the new end
        time; None if a window or the depot's closing is missed."""
        dur, svc, close, opens, begin = self.inst.duration, self.svc, self.close, self.open, self.begin
        t, prev, new = begin[i], i, []
        for c in sb:
            t = t + (svc[prev] + float(dur[prev, c]))
            if t > close[c] + TOL:
                return None
            if t < opens[c]:
                t = opens[c]
            if t == begin[c]:  # the rest of the route runs as before
                return self.span[self.route_of[c]], new
            new.append(t)
            prev = c
        if self.closed:
            t = t + (svc[prev] + self.ti0[prev])
            if t > close[0] + TOL:
                return None
        else:
            t = t + svc[prev]
        return t, new

    def merge(
        self,
        cand: tuple[list, list, list],
        deadline: float | None,
        allow_worse: bool,
        same_mask: bool = False,
        counted: bool = False,
    ) -> bool:
        """Apply the feasible merges in candidate order; False if the deadline stopped it."""
        ci, cj, cd = cand
        seq, route_of, mask, peak, delivery, pickup = (
            self.seq,
            self.route_of,
            self.mask,
            self.peak,
            self.delivery,
            self.pickup,
        )
        dist, cost, has_back, has_line = self.dist, self.cost, self.has_back, self.has_line
        d0, di0 = self.d0, self.di0
        closed, lhf, max_cap = self.closed, self.linehaul_first, self.max_cap
        clock = time.perf_counter
        for idx in range(len(ci)):  # the cheap refusals stay inline: this loop sees every candidate pair
            if deadline is not None and not idx & (CLOCK_EVERY - 1) and clock() > deadline:
                return False
            i, j = ci[idx], cj[idx]
            a, b = route_of[i], route_of[j]
            if a == b:
                continue
            flips = self._ends(seq[a], seq[b], i, j)
            if flips is None:
                continue
            m = mask[a] & mask[b]
            if not m or (same_mask and mask[a] != mask[b]) or (lhf and has_back[a] and has_line[b]):
                continue
            pk = max(peak[a] + delivery[b], peak[b] + pickup[a])
            if pk > max_cap:
                continue
            dd = dist[a] + dist[b] - d0[j] + cd[idx] - (di0[i] if closed else 0.0)
            timing = self._merged_span(i, j, a, b)
            if timing is None:
                continue
            pref = [x + y for x, y in zip(self.pref[a], self.pref[b])] if self.prefs else None
            k, c = self._merged_type(a, b, m, pk, dd, timing[1], pref, counted)
            if k < 0 or (not allow_worse and c > cost[a] + cost[b]):
                continue
            self._join(a, b, flips, (m, pk, dd, timing[0], c, k), pref, timing[2])
            if self.alive == 1:
                break
        return True

    def _ends(self, sa: list[int], sb: list[int], i: int, j: int) -> tuple[bool, bool] | None:
        """Whether route sa ending at i can be followed by route sb starting at j: (flip sa, flip sb), either
        route turned round where that is allowed; None if they do not meet there."""
        flip_a = flip_b = False
        if sa[-1] != i:
            if not self.reversible or sa[0] != i:
                return None
            flip_a = True
        if sb[0] != j:
            if not self.reversible or sb[-1] != j:
                return None
            flip_b = True
        return flip_a, flip_b

    def _merged_span(self, i: int, j: int, a: int, b: int) -> tuple[float, float, list[float] | None] | None:
        """(end time or span, duration, new service starts of b's clients or None) of route a joined to route b
        by the arc i -> j; None if a time window is missed."""
        if self.timed:
            sim = self._simulate(i, self.seq[b])  # (never reversible)
            if sim is None:
                return None
            sp, new_times = sim
            return sp, sp - self.open[0], new_times
        span, t0, ti0 = self.span, self.t0, self.ti0
        sp = span[a] + span[b] - t0[j] + float(self.inst.duration[i, j]) - (ti0[i] if self.closed else 0.0)
        return sp, sp, None

    def _merged_type(
        self, a: int, b: int, m: int, pk: float, dd: float, length: float, pref: list | None, counted: bool
    ) -> tuple[int, float]:
        """The cheapest vehicle type for the merged route and its cost; type -1 if none fits."""
        if not counted:
            return self._best_type(m, pk, dd, length, pref)
        # a type with room after the merge, else the type of both routes (one vehicle fewer)
        vtype, used, limit = self.vtype, self.used, self.limit
        bits = [t[0] for t in self.types]
        va, vb = vtype[a], vtype[b]
        room = sum(bit for k, bit in enumerate(bits) if used[k] + 1 - (k == va) - (k == vb) <= limit[k])
        k, c = self._best_type(m & room, pk, dd, length, pref)
        if k < 0 and va == vb:
            k, c = self._best_type(m & bits[va], pk, dd, length, pref)
        return k, c

    def _join(
        self, a: int, b: int, flips: tuple[bool, bool], merged: tuple, pref: list | None, new_times: list | None
    ) -> None:
        """Accept the merge of route a then route b: the merged route keeps the id of the longer part."""
        m, pk, dd, sp, c, k = merged
        seq, route_of, vtype, used = self.seq, self.route_of, self.vtype, self.used
        sa, sb = seq[a], seq[b]
        if flips[0]:
            sa = sa[::-1]
        if flips[1]:
            sb = sb[::-1]
        keep, gone = (a, b) if len(sa) >= len(sb) else (b, a)
        for x in seq[gone]:
            route_of[x] = keep
        if new_times:
            for x, t in zip(sb, new_times):
                self.begin[x] = t
        seq[keep], seq[gone] = sa + sb, None
        self.mask[keep], self.peak[keep], self.dist[keep], self.span[keep], self.cost[keep] = m, pk, dd, sp, c
        self.delivery[keep] = self.delivery[a] + self.delivery[b]
        self.pickup[keep] = self.pickup[a] + self.pickup[b]
        self.has_back[keep] = self.has_back[a] or self.has_back[b]
        self.has_line[keep] = self.has_line[a] or self.has_line[b]
        used[vtype[a]] -= 1
        used[vtype[b]] -= 1
        used[k] += 1
        vtype[keep] = k
        if pref is not None:
            self.pref[keep] = pref
        self.alive -= 1

    def assign(self) -> np.ndarray | None:
        """Vehicle types for the routes (in route_ids order) within the counts, cheapest first; None if the
        routes cannot be fitted to the fleet."""
        ids = self.route_ids()
        fleet = self.inst.fleet
        types = np.array([self.vtype[r] for r in ids], dtype=np.int64)
        if all(v.count is None for v in fleet):
            return types
        R, K = len(ids), len(fleet)
        limit = np.array([R if v.count is None else v.count for v in fleet])
        if limit.sum() < R:
            return None
        used = np.bincount(types, minlength=K)
        if (used <= limit).all():
            return types
        cost = np.full((R, K), np.inf)
        depart = self.open[0] if self.timed else 0.0
        for row, r in enumerate(ids):
            pref, length = self.pref[r], self.span[r] - depart
            for k in range(K):
                kk, c = self._best_type(self.types[k][0] & self.mask[r], self.peak[r], self.dist[r], length, pref)
                if kk == k:
                    cost[row, k] = c
        return _fit_counts(cost, types, used, limit)


def _fit_counts(cost: np.ndarray, types: np.ndarray, used: np.ndarray, limit: np.ndarray) -> np.ndarray | None:
    """Move routes between types until every type is within its limit, each step along the cheapest chain of
    moves from an over-used type to one with room (successive shortest paths); None if no chain exists."""
    K = cost.shape[1]
    while (used > limit).any():
        weight, pick = _move_costs(cost, types)
        reach, pred = _cheapest_chains(np.where(used > limit, 0.0, np.inf), weight)
        room = np.flatnonzero((used < limit) & np.isfinite(reach))
        if not room.size:
            return None
        u = int(room[np.argmin(reach[room])])
        used[u] += 1
        for _ in range(K):
            t = int(pred[u])
            types[pick[t, u]] = u
            if pred[t] < 0:  # an over-used type: the chain's source
                used[t] -= 1
                break
            u = t
        else:
            return None
    return types


def _move_costs(cost: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """weight[t, u]: the cheapest extra cost of moving a route of type t to type u (inf: none, or t == u);
    pick[t, u]: that route."""
    K = cost.shape[1]
    weight = np.full((K, K), np.inf)
    pick = np.zeros((K, K), dtype=np.int64)
    for t in range(K):
        rows = np.flatnonzero(types == t)
        if rows.size:
            extra = cost[rows] - cost[rows, t][:, None]
            best = extra.argmin(0)
            weight[t] = extra[best, np.arange(K)]
            pick[t] = rows[best]
        weight[t, t] = np.inf
    return weight, pick


def _cheapest_chains(reach: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bellman-Ford over the types from the sources (reach 0): each type's cheapest reach and predecessor."""
    K = len(reach)
    pred = np.full(K, -1)
    for _ in range(K):
        changed = False
        for t in range(K):
            if np.isfinite(reach[t]):
                for u in range(K):
                    if reach[t] + weight[t, u] < reach[u] - 1e-12:
                        reach[u], pred[u], changed = reach[t] + weight[t, u], t, True
        if not changed:
            break
    return reach, pred


def _reversible(inst: Instance, timed: bool, deadline: float | None) -> bool:
    """Whether a route costs and lasts the same both ways round, so that savings may join routes at either end
    (False too if the deadline passes while the matrices are compared)."""
    if inst.open_routes or timed or np.any(inst.backhaul > 0) or not _symmetric(inst.distance, deadline):
        return False
    return all(np.isinf(v.max_duration) for v in inst.fleet) or _symmetric(inst.duration, deadline)


def _symmetric(m: np.ndarray, deadline: float | None) -> bool:
    """m == m.T, by blocks of rows to bound the memory; False if the deadline passes first."""
    for lo in range(0, m.shape[0], ROW_CHUNK):  # the block of rows right of the diagonal against its mirror
        if deadline is not None and time.perf_counter() > deadline:
            return False
        if not np.array_equal(m[lo : lo + ROW_CHUNK, lo:], m[lo:, lo : lo + ROW_CHUNK].T):
            return False
    return True
