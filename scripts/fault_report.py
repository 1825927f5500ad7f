"""Issue 15's fault table: the bad inputs and faults an adversarial pass found, run against the real `nco`
command, with what it does now.

    python scripts/fault_report.py            # every case (about 3 minutes on 2 cores)
    python scripts/fault_report.py --only sigint,folder --busy 2   # two CPU-bound processes beside it

Each case runs `python -m nco ...` in a subprocess (fake OSRM servers on 127.0.0.1, a file-size limit for a
full disk, signals sent by this driver) and prints one Markdown row: the case, what nco did (exit status,
seconds, its first line of stderr or the line that matters), and whether that is the expected behaviour.
Exit status 1 if any case is not. The 10,000-client run is in scripts/bench_size.py; training's signal cases
in tests/nco/train/test_run.py (Lightning makes them slow).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITY = ROOT / "data" / "city.json"
SOLOMON = ROOT / "data" / "solomon" / "C101.vrp"
FLEET_VRP = ROOT / "data" / "hfvrp" / "X101-FSMFD.vrp"


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float  # from start, or from the signal where one was sent

    def line(self, text: str = "") -> str:
        """The first line holding `text` (stdout, then stderr), else stderr's first line, else stdout's."""
        lines = self.out.splitlines() + self.err.splitlines()
        hit = next((ln for ln in lines if text and text in ln), None)
        return (hit or (self.err.splitlines() or self.out.splitlines() or [""])[0]).strip()


def nco(*args, env: dict | None = None, preexec=None, timeout: float = 300) -> Run:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "nco", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - started)


def nco_signalled(args: list, sig: int, after: float = 1.0) -> Run:
    """Start nco, wait for its 'solve has started' line (NCO_PROGRESS=1), `after` seconds more, send `sig`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nco", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NCO_PROGRESS": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    while not any("Ctrl-C stops it" in ln for ln in seen):
        ln = proc.stderr.readline()
        if not ln:
            break
        seen.append(ln)
    time.sleep(after)
    sent = time.perf_counter()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return Run(proc.returncode, out, "".join(seen) + err, time.perf_counter() - sent)


# ---------------------------------------------------------------------- inputs
def city_doc(n: int = 6, **changes) -> dict:
    doc = {
        "name": "fault-city",
        "depot": {"id": "depot", "x": 50.0, "y": 50.0},
        "clients": [{"id": f"C{k}", "x": 10.0 * k, "y": 90.0 - 7 * k, "demand": 1} for k in range(1, n + 1)],
        "fleet": [{"name": "van", "capacity": 3, "count": 3}],
    }
    doc.update(changes)
    return doc


def write(tmp: Path, name: str, content) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def matrix_doc(entry: float, everywhere: bool = False) -> dict:
    m = [[0.0, 10, 10, 10], [10, 0, 10, 10], [10, 10, 0, 10], [10, 10, 10, 0]]
    m = [[0.0 if i == j else (entry if everywhere else m[i][j]) for j in range(4)] for i in range(4)]
    if not everywhere:
        m[1][2] = entry
    return {
        "name": "matrix",
        "depot": {"id": "d"},
        "clients": [{"id": c, "demand": 1} for c in "abc"],
        "fleet": [{"capacity": 5, "count": 3}],
        "distance_matrix": m,
    }


def solomon_text(rows: list[list[str]]) -> str:
    head = "C1-fault\n\nVEHICLE\nNUMBER     CAPACITY\n  25         200\n\nCUSTOMER\n"
    head += "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\n\n"
    return head + "\n".join("    ".join(r) for r in rows) + "\n"


SOLOMON_ROWS = [
    ["0", "40", "50", "0", "0", "1236", "0"],
    ["1", "45", "68", "10", "0", "1127", "90"],
    ["2", "45", "70", "30", "0", "1125", "90"],
]


def solomon_with(row: int, field: int, token: str) -> str:
    rows = [list(r) for r in SOLOMON_ROWS]
    rows[row][field] = token
    return solomon_text(rows)


VRP = """NAME: fault
TYPE: CVRP
DIMENSION: 3
EDGE_WEIGHT_TYPE: EUC_2D
CAPACITY: 10
NODE_COORD_SECTION
1 0 0
2 3 4
3 6 8
DEMAND_SECTION
1 0
2 5
3 5
DEPOT_SECTION
1
-1
EOF
"""


