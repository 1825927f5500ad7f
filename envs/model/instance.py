"""The one problem model shared by every loader and solver.

Node 0 is the depot, nodes 1..n are clients. Every feature has a neutral
value, so a plain CVRP is an Instance whose optional fields are left alone.
Validation happens here, once, so that loaders stay thin and every solver
can trust what it is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, dataclass, field, replace
from typing import Literal

import numpy as np

from envs.errors import InstanceError
from envs.model.features import Feature
from envs.model.travel_model import MAX_MAGNITUDE, TravelModel

INF = float("inf")
# MAX_MAGNITUDE (1e15, defined beside the travel model, whose parameters obey it too) bounds every number of
# an instance: matrix entries, coordinates, loads, times, limits, costs, preferences. Whole numbers up to it are
# exact in float64 (2**53 ~ 9.0e15), its square (a coordinate difference squared) and any route's sum stay far
# from float64 overflow, the policy's float32 holds it (3.4e38), and the integer model of the baselines
# (baselines/scaling.py) casts every such value to int64 without wrapping (it also bounds route totals there).

# What Instance.features() returns (envs/model/features.py); solvers declare which they honour.
FEATURES = tuple(Feature)


@dataclass(frozen=True)
class VehicleType:
    """A kind of vehicle in the fleet. `count=None` means as many as needed."""

    capacity: float
    count: int | None = None
    fixed_cost: float = 0.0
    unit_cost: float = 1.0  # cost per unit of distance
    max_duration: float = INF
    max_distance: float = INF
    allowed: np.ndarray | None = None  # (n+1,) bool: clients this type may serve
    preference: np.ndarray | None = None  # (n+1,) float: preference per client
    name: str = ""


@dataclass(eq=False)
class Instance:
    """A vehicle routing problem: one depot (node 0), clients 1..n, a fleet.

    Immutable once validated: a derived instance comes from `dataclasses.replace` (validated again), never by
    editing one, so that what was checked (and the features, computed once) stays true. Its arrays are not to
    be edited in place either (they are not made read-only only because torch warns on such arrays)."""

    distance: np.ndarray  # (n+1, n+1), may be asymmetric
    demand: np.ndarray  # (n+1,) linehaul (delivery) demand, depot 0
    fleet: tuple[VehicleType, ...]  # a list is accepted and kept as a tuple
    name: str = "instance"
    coords: np.ndarray | None = None  # (n+1, 2) planar x/y or (lon, lat)
    coord_system: Literal["xy", "lonlat"] = "xy"
    duration: np.ndarray | None = None  # (n+1, n+1); defaults to distance
    backhaul: np.ndarray | None = None  # (n+1,) pickup demand
    backhaul_mode: Literal["linehaul_first", "mixed"] = "linehaul_first"
    time_windows: np.ndarray | None = None  # (n+1, 2) [earliest, latest] start of service
    service: np.ndarray | None = None  # (n+1,) service durations
    open_routes: bool = False
    travel_model: TravelModel | None = None  # stochastic travel times (a dict is parsed by TravelModel.from_dict)
    ids: list = field(default_factory=list)  # user-facing names, index-aligned with nodes
    best_known: float | None = None
    integer_demands: bool = True  # demand given in whole units
    preference_weight: float = 0.0  # cost falls by this much per unit of preference a served client's vehicle has
    dropped: tuple = ()  # ids of the source file's clients left out as unreachable by road (--unreachable drop)
    # (distance, duration, symmetric): the O(n^2) symmetry test of features(), asked at every solver's door,
    # done once per pair of matrices (nothing edits them in place; assigning a new matrix means a new test)
    _symmetry: tuple | None = field(default=None, init=False, repr=False, compare=False)
    _features: frozenset | None = field(default=None, init=False, repr=False, compare=False)
    _sealed: bool = field(default=False, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value) -> None:
        if self.__dict__.get("_sealed"):
            raise FrozenInstanceError(
                f"Instance.{name} cannot change after validation; derive one with dataclasses.replace(instance, {name}=...)"
            )
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        if self.coords is not None:  # first: distances computed from bad coordinates are infinite, not unreachable
            self.coords = _floats(self.coords, f"{self.name}: coordinates")
            if self.coords.ndim == 2 and not np.isfinite(self.coords).all():
                bad = int(np.where(~np.isfinite(self.coords).all(axis=1))[0][0])
                raise InstanceError(f"{self.name}: {self._label(bad)} has a NaN or infinite coordinate")
            big = np.argwhere(np.abs(self.coords) > MAX_MAGNITUDE)
            if self.coords.ndim == 2 and big.size:
                i, k = (int(v) for v in big[0])
                raise InstanceError(
                    f"{self.name}: {self._label(i)} has coordinate {self.coords[i, k]:g};"
                    f" coordinates must be at most {MAX_MAGNITUDE:g} in magnitude"
                )
        self.distance = _matrix(self.distance, "distance")
        n1 = self.distance.shape[0]
        if n1 < 2:
            raise InstanceError(f"{self.name}: an instance needs a depot and at least one client")
        # no duration: the distances serve as durations, one array for both (nothing edits an instance's arrays
        # in place; a copy cost 800 MB and 2.4 s at 10,000 clients)
        self.duration = self.distance if self.duration is None else _matrix(self.duration, "duration")
        if self.duration.shape != self.distance.shape:
            raise InstanceError(
                f"{self.name}: duration matrix is {self.duration.shape[0]}x{self.duration.shape[1]}"
                f" but distance matrix is {n1}x{n1}"
            )
        if self.coords is not None:
            if self.coords.shape != (n1, 2):
                raise InstanceError(f"{self.name}: expected {n1} coordinate pairs, got shape {self.coords.shape}")
        self.demand = self._node_vector(self.demand, "demand")
        self.backhaul = self._node_vector(np.zeros(n1) if self.backhaul is None else self.backhaul, "backhaul")
        self.service = self._node_vector(
            np.zeros(n1) if self.service is None else self.service, "service", integer=False
        )
        if self.time_windows is None:
            self.time_windows = np.tile([0.0, INF], (n1, 1))
        self.time_windows = _floats(self.time_windows, f"{self.name}: time windows")
        if self.time_windows.shape != (n1, 2):
            raise InstanceError(f"{self.name}: time windows must have shape ({n1}, 2)")
        if np.isnan(self.time_windows).any():
            raise InstanceError(f"{self.name}: a time window is NaN")
        if not np.isfinite(self.time_windows[:, 0]).all():
            bad = int(np.where(~np.isfinite(self.time_windows[:, 0]))[0][0])
            opens = self.time_windows[bad, 0]
            raise InstanceError(f"{self.name}: {self._label(bad)} has a time window that opens at {opens}")
        big = np.argwhere(np.isfinite(self.time_windows) & (np.abs(self.time_windows) > MAX_MAGNITUDE))
        if big.size:
            i, k = (int(v) for v in big[0])
            raise InstanceError(
                f"{self.name}: {self._label(i)} has a time window that {('opens', 'closes')[k]} at"
                f" {self.time_windows[i, k]:g}; times must be at most {MAX_MAGNITUDE:g}"
                + (" (an open-ended window closes at null/inf)" if k else "")
            )
        late = np.where(self.time_windows[:, 0] > self.time_windows[:, 1])[0]
        if late.size:
            raise InstanceError(
                f"{self.name}: {self._label(int(late[0]))} has a time window that closes before it opens"
            )
        if self.travel_model is not None and not isinstance(self.travel_model, TravelModel):
            try:
                self.travel_model = TravelModel.from_dict(self.travel_model)
            except InstanceError as err:
                raise InstanceError(f"{self.name}: {err}") from None
        if not self.ids:
            self.ids = list(range(n1))
        if len(self.ids) != n1:
            raise InstanceError(f"{self.name}: {len(self.ids)} ids for {n1} nodes")
        if len(set(map(str, self.ids))) != n1:
            raise InstanceError(f"{self.name}: node ids are not unique")
        if not (np.isfinite(self.preference_weight) and 0 <= self.preference_weight <= MAX_MAGNITUDE):
            raise InstanceError(
                f"{self.name}: preference_weight must be between 0 and {MAX_MAGNITUDE:g}, got {self.preference_weight}"
            )
        if self.best_known is not None and not (np.isfinite(self.best_known) and abs(self.best_known) <= MAX_MAGNITUDE):
            raise InstanceError(
                f"{self.name}: best_known must be a number of magnitude at most {MAX_MAGNITUDE:g}, got {self.best_known}"
            )
        self._check_fleet()
        self._sealed = True  # from here on, attributes are fixed (__setattr__)

    # ------------------------------------------------------------------ helpers
    @property
    def num_clients(self) -> int:
        return self.distance.shape[0] - 1

    @property
    def num_nodes(self) -> int:
        return self.distance.shape[0]

    @property
    def max_capacity(self) -> float:
        return max(v.capacity for v in self.fleet)

    def _label(self, node: int) -> str:
        ident = self.ids[node] if self.ids and node < len(self.ids) else node
        return "the depot" if node == 0 else f"client {ident!r}"

    def _node_vector(self, values, what: str, integer: bool | None = None) -> np.ndarray:
        arr = _floats(values, f"{self.name}: {what}").reshape(-1)
        if arr.shape != (self.num_nodes,):
            raise InstanceError(f"{self.name}: {what} has {arr.size} entries for {self.num_nodes} nodes")
        bad = np.where(~np.isfinite(arr) | (arr < 0))[0]
        if bad.size:
            raise InstanceError(
                f"{self.name}: {what} of {self._label(int(bad[0]))} is {arr[bad[0]]}; it must be finite and non-negative"
            )
        bad = np.where(arr > MAX_MAGNITUDE)[0]
        if bad.size:
            raise InstanceError(
                f"{self.name}: {what} of {self._label(int(bad[0]))} is {arr[bad[0]]:g};"
                f" it must be at most {MAX_MAGNITUDE:g}"
            )
        if (self.integer_demands if integer is None else integer) and not np.all(arr == np.round(arr)):
            bad = int(np.where(arr != np.round(arr))[0][0])
            raise InstanceError(f"{self.name}: {what} of {self._label(bad)} is {arr[bad]}; it must be a whole number")
        return arr

    def _check_fleet(self) -> None:
        if not self.fleet:
            raise InstanceError(f"{self.name}: the fleet is empty")
        n1 = self.num_nodes
        fleet = list(self.fleet)
        for k, v in enumerate(fleet):
            label = v.name or f"vehicle type {k}"
            if not _scalar(v.capacity) > 0:  # too large (or infinite): below
                raise InstanceError(f"{self.name}: {label} needs a positive capacity, got {str(v.capacity)[:40]}")
            count = None if v.count is None else _scalar(v.count)
            if count is not None and not (np.isfinite(count) and count == int(count) and count >= 1):
                raise InstanceError(
                    f"{self.name}: {label} count must be a positive whole number, got {str(v.count)[:40]}"
                )
            for attr, limit in (
                ("capacity", False),
                ("count", False),
                ("fixed_cost", False),
                ("unit_cost", False),
                ("max_duration", True),
                ("max_distance", True),
            ):
                if getattr(v, attr) is None:
                    continue
                value = _scalar(getattr(v, attr))
                if np.isnan(value) or (np.isinf(value) and not (limit and value > 0)):
                    shown = str(getattr(v, attr))[:40]
                    raise InstanceError(
                        f"{self.name}: {label} {attr} is {shown}; it must be finite, at most {MAX_MAGNITUDE:g}"
                    )
                if np.isfinite(value) and abs(value) > MAX_MAGNITUDE:
                    hint = " (no limit: leave it out, or inf)" if limit else ""
                    raise InstanceError(
                        f"{self.name}: {label} {attr} is {value:g}; it must be at most {MAX_MAGNITUDE:g}{hint}"
                    )
            for attr in ("allowed", "preference"):
                arr = getattr(v, attr)
                if arr is not None:
                    arr = (
                        np.asarray(arr, dtype=bool)
                        if attr == "allowed"
                        else _floats(arr, f"{self.name}: {label} {attr}")
                    )
                    if arr.shape != (n1,):
                        raise InstanceError(f"{self.name}: {label} {attr} must have {n1} entries")
                    if attr == "preference" and not np.isfinite(arr).all():
                        raise InstanceError(f"{self.name}: {label} has a NaN or infinite preference")
                    if attr == "preference" and (np.abs(arr) > MAX_MAGNITUDE).any():
                        j = int(np.argmax(np.abs(arr)))
                        raise InstanceError(
                            f"{self.name}: {label} preference for {self._label(j)} is {arr[j]:g};"
                            f" preferences must be at most {MAX_MAGNITUDE:g} in magnitude"
                        )
                    if arr is not getattr(v, attr):  # normalised: a new vehicle type, the caller's is left alone
                        v = replace(v, **{attr: arr})
                        fleet[k] = v
        self.fleet = tuple(fleet)
        load = np.maximum(self.demand, self.backhaul)
        for i in range(1, n1):
            may_serve = [v for v in self.fleet if v.allowed is None or v.allowed[i]]
            if not may_serve:
                raise InstanceError(f"{self.name}: no vehicle type is allowed to serve {self._label(i)}")
            if not any(v.capacity >= load[i] for v in may_serve):
                raise InstanceError(
                    f"{self.name}: {self._label(i)} has demand {load[i]:g}, more than any vehicle that may serve it can carry"
                    f" (largest capacity {self.max_capacity:g})"
                )

    def symmetric(self) -> bool:
        """Whether both matrices equal their transposes."""
        memo = self._symmetry
        if memo is None or memo[0] is not self.distance or memo[1] is not self.duration:
            same = _symmetric(self.distance) and (self.duration is self.distance or _symmetric(self.duration))
            memo = (self.distance, self.duration, same)
            object.__setattr__(self, "_symmetry", memo)  # a cache, not an edit
        return memo[2]

    def features(self) -> frozenset[Feature]:
        """The non-neutral features of this instance (envs/model/features.py), computed once."""
        if self._features is None:
            object.__setattr__(self, "_features", self._find_features())  # a cache, not an edit
        return self._features

    def _find_features(self) -> frozenset[Feature]:
        has = {
            Feature.ASYMMETRIC: not self.symmetric(),
            Feature.TIME_WINDOWS: bool(
                np.any(self.time_windows[:, 0] > 0) or np.any(np.isfinite(self.time_windows[:, 1]))
            ),
            Feature.SERVICE_TIMES: bool(np.any(self.service > 0)),
            Feature.BACKHAULS: bool(np.any(self.backhaul > 0)),
            Feature.OPEN_ROUTES: self.open_routes,
            Feature.DURATION_LIMITS: any(np.isfinite(v.max_duration) for v in self.fleet),
            Feature.DISTANCE_LIMITS: any(np.isfinite(v.max_distance) for v in self.fleet),
            Feature.HETEROGENEOUS_FLEET: len(self.fleet) > 1,
            Feature.FLEET_LIMIT: any(v.count is not None for v in self.fleet),
            Feature.FIXED_COSTS: any(v.fixed_cost != 0 or v.unit_cost != 1 for v in self.fleet),
            Feature.PROFILES: any(v.allowed is not None or v.preference is not None for v in self.fleet),
            Feature.STOCHASTIC: self.travel_model is not None,
        }
        return frozenset(f for f, yes in has.items() if yes)


def require_features(instance: Instance, supported: set[str] | frozenset[str], solver: str) -> None:
    """Refuse, with one line naming them, the features a solver cannot honour."""
    missing = sorted(instance.features() - set(supported))
    if missing:
        from envs.errors import UnsupportedFeatureError

        raise UnsupportedFeatureError(
            f"solver '{solver}' cannot handle {', '.join(missing)} (instance {instance.name})"
        )


def _floats(values, what: str) -> np.ndarray:
    """values as float64; a Python integer too large for a float (10**400) is refused, naming `what`."""
    try:
        return np.asarray(values, dtype=np.float64)
    except OverflowError:
        raise InstanceError(f"{what} has a number too large for a float (at most {MAX_MAGNITUDE:g})") from None


def _scalar(value) -> float:
    """A fleet number as a float: infinite when too large for one (10**400), NaN when not a number."""
    try:
        return float(value)
    except OverflowError:
        return INF
    except (TypeError, ValueError):
        return float("nan")


def _symmetric(m: np.ndarray, rows: int = 512) -> bool:
    """m == m.T, by blocks of rows right of the diagonal against their mirror (no n x n temporary)."""
    return all(np.array_equal(m[lo : lo + rows, lo:], m[lo:, lo : lo + rows].T) for lo in range(0, m.shape[0], rows))


def _matrix(values, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        raise InstanceError(f"{what} matrix is ragged or not numeric") from None
    except OverflowError:
        raise InstanceError(f"{what} matrix has an entry too large for a float (at most {MAX_MAGNITUDE:g})") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise InstanceError(f"{what} matrix must be square, got shape {arr.shape}")
    if arr.size and 0 <= arr.min() and arr.max() <= MAX_MAGNITUDE:  # the usual case in two passes (NaN fails both)
        return arr
    if np.isnan(arr).any():
        i, j = np.argwhere(np.isnan(arr))[0]
        raise InstanceError(f"{what} matrix entry [{i}][{j}] is NaN")
    if (arr < 0).any():
        i, j = np.argwhere(arr < 0)[0]
        raise InstanceError(f"{what} matrix entry [{i}][{j}] is negative")
    off = ~np.eye(arr.shape[0], dtype=bool)
    if np.isinf(arr[off]).any():
        i, j = np.argwhere(np.isinf(arr) & off)[0]
        raise InstanceError(f"{what} matrix: node {j} cannot be reached from node {i}")
    big = np.argwhere(off & (arr > MAX_MAGNITUDE))
    if big.size:
        i, j = (int(v) for v in big[0])
        raise InstanceError(
            f"{what} matrix entry [{i}][{j}] is {arr[i, j]:g}; entries must be at most {MAX_MAGNITUDE:g}"
        )
    return arr


def restrict_fields(fields: dict, keep: np.ndarray) -> dict:
    """Instance fields (as keyword arguments) of the nodes `keep` only, the depot first: every node-indexed
    vector, matrix and mask; the ids of the clients left out become `dropped` and no best-known cost holds."""
    ids, kept = fields["ids"], set(keep.tolist())
    out = {
        **fields,
        "ids": [ids[i] for i in keep],
        "dropped": tuple(ids[i] for i in range(1, len(ids)) if i not in kept),
        "best_known": None,  # known for all the clients, not for those kept
    }
    for key in ("distance", "duration"):
        if out[key] is not None:
            out[key] = out[key][np.ix_(keep, keep)]
    for key in ("demand", "backhaul", "service", "coords", "time_windows"):
        if out[key] is not None:
            out[key] = out[key][keep]
    out["fleet"] = [
        replace(
            v,
            allowed=None if v.allowed is None else v.allowed[keep],
            preference=None if v.preference is None else v.preference[keep],
        )
        for v in fields["fleet"]
    ]
    return out


def sub_instance(instance: Instance, keep: np.ndarray, fleet: list[VehicleType], name: str) -> Instance:
    """The instance of the clients `keep` (node indices, the depot 0 first) with `fleet` (vehicle types over
    the whole instance's nodes, their masks restricted here): a part of a big instance, solved on its own."""
    fields = {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance) if f.init}
    out = restrict_fields({**fields, "fleet": fleet}, np.asarray(keep))
    return Instance(**{**out, "dropped": (), "name": name})
