"""The policy's typed Construction: its pool of distinct rollouts seeds the search, best first."""

from envs.generate.cvrp import uniform_instance
from envs.model.check import check
from nco.solvers import construct


def test_the_construction_pool_is_distinct_feasible_and_best_first():
    inst = uniform_instance(30, 7)
    built = construct.build(inst, num_starts=8, num_augment=2, keep=5)
    assert 1 < len(built.pool) <= 5 and built.rollouts >= 16 and built.num_starts == 8
    costs = [check(inst, plan).cost for plan in built.pool]
    assert costs == sorted(costs) and all(check(inst, plan).feasible for plan in built.pool)
    assert len({tuple(tuple(r.visits) for r in plan.routes) for plan in built.pool}) == len(built.pool)
    assert built.solution.routes == built.pool[0].routes and built.solution.meta["checkpoint"] == built.checkpoint
    assert construct.solve(inst, num_starts=8, num_augment=2).routes == built.solution.routes


def test_solving_imports_neither_rl4co_nor_lightning():
    import subprocess
    import sys

    code = (
        "import sys, nco; from envs.generate.cvrp import uniform_instance;"
        " r = nco.solve(uniform_instance(20, 0), time_limit=0.3); assert r.feasible;"
        " print(sorted(m for m in ('rl4co', 'lightning', 'tensordict') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _with_decoding(tmp_path, value, name="biased"):
    """A copy of the shipped cvrp100 whose JSON asks for `decoding.distance_bias` = value."""
    import json
    import shutil

    from nco.policy.checkpoints import DEFAULT_CHECKPOINT

    pt = shutil.copy(DEFAULT_CHECKPOINT, tmp_path / f"{name}.pt")
    info = json.loads(DEFAULT_CHECKPOINT.with_suffix(".json").read_text())
    info["decoding"] = {"distance_bias": value}
    (tmp_path / f"{name}.json").write_text(json.dumps(info))
    return pt


def test_a_checkpoints_distance_bias_shapes_every_rollout_and_is_recorded(tmp_path):
    """Distance-aware reshaping: the checkpoint's setting reaches the rollouts (the greedy floor and the
    multi-start pass, with or without a budget), is named in the solution, and a strong bias is the
    nearest-neighbour rule: each step goes to the nearest client the vehicle can still take."""
    import numpy as np

    inst = uniform_instance(40, 3)
    plain = construct.build(inst, _with_decoding(tmp_path, 0.0, "plain"), num_starts=None, num_augment=1)
    near = construct.build(inst, _with_decoding(tmp_path, 500.0, "near"), num_starts=None, num_augment=1)
    assert "distance_bias" not in plain.solution.meta and near.solution.meta["distance_bias"] == 500.0
    assert check(inst, near.solution).feasible and near.solution.routes != plain.solution.routes
    d, cap = inst.distance, inst.fleet[0].capacity
    left = set(range(1, inst.num_nodes))
    for route in near.solution.routes:
        at, load = 0, 0.0
        for client in route.visits:  # the route's first client is the policy's (depot: no distance is near)
            fits = [j for j in left if load + inst.demand[j] <= cap]
            if at:
                assert d[at, client] == min(d[at, j] for j in fits)
            left.discard(client)
            at, load = client, load + inst.demand[client]
    budgeted = construct.build(inst, _with_decoding(tmp_path, 500.0, "near"), num_starts=8, max_seconds=30)
    assert budgeted.solution.meta["distance_bias"] == 500.0 and np.isfinite(check(inst, budgeted.solution).cost)


def test_a_bad_distance_bias_is_refused_in_one_line(tmp_path):
    import pytest

    from envs.errors import CheckpointError

    for bad in (-1, "2", True, float("inf")):
        with pytest.raises(CheckpointError, match="decoding.distance_bias must be a number") as err:
            construct.build(uniform_instance(10, 1), _with_decoding(tmp_path, bad, f"bad{len(str(bad))}"))
        assert "\n" not in str(err.value)
