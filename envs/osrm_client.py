"""Road distance and duration matrices from an OSRM server (standard library HTTP only).

`road_matrices(lonlat, url)` asks OSRM's table service for the full n x n
distance (metres) and duration (seconds) matrices between locations, row i
column j being the trip from i to j (road networks are asymmetric: one-way
streets, turn restrictions). Tables are requested as JSON POST bodies
(`{"coordinates": [[lon, lat], ...], "sources": [...], "destinations": [...],
"annotations": ["distance", "duration"]}`; osrm-routed accepts them since
v26, checked against v26.10.0), cut into source x destination blocks so that
no request exceeds the server's `--max-table-size` (OSRM limits the product
sources x destinations to the square of that size). Without `max_table_size`
the client first asks for the whole table and steps down on the server's
"TooBig" answer, remembering the size that worked for that URL.

Every answer is checked before it is used:

- OSRM snaps each location to the nearest road. How far it moved is in
  `RoadMatrices.snap_m`; beyond `max_snap_m` (500 m by default) the location
  is almost certainly off the map (wrong coordinates, outside the graph's
  area) and the call fails, naming the location and the distance.
- A pair with no road route (OSRM answers null) fails the call, naming both
  locations; with `on_unreachable="report"` its entries become infinite and
  the pairs are listed in `RoadMatrices.unreachable` instead. Never silently
  infinite. Instance loaders (`unreachable="drop"`) keep the clients with a
  route from the depot and back (`round_trip_nodes`), or report the pairs
  (`unreachable="report"` raises `UnreachablePairs`).
- Locations that snap onto the same road point have zero travel between
  them; that is valid, and such pairs are listed in `RoadMatrices.coincident`.
- OSRM's table service sometimes answers small negative distances between
  locations a metre or so apart on one road (osrm-backend issue #5855, seen
  with v26.10.0 in Monaco). Such pairs are asked again of the route service,
  which answers correctly, and listed in `RoadMatrices.repaired`.

Matrices are cached on disk as .npz files under `$NCO_CACHE/osrm` (default
`~/.cache/nco/osrm`), keyed by a hash of the exact coordinates, the URL, the
profile and an optional `graph_id`. OSRM's table answers carry no identity of
the road graph behind them, so the URL stands for the graph; when the graph
behind a URL changes (rebuilt from a newer extract, other profile), pass its
`graph_id` (`nco.osrm_engine.graph_fingerprint(FILE.osrm)`, printed by
`nco osrm build` and `nco osrm serve`) or delete the cache folder. A cached
answer needs no server and is checked exactly like a fresh one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from envs.errors import InstanceError, OsrmError
from envs.instance import Instance

DEFAULT_MAX_SNAP_M = 500.0
_TABLE_SIZES = (1000, 500, 250, 100, 50, 25, 10, 5, 2, 1)  # tried in turn when a server says "TooBig"
_learned_table_size: dict[str, int] = {}  # URL -> table size to start from, once that server refused a bigger one
_CACHE_VERSION = "nco-osrm-table-v1"
_MAX_REPAIRS = 1000  # more negative table entries than this means a broken answer, not the known glitch


@dataclass
class RoadMatrices:
    """A road table between n locations, in the order given."""

    distance: np.ndarray  # (n, n) metres; row = from, column = to
    duration: np.ndarray  # (n, n) seconds
    snap_m: np.ndarray  # (n,) metres from each location to the road point OSRM snapped it to
    coincident: list[tuple] = field(default_factory=list)  # id pairs (i before j) with zero travel between them
    snapped: np.ndarray | None = None  # (n, 2) lon/lat of the snapped road points
    unreachable: list[tuple] = field(default_factory=list)  # (from id, to id) without a route (on_unreachable="report")
    repaired: list[tuple] = field(default_factory=list)  # (from id, to id) negative in the table, taken from /route
    requests: int = 0  # HTTP requests made; 0 when the table came from the disk cache
    seconds: float = 0.0  # wall time of the call
    cached: bool = False
    data_version: str | None = None  # the graph's data version, when the server reports one

    def worst_snap(self, ids: Sequence | None = None) -> tuple[Any, float]:
        """The location snapped farthest (its id) and that distance in metres."""
        k = int(np.argmax(self.snap_m))
        return (ids[k] if ids is not None else k), float(self.snap_m[k])


def round_trip_nodes(road: RoadMatrices) -> np.ndarray:
    """Indices of the locations with a road route from location 0 (the depot) and back to it, 0 first.

    Any two of them reach each other through the depot, so the table between them is finite.
    """
    ok = np.isfinite(road.distance) & np.isfinite(road.duration)
    return np.flatnonzero(ok[0] & ok[:, 0])


class UnreachablePairs(OsrmError):
    """A loader's answer to unreachable="report": the road table's unreachable pairs instead of an instance.

    Raised whatever their number, zero included: the caller asked for the report, not for an instance.
    `road` is the table (infinite where there is no route), `ids` names its locations (the depot first),
    `dropped` lists the client ids that unreachable="drop" would leave out and `total` says it in one line;
    the message is that line after the source's name. `exit_code` is the CLI's: 1 (incomplete) if any pair.
    """

    def __init__(self, road: RoadMatrices, ids: Sequence, name: str = "instance", source: str | None = None):
        self.road, self.ids, self.name = road, list(ids), name
        keep = set(round_trip_nodes(road).tolist())
        self.dropped = [ident for i, ident in enumerate(self.ids) if i and i not in keep]
        n, count = len(self.ids), int(self.missing.sum())
        would = (
            "--unreachable drop would keep no client"
            if len(self.dropped) == n - 1 and count
            else f"{len(self.dropped)} clients would be dropped by --unreachable drop"
        )
        self.total = f"{count} of {n * (n - 1)} ordered pairs have no road route; {would}"
        self.exit_code = 1 if count else 0
        super().__init__(f"{source or name}: {self.total}")

    @property
    def missing(self) -> np.ndarray:
        """(n, n) bool: no road route from the row's location to the column's."""
        return ~(np.isfinite(self.road.distance) & np.isfinite(self.road.duration))


# ---------------------------------------------------------------- public API
def road_matrices(
    coords_lonlat,
    url: str,
    *,
    ids: Sequence | None = None,
    profile: str = "driving",
    max_snap_m: float | None = DEFAULT_MAX_SNAP_M,
    on_unreachable: Literal["error", "report"] = "error",
    max_table_size: int | None = None,
    timeout: float = 60.0,
    retries: int = 2,
    backoff: float = 0.5,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    graph_id: str | None = None,
) -> RoadMatrices:
    """Distance (m) and duration (s) matrices between (lon, lat) points from the OSRM server at `url`.

    `ids` name the locations in errors and reports (default 0..n-1). See the
    module docstring for snapping, unreachable pairs, chunking and the cache.
    Raises OsrmError (an NcoError) with a one-line message.
    """
    started = time.perf_counter()
    coords = _lonlat_array(coords_lonlat)
    n = len(coords)
    ids = list(range(n)) if ids is None else list(ids)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} locations")
    server = _Server(url, timeout=timeout, retries=retries, backoff=backoff)
    path = _cache_path(coords, server.url, profile, graph_id, cache_dir) if cache else None
    raw = _read_cache(path) if path is not None else None
    cached = raw is not None
    if raw is None:
        raw = _fetch_table(server, coords, profile, max_table_size)
        if path is not None:
            _write_cache(path, raw, {"url": server.url, "profile": profile, "graph_id": graph_id, "n": n})
    result = _checked(raw, ids, server.url, max_snap_m, on_unreachable)
    result.requests = server.requests
    result.cached = cached
    result.seconds = time.perf_counter() - started
    return result


def with_road_matrices(instance: Instance, url: str, **kwargs) -> Instance:
    """A copy of a lon/lat `instance` whose distance and duration matrices come from OSRM (metres, seconds).

    Locations are named by the instance's ids in errors; keyword arguments go to `road_matrices`.
    """
    if instance.coords is None or instance.coord_system != "lonlat":
        kind = "no coordinates" if instance.coords is None else "planar x/y coordinates"
        raise InstanceError(f"{instance.name}: has {kind}; road matrices need lon/lat")
    kwargs.setdefault("ids", instance.ids)
    rm = road_matrices(instance.coords, url, **kwargs)
    return dataclasses.replace(instance, distance=rm.distance, duration=rm.duration)


def nearest(coords_lonlat, url: str, *, profile: str = "driving", timeout: float = 10.0, retries: int = 2):
    """Snap each (lon, lat) point to its nearest road with OSRM's nearest service.

    Returns (snapped lon/lat (n, 2), snap distance in metres (n,)), one request per point.
    """
    coords = _lonlat_array(coords_lonlat)
    server = _Server(url, timeout=timeout, retries=retries, backoff=0.5)
    snapped = np.empty_like(coords)
    dist = np.empty(len(coords))
    for k, (lon, lat) in enumerate(coords):
        answer = server.request(f"/nearest/v1/{profile}/{lon:.7f},{lat:.7f}?number=1", what="nearest")
        wp = answer["waypoints"][0]
        snapped[k] = wp["location"]
        dist[k] = wp["distance"]
    return snapped, dist


def default_cache_dir() -> Path:
    """Where matrices are cached: $NCO_CACHE/osrm, or ~/.cache/nco/osrm."""
    root = os.environ.get("NCO_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "nco") / "osrm"


# ---------------------------------------------------------------- HTTP
class _ServerSaid(Exception):
    """OSRM answered with an error code (a 4xx JSON body such as TooBig or NoSegment)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class _Server:
    def __init__(self, url: str, *, timeout: float, retries: int, backoff: float):
        url = str(url).strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise OsrmError(f"OSRM URL must start with http:// or https://, got {url!r}")
        self.url, self.timeout, self.retries, self.backoff = url, timeout, retries, backoff
        self.requests = 0

    def request(self, path: str, body: dict | None = None, what: str = "table", raw_errors: bool = False) -> dict:
        """GET (or POST a JSON body) with retries and exponential backoff; returns OSRM's JSON answer.

        An error answer from OSRM (TooBig, NoSegment, ...) is not retried: it raises OsrmError,
        or _ServerSaid with `raw_errors` so that the caller can react to its code.
        """
        try:
            return self._request(path, body, what)
        except _ServerSaid as said:
            if raw_errors:
                raise
            raise OsrmError(f"OSRM server at {self.url} refused the {what} request: {said}") from None

    def _request(self, path: str, body: dict | None, what: str) -> dict:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(self.url + path, data=data, headers=headers)
            self.requests += 1
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    answer = json.loads(resp.read())
            except urllib.error.HTTPError as err:
                said = _error_body(err)
                if said is not None and err.code < 500:
                    raise said from None
                if err.code < 500:
                    raise OsrmError(
                        f"{self.url} answered HTTP {err.code} {err.reason} to a {what} request: is it an OSRM server?"
                    ) from None
                problem = f"HTTP {err.code} {err.reason}" + (f" ({said})" if said else "")
                continue
            except urllib.error.URLError as err:
                problem = str(err.reason)
                continue
            except (TimeoutError, ConnectionError) as err:
                problem = f"no answer within {self.timeout:g} s" if isinstance(err, TimeoutError) else str(err)
                continue
            except (OSError, ValueError) as err:  # ValueError: not JSON; OSError: e.g. http.client errors
                problem = f"{type(err).__name__}: {err}"
                continue
            if answer.get("code", "Ok") != "Ok":
                raise _ServerSaid(str(answer.get("code")), str(answer.get("message", "")))
            return answer
        raise OsrmError(
            f"OSRM server at {self.url} is not reachable: {' '.join(problem.split())}"
            f" (after {self.retries + 1} attempts at its {what} service)"
        )


