"""OR-Tools and PyVRP adapters: Instance in, Solution out.

Every adapter has `solve(instance, time_limit=5.0, seed=0, initial=None) -> Solution`
and `SUPPORTED`, the Instance features (envs.instance.FEATURES) it honours.
"""

from baselines import ortools_solver, pyvrp_solver

BASELINES = {
    ortools_solver.NAME: ortools_solver.solve,
    pyvrp_solver.NAME: pyvrp_solver.solve,
}
SUPPORTED = {
    ortools_solver.NAME: ortools_solver.SUPPORTED,
    pyvrp_solver.NAME: pyvrp_solver.SUPPORTED,
}

__all__ = ["BASELINES", "SUPPORTED", "ortools_solver", "pyvrp_solver"]
