"""The OSRM client against servers that misbehave: stalls, trickles, endless or malformed answers, HTTP errors.

Each fake server is an http.server on a free local port in a background thread; no OSRM needed.
Every fault must end the call within its deadline in one line that says what the server got wrong.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from envs.errors import OsrmError
from envs.io.load import load_instance
from envs.roads.osrm_client import road_matrices
from nco.cli.main import main

POINTS = np.array([[7.4246, 43.7384], [7.4200, 43.7350], [7.4300, 43.7400], [7.4150, 43.7320], [7.4280, 43.7310]])


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """A private matrix cache (NCO_CACHE): no answer comes from, or goes to, ~/.cache."""
    monkeypatch.setenv("NCO_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def serve():
    """serve(behaviour) -> the URL of a server that answers every request with behaviour(handler, stop)."""
    stop, servers = threading.Event(), []

    def start(behaviour: Callable) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                try:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    behaviour(self, stop)
                except OSError:  # the client hung up, as it should on a bad answer
                    pass
                self.close_connection = True

            do_POST = do_GET

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.handle_error = lambda *args: None  # nothing on stderr, which the CLI tests read
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()  # quick shutdown
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    stop.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def answer(doc, status: int = 200, ctype: str = "application/json") -> Callable:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()

    def behaviour(h, stop):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return behaviour


def table(n: int, rows: int | None = None, cols: int | None = None, **changes) -> dict:
    """An OSRM table answer for n locations (or a rows x cols one), with changes (None deletes a key)."""
    rows, cols = rows or n, cols or n
    wp = [{"location": [7.42, 43.73], "distance": 1.5, "hint": "x" * 80, "name": "Rue"}]
    doc = {
        "code": "Ok",
        "distances": [[float(10 * i + j) for j in range(cols)] for i in range(rows)],
        "durations": [[float(i + j) for j in range(cols)] for i in range(rows)],
        "sources": wp * rows,
        "destinations": wp * cols,
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def trickle(headers_too: bool) -> Callable:
    """One byte every 0.2 s, forever: of the status line on, or of the body after proper headers."""

    def behaviour(h, stop):
        data = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" if headers_too else b""
        if not headers_too:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.end_headers()
            h.wfile.flush()
        k = 0
        while not stop.is_set():
            h.wfile.write(data[k : k + 1] if k < len(data) else b" ")
            h.wfile.flush()
            k += 1
            time.sleep(0.2)

    return behaviour


def endless(declared: bool) -> Callable:
    """A body without end (or one that declares 10 GB): a JSON list of zeros, as fast as the client reads."""

    def behaviour(h, stop):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        if declared:
            h.send_header("Content-Length", str(10 * 2**30))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b"[")
        while not stop.is_set():
            h.wfile.write(b"0," * 32768)

    return behaviour


def fails(url: str, n: int = 3, **kwargs) -> str:
    started = time.monotonic()
    with pytest.raises(OsrmError) as err:
        road_matrices(POINTS[:n], url, cache=False, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg and time.monotonic() - started < 5  # a generous bound, not a speed test
    return msg


def lonlat_file(tmp_path, points: np.ndarray):
    """A lon/lat city.json file without matrices (as tests/test_osrm.py's lonlat_doc writes them)."""
    doc = {
        "name": "faults",
        "coordinates": "lonlat",
        "depot": {"id": "depot", "lon": float(points[0, 0]), "lat": float(points[0, 1])},
        "clients": [
            {"id": f"C{k:02d}", "lon": float(lon), "lat": float(lat), "demand": 1}
            for k, (lon, lat) in enumerate(points[1:], start=1)
        ],
        "fleet": [{"name": "van", "capacity": 15}],
    }
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(doc))
    return path


