"""Write data/city.json: a synthetic city of 100 clients for examples and tests.

A 20 km x 14 km city (planar x/y in km, metre precision): a depot in an
industrial zone on the western edge, six residential neighbourhoods of
different sizes and spreads, and a fifth of the clients scattered across the
city. Demands 1..20; one van type of capacity 100 with no limit on the number
of vans. Deterministic: rerunning rewrites the same file.

    python scripts/make_city.py [--out data/city.json] [--seed 2024]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from envs.io.json_format import dumps, instance_to_dict
from envs.model.distances import euclidean
from envs.model.instance import Instance, VehicleType

WIDTH, HEIGHT = 20.0, 14.0
DEPOT = (1.2, 6.8)
# (centre x, centre y, spread in km, share of the clustered clients)
NEIGHBOURHOODS = [
    (5.5, 9.5, 0.7, 0.22),
    (9.0, 4.0, 0.9, 0.18),
    (12.5, 10.5, 0.6, 0.16),
    (15.5, 5.5, 1.1, 0.16),
    (8.0, 12.0, 0.5, 0.14),
    (17.5, 11.0, 0.8, 0.14),
]
N_CLIENTS = 100
SCATTERED = 0.2


def make_city(seed: int = 2024, n: int = N_CLIENTS) -> Instance:
    rng = np.random.default_rng(seed)
    n_scattered = int(round(SCATTERED * n))
    shares = np.array([s for *_, s in NEIGHBOURHOODS])
    sizes = rng.multinomial(n - n_scattered, shares / shares.sum())
    points = []
    for (cx, cy, spread, _), size in zip(NEIGHBOURHOODS, sizes, strict=True):
        points.append(rng.normal((cx, cy), spread, size=(size, 2)))
    points.append(rng.uniform((0.0, 0.0), (WIDTH, HEIGHT), size=(n_scattered, 2)))
    clients = np.concatenate(points)
    clients = clients[rng.permutation(n)]  # neighbourhoods interleaved in the id order
    clients = np.clip(clients, 0.0, [WIDTH, HEIGHT]).round(3)
    coords = np.vstack([DEPOT, clients])
    demand = np.concatenate([[0], rng.integers(1, 21, size=n)])
    return Instance(
        distance=euclidean(coords, "exact"),
        demand=demand,
        fleet=[VehicleType(capacity=100, name="van")],
        name=f"sample-city-{n}",
        coords=coords,
        ids=["depot"] + [f"C{i:03d}" for i in range(1, n + 1)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "data" / "city.json"))
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    inst = make_city(args.seed)
    doc = {
        "name": inst.name,
        "comment": f"Synthetic sample city (scripts/make_city.py, seed {args.seed}); x/y in km, distances Euclidean km.",
        "coordinates": "xy",
    }
    doc |= instance_to_dict(inst)
    assert doc == doc | instance_to_dict(make_city(args.seed))  # deterministic
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(doc), encoding="utf-8")
    print(f"wrote {args.out}: {inst.num_clients} clients, total demand {int(inst.demand.sum())}, capacity 100")


if __name__ == "__main__":
    main()
