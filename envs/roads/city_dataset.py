"""City datasets: locations on a real road network with their full road matrices, and instances drawn from them.

In the spirit of RRNCO (real routing NCO), a city dataset is a fixed set of N
locations on a city's roads with the N x N road distance (metres) and
duration (seconds) matrices computed once by OSRM. Training and test
instances are then drawn from it without a server: a depot and clients are
sampled from one split's locations and the instance takes the sub-matrices.
The locations are split once: a held-out `test` share that training never
sees, the rest `train`.

Building (needs an OSRM server on the city's graph, see scripts/build_city_dataset.py):
random points in the extract's bounding box are snapped to the nearest road
with OSRM's nearest service; a point farther than `max_snap_m` from any road
(the sea, parks, building blocks) is discarded, otherwise the road point it
snapped to becomes a location. This places locations along the roads of the
built-up area, with no more than one per road point. The table is then
computed; locations that do not snap back onto themselves (tiny road pieces
OSRM does not route on), that cannot reach or be reached from the others, or
that coincide with another are dropped.

File format (.npz, no pickles): `lonlat` (N, 2) float64, `distance_dm` and
`duration_ds` (N, N) whole decimetres and deciseconds (OSRM's precision) as
the smallest unsigned integer type that holds them (they compress a fifth
smaller than float32), `split` (N,) strings "train"/"test", `meta` a JSON
string. In memory the matrices are float32 metres and seconds.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from envs.errors import InstanceError
from envs.generate.cvrp import capacity_for
from envs.model.instance import Instance, VehicleType

SPLITS = ("train", "test")
DEFAULT_ROAD_DATASET = Path(__file__).resolve().parents[2] / "data" / "monaco" / "monaco_1000.npz"


@dataclass
class CityDataset:
    name: str
    lonlat: np.ndarray  # (N, 2) road points
    distance: np.ndarray  # (N, N) metres, row = from
    duration: np.ndarray  # (N, N) seconds
    split: np.ndarray  # (N,) "train" or "test"
    meta: dict = field(default_factory=dict)

    def indices(self, split: str) -> np.ndarray:
        """Location indices of one split, or of "all" (benchmarks at the dataset's full size, not evaluation)."""
        if split == "all":
            return np.arange(len(self.split))
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)} or all, got {split!r}")
        return np.flatnonzero(self.split == split)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            lonlat=self.lonlat.astype(np.float64),
            distance_dm=_tenths(self.distance, "distance"),
            duration_ds=_tenths(self.duration, "duration"),
            split=self.split.astype("<U5"),
            meta=np.array(json.dumps({"name": self.name, **self.meta})),
        )


def _tenths(m: np.ndarray, what: str) -> np.ndarray:
    tenths = np.round(np.asarray(m, dtype=np.float64) * 10)
    if not np.isfinite(tenths).all() or (tenths < 0).any():
        raise ValueError(f"{what} matrix must be finite and non-negative to be saved")
    return tenths.astype(np.uint16 if tenths.max(initial=0) < 2**16 else np.uint32)