# ---------------------------------------------------------------------- fake OSRM servers
def fake_osrm(behaviour: Callable) -> tuple[str, Callable[[], None]]:
    """A server on 127.0.0.1 answering every request with behaviour(handler); (its URL, stop())."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            try:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                behaviour(self)
            except OSError:
                pass
            self.close_connection = True

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda *a: None
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def stop():
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}", stop


def json_answer(doc) -> Callable:
    body = json.dumps(doc).encode()

    def behaviour(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return behaviour


def trickle(h):
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    for _ in range(600):  # one byte a second for ten minutes: a per-read timeout never fires
        h.wfile.write(b" ")
        h.wfile.flush()
        time.sleep(1.0)


def endless(h):
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.end_headers()
    h.wfile.write(b'{"code": "Ok", "durations": [[0')
    chunk = b", 0" * 100_000
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        h.wfile.write(chunk)


LONLAT = {
    "name": "lonlat",
    "coordinates": "lonlat",
    "depot": {"id": "depot", "lon": 7.4246, "lat": 43.7384},
    "clients": [{"id": f"C{k}", "lon": 7.42 + 0.002 * k, "lat": 43.735 + 0.001 * k, "demand": 1} for k in range(4)],
    "fleet": [{"capacity": 4, "count": 2}],
}


def osrm_case(behaviour: Callable, *extra) -> Callable[[Path], Run]:
    def run(tmp: Path) -> Run:
        url, stop = fake_osrm(behaviour)
        try:
            return nco(
                "solve",
                "--instance",
                write(tmp, "ll.json", LONLAT),
                "--osrm-url",
                url,
                "--time-limit",
                0.2,
                *extra,
                env={"NCO_CACHE": str(tmp / "cache")},
            )
        finally:
            stop()

    return run


def table_1e308(n: int = 5) -> dict:
    row = [[0.0 if i == j else 1e308 for j in range(n)] for i in range(n)]
    wp = [{"location": [7.42, 43.73], "distance": 1.5, "name": "Rue"}] * n
    return {"code": "Ok", "durations": row, "distances": row, "sources": wp, "destinations": wp}


# ---------------------------------------------------------------------- cases
@dataclass
class Case:
    group: str
    name: str
    run: Callable[[Path], Run]
    ok: Callable[[Run], bool]
    expected: str
    show: str = ""  # the text whose line the table shows


def refused(*texts: str) -> Callable[[Run], bool]:
    """Exit 2 in one line of stderr holding every text, no traceback or warning."""
    return lambda r: r.code == 2 and r.err.count("\n") == 1 and all(t in r.err for t in texts)


def solve(*args) -> Callable[[Path], Run]:
    return lambda tmp: nco("solve", *args)


def solve_file(name: str, content, *args) -> Callable[[Path], Run]:
    return lambda tmp: nco("solve", "--instance", write(tmp, name, content), "--time-limit", 0.3, *args)


def full_disk(tmp: Path) -> Run:
    out = tmp / "plan.json"
    args = ["solve", "--instance", CITY, "--time-limit", 0, "--starts", 0, "--augment", 1, "--output", out, "--quiet"]
    nco(*args)
    before = out.read_bytes()
    run = nco(*args, preexec=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY)))
    run.out += f"\nprevious file intact: {out.read_bytes() == before}; files: {sorted(p.name for p in tmp.iterdir())}"
    return run


def folder_with(tmp: Path, files: dict) -> Path:
    for name, content in files.items():
        write(tmp / "in", name, content)
    return tmp / "in"


def folder_huge(tmp: Path) -> Run:
    huge = city_doc()
    huge["fleet"][0]["capacity"] = 1e308
    folder = folder_with(tmp, {"good.json": city_doc(), "huge.json": huge})
    return nco(
        "solve", "--instance", folder, "--solver", "pyvrp", "--time-limit", 0.3, "--workers", 1, "--output", tmp / "out"
    )


def folder_collide(tmp: Path) -> Run:
    folder = folder_with(tmp, {"a.json": city_doc(), "a.vrp": FLEET_VRP.read_text()})
    run = nco("solve", "--instance", folder, "--solver", "pyvrp", "--time-limit", 0.3, "--output", tmp / "out")
    run.out += "\noutputs: " + " ".join(sorted(p.name for p in (tmp / "out").iterdir()))
    return run


def folder_workers(tmp: Path) -> Run:
    folder = folder_with(tmp, {f"f{k}.json": city_doc() for k in range(7)})
    return nco("solve", "--instance", folder, "--solver", "pyvrp", "--time-limit", 0.2, "--workers", 1000)


def folder_signal(tmp: Path) -> Run:
    folder = folder_with(tmp, {f"{s}.json": CITY.read_text() for s in "abcd"})
    return nco_signalled(
        [
            "solve",
            "--instance",
            folder,
            "--solver",
            "pyvrp",
            "--time-limit",
            120,
            "--workers",
            1,
            "--output",
            tmp / "out",
        ],
        signal.SIGINT,
    )


def signalled(solver: str, sig: int) -> Callable[[Path], Run]:
    def run(tmp: Path) -> Run:
        out = tmp / "plan.json"
        r = nco_signalled(
            ["solve", "--instance", CITY, "--solver", solver, "--time-limit", 120, "--quiet", "--output", out],
            sig,
            after=3.0,
        )  # into the search, past the imports
        saved = json.loads(out.read_text())["meta"].get("interrupted") if out.exists() else None
        r.out += f"\nsaved, meta.interrupted = {saved}"
        return r

    return run


def check_claim(tmp: Path) -> Run:
    plan = tmp / "plan.json"
    nco("solve", "--instance", CITY, "--time-limit", 0.3, "--output", plan, "--quiet")
    doc = json.loads(plan.read_text())
    doc["cost"] = 1.0
    plan.write_text(json.dumps(doc))
    return nco("check", "--instance", CITY, "--solution", plan)


def injected(tmp: Path) -> Run:
    doc = city_doc(name="evil\x1b[2J\rfault-city | feasible\nforged")
    run = nco("solve", "--instance", write(tmp, "evil.json", doc), "--solver", "pyvrp", "--time-limit", 0.2)
    run.out += f"\nraw control characters in stdout: {any(c in run.out for c in chr(27) + chr(13))}"
    return run


def unwritable_output(tmp: Path) -> Run:
    write(tmp, "plain", "x")
    return nco("solve", "--instance", CITY, "--time-limit", 60, "--output", tmp / "plain" / "plan.json")


def infeasible_fleet(tmp: Path) -> Run:
    doc = city_doc()
    doc["fleet"][0]["count"] = 1
    return nco("solve", "--instance", write(tmp, "one.json", doc), "--solver", "pyvrp", "--time-limit", 0.3)


def osrm_serve_sigterm(tmp: Path) -> Run:
    from envs.roads import osrm_engine

    graph = osrm_engine.build(ROOT / "data" / "osm" / "monaco.osm.pbf", tmp / "graph")
    port = osrm_engine.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nco", "osrm", "serve", "--graph", str(graph), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.readline()  # "serving ..."
    sent = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    left = subprocess.run(["pgrep", "-f", f"osrm-routed.*{port}"], capture_output=True, text=True).stdout.split()
    return Run(proc.returncode, out + f"\nosrm-routed left running: {len(left)}", err, time.perf_counter() - sent)


def train(*args) -> Callable[[Path], Run]:
    return lambda tmp: nco("train", "--out", tmp / "run", *args)


def train_resume_pt(tmp: Path) -> Run:
    return nco("train", "--out", tmp / "run", "--resume", ROOT / "nco" / "checkpoints" / "cvrp100.pt")


def cases() -> list[Case]:
    s, c = "silent wrong answer", "data loss"
    h, e = "runaway or hang", "exit codes and messages"
    return [
        Case(
            s,
            "distance 1e20 in a 4-node matrix",
            solve_file("m.json", matrix_doc(1e20)),
            refused("1e+20"),
            "refused, naming the value",
        ),
        Case(
            s,
            "every matrix entry 1e308",
            solve_file("m.json", matrix_doc(1e308, everywhere=True)),
            refused("1e+308"),
            "refused, naming the value",
        ),
        Case(
            s,
            "OSRM answer with 1e308 entries",
            osrm_case(json_answer(table_1e308())),
            refused("1e+308"),
            "refused, naming the value",
        ),
        Case(
            s,
            "Solomon client at (45.5, 68.25)",
            solve_file(
                "s.txt",
                solomon_text([SOLOMON_ROWS[0], ["1", "45.5", "68.25", *SOLOMON_ROWS[1][3:]], SOLOMON_ROWS[2]]),
                "--solver",
                "pyvrp",
            ),
            lambda r: r.code == 0,
            "read exactly, solved",
        ),
        Case(
            s,
            "Solomon due date 1127.5",
            solve_file("s.txt", solomon_with(1, 5, "1127.5"), "--solver", "pyvrp"),
            lambda r: r.code == 0,
            "read exactly, solved",
        ),
        Case(
            s,
            "Solomon demand 'ten'",
            solve_file("s.txt", solomon_with(1, 3, "ten")),
            refused("line", "demand 'ten' is not a number"),
            "refused by line and field",
        ),
        Case(
            s,
            "VRPLIB PRIZE_SECTION",
            solve_file("p.vrp", VRP.replace("DEPOT_SECTION", "PRIZE_SECTION\n1 0\n2 5\n3 5\nDEPOT_SECTION")),
            refused("PRIZE_SECTION (prize-collecting) is not supported"),
            "refused by name",
        ),
        Case(
            s,
            "VRPLIB RELEASE_TIME_SECTION",
            solve_file("r.vrp", VRP.replace("DEPOT_SECTION", "RELEASE_TIME_SECTION\n1 0\n2 5\n3 5\nDEPOT_SECTION")),
            refused("RELEASE_TIME_SECTION (release times) is not supported"),
            "refused by name",
        ),
        Case(
            s,
            "VRPLIB TYPE PCVRP",
            solve_file("t.vrp", VRP.replace("TYPE: CVRP", "TYPE: PCVRP")),
            refused("TYPE PCVRP (prize-collecting) is not supported"),
            "refused by name",
        ),
        Case(
            s,
            "VRPLIB DIMENSION 5 for 3 nodes",
            solve_file("d.vrp", VRP.replace("DIMENSION: 3", "DIMENSION: 5")),
            refused("DIMENSION is 5 but NODE_COORD_SECTION has 3 nodes"),
            "refused",
        ),
        Case(
            s,
            "VRPLIB node listed twice",
            solve_file("n.vrp", VRP.replace("3 6 8", "2 6 8")),
            refused("twice"),
            "refused, naming the line",
        ),
        Case(
            s,
            "coordinates 1e308",
            solve_file("c.json", city_doc(depot={"id": "depot", "x": 1e308, "y": 50.0})),
            refused(),
            "refused in one line, no RuntimeWarning",
        ),
        Case(
            s,
            "noise_sigma 1e308",
            solve_file("n.json", city_doc(travel_model={"noise_sigma": 1e308})),
            refused(),
            "refused in one line",
        ),
        Case(
            s,
            "--time-limit nan",
            solve("--instance", CITY, "--solver", "pyvrp", "--time-limit", "nan"),
            refused("--time-limit must be a finite number"),
            "refused",
        ),
        Case(
            s,
            "--time-limit inf",
            solve("--instance", CITY, "--time-limit", "inf"),
            refused("--time-limit must be a finite number"),
            "refused",
        ),
        Case(
            s, "--seeds -3", solve("--instance", CITY, "--seeds", -3), refused("--seeds must be 1 or more"), "refused"
        ),
        Case(
            s,
            "nco check: file claims cost 1.0",
            check_claim,
            lambda r: r.code == 1 and "the file claims cost 1" in r.out,
            "a note and exit 1",
            "claims",
        ),
        Case(
            s,
            "escape sequences in the instance name",
            injected,
            lambda r: r.code == 0 and "raw control characters in stdout: False" in r.out,
            "escaped (\\x1b)",
            "raw control",
        ),
        Case(
            c,
            "--output under a file, 60 s budget",
            unwritable_output,
            lambda r: r.code == 2 and r.seconds < 30 and "is a file, not a folder" in r.err,
            "refused before solving",
        ),
        Case(
            c,
            "full disk on --output (file size limit)",
            full_disk,
            lambda r: (
                r.code == 2 and "previous file intact: True; files: ['plan.json']" in r.out and "cannot write" in r.err
            ),
            "error names the file, old file whole, routes printed",
            "previous",
        ),
        Case(
            c,
            "folder: a schema-valid capacity of 1e308",
            folder_huge,
            lambda r: r.code == 1 and "2 instances, 1 feasible" in r.out,
            "that file fails alone",
            "instances",
        ),
        Case(
            c,
            "folder: a.json and a.vrp",
            folder_collide,
            lambda r: r.code == 0 and "a.json.solution.json a.vrp.solution.json" in r.out,
            "no collision",
            "outputs:",
        ),
        Case(
            c,
            "folder: --workers 1000 for 7 files",
            folder_workers,
            lambda r: r.code == 0 and "workers, not 1000" in r.err,
            "capped at the cores, with a note",
            "workers",
        ),
        Case(
            c,
            "folder: Ctrl-C while solving",
            folder_signal,
            lambda r: r.code == 130 and "not started (interrupted)" in r.out and r.seconds < 5,
            "running solve saved, the rest listed, exit 130",
            "files ran",
        ),
        *[
            Case(
                c,
                f"{signal.Signals(sig).name} during a {solver} solve",
                signalled(solver, sig),
                lambda r, sig=sig: (
                    r.code == 128 + sig and r.seconds < 2 and f"meta.interrupted = {signal.Signals(sig).name}" in r.out
                ),
                "stops within a second, best plan saved, exit 130/143",
                "interrupted by",
            )
            for solver in ("nco", "pyvrp", "ortools")
            for sig in (signal.SIGINT, signal.SIGTERM)
        ],
        Case(
            c,
            "nco osrm serve gets SIGTERM",
            osrm_serve_sigterm,
            lambda r: r.code == 0 and "osrm-routed left running: 0" in r.out,
            "stops osrm-routed, exit 0",
            "left",
        ),
        Case(c, "nco train --epochs 0", train("--epochs", 0), refused("--epochs"), "refused before Lightning"),
        Case(
            h,
            "--samples 10000000",
            solve("--instance", ROOT / "data" / "svrp" / "city-day-100.json", "--samples", 10_000_000),
            refused("--samples must be between 0 and 1,000,000"),
            "refused at once",
        ),
        Case(
            h,
            "OSRM server trickling a byte a second",
            osrm_case(trickle, "--osrm-timeout", 3),
            lambda r: r.code == 2 and r.seconds < 15 and r.err.count("\n") == 1,
            "one deadline: refused after 3 s",
        ),
        Case(
            h,
            "OSRM server streaming an endless body",
            osrm_case(endless, "--osrm-timeout", 20),
            lambda r: r.code == 2 and r.seconds < 25 and r.err.count("\n") == 1,
            "capped body: refused",
        ),
        Case(
            e,
            "valid fleet too small (count 1)",
            infeasible_fleet,
            lambda r: r.code in (1, 3),
            "exit 1 (infeasible) or 3 (nothing found), not 2",
            "fault-city",
        ),
        Case(e, "--seed -1", solve("--instance", CITY, "--seed", -1), refused("--seed must be"), "specific message"),
        Case(
            e,
            "osrm build --out a file",
            lambda tmp: nco(
                "osrm", "build", "--pbf", ROOT / "data" / "osm" / "monaco.osm.pbf", "--out", write(tmp, "f", "x")
            ),
            refused("is a file"),
            "specific message",
        ),
        Case(e, "nco train --size 0", train("--size", 0), refused("--size"), "specific message"),
        Case(e, "nco train --batch-size 0", train("--batch-size", 0), refused("--batch-size"), "specific message"),
        Case(e, "nco train --lr -1", train("--lr", -1), refused("--lr"), "specific message"),
        Case(e, "nco train --embed-dim 13", train("--embed-dim", 13), refused("--embed-dim 13"), "specific message"),
        Case(e, "nco train --devices abc", train("--devices", "abc"), refused("--devices"), "specific message"),
        Case(e, "nco train --resume an nco .pt", train_resume_pt, refused("--resume"), "specific message"),
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated words: run the cases whose group or name holds one")
    p.add_argument("--busy", type=int, default=0, help="CPU-bound processes spinning beside every case")
    args = p.parse_args()
    from cpu_load import cpu_load

    with cpu_load(args.busy):
        return report(args)


def report(args) -> int:
    words = [w.strip().lower() for w in args.only.split(",")] if args.only else []
    chosen = [k for k in cases() if not words or any(w in f"{k.group} {k.name}".lower() for w in words)]
    print("| class | case | expected | exit | s | what nco said | ok |")
    print("|---|---|---|---:|---:|---|---|")
    bad = 0
    for case in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                run = case.run(Path(tmp))
                ok = case.ok(run)
                said = run.line(case.show)
            except Exception as err:  # noqa: BLE001 - a driver failure is that row's answer
                run, ok, said = Run(-1, "", "", 0.0), False, f"driver failed: {type(err).__name__}: {err}"
        bad += not ok
        said = said.replace("|", "\\|")[:150]
        print(
            f"| {case.group} | {case.name} | {case.expected} | {run.code} | {run.seconds:.2f} | {said} |"
            f" {'yes' if ok else '**NO**'} |",
            flush=True,
        )
    print(f"\n{len(chosen) - bad} of {len(chosen)} cases behave as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
