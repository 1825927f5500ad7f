"""What a solver is: Instance in, Solution out, within the budget it was made with (nco.solvers.registry)."""

from __future__ import annotations

from typing import Protocol

from envs.model.instance import Instance
from envs.model.solution import Solution


class Solver(Protocol):
    """A solver made for one budget and its options (nco.solvers.pipeline.solver_function); its Solution carries
    the notes and the anytime trace, and the pipeline checks it into a SolveResult."""

    def __call__(self, instance: Instance) -> Solution: ...
