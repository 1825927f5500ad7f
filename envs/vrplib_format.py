"""VRPLIB (CVRPLIB X, Solomon VRPTW) files, read with the `vrplib` package.

Distance conventions of the benchmark sets, so that best-known costs are
reproduced exactly by the checker:
- CVRP with EUC_2D (the X set): Euclidean rounded to the nearest integer ("round");
- VRPTW with EUC_2D (Solomon): Euclidean truncated to one decimal ("dimacs"),
  travel time equal to distance;
- EXPLICIT: the matrix given in the file.

Node ids are the file's node numbers (ints; the depot is node 1 in VRPLIB form,
customer 0 in Solomon's text form). The depot is moved to index 0 if the file
puts it elsewhere; clients keep their file order. `best_known` comes from a
`.sol` file beside the instance (its `Cost` line) or from a `bks.csv`
(name,n,bks) in the same folder.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import vrplib

from envs.distances import Rounding, euclidean
from envs.errors import InstanceError
from envs.instance import INF, Instance, VehicleType
from envs.solution import Route, Solution

_COST_LINE = re.compile(r"^\s*cost\s*:?\s*([-+0-9.eE]+)\s*$", re.IGNORECASE | re.MULTILINE)


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
    fmt = "vrplib"
    if path.suffix.lower() == ".txt":
        head = path.read_text(encoding="utf-8", errors="replace")[:4000]
        fmt = "vrplib" if re.search(r"^\s*(DIMENSION|NODE_COORD_SECTION)", head, re.MULTILINE) else "solomon"
    try:
        data = vrplib.read_instance(path, instance_format=fmt, compute_edge_weights=False)
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
    inst.best_known = find_best_known(path, inst.name)
    return inst


def load_vrplib_solution(instance: Instance, path: str | Path, solver: str = "bks") -> Solution:
    """Read a VRPLIB `.sol` file (routes of clients numbered 1..n in file order, depot left out)."""
    path = Path(path)
    try:
        sol = vrplib.read_solution(path)
    except FileNotFoundError:
        raise InstanceError(f"file not found: {path}") from None
    except Exception as err:
        raise InstanceError(f"{path.name}: cannot parse VRPLIB solution: {_first_line(err)}") from None
    routes = []
    for r, visits in enumerate(sol["routes"]):
        bad = [c for c in visits if not 1 <= int(c) <= instance.num_clients]
        if bad:
            raise InstanceError(
                f"{path.name}: route {r + 1} visits client {bad[0]}, but {instance.name} has {instance.num_clients}"
            )
        routes.append(Route([int(c) for c in visits]))
    meta = {"cost": sol["cost"]} if "cost" in sol else {}
    return Solution(routes=routes, solver=solver, meta=meta)


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


def _from_data(data: dict, path: Path, fmt: str, rounding: Rounding | None) -> Instance:
    name = str(data.get("name") or path.stem)
    coords = data.get("node_coord")
    ewt = str(data.get("edge_weight_type", "EUC_2D" if fmt == "solomon" else "")).upper()
    windows = data.get("time_window")

    if "edge_weight" in data and ewt in ("EXPLICIT", ""):
        distance = np.asarray(data["edge_weight"], dtype=np.float64)
    elif ewt == "EUC_2D":
        if coords is None:
            raise InstanceError(f"{name}: EUC_2D needs a NODE_COORD_SECTION")
        distance = euclidean(coords, rounding or ("dimacs" if windows is not None else "round"))
    else:
        raise InstanceError(f"{name}: unsupported EDGE_WEIGHT_TYPE {ewt or 'missing'!r} (supported: EUC_2D, EXPLICIT)")
    n1 = distance.shape[0]

    depots = np.atleast_1d(np.asarray(data.get("depot", [0]), dtype=int))
    if depots.size != 1:
        raise InstanceError(f"{name}: {depots.size} depots; only single-depot instances are supported")
    depot = int(depots[0])
    if not 0 <= depot < n1:
        raise InstanceError(f"{name}: depot {depot + 1} is not a node")
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

    if "capacity" not in data:
        raise InstanceError(f"{name}: no CAPACITY given")
    capacity = np.asarray(data["capacity"], dtype=np.float64)
    if capacity.ndim != 0:
        raise InstanceError(f"{name}: per-vehicle capacities are not supported in this reader")
    demand = vector("demand")
    if demand is None:
        raise InstanceError(f"{name}: no DEMAND_SECTION")
    count = data.get("vehicles")
    max_distance = data.get("distance")
    max_duration = data.get("max_duration", data.get("duration"))
    vehicle = VehicleType(
        capacity=float(capacity),
        count=None if count is None else int(count),
        max_distance=INF if max_distance is None else float(max_distance),
        max_duration=INF if max_duration is None else float(max_duration),
    )
    coords_arr = None if coords is None else np.asarray(coords, dtype=np.float64)[order]
    return Instance(
        distance=distance[np.ix_(order, order)],
        demand=demand,
        fleet=[vehicle],
        name=name,
        coords=coords_arr,
        backhaul=vector("backhaul"),
        time_windows=None if windows is None else np.asarray(windows, dtype=np.float64)[order],
        service=vector("service_time"),
        ids=ids,
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
