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
`graph_id` (`envs.roads.osrm_engine.graph_fingerprint(FILE.osrm)`, printed by
`nco osrm build` and `nco osrm serve`) or delete the cache folder. A cached
answer needs no server and is checked exactly like a fresh one.

A server that misbehaves fails the call in one line, never a hang or a parser's traceback:
each request has one deadline (`timeout`, 60 s by default, `--osrm-timeout`) from connect to
last byte, its body is capped by what a table of its size can hold, and every answer is checked
for OSRM's shape (code "Ok", the requested tables at the requested shape, numbers or null,
waypoints) before it is used.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import http.client
import io
import json
import math
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
from envs.model.instance import Instance

DEFAULT_MAX_SNAP_M = 500.0
DEFAULT_TIMEOUT_S = 60.0  # per request, connect to last byte (--osrm-timeout)
_timeout_var: contextvars.ContextVar[float | None] = contextvars.ContextVar("osrm_timeout", default=None)
# Body caps: a table answer is two r x c tables of numbers ("12345.6," is 8 bytes; 20 each leaves room)
# plus r + c waypoints (a ~100-character hint, a street name, a location); anything much bigger is not a table.
_BYTES_PER_ENTRY = 40  # a distance and a duration
_BYTES_PER_WAYPOINT = 2048
_BYTES_SLACK = 1 << 20  # the rest of a table answer; the whole cap of route and nearest answers
_ERROR_BODY_BYTES = 1 << 16  # what is read of an HTTP error's body, for its message
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
    timeout: float | None = None,
    retries: int = 2,
    backoff: float = 0.5,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    graph_id: str | None = None,
) -> RoadMatrices:
    """Distance (m) and duration (s) matrices between (lon, lat) points from the OSRM server at `url`.

    `ids` name the locations in errors and reports (default 0..n-1). See the
    module docstring for snapping, unreachable pairs, chunking and the cache.
    `timeout` bounds each HTTP request as a whole (default: `request_timeout`'s, else 60 s).
    Raises OsrmError (an NcoError) with a one-line message.
    """
    started = time.perf_counter()
    coords = _lonlat_array(coords_lonlat)
    n = len(coords)
    ids = list(range(n)) if ids is None else list(ids)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} locations")
    if timeout is None:
        timeout = _timeout_var.get() or DEFAULT_TIMEOUT_S
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
        (dist[k], snapped[k]), *_ = _waypoints(answer, "waypoints", 1, server.url)
    return snapped, dist


@contextlib.contextmanager
def request_timeout(seconds: float | None):
    """Within it, `road_matrices` calls that pass no `timeout` use `seconds` (None: the default).

    For callers that reach the client through code that does not pass a timeout on
    (envs.io.load.load_instance -> envs.io.json_format -> road_matrices).
    """
    token = _timeout_var.set(seconds)
    try:
        yield
    finally:
        _timeout_var.reset(token)


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

    def line(self, url: str, what: str) -> str:
        return f"OSRM server at {url} answered code {self.code!r} to the {what} request: {self.message}"


class _DeadlineReader(io.RawIOBase):
    """A socket's reads, each allowed only the time left before the request's deadline.

    A socket timeout bounds one read, not the answer: a server trickling a byte every
    0.2 s would never trip it. Setting the timeout to the time left before every read
    bounds the whole answer, status line and headers included.
    """

    def __init__(self, sock, deadline: float):
        self._sock, self._raw, self._deadline = sock, sock.makefile("rb", buffering=0), deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request deadline passed")
        self._sock.settimeout(left)
        return self._raw.readinto(buf)

    def close(self) -> None:
        self._raw.close()  # releases the socket, as the reader of socket.makefile does
        super().close()


class _DeadlineSocket:
    """The connection's socket as http.client sees it: its answers are read through a _DeadlineReader."""

    def __init__(self, sock, deadline: float):
        self._sock, self._deadline = sock, deadline

    def makefile(self, mode="rb", *args, **kwargs):
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _DeadlineConnection:
    """Mixin: the deadline starts at connect (which urllib bounds by the same timeout) and covers the answer."""

    def connect(self):
        deadline = time.monotonic() + self.timeout
        super().connect()
        self.sock = _DeadlineSocket(self.sock, deadline)


class _HTTPConnection(_DeadlineConnection, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context)


_opener = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)  # urllib's proxies and redirects, our sockets


