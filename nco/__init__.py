"""nco: neural vehicle routing.

    import nco
    inst = nco.load("data/city.json")
    result = nco.solve(inst, time_limit=5)        # the policy-seeded genetic search; solver="policy", "pyvrp", ...
    print(result.summary())                       # or result.routes, result.to_dict(), result.to_frame()
    report = nco.check(inst, result.solution)

Names load lazily, so that `nco solve` on the command line starts fast.
"""

from __future__ import annotations

__all__ = ["load", "solve", "check", "train", "SolveResult", "Instance", "Solution", "Report"]

_HOME = {
    "load": "nco.api",
    "solve": "nco.api",
    "check": "nco.api",
    "train": "nco.api",
    "SolveResult": "nco.solvers.result",
    "Instance": "envs.model.instance",
    "Solution": "envs.model.solution",
    "Report": "envs.model.check",
}


def __getattr__(name: str):
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'nco' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
