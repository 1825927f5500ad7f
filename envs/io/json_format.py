"""The JSON instance and solution formats (schemas: instance.schema.json, solution.schema.json).

An instance file names its depot, its clients and its fleet; matrices are
optional. Without them, planar (x/y) distances are Euclidean; lon/lat
instances need a source said out loud: road matrices from an OSRM server
(`osrm_url`, metres and seconds) or straight lines (`haversine=True`:
great-circle metres, durations at STRAIGHT_LINE_KMH). Files of lon/lat
instances are always written with their matrices, so they read back alone.
Pairs with no road route are refused by default; `unreachable="drop"` keeps
the clients with a route from the depot and back (`Instance.dropped` names
the others, and so does the solution file's `dropped_clients`), and
`unreachable="report"` raises `envs.roads.osrm_client.UnreachablePairs` instead of
building the instance.

Reading validates the file against the schema first, turning the first
problem into one line that names its place in the file ("clients[4].demand
must be a non-negative integer, got -2"), then builds the `Instance`, whose
own validation covers the rest.
A solution file names clients by the instance's ids, so it can be read back
and re-checked.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from envs.errors import InstanceError, OsrmError
from envs.model.check import Report, gap, route_stats
from envs.model.distances import euclidean, haversine, straight_line_durations
from envs.model.instance import INF, MAX_MAGNITUDE, Instance, VehicleType, restrict_fields
from envs.model.solution import Route, Solution

INSTANCE_SCHEMA = Path(__file__).with_name("instance.schema.json")
SOLUTION_SCHEMA = Path(__file__).with_name("solution.schema.json")
ROUNDINGS = ("exact", "round", "dimacs")
_COORD_KEYS = {"xy": ("x", "y"), "lonlat": ("lon", "lat")}
UNREACHABLE = ("refuse", "drop", "report")  # what to do with pairs of locations that have no road route


# ---------------------------------------------------------------- instances
def load_instance_json(
    path: str | Path, *, osrm_url: str | None = None, haversine: bool = False, unreachable: str = "refuse"
) -> Instance:
    """Read a city.json-style instance file; every problem becomes a one-line InstanceError.

    `osrm_url` and `haversine` say where a lon/lat file without matrices gets them, `unreachable` what
    becomes of pairs without a road route (see instance_from_dict).
    """
    path = Path(path)
    data = read_json(path)
    return instance_from_dict(
        data,
        source=path.name,
        default_name=path.stem,
        osrm_url=osrm_url,
        haversine=haversine,
        unreachable=unreachable,
    )


def instance_from_dict(
    d: Any,
    *,
    source: str | None = None,
    default_name: str = "instance",
    osrm_url: str | None = None,
    haversine: bool = False,
    unreachable: str = "refuse",
) -> Instance:
    """Build an Instance from a parsed JSON document.

    `source` prefixes error messages (a file name); by default the instance's name.
    A lon/lat document without a distance matrix gets road matrices from the
    OSRM server at `osrm_url` (metres, seconds; see envs.roads.osrm_client) or, with
    `haversine`, great-circle metres and durations at STRAIGHT_LINE_KMH; with
    neither it is refused. Both are ignored when the document has its matrix.

    `unreachable` (with `osrm_url`) says what becomes of pairs with no road route: "refuse" (an
    OsrmError naming one), "drop" (keep the clients with a route from the depot and back, which
    then all reach each other; the instance's `dropped` names the others) or "report" (raise
    envs.roads.osrm_client.UnreachablePairs, carrying the table, instead of returning an instance).
    """
    name = d.get("name") if isinstance(d, dict) and isinstance(d.get("name"), str) else default_name
    source = source or name
    if unreachable not in UNREACHABLE:
        raise InstanceError(f"{source}: unreachable must be one of {', '.join(UNREACHABLE)}, got {unreachable!r}")
    if unreachable != "refuse" and not osrm_url:
        raise InstanceError(f"{source}: unreachable={unreachable!r} needs an OSRM URL (road routes)")
    # a road city's matrices are millions of numbers: checked here with numpy where they are plain, since the
    # schema and the scans below visit each number in Python (127 s for 3,000 locations); a matrix with any
    # problem goes through them, for their messages
    plain = [k for k in MATRIX_KEYS if isinstance(d, dict) and _plain_matrix(d.get(k))]
    shell = {**d, **dict.fromkeys(plain, [])} if plain else d
    _validate(shell, "instance", source)
    _check_magnitudes(shell, source)
    if osrm_url and haversine:
        raise InstanceError(f"{source}: give an OSRM URL or haversine, not both")
    nodes = [d["depot"], *d["clients"]]
    if (
        d.get("coordinates") == "lonlat"
        and "distance_matrix" not in d
        and any("lon" in node for node in nodes)
        and not (osrm_url or haversine)
    ):
        raise InstanceError(
            f"{source} has lon/lat but no matrices: pass --osrm-url URL (or --haversine for straight lines)"
        )
    try:
        return _build(d, name, source, osrm_url=osrm_url, unreachable=unreachable)
    except (InstanceError, OsrmError) as err:
        from envs.roads.osrm_client import UnreachablePairs

        if isinstance(err, UnreachablePairs):  # the report asked for, already named after its source
            raise
        msg = str(err)
        raise type(err)(f"{source}: {msg.removeprefix(name + ': ')}") from None


def instance_to_dict(inst: Instance, *, include_matrices: bool = False) -> dict:
    """The JSON document of `inst`.

    Matrices are written only when they cannot be recomputed exactly from the
    coordinates (or when `include_matrices`), so files of planar instances stay small.
    """
    n1 = inst.num_nodes
    d: dict[str, Any] = {"name": inst.name}
    if inst.coord_system != "xy":
        d["coordinates"] = inst.coord_system
    d["depot"] = _node_to_dict(inst, 0)
    d["clients"] = [_node_to_dict(inst, i) for i in range(1, n1)]
    d["fleet"] = [_vehicle_to_dict(inst, v) for v in inst.fleet]

    rounding = None if include_matrices else _recomputable(inst)
    if rounding is None:
        d["distance_matrix"] = _matrix_to_list(inst.distance)
    elif rounding != "exact":
        d["distance_rounding"] = rounding
    if not np.array_equal(inst.duration, inst.distance):
        d["duration_matrix"] = _matrix_to_list(inst.duration)
    _add_variant_fields(inst, d)
    return d


def _node_to_dict(inst: Instance, i: int) -> dict:
    """Node `i`'s entry (the depot's at 0): its id, coordinates, and the attributes that are not defaults."""
    keys = _COORD_KEYS[inst.coord_system]
    out: dict[str, Any] = {"id": _json_id(inst.ids[i])}
    if inst.coords is not None:
        out[keys[0]], out[keys[1]] = _num(inst.coords[i, 0]), _num(inst.coords[i, 1])
    if i > 0:
        out["demand"] = _num(inst.demand[i])
        if inst.backhaul[i] > 0:
            out["pickup"] = _num(inst.backhaul[i])
        if inst.service[i] > 0:
            out["service_time"] = _num(inst.service[i])
    a, b = inst.time_windows[i]
    if a > 0 or np.isfinite(b):
        out["time_window"] = [_num(a), None if np.isinf(b) else _num(b)]
    return out


def _add_variant_fields(inst: Instance, d: dict) -> None:
    """The instance-wide fields written only when they differ from their defaults."""
    if inst.open_routes:
        d["open_routes"] = True
    if inst.backhaul_mode != "linehaul_first":
        d["backhaul_mode"] = inst.backhaul_mode
    if inst.travel_model is not None:
        d["travel_model"] = inst.travel_model.to_dict()
    if inst.preference_weight:
        d["preference_weight"] = _num(inst.preference_weight)
    if inst.best_known is not None:
        d["best_known"] = _num(inst.best_known)


def save_instance_json(inst: Instance, path: str | Path, *, include_matrices: bool = False) -> None:
    """Write `inst` as an instance file (see instance_to_dict)."""
    _write_json(instance_to_dict(inst, include_matrices=include_matrices), path)


# ---------------------------------------------------------------- solutions
def solution_to_dict(instance: Instance, solution: Solution, report: Report, timings: dict | None = None) -> dict:
    """The JSON document of a checked solution; clients are named by the instance's ids."""
    labels = _vehicle_labels(instance)
    aligned = len(report.routes) == len(solution.routes)  # the checker's report of this plan: no second walk
    routes = []
    for r, route in enumerate(solution.routes):
        visits = [int(c) for c in route.visits]
        valid = 0 <= route.vehicle_type < len(instance.fleet) and all(1 <= c < instance.num_nodes for c in visits)
        entry: dict[str, Any] = {
            "vehicle_type": labels[route.vehicle_type] if valid else int(route.vehicle_type),
            "clients": [_json_id(instance.ids[c]) if 1 <= c < instance.num_nodes else c for c in visits],
        }
        if valid and visits:
            stats = report.routes[r] if aligned else route_stats(instance, visits, route.vehicle_type, [], r)
            entry.update(distance=stats.distance, duration=stats.duration, load=stats.delivery)
            if instance.backhaul.any():
                entry["pickup"] = stats.pickup
            entry["cost"] = stats.cost
        routes.append(entry)
    out: dict[str, Any] = {
        "instance": instance.name,
        "solver": solution.solver,
        "cost": report.cost,
        "distance": report.distance,
        "feasible": report.feasible,
        "violations": [str(v) for v in report.violations],
        "num_routes": report.num_routes,
    }
    if instance.dropped:  # clients of the source file left out as unreachable by road: the plan is incomplete
        out["dropped_clients"] = [_json_id(ident) for ident in instance.dropped]
    if instance.best_known is not None:
        out["best_known"] = float(instance.best_known)
        out["gap_percent"] = gap(report.cost, instance.best_known)
    out["routes"] = routes
    out["timings"] = {k: float(v) for k, v in (solution.timings if timings is None else timings).items()}
    out["meta"] = solution.file_meta()
    return _jsonable(out)