def load_city_dataset(path: str | Path) -> CityDataset:
    """Read a dataset written by CityDataset.save; a missing or foreign file is a one-line InstanceError."""
    path = Path(path)
    if not path.is_file():
        raise InstanceError(f"city dataset not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            data = {k: z[k] for k in ("lonlat", "split")}
            data["distance"] = (z["distance_dm"] / np.float32(10)).astype(np.float32)
            data["duration"] = (z["duration_ds"] / np.float32(10)).astype(np.float32)
    except (OSError, ValueError, KeyError) as err:
        raise InstanceError(f"{path.name}: not a city dataset ({' '.join(str(err).split())})") from None
    return CityDataset(name=meta.pop("name", path.stem), meta=meta, **data)


def sample_instance(
    dataset: CityDataset,
    n_clients: int,
    split: str = "train",
    seed: int = 0,
    capacity: float | None = None,
) -> Instance:
    """A CVRP instance on the city's roads: depot and clients drawn from one split, with the sub-matrices.

    Demands are uniform in 1..9 and the capacity follows envs.generate.cvrp.capacity_for
    (the training distribution); distances in metres, durations in seconds.
    """
    pool = dataset.indices(split)
    if n_clients < 1 or n_clients + 1 > len(pool):
        raise InstanceError(
            f"{dataset.name}: cannot draw a depot and {n_clients} clients from the {len(pool)} {split} locations"
        )
    rng = np.random.default_rng(seed)
    nodes = rng.choice(pool, size=n_clients + 1, replace=False)
    sub = np.ix_(nodes, nodes)
    # float32 -> float64 keeps OSRM's one-decimal values exactly as OSRM gave them (1359.3, not 1359.300048...)
    distance = np.round(dataset.distance[sub].astype(np.float64), 1)
    duration = np.round(dataset.duration[sub].astype(np.float64), 1)
    demand = np.concatenate([[0], rng.integers(1, 10, size=n_clients)]).astype(np.float64)
    return Instance(
        distance=distance,
        duration=duration,
        demand=demand,
        fleet=[VehicleType(capacity=capacity or capacity_for(n_clients), name="van")],
        name=f"{dataset.name}-{split}-{n_clients}-s{seed}",
        coords=dataset.lonlat[nodes],
        coord_system="lonlat",
        ids=["depot"] + [f"L{int(i):04d}" for i in nodes[1:]],
    )


# ---------------------------------------------------------------- building
def build_city_dataset(
    name: str,
    bbox: tuple[float, float, float, float],
    url: str,
    n_locations: int,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_snap_m: float = 10.0,
    margin: float = 0.3,
    batch: int = 500,
    max_candidates: int | None = None,
    progress=None,
    meta: dict | None = None,
) -> CityDataset:
    """Sample `n_locations` road locations in `bbox` (lon_min, lat_min, lon_max, lat_max) and compute their matrices.

    `url` is an OSRM server on the city's graph able to answer the whole table
    (start it with --max-table-size of at least n_locations * (1 + margin), or
    the client chunks the table). `progress(done, total)` is called while sampling.
    """
    from envs.roads.osrm_client import nearest, road_matrices

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    lon0, lat0, lon1, lat1 = bbox
    rng = np.random.default_rng(seed)
    wanted = int(np.ceil(n_locations * (1 + margin)))
    limit = max_candidates or 200 * wanted
    points: list[tuple[float, float]] = []
    seen: set[tuple[float, float]] = set()
    tried = 0
    while len(points) < wanted:
        if tried >= limit:
            raise InstanceError(
                f"{name}: only {len(points)} road locations within {max_snap_m:g} m after {tried} random points;"
                " widen max_snap_m or check the bounding box"
            )
        cand = np.c_[rng.uniform(lon0, lon1, batch), rng.uniform(lat0, lat1, batch)]
        tried += batch
        snapped, dist = nearest(cand, url)
        for (lon, lat), d in zip(snapped, dist):
            key = (round(float(lon), 6), round(float(lat), 6))
            if d <= max_snap_m and key not in seen and len(points) < wanted:
                seen.add(key)
                points.append(key)
        if progress is not None:
            progress(len(points), wanted)
    lonlat = np.array(points, dtype=np.float64)
    rm = road_matrices(lonlat, url, max_snap_m=None, on_unreachable="report", cache=False)
    usable = _usable(rm.distance, rm.duration, rm.snap_m)
    if usable.size < n_locations:
        raise InstanceError(
            f"{name}: only {usable.size} usable locations of {len(points)} sampled; raise margin (now {margin:g})"
        )
    keep = usable[:n_locations]  # the sampling order is random, so this is a random subset
    split = np.full(n_locations, "train", dtype="<U5")
    split[rng.permutation(n_locations)[: int(round(test_fraction * n_locations))]] = "test"
    info = {
        "bbox": list(bbox),
        "seed": seed,
        "max_snap_m": max_snap_m,
        "test_fraction": test_fraction,
        "random_points": tried,
        "sampled": len(points),
        "dropped": len(points) - int(usable.size),
        "repaired_pairs": len(rm.repaired),  # negative table entries re-asked of /route (osrm_client)
        "units": {"distance": "m", "duration": "s"},
        **(meta or {}),
    }
    sub = np.ix_(keep, keep)
    return CityDataset(
        name=name,
        lonlat=lonlat[keep],
        distance=rm.distance[sub].astype(np.float32),
        duration=rm.duration[sub].astype(np.float32),
        split=split,
        meta=info,
    )


def _usable(distance: np.ndarray, duration: np.ndarray, snap_m: np.ndarray, resnap_m: float = 1.0) -> np.ndarray:
    """Indices (in order) of locations that snap back onto themselves, reach and are reached by all the others, and coincide with none."""
    alive = snap_m <= resnap_m
    bad = ~np.isfinite(distance) | ~np.isfinite(duration)
    while True:
        sub = bad[np.ix_(alive, alive)]
        counts = sub.sum(0) + sub.sum(1)
        if not counts.any():
            break
        alive[np.flatnonzero(alive)[int(np.argmax(counts))]] = False  # drop the worst-connected one, then re-count
    idx = np.flatnonzero(alive)
    d = distance[np.ix_(idx, idx)]
    zero = np.triu((d == 0) | (d.T == 0), k=1)
    twins = set(np.argwhere(zero)[:, 1].tolist())
    return np.array([i for k, i in enumerate(idx) if k not in twins], dtype=np.int64)


# ---------------------------------------------------------------- OSM extract header
def pbf_bbox(path: str | Path) -> tuple[float, float, float, float]:
    """(lon_min, lat_min, lon_max, lat_max) from an .osm.pbf file's header block (no OSM library needed)."""
    path = Path(path)
    with open(path, "rb") as f:
        try:
            (size,) = struct.unpack(">I", f.read(4))
            header = dict(_fields(f.read(size)))
            if header.get(1) != b"OSMHeader":
                raise ValueError("the first block is not an OSMHeader")
            blob = dict(_fields(f.read(header[3])))
            data = zlib.decompress(blob[3]) if 3 in blob else blob[1]
            box = dict(_fields(dict(_fields(data))[1]))
        except (struct.error, KeyError, ValueError, IndexError, zlib.error) as err:
            raise InstanceError(f"{path.name}: no bounding box in the OSM header ({err})") from None
    left, right, top, bottom = (_zigzag(box[k]) / 1e9 for k in (1, 2, 3, 4))
    return left, bottom, right, top


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        byte = buf[i]
        i += 1
        out |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return out, i


def _fields(buf: bytes):
    """(field number, value) pairs of a protobuf message; length-delimited values stay bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i : i + length], i + length
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _zigzag(v: int) -> int:
    return (v >> 1) ^ -(v & 1)