class _Server:
    def __init__(self, url: str, *, timeout: float, retries: int, backoff: float):
        url = str(url).strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise OsrmError(f"OSRM URL must start with http:// or https://, got {url!r}")
        if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
            raise OsrmError(f"OSRM timeout must be a positive number of seconds, got {timeout!r}")
        self.url, self.timeout, self.retries, self.backoff = url, float(timeout), retries, backoff
        self.requests = 0

    def request(
        self,
        path: str,
        body: dict | None = None,
        what: str = "table",
        raw_errors: bool = False,
        max_bytes: int = _BYTES_SLACK,
        sized: str | None = None,
    ) -> dict:
        """GET (or POST a JSON body) with retries and exponential backoff; returns OSRM's JSON answer (a dict).

        An error answer from OSRM (TooBig, NoSegment, ...) is not retried: it raises OsrmError,
        or _ServerSaid with `raw_errors` so that the caller can react to its code. Nor are a missed
        deadline, a body over `max_bytes` (`sized` says for what, "a table of 5 locations"), a body
        that is not a JSON object or an HTTP 4xx: only connection failures and HTTP 5xx are.
        """
        try:
            return self._request(path, body, what, max_bytes, sized or f"a {what} request")
        except _ServerSaid as said:
            if raw_errors:
                raise
            raise OsrmError(said.line(self.url, what)) from None

    def _request(self, path: str, body: dict | None, what: str, max_bytes: int, sized: str) -> dict:
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
            answer, problem = self._attempt(req, what, max_bytes, sized)
            if answer is not None:
                return answer
        raise OsrmError(
            f"OSRM server at {self.url} {' '.join(problem.split())}"
            f" (after {self.retries + 1} attempts at its {what} service)"
        )

    def _attempt(self, req, what: str, max_bytes: int, sized: str) -> tuple[dict | None, str]:
        """One try: (OSRM's answer, ""), or (None, what went wrong) where another try may help; raises where it
        would not (see request)."""
        try:
            status, reason, text = self._exchange(req, max_bytes)
        except TimeoutError:  # not retried: the deadline is what the user will wait, not per attempt
            raise OsrmError(
                f"OSRM server at {self.url} did not answer within {self.timeout:g} s (--osrm-timeout)"
            ) from None
        except (OSError, http.client.HTTPException) as err:  # refused, reset, closed mid-answer: retried
            broken = not isinstance(err, OSError)  # http.client's: a bad status line, a cut-off body
            return None, f"sent a broken HTTP answer ({type(err).__name__})" if broken else f"is not reachable: {err}"
        if text is None:
            raise OsrmError(f"OSRM answer larger than {max_bytes / 1e6:.0f} MB for {sized}: not an OSRM {what}")
        said = _error_body(text)
        if status >= 500:
            return None, f"answered HTTP {status} {reason} to the {what} request: {said or _excerpt(text)}"
        if status >= 300:
            if said is not None:
                raise said
            raise OsrmError(
                f"{self.url} answered HTTP {status} {reason} to a {what} request ({_excerpt(text)}):"
                " is it an OSRM server?"
            )
        return self._ok_answer(text), ""

    def _ok_answer(self, text: bytes) -> dict:
        """The JSON object of a 2xx answer whose code is Ok; an error code raises _ServerSaid."""
        answer = _json_object(text, self.url)
        if answer.get("code") != "Ok":
            if "code" not in answer:
                raise OsrmError(f"OSRM answer from {self.url} has no 'code': not an OSRM answer")
            raise _ServerSaid(str(answer["code"]), str(answer.get("message", "")))
        return answer

    def _exchange(self, req, max_bytes: int) -> tuple[int, str, bytes | None]:
        """One request under one deadline: (status, reason, body); body None when over max_bytes."""
        try:
            resp = _opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as err:  # an answer all the same: its status and the start of its body
            try:
                return err.code, str(err.reason), err.read(_ERROR_BODY_BYTES)
            finally:
                err.close()
        except urllib.error.URLError as err:  # urllib wraps connect errors, a connect timeout included
            raise (err.reason if isinstance(err.reason, OSError) else err) from None
        with resp:
            return resp.status, str(resp.reason), _read_capped(resp, max_bytes)


def _read_capped(resp, cap: int) -> bytes | None:
    """The body, or None once it passes `cap` bytes: read in pieces, so an endless body costs at most the cap."""
    length = resp.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > cap:
        return None
    chunks, size = [], 0
    while chunk := resp.read(1 << 16):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _excerpt(text: bytes, n: int = 40) -> str:
    """The start of a body, on one line, quoted: for messages about answers that are not OSRM's."""
    if not text.strip():
        return "an empty body"
    line = " ".join(text[: 4 * n].decode("utf-8", "replace").split())
    return repr(line[:n] + "...") if len(line) > n else repr(line)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # Python's json would read NaN and Infinity; OSRM never sends them