def _error_body(err: urllib.error.HTTPError) -> _ServerSaid | None:
    try:
        doc = json.loads(err.read())
        return _ServerSaid(str(doc["code"]), str(doc.get("message", "")))
    except Exception:  # noqa: BLE001 - any unreadable body means "not an OSRM error answer"
        return None


# ---------------------------------------------------------------- the table
def _fetch_table(server: _Server, coords: np.ndarray, profile: str, max_table_size: int | None) -> dict:
    """The raw table: distance/duration with NaN for null, snap distances and snapped points."""
    n = len(coords)
    limit = max(1, min(max_table_size or _learned_table_size.get(server.url, n), n))
    while True:
        try:
            raw = _fetch_blocks(server, coords, profile, limit)
            _repair_negative(server, coords, profile, raw)
            return raw
        except _ServerSaid as said:
            smaller = [s for s in _TABLE_SIZES if s < limit]
            if said.code != "TooBig" or not smaller:
                raise _table_error(server.url, said) from None
            limit = smaller[0]
            if max_table_size is None:  # remember what this server refused, for the next call
                _learned_table_size[server.url] = limit


def _fetch_blocks(server: _Server, coords: np.ndarray, profile: str, limit: int) -> dict:
    n = len(coords)
    distance = np.full((n, n), np.nan)
    duration = np.full((n, n), np.nan)
    snap_m = np.zeros(n)
    snapped = coords.copy()
    data_version = None
    for src, dst in _blocks(n, limit):
        nodes = sorted(set(src) | set(dst))
        pos = {node: k for k, node in enumerate(nodes)}
        body = {
            "coordinates": [[float(coords[i, 0]), float(coords[i, 1])] for i in nodes],
            "sources": [pos[i] for i in src],
            "destinations": [pos[j] for j in dst],
            "annotations": ["distance", "duration"],
        }
        answer = server.request(f"/table/v1/{profile}", body, raw_errors=True)
        s, d = np.array(src), np.array(dst)
        distance[np.ix_(s, d)] = np.array(answer["distances"], dtype=np.float64)
        duration[np.ix_(s, d)] = np.array(answer["durations"], dtype=np.float64)
        for idx, waypoints in ((src, answer["sources"]), (dst, answer["destinations"])):
            for i, wp in zip(idx, waypoints):
                snap_m[i] = wp.get("distance", 0.0)
                snapped[i] = wp["location"]
        data_version = answer.get("data_version", data_version)
    return {
        "distance": distance,
        "duration": duration,
        "snap_m": snap_m,
        "snapped": snapped,
        "data_version": data_version,
    }


