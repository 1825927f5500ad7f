"""A plain (non-editable) install carries what solving needs: the shipped checkpoints and the schemas."""

import shutil
import subprocess
import sys
from zipfile import ZipFile

import pytest
from conftest import ROOT


@pytest.mark.slow
def test_a_wheel_installed_outside_the_checkout_solves_a_city(tmp_path):
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."]
    subprocess.run(build, cwd=ROOT, check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("nco-*.whl"))
    names = set(ZipFile(wheel).namelist())
    shipped = {f"nco/checkpoints/{p.name}" for p in (ROOT / "nco" / "checkpoints").iterdir()}
    assert len(shipped) == 12 and shipped <= names
    assert {"envs/io/instance.schema.json", "envs/io/solution.schema.json"} <= names

    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    work.mkdir()
    shutil.copy(ROOT / "data" / "city.json", work / "city.json")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # the installed copy first
    where = subprocess.run(
        [sys.executable, "-c", "import nco; print(nco.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert where.stdout.strip().startswith(str(target)), where.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "nco", "solve", "--instance", "city.json", "--time-limit", "0.5", "--quiet"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| feasible | policy cvrp100" in proc.stdout
