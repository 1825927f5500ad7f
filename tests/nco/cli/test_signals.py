"""Ctrl-C and SIGTERM sent by a driver to a running `nco solve`: the search stops, the best plan so far is
printed and saved marked as interrupted, and the exit status says which signal (130, 143)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from envs.io.json_format import load_solution_json
from envs.io.load import load_instance
from envs.model.check import check

CITY = ROOT / "data" / "city.json"
STOP_WITHIN_S = 10.0  # the aim is well under a second (see scripts/fault_report.py); a busy CI core stretches it


def start(args: list[str]) -> subprocess.Popen:
    """`nco` with progress lines on, SIGINT at its default (a background shell job would ignore it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "nco", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NCO_PROGRESS": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(proc: subprocess.Popen, text: str, count: int = 1) -> list[str]:
    """stderr lines up to the `count`-th containing `text` (the solve has started: signals now stop it)."""
    lines = []
    while sum(text in line for line in lines) < count:
        line = proc.stderr.readline()
        assert line, f"nco ended before {text!r}: {''.join(lines)}"
        lines.append(line)
    return lines


def interrupt(proc: subprocess.Popen, sig: int) -> tuple[str, str, float]:
    sent = time.perf_counter()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return out, err, time.perf_counter() - sent


@pytest.mark.slow
@pytest.mark.parametrize("solver, sig", [("nco", signal.SIGINT), ("pyvrp", signal.SIGTERM), ("ortools", signal.SIGINT)])
def test_a_signal_stops_the_solve_and_saves_its_best_plan(tmp_path, solver, sig):
    out_json = tmp_path / "plan.json"
    proc = start(
        [
            "solve",
            "--instance",
            str(CITY),
            "--solver",
            solver,
            "--time-limit",
            "120",
            "--quiet",
            "--output",
            str(out_json),
        ]
    )
    wait_for(proc, "Ctrl-C stops it")
    time.sleep(1.0)  # into the search
    out, err, took = interrupt(proc, sig)
    name = signal.Signals(sig).name
    assert proc.returncode == 128 + sig, err
    assert took < STOP_WITHIN_S
    assert f"note: interrupted by {name}: the best plan found so far" in out and "| feasible" in out
    instance = load_instance(CITY)
    solution = load_solution_json(instance, out_json)
    assert check(instance, solution).feasible
    meta = json.loads(out_json.read_text())["meta"]
    assert meta["interrupted"] == name and meta["note"].startswith(f"interrupted by {name}")


@pytest.mark.slow
def test_folder_interrupt_reports_what_finished_and_skips_the_rest(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for stem in "abcd":
        (folder / f"{stem}.json").write_text(CITY.read_text())
    proc = start(
        [
            "solve",
            "--instance",
            str(folder),
            "--solver",
            "pyvrp",
            "--time-limit",
            "120",
            "--workers",
            "1",
            "--output",
            str(tmp_path / "out"),
        ]
    )
    wait_for(proc, "Ctrl-C stops it")  # a.json is solving
    time.sleep(1.0)
    out, err, took = interrupt(proc, signal.SIGTERM)
    assert proc.returncode == 143, err
    assert took < STOP_WITHIN_S
    lines = out.splitlines()
    assert lines[0].startswith("sample-city-100: 100 clients") and "interrupted by SIGTERM" in lines[1]
    assert lines[2:5] == [f"{s}.json: not started (interrupted)" for s in "bcd"]
    assert lines[5].endswith("interrupted by SIGTERM: 1 of 4 files ran")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.solution.json"]