def _repair_negative(server: _Server, coords: np.ndarray, profile: str, raw: dict) -> None:
    """Replace negative table entries (OSRM issue #5855) by the route service's answer for the pair.

    Where the route service finds no route, the pair becomes unreachable (NaN), as OSRM's table should have said.
    """
    neg = np.argwhere((raw["distance"] < 0) | (raw["duration"] < 0))
    if len(neg) > _MAX_REPAIRS:
        raise OsrmError(
            f"OSRM server at {server.url} answered {len(neg)} negative table entries; is the graph damaged?"
        )
    for i, j in neg.tolist():
        (a, b), (c, d) = coords[i], coords[j]
        try:
            answer = server.request(
                f"/route/v1/{profile}/{a:.7f},{b:.7f};{c:.7f},{d:.7f}?overview=false&steps=false&alternatives=false",
                what="route",
                raw_errors=True,
            )
            route = answer["routes"][0]
        except _ServerSaid as said:
            if said.code != "NoRoute":
                raise OsrmError(f"OSRM server at {server.url} refused the route request: {said}") from None
            route = {"distance": np.nan, "duration": np.nan}  # the table's number was garbage: unreachable
        if route["distance"] < 0 or route["duration"] < 0:
            raise OsrmError(
                f"OSRM answered a negative distance or duration from location {i} to location {j}"
                " in its table and on its route service (osrm-backend issue #5855)"
            )
        raw["distance"][i, j], raw["duration"][i, j] = route["distance"], route["duration"]
    raw["repaired"] = neg.astype(np.int64).reshape(-1, 2)


