"""Time the road pipeline on Monaco: graph build, then OSRM tables for 100, 500 and 1000 locations.

Builds data/osm/monaco.osm.pbf (car profile, MLD) in a temporary folder,
serves it twice (--max-table-size 1000: one request per table; 100: the
client cuts a 1000-location table into 100 requests) and times
`envs.roads.osrm_client.road_matrices` on the first N locations of the shipped
Monaco dataset: a fresh query (cache off; best of --repeat) and a disk-cache
hit. Prints one table; nothing is written to the project.

    python scripts/bench_osrm.py [--sizes 100 500 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from envs.roads import osrm_engine
from envs.roads.city_dataset import load_city_dataset
from envs.roads.osrm_client import road_matrices

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pbf", default=str(ROOT / "data" / "osm" / "monaco.osm.pbf"))
    p.add_argument("--dataset", default=str(ROOT / "data" / "monaco" / "monaco_1000.npz"))
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    p.add_argument("--repeat", type=int, default=3, help="fresh queries per size; the best is reported")
    args = p.parse_args(argv)

    points = load_city_dataset(args.dataset).lonlat
    print(
        f"machine: {_cpu()}, {os.cpu_count()} cores, {platform.system()}, load average {os.getloadavg()[0]:.1f};"
        f" OSRM {osrm_engine.version()} (MLD, osrm-routed's default 2 threads)"
    )
    with tempfile.TemporaryDirectory(prefix="nco-bench-osrm-") as tmp:
        started = time.perf_counter()
        graph = osrm_engine.build(args.pbf, Path(tmp) / "graph")
        print(
            f"graph build (extract + partition + customize) of {Path(args.pbf).name}: {time.perf_counter() - started:.2f} s"
        )
        servers = {}
        try:
            for size in (1000, 100):
                port = osrm_engine.free_port()
                t0 = time.perf_counter()
                servers[size] = (osrm_engine.serve(graph, port, size), f"http://127.0.0.1:{port}")
                print(f"server start (--max-table-size {size}): {time.perf_counter() - t0:.2f} s")
            print()
            print(
                f"{'locations':>9} {'max table':>9} {'requests':>8} {'fresh query s':>13} {'cache hit s':>11}  entries"
            )
            for n in args.sizes:
                for size, (_, url) in servers.items():
                    fresh = []
                    for _ in range(args.repeat):
                        rm = road_matrices(points[:n], url, cache=False, max_table_size=size)
                        fresh.append(rm.seconds)
                    cache_dir = Path(tmp) / f"cache-{n}-{size}"
                    road_matrices(points[:n], url, cache_dir=cache_dir, max_table_size=size)
                    hit = road_matrices(points[:n], url, cache_dir=cache_dir, max_table_size=size)
                    assert hit.cached and hit.requests == 0
                    print(
                        f"{n:>9} {size:>9} {rm.requests:>8} {min(fresh):>13.3f} {hit.seconds:>11.3f}  {n * n:,}"
                        + (f" ({len(rm.repaired)} negative entries repaired)" if rm.repaired else "")
                    )
        finally:
            for proc, _ in servers.values():
                osrm_engine.stop(proc)
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    raise SystemExit(main())