def _json_object(text: bytes, url: str) -> dict:
    try:
        answer = json.loads(text, parse_constant=_no_constant)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        raise OsrmError(f"OSRM answer from {url} is not JSON (starts with {_excerpt(text)})") from None
    if not isinstance(answer, dict):
        raise OsrmError(f"OSRM answer from {url} is a JSON {type(answer).__name__}, not an object: not an OSRM answer")
    return answer


def _error_body(text: bytes) -> _ServerSaid | None:
    try:
        doc = json.loads(text)
        return _ServerSaid(str(doc["code"]), str(doc.get("message", "")))
    except Exception:  # noqa: BLE001 - any unreadable body means "not an OSRM error answer"
        return None


# ---------------------------------------------------------------- answers' shape
_NOT_FOUND = object()


def _number(value) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):  # bool, str, 1e999 are not OSRM numbers
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _table(answer: dict, key: str, rows: int, cols: int, url: str) -> np.ndarray:
    """answer[key] as a rows x cols array (NaN for null), or a one-line OsrmError saying what is wrong with it."""
    if key not in answer:
        raise OsrmError(
            f"OSRM answer from {url} has no {key!r} (the request asks for distances and durations in its JSON"
            " body's annotations, which osrm-routed reads since v26: is the server older, or not OSRM?)"
        )
    table = answer[key]
    if not isinstance(table, list) or not all(isinstance(row, list) for row in table):
        raise OsrmError(f"OSRM table {key!r} from {url} is not a list of rows")
    if len(table) != rows or any(len(row) != cols for row in table):
        widths = sorted({len(row) for row in table})
        width = "0" if not widths else str(widths[0]) if len(widths) == 1 else f"({widths[0]}..{widths[-1]})"
        raise OsrmError(f"OSRM table {key!r} from {url} is {len(table)}x{width}, expected {rows}x{cols}")
    bad = next((v for row in table for v in row if v is not None and type(v) not in (int, float)), _NOT_FOUND)
    if bad is not _NOT_FOUND:
        raise OsrmError(f"OSRM table {key!r} from {url} holds {bad!r}: expected numbers or null")
    values = np.array(table, dtype=np.float64).reshape(rows, cols)  # null -> NaN (no route)
    if np.isinf(values).any():
        raise OsrmError(f"OSRM table {key!r} from {url} holds a number too large for a float")
    return values


def _waypoints(answer: dict, key: str, count: int, url: str) -> list[tuple[float, list[float]]]:
    """(snap distance m, [lon, lat]) of each of answer[key]'s `count` waypoints, checked."""
    wps = answer.get(key)
    if not isinstance(wps, list) or len(wps) != count:
        got = len(wps) if isinstance(wps, list) else "no list of"
        raise OsrmError(f"OSRM answer from {url} has {got} {key!r} waypoints, expected {count}")
    try:
        out = [(_number(wp.get("distance", 0.0)), [_number(v) for v in wp["location"]]) for wp in wps]
    except (AttributeError, KeyError, TypeError):
        out = []
    if len(out) != count or any(len(loc) != 2 for _, loc in out):
        raise OsrmError(f"OSRM answer from {url}: {key!r} are not waypoints with a distance and a [lon, lat] location")
    return out


def _route(answer: dict, url: str) -> dict:
    """The first route's distance and duration, checked."""
    routes = answer.get("routes")
    try:
        return {key: _number(routes[0][key]) for key in ("distance", "duration")}
    except (IndexError, KeyError, TypeError):
        raise OsrmError(f"OSRM answer from {url} has no route with a distance and a duration") from None


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
        r, c = len(src), len(dst)
        cap = _BYTES_SLACK + _BYTES_PER_ENTRY * r * c + _BYTES_PER_WAYPOINT * (r + c)
        answer = server.request(
            f"/table/v1/{profile}", body, raw_errors=True, max_bytes=cap, sized=f"a table of {len(nodes)} locations"
        )
        s, d = np.array(src), np.array(dst)
        distance[np.ix_(s, d)] = _table(answer, "distances", r, c, server.url)
        duration[np.ix_(s, d)] = _table(answer, "durations", r, c, server.url)
        for idx, key in ((src, "sources"), (dst, "destinations")):
            for i, (snap, location) in zip(idx, _waypoints(answer, key, len(idx), server.url)):
                snap_m[i] = snap
                snapped[i] = location
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
            route = _route(answer, server.url)
        except _ServerSaid as said:
            if said.code != "NoRoute":
                raise OsrmError(said.line(server.url, "route")) from None
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
    return OsrmError(said.line(url, "table"))


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
