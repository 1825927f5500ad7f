"""Build a city dataset: road locations sampled on an OSM extract and their OSRM distance/duration matrices.

Without --osrm-url the script builds the extract's road graph (car profile)
in a temporary folder and serves it itself for the duration of the run.
The shipped Monaco dataset was made with

    python scripts/build_city_dataset.py --pbf data/osm/monaco.osm.pbf --n 1000 \\
        --name monaco --seed 0 --out data/monaco/monaco_1000.npz

See envs/roads/city_dataset.py for the sampling and the file format.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from envs.roads.city_dataset import build_city_dataset, pbf_bbox


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pbf", required=True, help="OSM extract; its header gives the bounding box to sample in")
    p.add_argument("--n", type=int, default=1000, help="locations (default 1000)")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--name", help="dataset name (default: the extract's name)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out test share of the locations")
    p.add_argument("--max-snap-m", type=float, default=10.0, help="keep random points this close to a road")
    p.add_argument("--osrm-url", help="an OSRM server on the extract's graph (default: build and serve one here)")
    args = p.parse_args(argv)

    pbf = Path(args.pbf)
    name = args.name or pbf.name.split(".")[0]
    bbox = pbf_bbox(pbf)
    started = time.perf_counter()
    server = None
    with tempfile.TemporaryDirectory(prefix="nco-osrm-") as tmp:
        url = args.osrm_url
        meta = {"source": pbf.name}
        if url is None:
            from envs.roads import osrm_engine

            graph = osrm_engine.build(pbf, tmp)
            port = osrm_engine.free_port()
            server = osrm_engine.serve(graph, port, max_table_size=2 * args.n)
            url = f"http://127.0.0.1:{port}"
            meta |= {"osrm": osrm_engine.version(), "profile": "car", "graph": osrm_engine.graph_fingerprint(graph)}
            print(f"built and serving {pbf.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        try:
            dataset = build_city_dataset(
                name,
                bbox,
                url,
                args.n,
                test_fraction=args.test_fraction,
                seed=args.seed,
                max_snap_m=args.max_snap_m,
                progress=lambda done, total: print(f"\rsampled {done}/{total} road locations", end="", file=sys.stderr),
                meta=meta,
            )
        finally:
            if server is not None:
                osrm_engine.stop(server)
    print(file=sys.stderr)
    dataset.save(args.out)
    size = Path(args.out).stat().st_size / 1e6
    counts = {s: int((dataset.split == s).sum()) for s in ("train", "test")}
    print(
        f"{args.out}: {args.n} locations ({counts['train']} train, {counts['test']} test) in bbox"
        f" {tuple(round(v, 4) for v in bbox)}; {dataset.meta['random_points']} random points,"
        f" {dataset.meta['dropped']} dropped; {size:.2f} MB; {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
