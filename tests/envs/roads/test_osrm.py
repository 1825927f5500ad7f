"""Real road networks: the OSRM engine on the shipped Monaco extract, the table client, lon/lat loading, city datasets.

Everything runs the real OSRM v26.10.0 binaries (scripts/install.sh installs
them in .venv/osrm) on a graph built from data/osm/monaco.osm.pbf into a
temporary folder, and on a tiny street grid with one-way pockets written as
OpenStreetMap XML by the tests; the servers listen on free local ports. No mocks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli

from envs.errors import InstanceError, OsrmError
from envs.generate.cvrp import capacity_for
from envs.io.json_format import instance_from_dict, load_solution_json
from envs.io.load import load_instance
from envs.model.check import check
from envs.roads import osrm_engine
from envs.roads.city_dataset import load_city_dataset, pbf_bbox, sample_instance
from envs.roads.osrm_client import UnreachablePairs, _blocks, _checked, road_matrices, with_road_matrices
from nco.cli.main import main

PBF = ROOT / "data" / "osm" / "monaco.osm.pbf"
DATASET = ROOT / "data" / "monaco" / "monaco_1000.npz"
MONACO_CITY = ROOT / "data" / "monaco" / "city.json"


def _installed() -> bool:
    try:
        for name in osrm_engine.BINARIES:
            osrm_engine.find_binary(name)
    except OsrmError:
        return False
    return True


needs_osrm = pytest.mark.skipif(
    not _installed(), reason="OSRM binaries not found (scripts/install.sh installs them in .venv/osrm)"
)


@pytest.fixture(scope="session")
def graph(tmp_path_factory):
    if not _installed():
        pytest.skip("OSRM binaries not found (scripts/install.sh installs them in .venv/osrm)")
    return osrm_engine.build(PBF, tmp_path_factory.mktemp("monaco-graph"))


def _serve(graph, max_table_size):
    port = osrm_engine.free_port()
    proc = osrm_engine.serve(graph, port, max_table_size)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def server(graph):
    """A server with a small table limit (50), so that bigger tables must be chunked."""
    proc, url = _serve(graph, 50)
    yield url
    osrm_engine.stop(proc)


@pytest.fixture(scope="session")
def big_server(graph):
    proc, url = _serve(graph, 1000)
    yield url
    osrm_engine.stop(proc)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test gets its own matrix cache (NCO_CACHE), so nothing leaks between tests or into ~/.cache."""
    monkeypatch.setenv("NCO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "osrm"


@pytest.fixture(scope="session")
def dataset():
    return load_city_dataset(DATASET)


def lonlat_doc(points: np.ndarray, name: str = "monaco-small") -> dict:
    """A lon/lat city.json document without matrices: depot first, clients C01.. with small demands."""
    return {
        "name": name,
        "coordinates": "lonlat",
        "depot": {"id": "depot", "lon": float(points[0, 0]), "lat": float(points[0, 1])},
        "clients": [
            {"id": f"C{k:02d}", "lon": float(lon), "lat": float(lat), "demand": 1 + k % 5}
            for k, (lon, lat) in enumerate(points[1:], start=1)
        ],
        "fleet": [{"name": "van", "capacity": 15}],
    }


# ---------------------------------------------------------------- engine
@needs_osrm
def test_installed_engine_is_the_pinned_release():
    assert osrm_engine.version() == f"v{osrm_engine.OSRM_VERSION}"
    assert osrm_engine.profile_path("car").name == "car.lua"


def test_pbf_header_gives_monacos_bounding_box():
    lon0, lat0, lon1, lat1 = pbf_bbox(PBF)
    assert (lon0, lat0, lon1, lat1) == pytest.approx((7.349, 43.71, 7.491, 43.77))


def test_nco_osrm_build_from_the_cli(tmp_path, capsys):
    if not _installed():
        pytest.skip("OSRM binaries not found (scripts/install.sh installs them in .venv/osrm)")
    code, out, err = run_cli(capsys, "osrm", "build", "--pbf", PBF, "--out", tmp_path / "g")
    assert code == 0, err
    assert "built" in out and "nco osrm serve --graph" in out
    base = osrm_engine.check_graph(tmp_path / "g" / "monaco.osrm")
    assert osrm_engine.graph_fingerprint(base) in out
    code, _, err = run_cli(capsys, "osrm", "build", "--pbf", tmp_path / "missing.osm.pbf")
    assert code == 2 and err.startswith("error: OSM extract not found") and err.count("\n") == 1
    code, _, err = run_cli(capsys, "osrm", "serve", "--graph", tmp_path / "nothing.osrm")
    assert code == 2 and "road graph not found" in err and err.count("\n") == 1


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a live process from /proc, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # past "pid (comm) ", which may hold spaces
    return int(fields[1]), fields[0], int(fields[19])


def _children(pid: int) -> dict[int, int]:
    """The live children of `pid`, as {child pid: its start time}."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None and st[0] == pid and st[1] != "Z":
            found[int(entry.name)] = st[2]
    return found


def _running(pid: int, start_time: int) -> bool:
    """Whether that very process (not a later one given the same pid) still runs; a zombie has stopped."""
    st = _stat(pid)
    return st is not None and st[1] != "Z" and st[2] == start_time


@pytest.mark.parametrize(
    ("signum", "whole_group", "expected_code"),
    [
        (signal.SIGINT, True, 0),  # Ctrl-C: the terminal signals nco and osrm-routed alike
        (signal.SIGTERM, False, 0),  # a service manager's stop: nco alone is told, it must stop osrm-routed
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_nco_osrm_serve_runs_in_the_foreground_until_ctrl_c_or_sigterm(graph, signum, whole_group, expected_code):
    port = osrm_engine.free_port()

    def default_signals():  # even if this run ignores Ctrl-C or SIGTERM (osrm-routed would inherit that)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    proc = subprocess.Popen(
        [sys.executable, "-m", "nco", "osrm", "serve", "--graph", str(graph), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,  # its own process group, as a terminal would have it
        preexec_fn=default_signals,
    )
    try:
        line = proc.stdout.readline()  # printed once the server answers (or "" if nco gave up)
        assert line.startswith("serving") and f"127.0.0.1:{port}" in line, line + proc.stderr.read()[-500:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/nearest/v1/driving/7.4246,43.7384", timeout=30) as r:
            assert json.loads(r.read())["code"] == "Ok"
        children = _children(proc.pid)
        assert len(children) == 1, children
        (routed, started), *_ = children.items()
        assert "osrm-routed" in Path(f"/proc/{routed}/cmdline").read_bytes().decode(errors="replace")
        if whole_group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        code = proc.wait(timeout=60)  # not communicate(): an orphaned osrm-routed would hold the pipes open
        assert not _running(routed, started), f"osrm-routed outlived nco osrm serve (exit {code})"
        assert osrm_engine.port_is_free(port)
        out, err = proc.communicate(timeout=60)
        assert code == expected_code, err[-500:]
        assert out.strip().splitlines()[-1] == "stopped", out
        assert not any(e.startswith("error:") for e in err.splitlines()) and "Traceback" not in err, err[-500:]
    finally:
        try:  # nco and anything it left behind in its process group
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


# ---------------------------------------------------------------- the table client
def _get_table(url: str, points: np.ndarray) -> dict:
    coords = ";".join(f"{lon},{lat}" for lon, lat in points)
    with urllib.request.urlopen(f"{url}/table/v1/driving/{coords}?annotations=distance,duration", timeout=10) as r:
        return json.loads(r.read())


def test_client_matrices_equal_the_servers_own_get_table(server, dataset):
    points = dataset.lonlat[:8]
    rm = road_matrices(points, server, cache=False)
    ref = _get_table(server, points)
    assert rm.requests == 1 and not rm.cached
    np.testing.assert_array_equal(rm.distance, np.array(ref["distances"], dtype=float))
    np.testing.assert_array_equal(rm.duration, np.array(ref["durations"], dtype=float))
    np.testing.assert_allclose(rm.snap_m, [w["distance"] for w in ref["sources"]])
    assert rm.distance.shape == (8, 8) and np.all(np.diag(rm.distance) == 0)


def test_monacos_roads_are_asymmetric(big_server, dataset):
    rm = road_matrices(dataset.lonlat[:60], big_server, cache=False)
    gap = np.abs(rm.distance - rm.distance.T)
    assert gap.max() > 500  # one-way streets: some trips are much longer one way than the other
    assert (rm.duration != rm.duration.T).any()


def test_big_table_is_chunked_under_the_servers_limit_and_equals_one_request(server, big_server, dataset):
    points = dataset.lonlat[100:220]  # 120 locations; the server allows 50 x 50 per request
    ref = road_matrices(points, big_server, cache=False)
    assert ref.requests == 1
    chunked = road_matrices(points, server, cache=False, max_table_size=50)
    assert chunked.requests == len(_blocks(120, 50)) > 1
    auto = road_matrices(points, server, cache=False)  # learns the limit from the server's TooBig answers
    assert auto.requests > 1
    for rm in (chunked, auto):
        np.testing.assert_array_equal(rm.distance, ref.distance)
        np.testing.assert_array_equal(rm.duration, ref.duration)
        np.testing.assert_allclose(rm.snap_m, ref.snap_m)


def test_blocks_cover_every_pair_once_within_the_limit():
    for n, limit in [(120, 50), (1000, 100), (7, 2), (10, 10), (101, 10)]:
        seen = np.zeros((n, n), int)
        for rows, cols in _blocks(n, limit):
            assert len(rows) * len(cols) <= limit * limit
            seen[rows.start : rows.stop, cols.start : cols.stop] += 1
        assert (seen == 1).all()


@pytest.mark.slow
def test_server_down_is_one_line_error(tmp_path, capsys, dataset):
    url = f"http://127.0.0.1:{osrm_engine.free_port()}"  # nothing listens there
    with pytest.raises(OsrmError) as err:
        road_matrices(dataset.lonlat[:3], url, retries=1, backoff=0.01)
    msg = str(err.value)
    assert msg.startswith(f"OSRM server at {url} is not reachable: ") and "\n" not in msg
    path = tmp_path / "m.json"
    path.write_text(json.dumps(lonlat_doc(dataset.lonlat[:4])))
    code, _, stderr = run_cli(capsys, "solve", "--instance", path, "--osrm-url", url, "--solver", "ortools")
    assert code == 2 and "is not reachable" in stderr and stderr.count("\n") == 1


def test_a_location_far_off_the_road_network_is_refused_by_name(server, dataset):
    points = np.vstack([dataset.lonlat[:2], [[7.60, 43.62]]])  # at sea, ~15 km south-east of the extract
    with pytest.raises(OsrmError) as err:
        road_matrices(points, server, ids=["depot", "shop", "boat"], cache=False)
    msg = str(err.value)
    assert "'boat'" in msg and "m from the nearest road" in msg and "limit 500 m" in msg
    snap = float(msg.split("'boat' is ")[1].split(" m")[0])
    assert snap > 5000
    ok = road_matrices(points, server, ids=["depot", "shop", "boat"], cache=False, max_snap_m=None)
    assert ok.worst_snap(["depot", "shop", "boat"])[0] == "boat"


def test_coincident_locations_are_reported(server, dataset):
    points = np.vstack([dataset.lonlat[:3], dataset.lonlat[1:2]])  # location 3 is location 1 again
    rm = road_matrices(points, server, ids=["a", "b", "c", "b2"], cache=False)
    assert ("b", "b2") in rm.coincident
    assert rm.distance[1, 3] == 0 and rm.distance[3, 1] == 0


def test_unreachable_pairs_are_named_or_reported_never_silently_infinite():
    raw = {
        "distance": np.array([[0.0, 5.0, np.nan], [4.0, 0.0, 3.0], [2.0, 1.0, 0.0]]),
        "duration": np.array([[0.0, 1.0, np.nan], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]),
        "snap_m": np.zeros(3),
        "snapped": np.zeros((3, 2)),
    }
    with pytest.raises(OsrmError, match="no road route from location 'depot' to location 'island'"):
        _checked(raw, ["depot", "shop", "island"], "http://x", 500.0, "error")
    rm = _checked(raw, ["depot", "shop", "island"], "http://x", 500.0, "report")
    assert rm.unreachable == [("depot", "island")] and np.isinf(rm.distance[0, 2])


def test_disk_cache_answers_without_the_server(graph, dataset, private_cache):
    proc, url = _serve(graph, 100)
    try:
        first = road_matrices(dataset.lonlat[:30], url)
    finally:
        osrm_engine.stop(proc)
    assert first.requests == 1 and not first.cached
    assert len(list(private_cache.glob("*.npz"))) == 1
    again = road_matrices(dataset.lonlat[:30], url)  # the server is gone: only the cache can answer
    assert again.cached and again.requests == 0
    np.testing.assert_array_equal(again.distance, first.distance)
    np.testing.assert_array_equal(again.duration, first.duration)
    # another graph identity or other coordinates miss the cache (and here find no server)
    with pytest.raises(OsrmError, match="not reachable"):
        road_matrices(dataset.lonlat[:30], url, graph_id="rebuilt", retries=0)
    with pytest.raises(OsrmError, match="not reachable"):
        road_matrices(dataset.lonlat[:29], url, retries=0)


# ---------------------------------------------------------------- lon/lat instances
@pytest.mark.slow
def test_lonlat_json_without_matrices_needs_a_source_then_solves(tmp_path, capsys, dataset):
    path = tmp_path / "monaco-small.json"
    path.write_text(json.dumps(lonlat_doc(dataset.lonlat[dataset.indices("test")[:21]])))
    code, out, err = run_cli(capsys, "solve", "--instance", path, "--solver", "ortools", "--time-limit", 1)
    assert code == 2 and out == ""
    assert err == (
        "error: monaco-small.json has lon/lat but no matrices: pass --osrm-url URL (or --haversine for straight lines)\n"
    )
    code, out, err = run_cli(
        capsys, "solve", "--instance", path, "--solver", "ortools", "--time-limit", 1, "--haversine", "--quiet"
    )
    assert code == 0 and "feasible" in out and "20 clients" in out, err
    with pytest.raises(SystemExit) as exit_:
        main(["solve", "--instance", str(path), "--haversine", "--osrm-url", "http://127.0.0.1:1"])
    assert exit_.value.code == 2 and "not allowed with" in capsys.readouterr().err


@pytest.mark.slow
def test_solve_with_osrm_url_costs_the_road_matrix(tmp_path, capsys, server, dataset):
    points = dataset.lonlat[dataset.indices("test")[:31]]
    path, out_json = tmp_path / "monaco-30.json", tmp_path / "solution.json"
    path.write_text(json.dumps(lonlat_doc(points, "monaco-30")))
    code, out, err = run_cli(
        capsys,
        "solve",
        "--instance",
        path,
        "--osrm-url",
        server,
        "--solver",
        "ortools",
        "--time-limit",
        1,
        "--output",
        out_json,
    )
    assert code == 0, err
    assert "feasible" in out and "30 clients" in out
    doc = json.loads(out_json.read_text())
    road = road_matrices(points, server)  # the cache the solve filled
    assert road.cached
    cost = sum(
        road.distance[a, b]
        for r in doc["routes"]
        for a, b in zip([0, *[int(c[1:]) for c in r["clients"]]], [*[int(c[1:]) for c in r["clients"]], 0])
    )
    assert doc["feasible"] and doc["cost"] == pytest.approx(cost)
    inst = load_instance(path, osrm_url=server)
    assert "asymmetric" in inst.features()
    assert check(inst, load_solution_json(inst, out_json)).cost == pytest.approx(cost)
    straight = load_instance(path, haversine=True)
    assert check(straight, load_solution_json(straight, out_json)).cost < 0.9 * cost  # roads are longer


def test_with_road_matrices_names_instance_locations(server, dataset):
    inst = sample_instance(dataset, 5, "train", seed=3)
    road = with_road_matrices(inst, server, cache=False)
    np.testing.assert_allclose(road.distance, inst.distance, atol=0.05)  # the dataset came from the same graph
    far = inst.coords.copy()
    far[2] = (7.60, 43.62)
    with pytest.raises(OsrmError, match=f"location '{inst.ids[2]}'"):
        with_road_matrices(dataclasses.replace(inst, coords=far), server, cache=False)


# ---------------------------------------------------------------- city datasets
def test_shipped_monaco_dataset_splits_and_samples(dataset):
    assert dataset.name == "monaco" and len(dataset.lonlat) == 1000
    assert dataset.distance.dtype == np.float32 and dataset.distance.shape == (1000, 1000)
    train, test = dataset.indices("train"), dataset.indices("test")
    assert len(test) == 200 and len(train) == 800 and not set(train) & set(test)
    assert np.isfinite(dataset.distance).all() and (dataset.distance >= 0).all()
    off = ~np.eye(1000, dtype=bool)
    assert (dataset.distance[off] > 0).all()  # no two locations coincide
    train_points = {tuple(p) for p in dataset.lonlat[train]}
    test_points = {tuple(p) for p in dataset.lonlat[test]}
    for seed in range(3):
        a = sample_instance(dataset, 50, "train", seed=seed)
        b = sample_instance(dataset, 50, "test", seed=seed)
        for inst, points in ((a, train_points), (b, test_points)):
            assert inst.num_clients == 50 and inst.coord_system == "lonlat"
            assert {tuple(p) for p in inst.coords} <= points
            assert inst.fleet[0].capacity == capacity_for(50)
            assert set(inst.demand[1:]) <= set(range(1, 10))
            assert "asymmetric" in inst.features()
        assert not {tuple(p) for p in a.coords} & {tuple(p) for p in b.coords}
    nodes = [int(i[1:]) for i in b.ids[1:]]
    np.testing.assert_allclose(b.distance[1:, 1:], dataset.distance[np.ix_(nodes, nodes)], atol=0.01)
    with pytest.raises(InstanceError, match="cannot draw"):
        sample_instance(dataset, 200, "test")


@pytest.mark.slow
def test_shipped_monaco_city_solves_with_pyvrp(capsys, dataset):
    inst = load_instance(MONACO_CITY)  # matrices are in the file: no server, no flag
    assert inst.num_clients == 100 and inst.coord_system == "lonlat" and inst.ids[1] == "M001"
    assert "asymmetric" in inst.features() and not np.array_equal(inst.duration, inst.distance)
    test_points = {tuple(p) for p in dataset.lonlat[dataset.indices("test")]}
    assert {tuple(p) for p in inst.coords} <= test_points
    started = time.perf_counter()
    code, out, err = run_cli(capsys, "solve", "--instance", MONACO_CITY, "--solver", "pyvrp", "--time-limit", 1)
    assert code == 0, err
    assert "monaco-100: 100 clients | solver pyvrp" in out and "feasible" in out and "M0" in out
    assert time.perf_counter() - started < 30


# ---------------------------------------------------------------- unreachable locations (--unreachable)
# A 3 x 3 grid of two-way streets (~200 m apart) near Monaco, with two one-way pockets: a trap east of it
# (a one-way street into a dead-end street: reached from the grid, no way back) and a source west of it
# (a dead-end street whose only exit is a one-way street into the grid: it reaches the grid, never reached).
POCKET_POINTS = np.array(
    [
        [7.421, 43.732],  # depot, on the grid
        [7.423, 43.730],  # C01..C04 on the grid
        [7.420, 43.733],
        [7.424, 43.733],
        [7.422, 43.734],
        [7.431, 43.732],  # C05, C06 in the trap
        [7.433, 43.732],
        [7.413, 43.732],  # C07 in the source
    ]
)
TRAPPED, SOURCE = ("C05", "C06"), ("C07",)


def _pocket_osm() -> str:
    """OpenStreetMap XML of the grid and its pockets (osrm-extract reads .osm as it reads .osm.pbf)."""
    nodes: list[tuple[float, float]] = []

    def node(lon: float, lat: float) -> int:
        nodes.append((lon, lat))
        return len(nodes)

    grid = {(r, c): node(7.420 + 0.002 * c, 43.730 + 0.002 * r) for r in range(3) for c in range(3)}
    ways = [([grid[r, c] for c in range(3)], False) for r in range(3)]
    ways += [([grid[r, c] for r in range(3)], False) for c in range(3)]
    trap, trap_end = node(7.428, 43.732), node(7.434, 43.732)
    source, source_end = node(7.416, 43.732), node(7.410, 43.732)
    ways += [([grid[1, 2], trap], True), ([trap, trap_end], False)]
    ways += [([source_end, source], False), ([source, grid[1, 0]], True)]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="nco tests">']
    lines += [
        f'  <node id="{k}" version="1" lon="{lon:.7f}" lat="{lat:.7f}"/>' for k, (lon, lat) in enumerate(nodes, 1)
    ]
    for w, (refs, oneway) in enumerate(ways, 1):
        tags = '<tag k="highway" v="residential"/>' + ('<tag k="oneway" v="yes"/>' if oneway else "")
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        lines.append(f'  <way id="{w}" version="1">{nds}{tags}</way>')
    return "\n".join([*lines, "</osm>", ""])


@pytest.fixture(scope="session")
def pocket_server(tmp_path_factory):
    """A server on the grid with one-way pockets (builds in well under a second)."""
    if not _installed():
        pytest.skip("OSRM binaries not found (scripts/install.sh installs them in .venv/osrm)")
    folder = tmp_path_factory.mktemp("pocket-graph")
    (folder / "pocket.osm").write_text(_pocket_osm(), encoding="utf-8")
    proc, url = _serve(osrm_engine.build(folder / "pocket.osm", folder / "graph"), 100)
    yield url
    osrm_engine.stop(proc)


@pytest.fixture
def pocket_file(tmp_path):
    path = tmp_path / "pocket.json"
    path.write_text(json.dumps(lonlat_doc(POCKET_POINTS, "pocket")))
    return path


def test_one_way_pockets_leave_exactly_their_pairs_unreachable(pocket_server):
    ids = ["depot"] + [f"C{k:02d}" for k in range(1, len(POCKET_POINTS))]
    rm = road_matrices(POCKET_POINTS, pocket_server, ids=ids, on_unreachable="report", cache=False)
    assert rm.snap_m.max() < 1  # every point lies on a street
    expected = {(a, b) for a in TRAPPED for b in ids if b not in TRAPPED}  # nothing leaves the trap
    expected |= {(a, b) for a in ids for b in SOURCE if a not in SOURCE}  # nothing enters the source
    assert set(rm.unreachable) == expected and len(expected) == 17
    assert np.isfinite(rm.distance[np.ix_(range(5), range(5))]).all()


def test_unreachable_pairs_are_refused_by_default_in_one_line(capsys, pocket_server, pocket_file):
    code, out, err = run_cli(
        capsys, "solve", "--instance", pocket_file, "--osrm-url", pocket_server, "--solver", "ortools"
    )
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: pocket.json: OSRM found no road route from location 'depot' to location 'C07'")
    assert "17 pairs in all" in err and "--unreachable drop" in err and "--unreachable report" in err


@pytest.mark.slow
def test_drop_solves_the_clients_reachable_both_ways_and_names_the_others(tmp_path, capsys, pocket_server, pocket_file):
    out_json = tmp_path / "solution.json"
    code, out, err = run_cli(
        capsys,
        "solve",
        "--instance",
        pocket_file,
        "--osrm-url",
        pocket_server,
        "--unreachable",
        "drop",
        "--solver",
        "ortools",
        "--time-limit",
        1,
        "--output",
        out_json,
    )
    assert code == 1, err  # a plan that leaves clients out is incomplete
    lines = out.splitlines()
    assert lines[0].startswith("pocket: 4 clients | solver ortools") and "| feasible" in lines[0]
    assert lines[1] == "  dropped 3 unreachable clients: C05, C06, C07"
    doc = json.loads(out_json.read_text())
    assert doc["dropped_clients"] == ["C05", "C06", "C07"] and doc["feasible"]
    assert sorted(c for r in doc["routes"] for c in r["clients"]) == ["C01", "C02", "C03", "C04"]
    reduced = load_instance(pocket_file, osrm_url=pocket_server, unreachable="drop")
    assert reduced.ids == ["depot", "C01", "C02", "C03", "C04"] and reduced.dropped == ("C05", "C06", "C07")
    assert check(reduced, load_solution_json(reduced, out_json)).feasible  # the file reads back, key and all
    code, out, _ = run_cli(
        capsys,
        "check",
        "--instance",
        pocket_file,
        "--solution",
        out_json,
        "--osrm-url",
        pocket_server,
        "--unreachable",
        "drop",
    )
    assert "feasible" in out and "dropped 3 unreachable clients: C05, C06, C07" in out


def test_drop_restricts_every_node_indexed_field(pocket_server):
    doc = lonlat_doc(POCKET_POINTS, "pocket")
    for k, client in enumerate(doc["clients"], 1):
        client.update(service_time=10 * k, time_window=[0, 10_000 + k], pickup=k % 2)
    doc["fleet"] = [
        {"name": "van", "capacity": 15, "preferences": {"C05": 1, "C02": 2}},
        {"name": "bike", "capacity": 8, "allowed_clients": ["C01", "C05", "C07"]},
    ]
    doc["best_known"] = 1234  # of all seven clients: meaningless for four
    inst = instance_from_dict(doc, osrm_url=pocket_server, unreachable="drop")
    full = instance_from_dict(doc, haversine=True)
    keep = [0, 1, 2, 3, 4]
    assert inst.dropped == ("C05", "C06", "C07") and inst.best_known is None
    for attr in ("demand", "backhaul", "service", "time_windows", "coords"):
        np.testing.assert_array_equal(getattr(inst, attr), getattr(full, attr)[keep])
    np.testing.assert_array_equal(inst.fleet[0].preference, [0, 0, 2, 0, 0])
    np.testing.assert_array_equal(inst.fleet[1].allowed, [True, True, False, False, False])
    road = road_matrices(POCKET_POINTS, pocket_server, on_unreachable="report")
    np.testing.assert_array_equal(inst.distance, road.distance[np.ix_(keep, keep)])
    np.testing.assert_array_equal(inst.duration, road.duration[np.ix_(keep, keep)])
    assert np.isfinite(inst.distance).all()
    everyone = instance_from_dict(lonlat_doc(POCKET_POINTS[:5]), osrm_url=pocket_server, unreachable="drop")
    assert everyone.dropped == () and everyone.num_clients == 4  # nothing unreachable: nothing dropped


def test_drop_refuses_a_depot_in_a_pocket_in_one_line(tmp_path, capsys, pocket_server):
    for depot, says in (
        (POCKET_POINTS[5], "the depot 'depot' has no road route to any of the 4 clients"),
        (POCKET_POINTS[7], "none of the 4 clients has a road route to the depot 'depot'"),
    ):
        path = tmp_path / "stuck.json"
        path.write_text(json.dumps(lonlat_doc(np.vstack([depot, POCKET_POINTS[1:5]]), "stuck")))
        code, out, err = run_cli(
            capsys,
            "solve",
            "--instance",
            path,
            "--osrm-url",
            pocket_server,
            "--unreachable",
            "drop",
            "--solver",
            "ortools",
            "--time-limit",
            1,
        )
        assert code == 2 and out == "" and err.count("\n") == 1
        assert err.startswith(f"error: stuck.json: {says}: nothing left to solve"), err


def test_report_lists_who_cannot_reach_whom_and_exits_1(tmp_path, capsys, pocket_server, pocket_file):
    out_json = tmp_path / "reach.json"
    code, out, err = run_cli(
        capsys,
        "solve",
        "--instance",
        pocket_file,
        "--osrm-url",
        pocket_server,
        "--unreachable",
        "report",
        "--output",
        out_json,
    )
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == "pocket: road reachability of 8 locations (the depot and 7 clients)"
    head = [cell.strip() for cell in lines[1].split("  ") if cell.strip()]
    assert head == ["location", "cannot reach", "cannot be reached from", "--unreachable drop"]
    rows = {line.split()[0]: line for line in lines[2:-1]}
    assert set(rows) == {"depot", "C01", "C02", "C03", "C04", "C05", "C06", "C07"}
    assert rows["depot"].split()[1:] == ["1", "(C07)", "2", "(C05,", "C06)"]
    assert rows["C05"].split()[1:] == ["6", "(depot,", "C01,", "C02,", "...)", "0", "dropped"]
    assert rows["C07"].split()[1:] == ["0", "7", "(depot,", "C01,", "C02,", "...)", "dropped"]
    assert lines[-1] == "17 of 56 ordered pairs have no road route; 3 clients would be dropped by --unreachable drop"
    doc = json.loads(out_json.read_text())
    assert doc["unreachable_pairs"] == 17 and doc["ordered_pairs"] == 56
    assert doc["dropped_by_drop"] == ["C05", "C06", "C07"]
    assert {r["id"]: r["cannot_reach"] for r in doc["unreachable"]}["C07"] == []
    assert {r["id"]: r["cannot_be_reached_from"] for r in doc["unreachable"]}["C07"] == [
        "depot",
        "C01",
        "C02",
        "C03",
        "C04",
        "C05",
        "C06",
    ]
    with pytest.raises(UnreachablePairs) as found:  # the loader's answer in report mode: the table itself
        load_instance(pocket_file, osrm_url=pocket_server, unreachable="report")
    assert found.value.dropped == ["C05", "C06", "C07"] and np.isinf(found.value.road.distance[5, 0])
    # nco check reports the same table (the plan is not read: it need not exist)
    code, check_out, err = run_cli(
        capsys,
        "check",
        "--instance",
        pocket_file,
        "--solution",
        tmp_path / "none.json",
        "--osrm-url",
        pocket_server,
        "--unreachable",
        "report",
    )
    assert (code, check_out, err) == (1, out, "")


def test_report_on_a_reachable_instance_exits_0(tmp_path, capsys, pocket_server):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(lonlat_doc(POCKET_POINTS[:5], "grid")))
    code, out, err = run_cli(
        capsys, "solve", "--instance", path, "--osrm-url", pocket_server, "--unreachable", "report"
    )
    assert code == 0, err
    assert out.splitlines() == [
        "grid: road reachability of 5 locations (the depot and 4 clients)",
        "0 of 20 ordered pairs have no road route; 0 clients would be dropped by --unreachable drop",
    ]


def test_unreachable_policies_need_a_road_table(tmp_path, capsys, dataset):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(lonlat_doc(dataset.lonlat[:4])))
    for how in ("drop", "report"):
        code, out, err = run_cli(capsys, "solve", "--instance", path, "--haversine", "--unreachable", how)
        assert code == 2 and out == "" and err == f"error: --unreachable {how} needs --osrm-url\n"
    code, _, err = run_cli(
        capsys, "solve", "--instance", MONACO_CITY, "--osrm-url", "http://127.0.0.1:1", "--unreachable", "report"
    )  # the file has its matrices: no server is asked, there is no road table to report on
    assert code == 2 and err.count("\n") == 1 and "has its own distance_matrix" in err
    with pytest.raises(InstanceError, match="needs an OSRM URL"):
        instance_from_dict(lonlat_doc(dataset.lonlat[:4]), haversine=True, unreachable="drop")
    with pytest.raises(InstanceError, match="unreachable must be one of refuse, drop, report"):
        instance_from_dict(lonlat_doc(dataset.lonlat[:4]), osrm_url="http://127.0.0.1:1", unreachable="skip")
