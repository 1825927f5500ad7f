"""OR-Tools and PyVRP adapters: Instance in, Solution out.

Every adapter has `solve(instance, time_limit=5.0, seed=0, initial=None) -> Solution`,
`SUPPORTED`, the Instance features (envs.model.instance.FEATURES) it honours, and
`cannot_model(instance) -> str | None`, the one-line reason it would refuse an
instance (a feature outside SUPPORTED, or PyVRP's linehaul-first backhauls or
preferences with distance limits), None where it can solve it.
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
CANNOT_MODEL = {
    ortools_solver.NAME: ortools_solver.cannot_model,
    pyvrp_solver.NAME: pyvrp_solver.cannot_model,
}

__all__ = ["BASELINES", "CANNOT_MODEL", "SUPPORTED", "ortools_solver", "pyvrp_solver"]
