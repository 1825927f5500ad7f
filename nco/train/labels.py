"""Labels: instances solved by the teacher (the policy-seeded genetic search), kept to train the policy on.

A label set is stored compactly, as what regenerates it: each instance as its generator seed (the generators
are deterministic in (source, size, seed)) with a checksum of its demands, and each plan as a giant tour of
int16 node numbers with 0 between routes, in one compressed .npz (about 250 bytes a label at 100 clients).
The .npz also records what made it (the teacher, its budget, its checkpoint, this module), so that a later
run adds to it instead of solving the same instances again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from envs.errors import NcoError
from envs.model.features import Feature
from envs.model.instance import Instance
from envs.model.solution import Solution

FORMAT = "nco-labels/1"
# Route order and direction are symmetries of a plan only where reversing a route keeps its cost and
# feasibility: not with windows, backhauls, open routes, one-way costs or sampled travel times.
DIRECTED = frozenset(
    {Feature.ASYMMETRIC, Feature.TIME_WINDOWS, Feature.BACKHAULS, Feature.OPEN_ROUTES, Feature.STOCHASTIC}
)


def sample_instance(source: str, num_clients: int, seed: int) -> Instance:
    """One instance of `source`: 'uniform' or 'xlike' CVRP, or a variant of envs.generate.variants ('vrptw')."""
    from envs.generate.cvrp import uniform_instance, xlike_instance

    if source == "uniform":
        return uniform_instance(num_clients, seed)
    if source == "xlike":
        return xlike_instance(num_clients, seed)
    from envs.generate.variants import parse_variant, variant_instance

    try:
        variant = parse_variant(source)
    except ValueError:
        raise NcoError(f"unknown label source {source!r}: uniform, xlike, or a variant name (vrptw, ...)") from None
    return variant_instance(variant, num_clients, seed)


def _checksum(instance: Instance) -> int:
    return int(round(float(instance.demand.sum()) * 1000)) % (2**31)


def giant_tour(solution: Solution) -> list[int]:
    out: list[int] = []
    for route in solution.routes:
        if route.visits:
            out += [*route.visits, 0]
    return out


@dataclass
class LabelSet:
    source: str
    num_clients: int
    seeds: np.ndarray  # (M,) uint64: the instances
    checksums: np.ndarray  # (M,) int64: their demands' checksum, to catch a generator that changed
    tours: list[np.ndarray]  # M giant tours (int16, 0 between routes)
    costs: np.ndarray  # (M,) the teacher's cost
    made_by: list[dict] = field(default_factory=list)  # one record per labelling call: teacher, budget, seconds
    # each instance's training tensors once built (regenerating them every step would starve a GPU)
    _tensors: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.seeds)

    @classmethod
    def empty(cls, source: str, num_clients: int) -> LabelSet:
        return cls(source, num_clients, np.zeros(0, np.uint64), np.zeros(0, np.int64), [], np.zeros(0))

    def extend(self, other: LabelSet) -> LabelSet:
        if (other.source, other.num_clients) != (self.source, self.num_clients):
            raise NcoError(f"labels of {other.source}/{other.num_clients} do not join {self.source}/{self.num_clients}")
        return LabelSet(
            self.source,
            self.num_clients,
            np.concatenate([self.seeds, other.seeds]),
            np.concatenate([self.checksums, other.checksums]),
            self.tours + other.tours,
            np.concatenate([self.costs, other.costs]),
            self.made_by + other.made_by,
            {**self._tensors},  # this set's indices stay where they were
        )

    def instances(self, idx: Sequence[int]) -> list[Instance]:
        out = []
        for i in idx:
            inst = sample_instance(self.source, self.num_clients, int(self.seeds[i]))
            if _checksum(inst) != int(self.checksums[i]):
                raise NcoError(
                    f"label {i} ({self.source}, seed {int(self.seeds[i])}): the generator no longer makes the"
                    " instance it labelled (numpy or the generator changed): label again"
                )
            out.append(inst)
        return out

    def batch(self, idx: Sequence[int]) -> tuple[dict, list[frozenset]]:
        """The instances `idx` as one training batch (envs.rl.batch.stack_instances' tensors, built once each)
        and their features."""
        import torch

        from envs.rl.batch import stack_instances

        missing = [i for i in idx if i not in self._tensors]
        if missing:
            for i, inst in zip(missing, self.instances(missing)):
                self._tensors[i] = (stack_instances([inst]), inst.features())
        parts = [self._tensors[i][0] for i in idx]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}, [self._tensors[i][1] for i in idx]

    def save(self, path: str | Path) -> Path:
        from envs.io.output_files import replaced

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lengths = np.array([len(t) for t in self.tours], np.int32)
        flat = np.concatenate(self.tours).astype(np.int16) if self.tours else np.zeros(0, np.int16)
        meta = {"format": FORMAT, "source": self.source, "num_clients": self.num_clients, "made_by": self.made_by}
        with replaced(path) as tmp, open(tmp, "wb") as f:  # an interrupted save leaves the old set whole
            np.savez_compressed(
                f,
                seeds=self.seeds,
                checksums=self.checksums,
                lengths=lengths,
                tours=flat,
                costs=self.costs,
                meta=np.array(json.dumps(meta)),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> LabelSet:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != FORMAT:
                    raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
                ends = np.cumsum(z["lengths"])
                tours = np.split(z["tours"], ends[:-1]) if len(ends) else []
                return cls(
                    meta["source"],
                    int(meta["num_clients"]),
                    z["seeds"],
                    z["checksums"],
                    [t.astype(np.int16) for t in tours],
                    z["costs"],
                    meta.get("made_by", []),
                )
        except FileNotFoundError:
            raise NcoError(f"label set not found: {path}") from None
        except (OSError, ValueError, KeyError) as e:
            raise NcoError(f"{path} is not an nco label set: {str(e).splitlines()[0] if str(e) else e}") from None


def plan_arrays(tour: np.ndarray, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Each node's successor and predecessor on its route (0 at the route's ends; the depot's are 0)."""
    succ, pred = np.zeros(num_nodes, np.int64), np.zeros(num_nodes, np.int64)
    prev = 0
    for node in tour.tolist():
        if node and prev:
            succ[prev], pred[node] = node, prev
        prev = node
    return succ, pred


def route_heads(tour: np.ndarray, reversible: bool) -> np.ndarray:
    """The clients a route may be entered at (its first, and with `reversible` its last)."""
    heads, prev = [], 0
    for k, node in enumerate(tour.tolist()):
        if node and not prev:
            heads.append(node)
        if node and reversible and (k + 1 == len(tour) or tour[k + 1] == 0) and (not heads or heads[-1] != node):
            heads.append(node)
        prev = node
    return np.array(heads, np.int64)


# ----------------------------------------------------------------------------------------- labelling


@dataclass(frozen=True)
class Teacher:
    """The policy-seeded genetic search (nco.solvers.hybrid) at `seconds` an instance, from `checkpoint`."""

    checkpoint: str | None
    seconds: float = 1.0
    num_starts: int | None = 100

    def __call__(self, instance: Instance, seed: int) -> Solution:
        from nco.solvers import hybrid

        return hybrid.solve(
            instance,
            time_limit=self.seconds,
            checkpoint=self.checkpoint,
            seed=seed % (2**31),
            num_starts=self.num_starts,
            num_augment=1,
            threads=1,
        )


def _label_one(args: tuple[Teacher, str, int, int]) -> tuple[int, list[int], float]:
    import torch

    from envs.model.check import check

    teacher, source, n, seed = args
    torch.set_num_threads(1)  # one core per labelling process: the caller decides how many run
    inst = sample_instance(source, n, seed)
    sol = teacher(inst, seed)
    report = check(inst, sol)
    if not report.feasible:
        raise NcoError(f"the teacher's plan for {inst.name} is infeasible: {report.violations[0]}")
    return _checksum(inst), giant_tour(sol), float(report.cost)


def label(
    source: str,
    num_clients: int,
    seeds: Sequence[int],
    teacher: Teacher,
    pool: ProcessPoolExecutor | None = None,
) -> LabelSet:
    """Solve the instances of `seeds` with `teacher`, in the processes of `pool`, or in this one."""
    began = time.perf_counter()
    jobs = [(teacher, source, num_clients, int(s)) for s in seeds]
    results = list(pool.map(_label_one, jobs) if pool is not None else map(_label_one, jobs))
    record = {
        "teacher": "hybrid (policy-seeded genetic search, nco.solvers.hybrid)",
        "checkpoint": teacher.checkpoint,
        "seconds_each": teacher.seconds,
        "count": len(jobs),
        "wall_seconds": round(time.perf_counter() - began, 1),
        "made_by": "nco/train/labels.py",
    }
    return LabelSet(
        source,
        num_clients,
        np.array([int(s) for s in seeds], np.uint64),
        np.array([r[0] for r in results], np.int64),
        [np.array(r[1], np.int16) for r in results],
        np.array([r[2] for r in results]),
        [record],
    )


def merged(labels: LabelSet, other: LabelSet) -> LabelSet:
    """Both sets, each instance once: where both solved it, the cheaper plan."""
    known = {int(s) for s in labels.seeds}
    new = [j for j, s in enumerate(other.seeds) if int(s) not in known]
    fresh = LabelSet(
        other.source,
        other.num_clients,
        other.seeds[new],
        other.checksums[new],
        [other.tours[j] for j in new],
        other.costs[new],
        [],
    )
    return relabelled(labels, other).extend(fresh)


def relabelled(labels: LabelSet, better: LabelSet) -> LabelSet:
    """`labels` with each instance that `better` solved at a lower cost taking that plan (same seeds)."""
    where = {int(s): i for i, s in enumerate(labels.seeds)}
    tours, costs = list(labels.tours), labels.costs.copy()
    for j, s in enumerate(better.seeds):
        i = where.get(int(s))
        if i is not None and better.costs[j] < costs[i] - 1e-9:
            tours[i], costs[i] = better.tours[j], better.costs[j]
    return replace(labels, tours=tours, costs=costs, made_by=labels.made_by + better.made_by)
