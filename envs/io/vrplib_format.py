"""VRPLIB (CVRPLIB X, Solomon VRPTW, PyVRP's heterogeneous fleet) files, read with the `vrplib` package.

Distance conventions of the benchmark sets, so that best-known costs are
reproduced exactly by the checker:
- CVRP with EUC_2D (the X set): Euclidean rounded to the nearest integer ("round");
- VRPTW with EUC_2D (Solomon): Euclidean truncated to one decimal ("dimacs"),
  travel time equal to distance;
- heterogeneous fleet in PyVRP's dialect (the X-based HVRP/HD/FSMF/FSMD/FSMFD
  sets): unrounded Euclidean ("exact");
- EXPLICIT: the matrix given in the file.

PyVRP's dialect describes the fleet per vehicle: VEHICLES rows of
CAPACITY_SECTION, VEHICLES_FIXED_COST_SECTION and
VEHICLES_UNIT_DISTANCE_COST_SECTION (a header value instead of a section
applies to every vehicle; a missing cost is 0 fixed, 100 per unit of
distance). Costs there are x100: a vehicle type gets fixed_cost = fixed/100 and
unit_cost = unit/100, so that costs are in the sets' original units (PyVRP's
`read(path, round_func="exact")` also multiplies distances, loads and fixed
costs by 1000, so its objective is the original cost times 1e5). Consecutive
vehicles with the same capacity, fixed and unit cost form one VehicleType
("type 1 (cap 141)", ...) whose count is their number, in file order; a `.sol`
file's `Route #k` is vehicle k of that order (load_vrplib_solution).

Node ids are the file's node numbers (ints; the depot is node 1 in VRPLIB form,
customer 0 in Solomon's text form). The depot is moved to index 0 if the file
puts it elsewhere; clients keep their file order. `best_known` comes from a
`.sol` file beside the instance (its `Cost` line) or from a `bks.csv`
(name,n,bks) in the same folder. The heterogeneous-fleet sets state it in
either unit: PyVRP's exact objective (original cost x 1e5) or the original
cost. Rule (`_original_units`): the value v or v/1e5, whichever is nearer (by
ratio) to the checker's cost of the `.sol` routes beside the instance; with no
readable `.sol`, v/1e5 when v is a whole number of at least 1e6, else v.

Nothing is silently ignored or misread: a header, section or TYPE the reader
does not model (PRIZE_SECTION, RELEASE_TIME_SECTION, TYPE PCVRP, ...) is
refused by name, listing what is supported; a DIMENSION that disagrees with
the node rows, a node listed twice, out of order or without a row in a
section, and a value that is not a finite number are refused naming the line.
Solomon's text form is read here (not by `vrplib`, which turns a decimal or a
word into -1): decimals exactly as floats; a non-numeric, NaN or infinite
token, a negative demand or time, and customers not numbered 0, 1, 2, ... are
refused as `FILE line N: <field> ...`.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import vrplib
from vrplib.parse import parse_vrplib
from vrplib.parse.parse_solomon import is_valid_solomon_instance

from envs.errors import InstanceError
from envs.model.distances import Rounding, euclidean
from envs.model.instance import INF, Instance, VehicleType
from envs.model.solution import Route, Solution

_COST_LINE = re.compile(r"^\s*cost\s*:?\s*([-+0-9.eE]+)\s*$", re.IGNORECASE | re.MULTILINE)
_ROUTE_LINE = re.compile(r"^\s*route\s*#?\s*(\d+)?\s*:", re.IGNORECASE | re.MULTILINE)

PYVRP_COST_SCALE = 100.0  # PyVRP's dialect states fixed and unit costs x100
PYVRP_EXACT_SCALE = 1e5  # PyVRP's objective with round_func="exact", per unit of original cost
# Per-vehicle sections of PyVRP's dialect: data key, file name, divisor, value when absent.
_VEHICLE_SECTIONS = (
    ("capacity", "CAPACITY", 1.0, None),
    ("vehicles_fixed_cost", "VEHICLES_FIXED_COST", PYVRP_COST_SCALE, 0.0),
    ("vehicles_unit_distance_cost", "VEHICLES_UNIT_DISTANCE_COST", PYVRP_COST_SCALE, PYVRP_COST_SCALE),
)

# What the VRPLIB reader models. Headers: those with a number to check (True: a whole number), then harmless ones;
# PyVRP's VEHICLES_* headers and sections are checked by _pyvrp_fleet.
_NUMERIC_HEADERS = {
    "DIMENSION": True,
    "VEHICLES": True,
    "CAPACITY": False,
    "DISTANCE": False,
    "SERVICE_TIME": False,
    "MAX_DURATION": False,
    "DURATION": False,
}
_HEADERS = (
    "NAME",
    "COMMENT",
    "TYPE",
    *_NUMERIC_HEADERS,
    "EDGE_WEIGHT_TYPE",
    "EDGE_WEIGHT_FORMAT",
    "NODE_COORD_TYPE",
    "DISPLAY_DATA_TYPE",
)
_TYPES = ("CVRP", "DCVRP", "VRPTW", "CVRPTW", "HFVRP", "VRPB")
# Sections with one row per node (node number, then this many values), and the others.
_NODE_SECTIONS = {"NODE_COORD": 2, "DEMAND": 1, "TIME_WINDOW": 2, "SERVICE_TIME": 1, "BACKHAUL": 1}
_VEHICLE_ROWS = tuple(s[1] for s in _VEHICLE_SECTIONS)  # one row per vehicle (vehicle number, then values)
_SECTIONS = (*_NODE_SECTIONS, "DEPOT", "EDGE_WEIGHT", *_VEHICLE_ROWS, "DISPLAY_DATA")
_UNSUPPORTED = {  # what a section or TYPE the reader does not model stands for, to name it in the refusal
    "PRIZE": "prize-collecting",
    "PCVRP": "prize-collecting",
    "RELEASE_TIME": "release times",
    "LINEHAUL": "linehaul demands; give them as DEMAND_SECTION",
    "PICKUP_AND_DELIVERY": "pickup and delivery pairs",
    "MUTUALLY_EXCLUSIVE_GROUP": "client groups",
    "FIXED_EDGES": "fixed edges",
    "EDGE_DATA": "edge lists",
    "TOUR": "tours",
    "TSP": "travelling salesman",
    "ATSP": "asymmetric travelling salesman",
    "MDVRP": "multi-depot",
    "MDVRPTW": "multi-depot",
    "OVRP": "open routes",
    "SDVRP": "split deliveries",
    "VRPSPD": "simultaneous pickup and delivery",
    "VRPPD": "pickup and delivery",
    "PDPTW": "pickup and delivery",
    "PVRP": "periodic",
}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_WHOLE = re.compile(r"[+-]?\d+")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_SOLOMON_FIELDS = (
    "customer number",
    "x coordinate",
    "y coordinate",
    "demand",
    "ready time",
    "due date",
    "service time",
)


def load_vrplib(path: str | Path, rounding: Rounding | None = None) -> Instance:
    """Read a VRPLIB `.vrp` file or a Solomon `.txt` file into an Instance.

    `rounding` overrides the convention for EUC_2D distances (see module doc).
    """
    path = Path(path)
    label = path.name
    if not path.exists():
        raise InstanceError(f"file not found: {path}")
    if path.is_dir():
        raise InstanceError(f"{path}: is a directory, not a file")
    text = path.read_text(encoding="utf-8", errors="replace")
    fmt = "vrplib"
    if path.suffix.lower() == ".txt":
        fmt = "vrplib" if re.search(r"^\s*(DIMENSION|NODE_COORD_SECTION)", text[:4000], re.MULTILINE) else "solomon"
    try:
        if fmt == "solomon":
            data = _read_solomon(text, label)
        else:
            _check_vrplib(text, label)
            data = parse_vrplib(text, compute_edge_weights=False)
    except InstanceError:
        raise
    except Exception as err:  # the parser raises many kinds; the user needs one line
        raise InstanceError(
            f"{label}: cannot parse {fmt.upper() if fmt == 'vrplib' else 'Solomon'} file: {_first_line(err)}"
        ) from None
    try:
        inst = _from_data(data, path, fmt, rounding)
    except InstanceError as err:
        msg = str(err)
        name = str(data.get("name", path.stem))
        raise InstanceError(f"{label}: {msg.removeprefix(name + ': ')}") from None
    except (KeyError, ValueError, TypeError, IndexError) as err:
        why = "a section has rows of different lengths" if "inhomogeneous" in str(err) else _first_line(err)
        raise InstanceError(f"{label}: malformed {fmt} data: {why}") from None
    best = find_best_known(path, inst.name)
    if _per_vehicle(data):
        best = _original_units(inst, path, best)
    return replace(inst, best_known=best)


def load_vrplib_solution(instance: Instance, path: str | Path, solver: str = "bks") -> Solution:
    """Read a VRPLIB `.sol` file (routes of clients numbered 1..n in file order, depot left out).

    With several vehicle types, `Route #k` is the k-th vehicle (1-based) in fleet
    order, as PyVRP's dialect numbers them (see the module doc); empty routes are dropped.
    """
    path = Path(path)
    try:
        sol = vrplib.read_solution(path)
        labels = _ROUTE_LINE.findall(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        raise InstanceError(f"file not found: {path}") from None
    except Exception as err:
        raise InstanceError(f"{path.name}: cannot parse VRPLIB solution: {_first_line(err)}") from None
    if not sol["routes"]:
        raise InstanceError(f"{path.name}: not a VRPLIB solution: no 'Route #k: ...' line")
    cost = sol.get("cost")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost)):
        raise InstanceError(f"{path.name}: its Cost line says {str(cost)[:40]!r}; expected a finite number")
    numbers = (
        [int(k) if k else r + 1 for r, k in enumerate(labels)]
        if len(labels) == len(sol["routes"])
        else list(range(1, len(sol["routes"]) + 1))
    )
    ends = _fleet_ends(instance, path)
    routes = []
    for number, visits in zip(numbers, sol["routes"]):
        bad = [c for c in visits if not 1 <= int(c) <= instance.num_clients]
        if bad:
            raise InstanceError(
                f"{path.name}: route {number} visits client {bad[0]}, but {instance.name} has clients"
                f" 1 to {instance.num_clients} only"
            )
        vehicle_type = 0
        if ends is not None:
            if not 1 <= number <= ends[-1]:
                raise InstanceError(
                    f"{path.name}: route #{number} names vehicle {number}, but {instance.name} has {ends[-1]} vehicles"
                )
            vehicle_type = int(np.searchsorted(ends, number - 1, side="right"))
        if visits:
            routes.append(Route([int(c) for c in visits], vehicle_type))
    meta = {"cost": sol["cost"]} if "cost" in sol else {}
    return Solution(routes=routes, solver=solver, meta=meta)


def _fleet_ends(instance: Instance, path: Path) -> np.ndarray | None:
    """With several vehicle types, the vehicle number that ends each type (cumulative counts); else None."""
    fleet = instance.fleet
    if len(fleet) <= 1:
        return None
    if any(v.count is None for v in fleet):
        raise InstanceError(
            f"{path.name}: routes name vehicles, but {instance.name} has a vehicle type without a count"
        )
    return np.cumsum([int(v.count) for v in fleet])


def find_best_known(path: str | Path, name: str | None = None) -> float | None:
    """Best-known cost of the instance at `path`: its `.sol` Cost line, else its row in a sibling bks.csv."""
    path = Path(path)
    name = name or path.stem
    sol = path.with_suffix(".sol")
    if sol.is_file():
        match = _COST_LINE.search(sol.read_text(encoding="utf-8", errors="replace"))
        if match:
            try:
                return float(match.group(1))
            except ValueError:
                pass
    table = path.with_name("bks.csv")
    if table.is_file():
        with table.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("name") in (name, path.stem):
                    try:
                        return float(row["bks"])
                    except (KeyError, TypeError, ValueError):
                        return None
    return None


def _original_units(instance: Instance, path: Path, value: float | None) -> float | None:
    """A heterogeneous-fleet best-known cost in original units (see the module doc for the rule)."""
    if value is None or not value > 0:
        return value
    sol = path.with_suffix(".sol")
    reference = None
    if sol.is_file():
        from envs.model.check import check

        try:
            report = check(instance, load_vrplib_solution(instance, sol))
            reference = report.cost if report.feasible and report.cost > 0 else None
        except InstanceError:
            reference = None
    if reference is None:
        return value / PYVRP_EXACT_SCALE if value >= 1e6 and value == round(value) else value
    return min((value, value / PYVRP_EXACT_SCALE), key=lambda v: abs(math.log(v / reference)))


def _per_vehicle(data: dict) -> bool:
    """Whether the file describes its fleet per vehicle (PyVRP's dialect)."""
    return np.ndim(data.get("capacity", 0)) != 0 or any(str(k).startswith("vehicles_") for k in data)


def _pyvrp_fleet(data: dict, name: str) -> list[VehicleType]:
    """Vehicle types from PyVRP's per-vehicle sections: runs of identical rows, in file order."""
    unknown = sorted(k for k in data if str(k).startswith("vehicles_") and k not in {s[0] for s in _VEHICLE_SECTIONS})
    if unknown:
        raise InstanceError(
            f"{name}: unsupported per-vehicle data {unknown[0].upper()}"
            " (supported: CAPACITY, VEHICLES_FIXED_COST, VEHICLES_UNIT_DISTANCE_COST)"
        )
    if "capacity" not in data:
        raise InstanceError(f"{name}: no CAPACITY given")
    size = np.size(data["capacity"])
    count = int(data["vehicles"]) if "vehicles" in data else size
    if count < 1:
        raise InstanceError(f"{name}: VEHICLES is {count}; it must be at least 1")
    columns = [
        _vehicle_column(data.get(key, default), label, count, name) / divisor
        for key, label, divisor, default in _VEHICLE_SECTIONS
    ]
    rows = np.stack(columns, axis=1)
    fleet: list[VehicleType] = []
    start = 0
    for v in range(1, count + 1):
        if v == count or not np.array_equal(rows[v], rows[start]):
            capacity, fixed, unit = rows[start]
            fleet.append(
                VehicleType(
                    capacity=float(capacity),
                    count=v - start,
                    fixed_cost=float(fixed),
                    unit_cost=float(unit),
                    name=f"type {len(fleet) + 1} (cap {capacity:g})",
                )
            )
            start = v
    return fleet


def _vehicle_column(raw, label: str, count: int, name: str) -> np.ndarray:
    """One per-vehicle section (or its header value for every vehicle) as `count` finite, non-negative numbers."""
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (ValueError, TypeError):
        arr = None
    if arr is None or arr.ndim > 1:
        raise InstanceError(f"{name}: {label}_SECTION has a malformed row (expected: vehicle number, one number)")
    if arr.ndim == 0:
        arr = np.full(count, float(arr))
    if arr.size != count:
        raise InstanceError(f"{name}: {label}_SECTION has {arr.size} rows for {count} vehicles (VEHICLES)")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        raise InstanceError(
            f"{name}: {label} of vehicle {bad[0] + 1} is {arr[bad[0]]:g}; it must be finite and non-negative"
        )
    return arr


def _from_data(data: dict, path: Path, fmt: str, rounding: Rounding | None) -> Instance:
    name = str(data.get("name") or path.stem)
    coords = data.get("node_coord")
    windows = data.get("time_window")
    per_vehicle = _per_vehicle(data)
    distance = _distance(data, name, fmt, rounding, per_vehicle)
    n1 = distance.shape[0]
    depot = _depot(data, name, n1)
    order = np.array([depot] + [i for i in range(n1) if i != depot])
    first_id = 0 if fmt == "solomon" else 1
    ids = [int(i) + first_id for i in order]

    def vector(key: str, default: float = 0.0) -> np.ndarray | None:
        if key not in data:
            return None
        arr = np.asarray(data[key], dtype=np.float64)
        if arr.ndim == 0:  # a header value applying to every client
            arr = np.full(n1, float(arr))
            arr[depot] = default
        return arr[order] if arr.shape[:1] == (n1,) else arr

    demand = vector("demand")
    if demand is None:
        raise InstanceError(f"{name}: no DEMAND_SECTION")
    fleet = _fleet(data, name, per_vehicle)
    coords_arr = None if coords is None else np.asarray(coords, dtype=np.float64)[order]
    return Instance(
        distance=distance[np.ix_(order, order)],
        demand=demand,
        fleet=fleet,
        name=name,
        coords=coords_arr,
        backhaul=vector("backhaul"),
        time_windows=None if windows is None else np.asarray(windows, dtype=np.float64)[order],
        service=vector("service_time"),
        ids=ids,
    )


def _distance(data: dict, name: str, fmt: str, rounding: Rounding | None, per_vehicle: bool) -> np.ndarray:
    """The distance matrix in file order: the EDGE_WEIGHT_SECTION, or Euclidean with the dialect's rounding."""
    coords = data.get("node_coord")
    ewt = str(data.get("edge_weight_type", "EUC_2D" if fmt == "solomon" else "")).upper()
    if "edge_weight" in data and ewt in ("EXPLICIT", ""):
        distance = np.asarray(data["edge_weight"], dtype=np.float64)
    elif ewt == "EUC_2D":
        if coords is None:
            raise InstanceError(f"{name}: EUC_2D needs a NODE_COORD_SECTION")
        default = "exact" if per_vehicle else "dimacs" if data.get("time_window") is not None else "round"
        distance = euclidean(coords, rounding or default)
    else:
        raise InstanceError(f"{name}: unsupported EDGE_WEIGHT_TYPE {ewt or 'missing'!r} (supported: EUC_2D, EXPLICIT)")
    n1 = distance.shape[0]
    dimension = data.get("dimension")
    if fmt == "vrplib" and dimension is not None and dimension != n1:
        given = "EDGE_WEIGHT_SECTION" if "edge_weight" in data and ewt == "EXPLICIT" else "NODE_COORD_SECTION"
        raise InstanceError(f"{name}: DIMENSION is {dimension} but {given} has {n1} nodes")
    return distance


def _depot(data: dict, name: str, n1: int) -> int:
    """The depot's node index (0-based, in file order); one depot only."""
    depots = np.atleast_1d(np.asarray(data.get("depot", [0]), dtype=int))
    if depots.size != 1:
        raise InstanceError(f"{name}: {depots.size} depots; only single-depot instances are supported")
    depot = int(depots[0])
    if not 0 <= depot < n1:
        raise InstanceError(f"{name}: depot {depot + 1} is not a node")
    return depot


def _fleet(data: dict, name: str, per_vehicle: bool) -> list[VehicleType]:
    """The vehicle types (PyVRP's per-vehicle sections, or one CAPACITY), with the DISTANCE and duration limits."""
    max_distance = data.get("distance")
    max_duration = data.get("max_duration", data.get("duration"))
    if per_vehicle:
        fleet = _pyvrp_fleet(data, name)
    else:
        if "capacity" not in data:
            raise InstanceError(f"{name}: no CAPACITY given")
        count = data.get("vehicles")
        fleet = [VehicleType(capacity=float(data["capacity"]), count=None if count is None else int(count))]
    limits = {
        "max_distance": INF if max_distance is None else float(max_distance),
        "max_duration": INF if max_duration is None else float(max_duration),
    }
    return [replace(vehicle, **limits) for vehicle in fleet]


def _number(token: str, where: str, what: str, whole: bool = False) -> float:
    """`token` read exactly (a float; an int when `whole`), else InstanceError `<where>: <what> '<token>' is not ...`."""
    shown = repr(token[:40])
    if _NOT_FINITE.fullmatch(token):
        raise InstanceError(f"{where}: {what} {shown} is not a finite number")
    if not _NUMBER.fullmatch(token):
        raise InstanceError(f"{where}: {what} {shown} is not a number")
    if whole:
        if not _WHOLE.fullmatch(token):
            raise InstanceError(f"{where}: {what} {shown} is not a whole number")
        return int(token)
    value = float(token)
    if not math.isfinite(value):  # 1e999
        raise InstanceError(f"{where}: {what} {shown} is not a finite number")
    return value


def _numbered_lines(text: str) -> list[tuple[int, str]]:
    """(line number, stripped line) of the lines `vrplib` reads: not blank, not a `#` comment."""
    return [(k, s) for k, line in enumerate(text.splitlines(), 1) if (s := line.strip()) and not s.startswith("#")]


def _read_solomon(text: str, label: str) -> dict:
    """A Solomon `.txt` file as `vrplib.read_instance(..., "solomon")` would give it, with every token checked.

    Decimals are read exactly (floats); a token that is not a finite number, a negative demand or time,
    and customers not numbered 0 (the depot), 1, 2, ... in order are refused naming the line and field.
    """
    numbered = _numbered_lines(text)
    lines = [s for _, s in numbered]
    is_valid_solomon_instance(lines)  # RuntimeError when the headers are not Solomon's
    line, row = numbered[3]
    tokens = row.split()
    if len(tokens) != 2:
        raise InstanceError(f"{label} line {line}: expected the vehicle number and capacity, got {row[:60]!r}")
    vehicles = _number(tokens[0], f"{label} line {line}", "vehicle number", whole=True)
    capacity = _number(tokens[1], f"{label} line {line}", "capacity")
    rows = []
    for k, (line, row) in enumerate(numbered[6:]):
        at = f"{label} line {line}"
        tokens = row.split()
        if len(tokens) != len(_SOLOMON_FIELDS):
            raise InstanceError(
                f"{at}: {len(tokens)} values; a customer row has {len(_SOLOMON_FIELDS)} ({', '.join(_SOLOMON_FIELDS)})"
            )
        number = _number(tokens[0], at, "customer number", whole=True)
        if number != k:
            if 0 <= number < k:
                raise InstanceError(f"{at}: customer {number} is listed twice")
            raise InstanceError(
                f"{at}: customer {number} where customer {k} was expected; customers are numbered 0 (the depot),"
                " 1, 2, ... in order"
            )
        values = [_number(t, at, what) for t, what in zip(tokens[1:], _SOLOMON_FIELDS[1:])]
        for value, token, what in zip(values[2:], tokens[3:], _SOLOMON_FIELDS[3:]):
            if value < 0:
                raise InstanceError(f"{at}: {what} {token} is negative; it must be zero or more")
        rows.append(values)
    if not rows:
        raise InstanceError(f"{label}: no customer rows after the CUST NO. header")
    table = np.array(rows, dtype=np.float64)
    return {
        "name": lines[0],
        "vehicles": vehicles,
        "capacity": capacity,
        "node_coord": table[:, 0:2],
        "demand": table[:, 2],
        "time_window": table[:, 3:5],
        "service_time": table[:, 5],
    }


def _unsupported(what: str, name: str) -> str:
    why = _UNSUPPORTED.get(name)
    return f"{what} ({why})" if why else what


def _check_vrplib(text: str, label: str) -> None:
    """Refuse, in one line, what `vrplib` would read silently wrong or what the reader would silently ignore.

    Walks the lines as `vrplib.parse_vrplib` groups them (headers `KEY: value`, then `<NAME>_SECTION` blocks,
    up to a line with EOF); `vrplib` itself drops the node numbers of a section and keeps the last of two
    headers or sections of one name, so numbering, duplicates and DIMENSION are checked here.
    """
    headers, sections = _vrplib_blocks(text, label)
    _check_headers(headers, sections, label)
    _check_number_sections(sections, label)
    nodes = {
        name: _node_rows(name, width, sections[name], label)
        for name, width in _NODE_SECTIONS.items()
        if name in sections
    }
    if nodes:
        _check_node_coverage(nodes, headers, label)


def _vrplib_blocks(text: str, label: str) -> tuple[dict[str, tuple[int, str]], dict[str, list[tuple[int, list[str]]]]]:
    """The file's headers {KEY: (line, value)} and sections {NAME: [(line, tokens), ...]}, as vrplib groups them."""
    headers: dict[str, tuple[int, str]] = {}
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current: list | None = None
    for line, row in _numbered_lines(text):
        if "EOF" in row:
            break
        if "_SECTION" in row:
            name = _section_name(row, line, sections, label)
            current = sections[name] = []
        elif ":" in row:
            key, value = _header(row, line, headers, label, after_section=current is not None)
            headers[key] = (line, value)
        elif current is not None:
            current.append((line, row.split()))
        # any other line: vrplib refuses the file
    return headers, sections


def _section_name(row: str, line: int, sections: dict, label: str) -> str:
    """The NAME of a `NAME_SECTION` line, refused if it is a second one or not supported."""
    name = row.strip(" :").removesuffix("_SECTION").upper()
    if name in sections:
        raise InstanceError(f"{label}: line {line}: {name}_SECTION appears twice")
    if name not in _SECTIONS and not name.startswith("VEHICLES_"):
        raise InstanceError(
            f"{label}: {_unsupported(name + '_SECTION', name)} is not supported"
            f" (supported sections: {', '.join(s + '_SECTION' for s in _SECTIONS)})"
        )
    return name


def _header(row: str, line: int, headers: dict, label: str, after_section: bool) -> tuple[str, str]:
    """(KEY, value) of a `KEY: value` line, refused after a section, a second time, or if not supported."""
    key, value = (x.strip() for x in re.split(r"\s*:\s*", row, maxsplit=1))
    key = key.upper()
    if after_section:
        raise InstanceError(f"{label}: line {line}: header {key} after a section; headers come first")
    if key in headers:
        raise InstanceError(f"{label}: line {line}: header {key} appears twice")
    if key not in _HEADERS and not key.startswith("VEHICLES_"):
        raise InstanceError(
            f"{label}: header {_unsupported(key, key)} is not supported (supported: {', '.join(_HEADERS)})"
        )
    return key, value


def _check_headers(headers: dict, sections: dict, label: str) -> None:
    """Numeric headers are numbers (zero or more), TYPE is supported, an EDGE_WEIGHT_SECTION is declared EXPLICIT."""
    for key, whole in _NUMERIC_HEADERS.items():
        if key in headers:
            line, value = headers[key]
            if _number(value, f"{label}: line {line}", key, whole) < 0:
                raise InstanceError(f"{label}: line {line}: {key} is {value}; it must be zero or more")
    kind = headers.get("TYPE", (0, ""))[1].upper()
    if kind and kind not in _TYPES:
        raise InstanceError(
            f"{label}: {_unsupported('TYPE ' + kind, kind)} is not supported (supported types: {', '.join(_TYPES)})"
        )
    ewt = headers.get("EDGE_WEIGHT_TYPE", (0, ""))[1].upper()
    if "EDGE_WEIGHT" in sections and ewt != "EXPLICIT":
        raise InstanceError(
            f"{label}: an EDGE_WEIGHT_SECTION needs EDGE_WEIGHT_TYPE: EXPLICIT (got {ewt or 'none'});"
            " it would be ignored"
        )


def _check_number_sections(sections: dict, label: str) -> None:
    """The sections without node numbers: EDGE_WEIGHT and DEPOT tokens are numbers, vehicle rows go 1, 2, ..."""
    for line, tokens in sections.get("EDGE_WEIGHT", []):
        for token in tokens:
            _number(token, f"{label}: line {line}", "EDGE_WEIGHT_SECTION value")
    for line, tokens in sections.get("DEPOT", []):
        for token in tokens:
            _number(token, f"{label}: line {line}", "DEPOT_SECTION node number", whole=True)
    for name in _VEHICLE_ROWS:  # their values are checked by _pyvrp_fleet
        last = 0
        for line, tokens in sections.get(name, []):
            vehicle = _number(tokens[0], f"{label}: line {line}", f"{name}_SECTION vehicle number", whole=True)
            if vehicle != last + 1:
                why = "twice" if 1 <= vehicle <= last else f"where vehicle {last + 1} was expected"
                raise InstanceError(f"{label}: line {line}: {name}_SECTION lists vehicle {vehicle} {why}")
            last = vehicle


def _node_rows(name: str, width: int, rows: list[tuple[int, list[str]]], label: str) -> list[tuple[int, int]]:
    """(line, node) of each row of a node section, checked: nodes from 1, once each, in order, `width` values each
    (numbers; zero or more but for coordinates)."""
    section = f"{name}_SECTION"
    seen: list[tuple[int, int]] = []
    listed: set[int] = set()
    for line, tokens in rows:
        at = f"{label}: line {line}"
        node = _number(tokens[0], at, f"{section} node number", whole=True)
        if node < 1:
            raise InstanceError(f"{at}: {section} lists node {node}; nodes are numbered from 1")
        if node in listed:
            raise InstanceError(f"{at}: {section} lists node {node} twice")
        if seen and node < seen[-1][1]:
            raise InstanceError(f"{at}: {section} lists node {node} after node {seen[-1][1]}; rows go in order")
        if len(tokens) - 1 != width:
            raise InstanceError(f"{at}: {section} row of node {node} has {len(tokens) - 1} values; expected {width}")
        for token in tokens[1:]:
            value = _number(token, at, f"{section} value of node {node}")
            if value < 0 and name != "NODE_COORD":
                raise InstanceError(f"{at}: {section} value of node {node} is {token}; it must be zero or more")
        seen.append((line, node))
        listed.add(node)
    return seen


def _check_node_coverage(nodes: dict[str, list[tuple[int, int]]], headers: dict, label: str) -> None:
    """Every node section has one row per node 1..n: n is DIMENSION, else the last node of the primary section
    (NODE_COORD if given)."""
    primary = "NODE_COORD" if "NODE_COORD" in nodes else next(iter(nodes))
    dimension = headers.get("DIMENSION")
    count = len(nodes[primary])
    if dimension is not None:
        n = int(dimension[1])
        if count != n and [node for _, node in nodes[primary]] == list(range(1, count + 1)):
            raise InstanceError(f"{label}: DIMENSION is {n} but {primary}_SECTION has {count} nodes")
        bound = f"DIMENSION is {n}"
    else:
        n = max((node for _, node in nodes[primary]), default=0)
        bound = f"{primary}_SECTION ends at node {n}"
    for name, seen in nodes.items():
        for line, node in seen:
            if node > n:
                raise InstanceError(f"{label}: line {line}: {name}_SECTION lists node {node}, but {bound}")
        listed = {node for _, node in seen}
        missing = next((k for k in range(1, n + 1) if k not in listed), None)
        if missing is not None:
            raise InstanceError(f"{label}: {name}_SECTION has no row for node {missing}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
