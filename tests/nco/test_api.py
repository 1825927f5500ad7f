"""The public Python API: nco.load, nco.solve, nco.check, nco.train and SolveResult, as the README shows it."""

import subprocess
import sys

import pytest
from conftest import ROOT

import nco
from envs.errors import NcoError

CITY = ROOT / "data" / "city.json"


@pytest.fixture(scope="module")
def city():
    return nco.load(CITY)


def test_solve_returns_a_checked_result_with_routes_named_by_ids(city):
    result = nco.solve(city, time_limit=0.5)
    assert result.feasible and result.solver == "hybrid" and result.cost == nco.check(city, result.solution).cost
    served = [c for route in result.routes for c in route["clients"]]
    assert sorted(served) == sorted(city.ids[1:]) and all(isinstance(c, str) for c in served)
    assert result.summary().splitlines()[0].startswith("sample-city-100: 100 clients | solver nco")
    assert result.to_dict()["cost"] == result.cost and result.trace and result.timings["total"] > 0
    frame = result.to_frame()
    assert list(frame.columns) == ["route", "vehicle_type", "stop", "client", "demand"]
    assert len(frame) == 100 and frame["demand"].sum() == city.demand.sum()


@pytest.mark.parametrize("solver", ["policy", "pyvrp", "ortools", "ortools+policy", "nco"])
def test_every_registered_solver_name_solves(city, solver):
    result = nco.solve(city, time_limit=0.3, solver=solver)
    assert result.feasible and result.solver == ("hybrid" if solver == "nco" else solver)
    if solver == "policy":  # the policy alone: no search, the same plan whatever the budget
        assert result.cost == nco.solve(city, time_limit=5, solver="policy").cost


def test_bad_names_and_options_are_refused_in_one_line(city):
    with pytest.raises(NcoError, match=r"unknown solver 'lkh'; choose one of policy, hybrid, pyvrp"):
        nco.solve(city, solver="lkh")
    with pytest.raises(NcoError, match="num_seeds must be 1 or more"):
        nco.solve(city, num_seeds=0)


def test_solve_takes_a_path_and_check_takes_a_result(city):
    result = nco.solve(str(CITY), time_limit=0.3, solver="pyvrp")
    assert nco.check(city, result).feasible


def test_import_nco_is_light():
    """`import nco` (and so every `nco` command) loads no torch, solver or training library until asked."""
    code = "import sys, nco; print(sorted(m for m in ('torch', 'pyvrp', 'ortools', 'lightning') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"
    assert set(nco.__all__) == {"load", "solve", "check", "train", "SolveResult", "Instance", "Solution", "Report"}


def test_the_readme_python_section_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    block = text.split("### Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    proc = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "sample-city-100: 100 clients" in proc.stdout
