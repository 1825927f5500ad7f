"""Write data/monaco/city.json: 100 clients on Monaco's roads with their OSRM road matrices (or a delivery day).

The depot and clients are drawn from the held-out test split of the shipped
Monaco dataset (data/monaco/monaco_1000.npz, see scripts/build_city_dataset.py),
so the file carries real, asymmetric road distances (metres) and durations
(seconds) and solving it needs no OSRM server. Demands 1..9, one van type of
capacity 50 (envs.generate.cvrp.capacity_for(100)). With --day, a delivery day instead
(envs.generate.road_days: a shift, service times, time windows) with as many vans as the savings
construction needs. Deterministic:

    python scripts/make_monaco_city.py [--dataset data/monaco/monaco_1000.npz] [--out data/monaco/city.json]
    python scripts/make_monaco_city.py --day --seed 1 --out data/monaco/day.json
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from envs.io.json_format import dumps, instance_to_dict
from envs.roads.city_dataset import load_city_dataset, sample_instance

ROOT = Path(__file__).resolve().parent.parent


def make_monaco_city(dataset_path: str | Path, n: int = 100, seed: int = 1, day: bool = False):
    dataset = load_city_dataset(dataset_path)
    if day:
        from envs.generate.road_days import road_day_set

        inst = road_day_set(dataset, n, 1, seed)[0]
    else:
        inst = sample_instance(dataset, n, split="test", seed=seed)
    name = f"monaco-{'day-' if day else ''}{n}"
    return dataclasses.replace(inst, name=name, ids=["depot"] + [f"M{i:03d}" for i in range(1, n + 1)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=str(ROOT / "data" / "monaco" / "monaco_1000.npz"))
    p.add_argument("--out", default=str(ROOT / "data" / "monaco" / "city.json"))
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--day", action="store_true", help="a delivery day: time windows, service times, limited vans")
    args = p.parse_args(argv)
    inst = make_monaco_city(args.dataset, args.clients, args.seed, args.day)
    Path(args.out).write_text(dumps(instance_to_dict(inst, include_matrices=True)), encoding="utf-8")
    print(
        f"{args.out}: {inst.num_clients} clients, {inst.fleet[0].count or 'unlimited'} x capacity"
        f" {inst.fleet[0].capacity:g}, features {sorted(map(str, inst.features()))}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