def save_solution_json(
    instance: Instance, solution: Solution, report: Report, path: str | Path, timings: dict | None = None
) -> None:
    """Write a checked solution as JSON (see solution_to_dict)."""
    _write_json(solution_to_dict(instance, solution, report, timings), path)


def solution_from_dict(instance: Instance, d: Any, *, source: str = "solution") -> Solution:
    """Read a solution document back into node indices of `instance` (for re-checking)."""
    _validate(d, "solution", source)
    index = {str(ident): i for i, ident in enumerate(instance.ids)}
    labels = _vehicle_labels(instance)
    by_name = {label: k for k, label in enumerate(labels) if isinstance(label, str)}
    routes = []
    for r, entry in enumerate(d["routes"]):
        vt = entry.get("vehicle_type", 0)
        if isinstance(vt, str):
            if vt not in by_name:
                raise InstanceError(
                    f"{source}: routes[{r}].vehicle_type {vt!r} is not a vehicle type of {instance.name}"
                )
            vt = by_name[vt]
        elif not 0 <= vt < len(instance.fleet):
            raise InstanceError(
                f"{source}: routes[{r}].vehicle_type {vt} is out of range (fleet has {len(instance.fleet)})"
            )
        visits = []
        for j, ident in enumerate(entry["clients"]):
            node = index.get(str(ident))
            if node is None:
                raise InstanceError(f"{source}: routes[{r}].clients[{j}] {ident!r} is not a client of {instance.name}")
            if node == 0:
                raise InstanceError(
                    f"{source}: routes[{r}].clients[{j}] {ident!r} is the depot, which routes leave implicit"
                )
            visits.append(node)
        routes.append(Route(visits, vehicle_type=vt))
    return Solution(
        routes=routes,
        solver=d.get("solver", "unknown"),
        timings=dict(d.get("timings", {})),
        meta=dict(d.get("meta", {})),  # as written: the file's note and trace stay there
    )