def _blocks(n: int, limit: int) -> list[tuple[range, range]]:
    """Source x destination blocks covering n x n, each with at most limit**2 entries, in few requests."""
    if n <= limit:
        return [(range(n), range(n))]
    best = None
    for rows in range(1, n + 1):
        cols = min(n, limit * limit // rows)
        if cols == 0:
            break
        count = -(-n // rows) * -(-n // cols)
        key = (count, rows + cols)  # fewest requests, then fewest coordinates per request
        if best is None or key < best[0]:
            best = (key, rows, cols)
    _, rows, cols = best
    return [
        (range(i, min(n, i + rows)), range(j, min(n, j + cols))) for i in range(0, n, rows) for j in range(0, n, cols)
    ]


def _table_error(url: str, said: _ServerSaid) -> OsrmError:
    if said.code == "NoSegment":
        return OsrmError(f"OSRM server at {url} could not snap a location to any road ({said.message})")
    if said.code == "TooBig":
        return OsrmError(f"OSRM server at {url} refuses even a 1x1 table ({said.message})")
    return OsrmError(f"OSRM server at {url} refused the table request: {said}")


def _checked(raw: dict, ids: list, url: str, max_snap_m: float | None, on_unreachable: str) -> RoadMatrices:
    """Apply the snap limit, the unreachable-pair policy and the coincidence report to a raw table."""
    distance, duration = raw["distance"].copy(), raw["duration"].copy()
    snap_m = raw["snap_m"]
    if max_snap_m is not None:
        far = np.where(snap_m > max_snap_m)[0]
        if far.size:
            k = int(far[0])
            more = f"; {far.size - 1} more locations too" if far.size > 1 else ""
            raise OsrmError(
                f"location {ids[k]!r} is {snap_m[k]:.0f} m from the nearest road of the OSRM graph at {url}"
                f" (limit {max_snap_m:g} m{more}): is it outside the map's area or are lon and lat swapped?"
            )
    np.fill_diagonal(distance, 0.0)
    np.fill_diagonal(duration, 0.0)
    missing = np.isnan(distance) | np.isnan(duration)
    unreachable = []
    if missing.any():
        pairs = np.argwhere(missing)
        i, j = (int(v) for v in pairs[0])
        if on_unreachable == "error":
            more = f" ({len(pairs)} pairs in all)" if len(pairs) > 1 else ""
            raise OsrmError(f"OSRM found no road route from location {ids[i]!r} to location {ids[j]!r}{more}")
        distance[missing] = np.inf
        duration[missing] = np.inf
        unreachable = [(ids[a], ids[b]) for a, b in pairs.tolist()]
    if (distance < 0).any() or (duration < 0).any():  # only a cache written by something else could hold these
        i, j = (int(v) for v in np.argwhere((distance < 0) | (duration < 0))[0])
        raise OsrmError(f"negative road distance or duration from location {ids[i]!r} to location {ids[j]!r}")
    zero = (distance == 0) | (distance.T == 0)
    coincident = [(ids[a], ids[b]) for a, b in np.argwhere(np.triu(zero, k=1)).tolist()]
    repaired = [(ids[a], ids[b]) for a, b in np.asarray(raw.get("repaired", np.zeros((0, 2), int))).tolist()]
    return RoadMatrices(
        distance=distance,
        duration=duration,
        snap_m=snap_m.copy(),
        coincident=coincident,
        snapped=raw["snapped"].copy(),
        unreachable=unreachable,
        repaired=repaired,
        data_version=raw.get("data_version"),
    )


def _lonlat_array(coords_lonlat) -> np.ndarray:
    coords = np.asarray(coords_lonlat, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) == 0:
        raise ValueError(f"expected an (n, 2) array of (lon, lat), got shape {coords.shape}")
    if not np.isfinite(coords).all() or (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise ValueError("coordinates must be finite (lon, lat) degrees")
    return coords


# ---------------------------------------------------------------- disk cache
def _cache_path(coords: np.ndarray, url: str, profile: str, graph_id: str | None, cache_dir) -> Path:
    h = hashlib.sha256()
    for part in (_CACHE_VERSION, url, profile, graph_id or ""):
        h.update(part.encode() + b"\0")
    h.update(np.ascontiguousarray(coords, dtype="<f8").tobytes())
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / f"{h.hexdigest()[:40]}.npz"


def _read_cache(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return {
                "distance": z["distance"],
                "duration": z["duration"],
                "snap_m": z["snap_m"],
                "snapped": z["snapped"],
                "repaired": z["repaired"],
                "data_version": meta.get("data_version"),
            }
    except Exception:  # noqa: BLE001 - a damaged cache entry is refetched, not fatal
        return None


def _write_cache(path: Path, raw: dict, meta: dict) -> None:
    meta = {**meta, "data_version": raw.get("data_version"), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez_compressed(
            tmp,
            distance=raw["distance"],
            duration=raw["duration"],
            snap_m=raw["snap_m"],
            snapped=raw["snapped"],
            repaired=raw["repaired"],
            meta=np.array(json.dumps(meta)),
        )
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full disk only costs the next call a request
