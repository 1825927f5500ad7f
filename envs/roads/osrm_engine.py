"""The OSRM routing engine: build a road graph from an OpenStreetMap extract and serve it.

nco drives the official OSRM binaries (osrm-extract, osrm-partition,
osrm-customize, osrm-routed; `scripts/install.sh` puts v26.10.0 in
`.venv/osrm/`). Binaries are looked up in `$NCO_OSRM_BIN` (a folder), then
`osrm/bin` inside the running Python's environment, then this checkout's
`.venv/osrm/bin`, then PATH. Graphs use the multi-level Dijkstra pipeline
(MLD: extract, partition, customize), which builds in seconds for a city.

A graph is named by its base path `NAME.osrm`; OSRM writes `NAME.osrm.*`
files beside it and no file called `NAME.osrm` itself.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from envs.errors import OsrmError

OSRM_VERSION = "26.10.0"
BINARIES = ("osrm-extract", "osrm-partition", "osrm-customize", "osrm-routed")
_REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- locating the engine
def binary_dirs() -> list[Path]:
    """Folders searched for the OSRM binaries, in order (PATH comes after these)."""
    dirs = []
    if os.environ.get("NCO_OSRM_BIN"):
        dirs.append(Path(os.environ["NCO_OSRM_BIN"]))
    dirs += [Path(sys.prefix) / "osrm" / "bin", _REPO / ".venv" / "osrm" / "bin"]
    return dirs


def find_binary(name: str) -> Path:
    """The path of one OSRM binary; OsrmError saying how to install it when it is nowhere."""
    for folder in binary_dirs():
        path = folder / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if found:
        return Path(found)
    raise OsrmError(
        f"{name} not found (looked in $NCO_OSRM_BIN, {binary_dirs()[-1]} and PATH):"
        f" run scripts/install.sh, which installs OSRM v{OSRM_VERSION}"
    )


def version() -> str:
    """The version osrm-routed reports, e.g. 'v26.10.0'."""
    proc = subprocess.run([str(find_binary("osrm-routed")), "--version"], capture_output=True, text=True)
    return (proc.stdout.strip() or proc.stderr.strip()).splitlines()[-1] if proc.returncode == 0 else "unknown"


def profile_path(profile: str) -> Path:
    """A Lua routing profile: a file path, or a name ('car', 'bicycle', 'foot') shipped beside the binaries."""
    given = Path(profile)
    if given.suffix == ".lua" or given.is_file():
        if not given.is_file():
            raise OsrmError(f"routing profile not found: {profile}")
        return given.resolve()
    bin_dir = find_binary("osrm-extract").parent
    for folder in (bin_dir.parent / "share" / "profiles", bin_dir.parent / "share" / "osrm" / "profiles"):
        candidate = folder / f"{profile}.lua"
        if candidate.is_file():
            return candidate
    raise OsrmError(f"routing profile {profile!r} not found beside {bin_dir}; pass the path of a .lua profile")


# ---------------------------------------------------------------- building
def build(pbf: str | Path, out_dir: str | Path | None = None, profile: str = "car") -> Path:
    """Build an MLD road graph from an OSM extract; returns its base path `OUT/NAME.osrm`.

    `out_dir` defaults to a folder named after the extract beside it
    (data/osm/monaco.osm.pbf -> data/osm/monaco/monaco.osrm). The graph's
    data version (reported by osrm-routed in every answer) is set to a hash
    of the extract and the profile, so `graph_fingerprint` tells graphs apart.
    """
    pbf = Path(pbf)
    if not pbf.is_file():
        raise OsrmError(f"OSM extract not found: {pbf}")
    name = _base_name(pbf)
    out = Path(out_dir) if out_dir is not None else pbf.parent / name
    if out.exists() and not out.is_dir():
        raise OsrmError(f"--out {out}: is a file; the graph is a folder of files (give a folder)")
    tools = {b: find_binary(b) for b in BINARIES[:3]}
    lua = profile_path(profile)
    from envs.io.output_files import check_folder_target

    check_folder_target(out, f"--out {out}")
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"{name}.osrm"
    data_version = f"{_file_hash(pbf)[:16]}-{_file_hash(lua)[:8]}"
    steps = [
        [tools["osrm-extract"], "-p", lua, "-o", base, "--data_version", data_version, pbf],
        [tools["osrm-partition"], base],
        [tools["osrm-customize"], base],
    ]
    for cmd in steps:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
        if proc.returncode != 0:
            raise OsrmError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}): {_last_line(proc)}")
    return base


def graph_fingerprint(osrm_path: str | Path) -> str:
    """An identity of a built graph for cache keys: a hash of its data version, properties and file sizes.

    Graphs built by `build` carry a data version hashed from the extract and
    the profile, which makes the fingerprint exact; for graphs built
    elsewhere it rests on the profile properties and the sizes of the files.
    """
    base = check_graph(osrm_path)
    h = hashlib.sha256()
    for suffix in (".timestamp", ".properties"):
        part = Path(f"{base}{suffix}")
        h.update(part.read_bytes() if part.is_file() else b"-")
    for part in sorted(base.parent.glob(base.name + ".*")):
        h.update(f"{part.name[len(base.name) :]}:{part.stat().st_size};".encode())
    return h.hexdigest()[:16]


def check_graph(osrm_path: str | Path) -> Path:
    """The base path of a built MLD graph, or OsrmError saying what is missing."""
    base = Path(osrm_path)
    if base.suffix != ".osrm" and Path(f"{base}.osrm.properties").is_file():
        base = Path(f"{base}.osrm")
    if not Path(f"{base}.properties").is_file():
        raise OsrmError(f"road graph not found: {osrm_path} (build one with: nco osrm build --pbf FILE.osm.pbf)")
    if not Path(f"{base}.mldgr").is_file() or not Path(f"{base}.cell_metrics").is_file():
        raise OsrmError(f"{osrm_path} is not partitioned and customized for MLD: rebuild it with nco osrm build")
    return base


# ---------------------------------------------------------------- serving
def serve(
    osrm_path: str | Path,
    port: int = 5000,
    max_table_size: int = 1000,
    *,
    ip: str = "127.0.0.1",
    quiet: bool = True,
    timeout: float = 60.0,
) -> subprocess.Popen:
    """Start osrm-routed (MLD) on ip:port and return once it answers HTTP.

    The caller owns the process (`stop(proc)`). With `quiet` its log
    (warnings and errors only) goes to a temporary file, whose last line
    explains a failed start; otherwise its full log goes to this process's
    stderr, leaving stdout to the caller.
    """
    base = check_graph(osrm_path)
    routed = find_binary("osrm-routed")
    if max_table_size < 1:
        raise OsrmError(f"max table size must be at least 1, got {max_table_size}")
    if not port_is_free(port, ip):
        raise OsrmError(f"port {port} on {ip} is already in use")
    cmd = [str(routed), "--algorithm", "mld", "--ip", ip, "--port", str(port)]
    cmd += ["--max-table-size", str(max_table_size)]
    log = None
    if quiet:
        cmd += ["--verbosity", "WARNING"]
        log = tempfile.TemporaryFile(mode="w+", prefix="osrm-routed-")
    out = log if log is not None else _stderr()
    proc = subprocess.Popen([*cmd, str(base)], stdout=out, stderr=subprocess.STDOUT if out is not None else None)
    proc.log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    url = f"http://{ip}:{port}"
    while True:
        code = proc.poll()
        if code is not None:
            raise OsrmError(f"osrm-routed exited with status {code} while starting: {_log_tail(log)}")
        if _answers(url):
            return proc
        if time.monotonic() > deadline:
            stop(proc)
            raise OsrmError(f"osrm-routed did not answer at {url} within {timeout:g} s")
        time.sleep(0.05)


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Terminate a server started by `serve` and wait for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log = getattr(proc, "log", None)
    if log is not None:
        log.close()


def port_is_free(port: int, ip: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ip:port (connections lingering in TIME_WAIT do not count, as for OSRM)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def free_port(ip: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- helpers
def _stderr():
    try:
        sys.stderr.fileno()
        return sys.stderr
    except (AttributeError, OSError, ValueError):  # a replaced stderr without a file descriptor
        return None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/nearest/v1/driving/0,0", timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True  # an OSRM error answer (e.g. NoSegment) still means it is up
    except (OSError, ValueError):
        return False


def _base_name(pbf: Path) -> str:
    name = pbf.name
    for ext in (".osm.pbf", ".pbf", ".osm.bz2", ".osm"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return pbf.stem


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _last_line(proc: subprocess.CompletedProcess) -> str:
    for text in (proc.stderr, proc.stdout):
        lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    return "(no message)"


def _log_tail(log) -> str:
    if log is None:
        return "see its messages above"
    log.seek(0)
    lines = [ln.strip() for ln in log.read().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no message)"


__all__ = [
    "OSRM_VERSION",
    "build",
    "check_graph",
    "find_binary",
    "free_port",
    "graph_fingerprint",
    "profile_path",
    "serve",
    "stop",
    "version",
]