def load_solution_json(instance: Instance, path: str | Path) -> Solution:
    """Read a solution file written by save_solution_json."""
    path = Path(path)
    return solution_from_dict(instance, read_json(path), source=path.name)


# ---------------------------------------------------------------- reading
def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing file or invalid JSON becomes a one-line InstanceError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a byte-order mark
    except FileNotFoundError:
        raise InstanceError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise InstanceError(f"{path}: is a directory, not a file") from None
    except UnicodeDecodeError as err:
        raise InstanceError(f"{path.name}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise InstanceError(f"{path.name}: cannot read: {err.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InstanceError(f"{path.name}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise InstanceError(f"{path.name}: invalid JSON: nested too deeply") from None


@functools.cache
def _validator(which: str) -> Draft202012Validator:
    path = INSTANCE_SCHEMA if which == "instance" else SOLUTION_SCHEMA
    return Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def _validate(d: Any, which: str, source: str) -> None:
    bad = _first_nonfinite(d)
    if bad is not None:
        where, value = bad
        what = "NaN" if math.isnan(value) else f"infinite ({'-' if value < 0 else ''}Infinity)"
        raise InstanceError(f"{source}: {where or 'the value'} is {what}; numbers must be finite")
    err = best_match(_validator(which).iter_errors(d))
    if err is not None:
        raise InstanceError(f"{source}: {_describe(err, which)}")


def _first_nonfinite(obj: Any, path: str = "") -> tuple[str, float] | None:
    """The JSON path of the first NaN or infinity (Python's json accepts NaN and Infinity)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return path, obj
    if isinstance(obj, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in obj.items())
    elif isinstance(obj, list | tuple):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for sub, v in items:
        found = _first_nonfinite(v, sub)
        if found is not None:
            return found
    return None


MATRIX_KEYS = ("distance_matrix", "duration_matrix")


def _plain_matrix(m: Any) -> bool:
    """Whether `m` is a list of equal lists of JSON numbers (no booleans, strings or nulls), finite, non-negative
    and at most MAX_MAGNITUDE: what the schema and the scans would accept, checked in one numpy pass."""
    if not isinstance(m, list) or not m or not all(isinstance(row, list) for row in m):
        return False
    if not {type(x) for row in m for x in row} <= {int, float}:
        return False
    try:
        a = np.array(m, dtype=np.float64)
    except (ValueError, OverflowError):  # ragged rows, or an integer beyond any float
        return False
    return a.ndim == 2 and bool(np.all(np.isfinite(a)) and np.all(a >= 0) and np.all(a <= MAX_MAGNITUDE))


def _check_magnitudes(d: dict, source: str) -> None:
    """Refuse, naming its place, a number of the instance beyond MAX_MAGNITUDE (see envs.model.instance).

    Before anything is computed from them (distances from coordinates would overflow, huge integers do not
    convert to floats). Ids are names, not numbers; the travel model checks its own bounds (with reasons).
    """
    found = _first_too_large({k: v for k, v in d.items() if k != "travel_model"})
    if found is not None:
        where, value = found
        raise InstanceError(
            f"{source}: {where} is {_show(value)};"
            f" numbers in an instance must be at most {MAX_MAGNITUDE:g} in magnitude"
        )


def _first_too_large(obj: Any, path: str = "") -> tuple[str, int | float] | None:
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return (path, obj) if abs(obj) > MAX_MAGNITUDE else None
    if isinstance(obj, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in obj.items() if k != "id")
    elif isinstance(obj, list) and not path.endswith(".allowed_clients"):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for sub, v in items:
        found = _first_too_large(v, sub)
        if found is not None:
            return found
    return None


def _json_path(err: ValidationError) -> str:
    out = ""
    for part in err.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(err: ValidationError, which: str) -> str:
    """One line for a schema violation, naming its place in the document."""
    path = _json_path(err)
    where = f"{path}: " if path else ""
    subject = path or f"the {which}"
    v, inst = err.validator, err.instance
    if v == "required":
        missing = next(f for f in err.validator_value if f not in inst)
        known = err.schema.get("properties", {})
        typo = difflib.get_close_matches(missing, [k for k in inst if k not in known], n=1)
        hint = f" (found unknown field '{typo[0]}')" if typo else ""
        return f"{where}missing required field '{missing}'{hint}"
    if v == "additionalProperties":
        known = list(err.schema.get("properties", {}))
        extra = next(k for k in inst if k not in known)
        close = difflib.get_close_matches(extra, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{where}unknown field '{extra}'{hint}"
    if v == "dependentRequired":
        missing = _missing_dependency(err)
        if missing:
            return f"{where}{missing}"
    if v in ("minItems", "maxItems"):
        return _count_message(err, subject)
    if v in ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "minLength"):
        return f"{subject} must be {_expected(err.schema)}, got {_show(inst)}"
    return f"{where}{err.message.splitlines()[0][:200]}"


def _missing_dependency(err: ValidationError) -> str | None:
    """ "has 'key' but no 'dep'" for the first field present without a field it needs (None if none is)."""
    inst = err.instance
    for key, deps in err.validator_value.items():
        if key in inst:
            for dep in deps:
                if dep not in inst:
                    return f"has '{key}' but no '{dep}'"
    return None


def _count_message(err: ValidationError, subject: str) -> str:
    """A minItems or maxItems violation in words."""
    inst = err.instance
    lo, hi = err.schema.get("minItems"), err.schema.get("maxItems")
    if lo is not None and lo == hi:
        return f"{subject} must have exactly {lo} entries, got {len(inst)}"
    if err.validator == "minItems":
        return (
            f"{subject} must not be empty" if lo == 1 else f"{subject} must have at least {lo} entries, got {len(inst)}"
        )
    return f"{subject} must have at most {hi} entries, got {len(inst)}"


def _expected(schema: dict) -> str:
    """What a leaf schema accepts, in words ("a non-negative integer")."""
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(e) for e in schema["enum"])
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    parts = []
    for t in types:
        if t in ("integer", "number"):
            parts.append(_number_words(t, schema))
        elif t == "string":
            parts.append("a non-empty string" if schema.get("minLength") else "a string")
        elif t in _TYPE_WORDS:
            parts.append(_TYPE_WORDS[t])
    return " or ".join(parts) or "valid"


_TYPE_WORDS = {"boolean": "true or false", "object": "an object", "array": "an array", "null": "null"}


def _number_words(t: str, schema: dict) -> str:
    """An integer or number schema's bounds in words ("a positive integer")."""
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if lo is not None and hi is not None:
        return f"a {t} between {lo:g} and {hi:g}"
    if schema.get("exclusiveMinimum") == 0 or (t == "integer" and lo == 1):
        return f"a positive {t}"
    if lo == 0:
        return f"a non-negative {t}"
    return "an integer" if t == "integer" else "a number"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------- building
def _build(d: dict, name: str, source: str, osrm_url: str | None = None, unreachable: str = "refuse") -> Instance:
    system = d.get("coordinates", "xy")
    nodes = [d["depot"], *d["clients"]]
    labels = ["depot"] + [f"clients[{i}]" for i in range(len(d["clients"]))]
    n1 = len(nodes)
    coords = _coordinates(d, nodes, labels, system)
    matrices = _given_matrices(d, n1)
    ids = [nodes[0].get("id", "depot")] + [c["id"] for c in d["clients"]]
    seen = _id_index(ids, labels)

    rounding = d.get("distance_rounding", "exact")
    keep = None  # the nodes unreachable="drop" keeps; None: all of them
    if "distance_matrix" in matrices:
        distance = matrices["distance_matrix"]
    elif system == "lonlat" and osrm_url:
        road, keep = _road_table(coords, osrm_url, ids, name, source, unreachable)
        distance = _rounded(road.distance, rounding)
        matrices.setdefault("duration_matrix", road.duration)
    else:
        distance = _computed_distance(coords, system, rounding)
        if system == "lonlat":
            matrices.setdefault("duration_matrix", straight_line_durations(distance))
    if unreachable == "report":  # the OSRM path raised the report already: these matrices are not roads
        has = "its own distance_matrix" if "distance_matrix" in matrices else "x/y coordinates"
        raise InstanceError(f"has {has}: --unreachable report checks the road routes of lon/lat clients only")

    time_windows = _time_windows(nodes)
    clients = d["clients"]
    fleet = [_vehicle_from_dict(v, k, seen, n1) for k, v in enumerate(d["fleet"])]
    fields = dict(
        distance=distance,
        demand=np.array([0] + [c["demand"] for c in clients], dtype=np.float64),
        fleet=fleet,
        name=name,
        coords=coords,
        coord_system=system,
        duration=matrices.get("duration_matrix"),
        backhaul=np.array([0] + [c.get("pickup", 0) for c in clients], dtype=np.float64),
        backhaul_mode=d.get("backhaul_mode", "linehaul_first"),
        time_windows=time_windows,
        service=np.array([0] + [c.get("service_time", 0) for c in clients], dtype=np.float64),
        open_routes=d.get("open_routes", False),
        travel_model=d.get("travel_model"),
        ids=ids,
        best_known=d.get("best_known"),
        preference_weight=d.get("preference_weight", 0.0),
    )
    return Instance(**(fields if keep is None else restrict_fields(fields, keep)))


def _coordinates(d: dict, nodes: list[dict], labels: list[str], system: str) -> np.ndarray | None:
    """The nodes' coordinates in the document's system: for every node or none (then a distance_matrix is given)."""
    keys = _COORD_KEYS[system]
    other = _COORD_KEYS["lonlat" if system == "xy" else "xy"]
    for node, label in zip(nodes, labels, strict=True):
        if any(k in node for k in other) and not all(k in node for k in keys):
            raise InstanceError(
                f"{label} gives {other[0]}/{other[1]} but coordinates is '{system}' (expects {keys[0]}/{keys[1]})"
            )
    has = [keys[0] in node for node in nodes]
    if all(has):
        return np.array([[node[keys[0]], node[keys[1]]] for node in nodes], dtype=np.float64)
    if any(has):
        label = labels[has.index(False)]
        raise InstanceError(f"{label} has no {keys[0]}/{keys[1]}; give coordinates for every node or for none")
    if "distance_matrix" not in d:
        raise InstanceError("nodes have no coordinates and there is no distance_matrix; give one or the other")
    return None


def _given_matrices(d: dict, n1: int) -> dict[str, np.ndarray]:
    """The document's distance_matrix and duration_matrix (those given), each checked to be n1 x n1."""
    matrices = {}
    for key in ("distance_matrix", "duration_matrix"):
        if key in d:
            m = d[key]
            if len(m) != n1:
                raise InstanceError(f"{key} has {len(m)} row(s); expected {n1} (the depot and {n1 - 1} clients)")
            for i, row in enumerate(m):
                if len(row) != n1:
                    raise InstanceError(
                        f"{key} row {i} has {len(row)} entries; expected {n1} (the matrix must be square)"
                    )
            matrices[key] = np.array(m, dtype=np.float64)
    return matrices


def _id_index(ids: list, labels: list[str]) -> dict[str, int]:
    """{id as text: node index}, refusing an id used twice (ids 1 and "1" are one id)."""
    seen: dict[str, int] = {}
    for i, ident in enumerate(ids):
        if str(ident) in seen:
            raise InstanceError(f"{labels[i]}.id {ident!r} is already used by {labels[seen[str(ident)]]}")
        seen[str(ident)] = i
    return seen


def _time_windows(nodes: list[dict]) -> np.ndarray | None:
    """The nodes' [open, close] windows (a missing window or close: always open), or None when no node has one."""
    windows = [node.get("time_window") for node in nodes]
    if not any(w is not None for w in windows):
        return None
    return np.array(
        [[0.0, INF] if w is None else [w[0], INF if w[1] is None else w[1]] for w in windows], dtype=np.float64
    )


def _road_table(coords: np.ndarray, url: str, ids: list, name: str, source: str, unreachable: str):
    """The nodes' road table and, when unreachable="drop" leaves some out, the nodes kept (else None)."""
    from envs.roads.osrm_client import UnreachablePairs, road_matrices, round_trip_nodes

    road = road_matrices(coords, url, ids=ids, on_unreachable="report")
    if unreachable == "report":
        raise UnreachablePairs(road, ids, name=name, source=source)
    if not road.unreachable:
        return road, None
    if unreachable == "refuse":
        (a, b), count = road.unreachable[0], len(road.unreachable)
        more = f"{count} pairs in all; " if count > 1 else ""
        raise OsrmError(
            f"OSRM found no road route from location {a!r} to location {b!r}"
            f" ({more}--unreachable report lists them, --unreachable drop solves the rest)"
        )
    keep = round_trip_nodes(road)
    if len(keep) == 1:
        ok = np.isfinite(road.distance) & np.isfinite(road.duration)
        depot, n = ids[0], len(ids) - 1
        if not ok[0, 1:].any():
            why = f"the depot {depot!r} has no road route to any of the {n} clients"
        elif not ok[1:, 0].any():
            why = f"none of the {n} clients has a road route to the depot {depot!r}"
        else:
            why = f"none of the {n} clients has a road route both from and to the depot {depot!r}"
        raise OsrmError(f"{why}: nothing left to solve (is the depot in a one-way pocket of the map?)")
    sub = np.ix_(keep, keep)
    bad = np.argwhere(~(np.isfinite(road.distance[sub]) & np.isfinite(road.duration[sub])))
    if len(bad):  # impossible: the trip through the depot is a route, unless the server contradicts itself
        a, b = (ids[keep[k]] for k in bad[0])
        raise OsrmError(
            f"OSRM routes {a!r} to the depot and the depot to {b!r}, but finds no route from {a!r} to {b!r}"
        )
    return road, keep


def _vehicle_from_dict(v: dict, k: int, index: dict[str, int], n1: int) -> VehicleType:
    allowed = preference = None
    if "allowed_clients" in v:
        allowed = np.zeros(n1, dtype=bool)
        allowed[0] = True
        for j, ident in enumerate(v["allowed_clients"]):
            node = index.get(str(ident))
            if node is None or node == 0:
                raise InstanceError(f"fleet[{k}].allowed_clients[{j}] {ident!r} is not a client id")
            allowed[node] = True
    if "preferences" in v:
        preference = np.zeros(n1)
        for ident, value in v["preferences"].items():
            node = index.get(str(ident))
            if node is None or node == 0:
                raise InstanceError(f"fleet[{k}].preferences: {ident!r} is not a client id")
            preference[node] = value
    maxd, maxl = v.get("max_duration"), v.get("max_distance")
    return VehicleType(
        capacity=v["capacity"],
        count=v.get("count"),
        fixed_cost=v.get("fixed_cost", 0.0),
        unit_cost=v.get("unit_cost", 1.0),
        max_duration=INF if maxd is None else maxd,
        max_distance=INF if maxl is None else maxl,
        allowed=allowed,
        preference=preference,
        name=v.get("name", ""),
    )


def _computed_distance(coords: np.ndarray, system: str, rounding: str) -> np.ndarray:
    if system == "xy":
        return euclidean(coords, rounding)
    return _rounded(haversine(coords), rounding)


def _rounded(d: np.ndarray, rounding: str) -> np.ndarray:
    if rounding == "round":
        return np.round(d)
    if rounding == "dimacs":
        return np.floor(d * 10.0) / 10.0
    return d


def _recomputable(inst: Instance) -> str | None:
    """The rounding under which the coordinates reproduce the distance matrix exactly, if any.

    Never for lon/lat: reading those back without matrices would need an OSRM server or a flag.
    """
    if inst.coords is None or inst.coord_system != "xy":
        return None
    for rounding in ROUNDINGS:
        if np.array_equal(_computed_distance(inst.coords, inst.coord_system, rounding), inst.distance):
            return rounding
    return None


# ---------------------------------------------------------------- writing helpers
def _vehicle_labels(inst: Instance) -> list[str | int]:
    names = [v.name for v in inst.fleet]
    if all(names) and len(set(names)) == len(names):
        return names
    return list(range(len(inst.fleet)))


def _vehicle_to_dict(inst: Instance, v: VehicleType) -> dict:
    out: dict[str, Any] = {}
    if v.name:
        out["name"] = v.name
    out["capacity"] = _num(v.capacity)
    if v.count is not None:
        out["count"] = int(v.count)
    if v.fixed_cost:
        out["fixed_cost"] = _num(v.fixed_cost)
    if v.unit_cost != 1:
        out["unit_cost"] = _num(v.unit_cost)
    if np.isfinite(v.max_duration):
        out["max_duration"] = _num(v.max_duration)
    if np.isfinite(v.max_distance):
        out["max_distance"] = _num(v.max_distance)
    if v.allowed is not None:
        out["allowed_clients"] = [_json_id(inst.ids[i]) for i in range(1, inst.num_nodes) if v.allowed[i]]
    if v.preference is not None:
        out["preferences"] = {
            str(inst.ids[i]): _num(v.preference[i]) for i in range(1, inst.num_nodes) if v.preference[i]
        }
    return out


def _json_id(ident: Any) -> str | int:
    if isinstance(ident, bool):
        return str(ident)
    if isinstance(ident, int | np.integer):
        return int(ident)
    return str(ident)


def _num(x: Any) -> int | float:
    """A finite number as JSON would best show it: integers without '.0'."""
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _matrix_to_list(m: np.ndarray) -> list:
    if np.all(m == np.round(m)) and np.abs(m).max(initial=0) < 2**53:
        return m.astype(np.int64).tolist()
    return m.tolist()


def _jsonable(obj: Any) -> Any:
    """Plain JSON types for metadata that may hold numpy values or paths."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return str(obj)


def dumps(d: dict) -> str:
    """JSON text with one top-level field per line and one client, route or matrix row per line."""
    lines = []
    for key, value in d.items():
        head = f" {json.dumps(key)}: "
        if isinstance(value, list) and value and all(isinstance(e, dict | list) for e in value):
            rows = ",\n".join("  " + json.dumps(e, allow_nan=False) for e in value)
            lines.append(f"{head}[\n{rows}\n ]")
        else:
            lines.append(head + json.dumps(value, allow_nan=False))
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _write_json(d: dict, path: str | Path) -> None:
    from envs.io.output_files import write_text

    write_text(path, dumps(d))  # whole or not at all: a full disk leaves the previous file as it was