def cli_fails(capsys, tmp_path, url: str, n: int = 3) -> str:
    path = lonlat_file(tmp_path, POINTS[:n])
    started = time.monotonic()
    code = main(["solve", "--instance", str(path), "--osrm-url", url, "--osrm-timeout", "1", "--time-limit", "0"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and time.monotonic() - started < 5, err
    return err


# ---------------------------------------------------------------- a well-formed fake answer is used
def test_a_well_formed_answer_passes_the_checks(serve):
    rm = road_matrices(POINTS[:3], serve(answer(table(3))), cache=False)
    assert rm.distance[1, 2] == 12 and rm.duration[2, 1] == 3 and rm.requests == 1
    np.testing.assert_array_equal(rm.snap_m, [1.5] * 3)


# ---------------------------------------------------------------- stalls and runaways
@pytest.mark.parametrize(
    ("headers_too", "timeout"),
    [(False, 0.4), (True, 0.4), pytest.param(False, 1, marks=pytest.mark.slow)],
    ids=["body", "status-line", "body-1s"],
)
def test_a_trickling_server_is_refused_at_the_deadline(serve, headers_too, timeout):
    url = serve(trickle(headers_too))
    started = time.monotonic()
    msg = fails(url, timeout=timeout)
    assert msg == f"OSRM server at {url} did not answer within {timeout:g} s (--osrm-timeout)"
    assert time.monotonic() - started >= timeout - 0.05  # the deadline ended it, not an earlier error


@pytest.mark.slow
def test_the_deadline_reaches_the_client_through_load_instance(serve, tmp_path):
    url = serve(trickle(False))
    with pytest.raises(OsrmError, match=r"did not answer within 1 s \(--osrm-timeout\)$"):
        load_instance(lonlat_file(tmp_path, POINTS[:3]), osrm_url=url, osrm_timeout=1)


@pytest.mark.parametrize("declared", [False, True], ids=["endless", "declared-10GB"])
def test_an_endless_body_is_refused_by_its_size(serve, declared):
    msg = fails(serve(endless(declared)))
    assert msg == "OSRM answer larger than 1 MB for a table of 3 locations: not an OSRM table"


# ---------------------------------------------------------------- answers that are not OSRM tables
@pytest.mark.parametrize(
    ("n", "doc", "expected"),
    [
        (3, table(3, distances=None), "has no 'distances' (the request asks for distances and durations"),
        (5, table(5, rows=3, cols=4), "OSRM table 'distances' from {url} is 3x4, expected 5x5"),
        (3, table(3, durations=[[0, 1, 2], [0, 1], [0, 1, 2]]), "OSRM table 'durations' from {url} is 3x(2..3)"),
        (3, table(3, durations=[[0, "1", 2]] * 3), "'durations' from {url} holds '1': expected numbers or null"),
        (3, table(3, sources=[]), "has 0 'sources' waypoints, expected 3"),
        (3, table(3, destinations=[{"name": "x"}] * 3), "'destinations' are not waypoints with a distance and"),
        (3, table(3, code=None), "OSRM answer from {url} has no 'code': not an OSRM answer"),
        (3, [1, 2, 3], "OSRM answer from {url} is a JSON list, not an object: not an OSRM answer"),
    ],
    ids=["no-distances", "wrong-shape", "ragged", "string", "no-sources", "bad-waypoints", "no-code", "list"],
)
def test_a_malformed_answer_is_named(serve, n, doc, expected):
    url = serve(answer(doc))
    assert expected.format(url=url) in fails(url, n=n)


@pytest.mark.parametrize("status", [400, 200])
def test_an_error_code_is_quoted(serve, status):
    url = serve(answer({"code": "InvalidQuery", "message": "Query string malformed close to position 28"}, status))
    msg = fails(url)
    assert msg == (
        f"OSRM server at {url} answered code 'InvalidQuery' to the table request:"
        " Query string malformed close to position 28"
    )


def test_an_html_page_is_not_json(serve):
    url = serve(answer(b"<html>\n  <body>Welcome to nginx!</body></html>", ctype="text/html"))
    assert (
        fails(url) == f"OSRM answer from {url} is not JSON (starts with '<html> <body>Welcome to nginx!</body></h...')"
    )


def test_http_500_is_retried_then_quoted(serve):
    url = serve(answer(b"Internal error: worker crashed", status=500, ctype="text/plain"))
    msg = fails(url, retries=1, backoff=0.01)
    assert msg == (
        f"OSRM server at {url} answered HTTP 500 Internal Server Error to the table request:"
        " 'Internal error: worker crashed' (after 2 attempts at its table service)"
    )


def test_http_404_names_the_status_and_the_body(serve):
    url = serve(answer(b"no such page", status=404, ctype="text/plain"))
    assert fails(url) == f"{url} answered HTTP 404 Not Found to a table request ('no such page'): is it an OSRM server?"


def test_a_server_that_is_down_is_one_line(serve):
    with socket.socket() as s:  # a free port: nothing listens there once it is closed
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    msg = fails(url, retries=1, backoff=0.01)
    assert msg.startswith(f"OSRM server at {url} is not reachable: ") and msg.endswith(
        "(after 2 attempts at its table service)"
    )


# ---------------------------------------------------------------- through the CLI: one line, exit 2
@pytest.mark.slow
def test_cli_trickling_server(serve, capsys, tmp_path):
    url = serve(trickle(False))
    assert cli_fails(capsys, tmp_path, url) == (
        f"error: faults.json: OSRM server at {url} did not answer within 1 s (--osrm-timeout)\n"
    )


def test_cli_endless_body(serve, capsys, tmp_path):
    err = cli_fails(capsys, tmp_path, serve(endless(False)))
    assert err.endswith("OSRM answer larger than 1 MB for a table of 3 locations: not an OSRM table\n")


def test_cli_missing_distances_and_wrong_shape(serve, capsys, tmp_path):
    assert "has no 'distances'" in cli_fails(capsys, tmp_path, serve(answer(table(3, distances=None))))
    assert "is 3x4, expected 5x5" in cli_fails(capsys, tmp_path, serve(answer(table(5, rows=3, cols=4))), n=5)


def test_cli_refuses_a_timeout_that_is_not_positive(capsys, tmp_path):
    path = lonlat_file(tmp_path, POINTS[:3])
    code = main(["solve", "--instance", str(path), "--osrm-url", "http://127.0.0.1:9", "--osrm-timeout", "0"])
    assert code == 2 and "--osrm-timeout must be a positive number of seconds" in capsys.readouterr().err
