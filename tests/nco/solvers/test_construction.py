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
