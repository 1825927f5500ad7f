"""`nco` end to end: every solver on the shipped city, outputs, folders, and one-line errors for bad input."""

import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from envs.io.json_format import load_solution_json
from envs.io.load import load_instance
from envs.model.check import check
from nco.cli.main import main
from nco.policy.checkpoints import DEFAULT_CHECKPOINT

CITY = ROOT / "data" / "city.json"
X101 = ROOT / "data" / "x" / "X-n101-k25.vrp"
SOLOMON = ROOT / "data" / "solomon" / "C101.vrp"


@pytest.mark.parametrize("solver", ["nco", "ortools", "pyvrp"])
@pytest.mark.slow
def test_solve_city_writes_a_feasible_solution_and_a_plot(tmp_path, capsys, solver):
    out_json, out_png = tmp_path / "solution.json", tmp_path / "routes.png"
    code, out, err = run_cli(
        capsys,
        "solve",
        "--instance",
        CITY,
        "--solver",
        solver,
        "--time-limit",
        1,
        "--output",
        out_json,
        "--plot",
        out_png,
    )
    assert code == 0, err
    assert f"solver {solver}" in out and "feasible" in out and "route   1" in out
    doc = json.loads(out_json.read_text())
    assert doc["feasible"] and doc["solver"] == solver
    assert all(isinstance(c, str) and c.startswith("C") for r in doc["routes"] for c in r["clients"])
    # the saved solution re-checks to the same cost through the one checker
    inst = load_instance(CITY)
    report = check(inst, load_solution_json(inst, out_json))
    assert report.feasible and report.cost == pytest.approx(doc["cost"])
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_check_command_rechecks_a_solution(tmp_path, capsys):
    out_json = tmp_path / "s.json"
    assert (
        run_cli(capsys, "solve", "--instance", X101, "--solver", "ortools", "--time-limit", 1, "--output", out_json)[0]
        == 0
    )
    code, out, _ = run_cli(capsys, "check", "--instance", X101, "--solution", out_json)
    assert code == 0 and "feasible" in out and "gap" in out
    doc = json.loads(out_json.read_text())
    doc["routes"][0]["clients"] += doc["routes"][1]["clients"]
    del doc["routes"][1]
    out_json.write_text(json.dumps(doc))
    code, out, _ = run_cli(capsys, "check", "--instance", X101, "--solution", out_json)
    assert code == 1 and "INFEASIBLE" in out and "exceeds capacity" in out


@pytest.mark.slow
def test_vrplib_instances_solve_with_numbers_as_ids(tmp_path, capsys):
    out_json = tmp_path / "x.json"
    code, out, _ = run_cli(capsys, "solve", "--instance", X101, "--output", out_json, "--quiet")
    assert code == 0 and "gap" in out
    clients = sorted(c for r in json.loads(out_json.read_text())["routes"] for c in r["clients"])
    assert clients == list(range(2, 102))  # VRPLIB node numbers: depot 1, clients 2..101


def test_single_greedy_rollout(capsys):
    code, out, _ = run_cli(capsys, "solve", "--instance", CITY, "--time-limit", 0, "--starts", 0, "--augment", 1)
    assert code == 0 and "feasible" in out


def test_the_solver_policy_greedy_is_one_greedy_rollout_whatever_the_starts_say(capsys, tmp_path):
    out_file = tmp_path / "sol.json"
    code, _, _ = run_cli(capsys, "solve", "--instance", CITY, "--solver", "policy-greedy", "--output", out_file)
    meta = json.loads(out_file.read_text())["meta"]
    assert code == 0 and meta["rollouts"] == 1 and meta["num_starts"] == 0 and meta["num_augment"] == 1


@pytest.mark.slow
def test_the_policy_alone_solves_a_profiled_fleet_with_the_fleet_checkpoint(capsys, tmp_path):
    """Two vehicle types (the big one dearer and barred from a zone), counts limited: the fleet policy's routes
    keep the zone and the counts, and the summary names each route's type."""

    import numpy as np

    from envs.io.json_format import save_instance_json

    inst = load_instance(CITY)
    allowed = np.ones(inst.num_nodes, dtype=bool)
    allowed[1:11] = False
    inst = replace(
        inst,
        fleet=[
            replace(inst.fleet[0], name="van", count=None),
            replace(
                inst.fleet[0],
                name="truck",
                capacity=2 * inst.fleet[0].capacity,
                fixed_cost=10.0,
                count=3,
                allowed=allowed,
            ),
        ],
    )
    save_instance_json(inst, tmp_path / "two_types.json")
    out_json = tmp_path / "two_types.solution.json"
    code, out, err = run_cli(
        capsys, "solve", "--instance", tmp_path / "two_types.json", "--time-limit", 0, "--output", out_json
    )
    assert code == 0, err
    assert "fleet100" in out and "[van]" in out
    sol = load_solution_json(load_instance(tmp_path / "two_types.json"), out_json)
    report = check(load_instance(tmp_path / "two_types.json"), sol)
    assert report.feasible, report.violations
    assert sum(r.vehicle_type == 1 for r in sol.routes) <= 3
    assert not any(c <= 10 for r in sol.routes if r.vehicle_type == 1 for c in r.visits)


@pytest.mark.slow
def test_stochastic_instance_plans_with_slack_and_prints_the_robust_metrics(capsys, tmp_path):
    from envs.generate.svrp import svrp_instance
    from envs.io.json_format import save_instance_json

    save_instance_json(svrp_instance(30, 4), tmp_path / "city_day.json")
    out_json = tmp_path / "day.solution.json"
    code, out, err = run_cli(
        capsys,
        "solve",
        "--instance",
        tmp_path / "city_day.json",
        "--time-limit",
        1,
        "--samples",
        300,
        "--seed",
        3,
        "--output",
        out_json,
    )
    assert code == 0, err
    assert "planned on the 0.9 quantile" in out and "robust: expected cost" in out and "(300 samples, seed 3)" in out
    robust = json.loads(out_json.read_text())["meta"]["robust"]
    assert robust["samples"] == 300 and robust["seed"] == 3 and 0.9 <= robust["tw_feasibility"] <= 1
    assert robust["expected_cost"] >= robust["cost"] * 0.99 and len(robust["on_time"]) == 31
    # the same routes, evaluated again with the same seed: the same figures
    from envs.model.robust import evaluate

    inst = load_instance(tmp_path / "city_day.json")
    again = evaluate(inst, load_solution_json(inst, out_json), 300, 3)
    assert again.expected_cost == pytest.approx(robust["expected_cost"], rel=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan-quantile", "1.5"], "--plan-quantile must be 'mean' or a number between 0 and 1, got '1.5'"),
        (["--samples", "-4"], "--samples must be between 0 and 1,000,000, got -4"),
    ],
)
def test_bad_robust_options_give_one_line(capsys, tmp_path, args, message):
    from envs.generate.svrp import svrp_instance
    from envs.io.json_format import save_instance_json

    save_instance_json(svrp_instance(10, 1), tmp_path / "day.json")
    code, _, err = run_cli(
        capsys, "solve", "--instance", tmp_path / "day.json", "--solver", "ortools", "--time-limit", 0.2, *args
    )
    assert code == 2 and message in err and err.count("\n") == 1


def test_samples_need_a_travel_model(capsys):
    code, _, err = run_cli(capsys, "solve", "--instance", CITY, "--time-limit", 0, "--samples", 10)
    assert code == 2 and "has no travel_model: robust evaluation needs one" in err and err.count("\n") == 1


@pytest.mark.slow
def test_the_policy_alone_solves_solomon_with_the_variants_checkpoint(capsys, tmp_path):
    """Time windows, service times and the fleet of 25: the multi-variant policy's routes pass the checker."""
    out_json = tmp_path / "c101.json"
    code, out, _ = run_cli(capsys, "solve", "--instance", SOLOMON, "--time-limit", 0, "--output", out_json)
    assert code == 0 and "variants100" in out and "feasible" in out
    assert check(load_instance(SOLOMON), load_solution_json(load_instance(SOLOMON), out_json)).feasible


@pytest.mark.slow
def test_folder_uses_workers_and_keeps_going_past_a_bad_file(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(X101, folder)
    shutil.copy(CITY, folder)
    (folder / "broken.json").write_text("{not json")
    out = tmp_path / "out"
    code, stdout, _ = run_cli(
        capsys, "solve", "--instance", folder, "--solver", "ortools", "--time-limit", 1, "--workers", 2, "--output", out
    )
    assert code == 1  # one file failed ...
    assert "broken.json: invalid JSON" in stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "X-n101-k25.solution.json",
        "city.solution.json",
    ]  # ... the rest landed
    assert "3 instances, 2 feasible" in stdout


BAD_INPUTS = {
    "invalid JSON": ('{"depot": {"x": 0, "y": 0},', "invalid JSON"),
    "missing field": ('{"depot": {"x": 0, "y": 0}, "clients": [{"id": 1, "x": 1, "y": 1, "demand": 1}]}', "fleet"),
    "negative demand": ("demand", -3),
    "fractional demand": ("demand", 2.5),
    "demand over capacity": ("demand", 1000),
    "NaN coordinate": ("x", float("nan")),
    "infinite coordinate": ("y", float("inf")),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_instances_give_one_line_and_exit_2(tmp_path, capsys, case):
    spec = BAD_INPUTS[case]
    path = tmp_path / "bad.json"
    if case in ("invalid JSON", "missing field"):
        path.write_text(spec[0])
        expect = spec[1]
    else:
        doc = json.loads(CITY.read_text())
        doc["clients"][3][spec[0]] = spec[1]
        path.write_text(json.dumps(doc))
        expect = doc["clients"][3]["id"] if case == "demand over capacity" else "clients[3]"
    code, out, err = run_cli(capsys, "solve", "--instance", path, "--solver", "ortools")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expect in err, err


@pytest.mark.parametrize("matrix", ["non-square", "wrong size"])
def test_bad_matrices_give_one_line(tmp_path, capsys, matrix):
    doc = json.loads(CITY.read_text())
    n1 = len(doc["clients"]) + 1
    rows = n1 if matrix == "non-square" else n1 - 1
    doc["distance_matrix"] = [[1.0] * (n1 - 1 if matrix == "non-square" and i == 2 else rows) for i in range(rows)]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    code, _, err = run_cli(capsys, "solve", "--instance", path, "--solver", "pyvrp")
    assert code == 2 and err.count("\n") == 1 and "matrix" in err


def test_missing_and_incompatible_checkpoints(tmp_path, capsys):
    code, _, err = run_cli(capsys, "solve", "--instance", CITY, "--checkpoint", tmp_path / "none.pt")
    assert code == 2 and "checkpoint not found" in err
    # right files, wrong shapes: a config that does not match the weights
    shutil.copy(DEFAULT_CHECKPOINT, tmp_path / "m.pt")
    info = json.loads(DEFAULT_CHECKPOINT.with_suffix(".json").read_text())
    info["config"]["embed_dim"] = 64
    (tmp_path / "m.json").write_text(json.dumps(info))
    code, _, err = run_cli(capsys, "solve", "--instance", CITY, "--checkpoint", tmp_path / "m.pt")
    assert code == 2 and "does not match" in err and err.count("\n") == 1
    # not a checkpoint at all
    (tmp_path / "junk.pt").write_bytes(b"this is not a torch file")
    shutil.copy(DEFAULT_CHECKPOINT.with_suffix(".json"), tmp_path / "junk.json")
    code, _, err = run_cli(capsys, "solve", "--instance", CITY, "--checkpoint", tmp_path / "junk.pt")
    assert code == 2 and "cannot be read" in err and err.count("\n") == 1
    # a JSON that is not ours
    (tmp_path / "junk.json").write_text('{"hello": 1}')
    code, _, err = run_cli(capsys, "solve", "--instance", CITY, "--checkpoint", tmp_path / "junk.pt")
    assert code == 2 and "not an nco checkpoint" in err


def test_missing_file_and_the_installed_entry_point(tmp_path):
    """The real console script: no traceback, exit 2, one line."""
    exe = Path(sys.executable).with_name("nco")
    proc = subprocess.run(
        [str(exe), "solve", "--instance", str(tmp_path / "nope.json")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "not found" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_the_readme_main_command_solves_the_monaco_city_on_its_roads(tmp_path, capsys):
    """The README's first command as written (outputs redirected): no server, the road policy, a feasible plan."""
    line = next(ln for ln in (ROOT / "README.md").read_text().splitlines() if ".venv/bin/nco solve" in ln)
    argv = shlex.split(line.split(".venv/bin/nco", 1)[1])
    argv[argv.index("--output") + 1] = str(tmp_path / "solution.json")
    argv[argv.index("--plot") + 1] = str(tmp_path / "routes.png")
    code, out, err = run_cli(capsys, *argv, "--time-limit", 1)
    assert code == 0, err
    assert out.startswith("monaco-100: 100 clients | solver nco") and "| feasible | policy road100_matrix" in out
    doc = json.loads((tmp_path / "solution.json").read_text())
    inst = load_instance(ROOT / argv[argv.index("--instance") + 1])
    report = check(inst, load_solution_json(inst, tmp_path / "solution.json"))
    assert doc["feasible"] and report.feasible and abs(doc["cost"] - report.cost) < 1e-6
    assert (tmp_path / "routes.png").stat().st_size > 10_000


# ---------------------------------------------------------------- the command line as a shell user meets it
NCO = [sys.executable, "-m", "nco"]


def test_version_and_python_dash_m():
    from importlib.metadata import version

    proc = subprocess.run([*NCO, "--version"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == f"nco {version('nco')}"


@pytest.mark.parametrize("command", ["solve", "check", "train", "osrm build", "osrm serve"])
def test_every_help_shows_the_defaults(capsys, command):
    with pytest.raises(SystemExit):
        main([*command.split(), "--help"])
    text = " ".join(capsys.readouterr().out.split())
    expected = {
        "solve": "(default: 3.0)",
        "check": "--instance",
        "train": "(default: 10)",
        "osrm build": "(default car)",
        "osrm serve": "(default: 5000)",
    }[command]
    assert expected in text


def test_a_closed_pipe_is_no_error():
    """`nco solve ... | head -1`: the reader leaves early; no traceback, no 'Broken pipe', the file is written."""
    cmd = f"{shlex.join(NCO)} solve --instance {shlex.quote(str(CITY))} --solver ortools --time-limit 0.5 | head -1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.startswith("sample-city-100: 100 clients | solver ortools"), proc.stderr
    assert proc.stderr == "" and proc.returncode == 0


def test_a_user_checkpoint_is_named_after_its_run_folder(tmp_path, capsys):
    run = tmp_path / "my-run"
    run.mkdir()
    for suffix in (".pt", ".json"):
        shutil.copy(DEFAULT_CHECKPOINT.with_suffix(suffix), run / f"best{suffix}")
    code, out, err = run_cli(
        capsys, "solve", "--instance", CITY, "--time-limit", 0, "--checkpoint", run / "best.pt", "--quiet"
    )
    assert code == 0, err
    assert "| policy my-run/best" in out


def test_folder_workers_are_capped_at_the_cores(tmp_path, capsys):
    from nco.threads import available_cores

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(X101, folder)
    code, out, err = run_cli(
        capsys,
        "solve",
        "--instance",
        folder,
        "--solver",
        "ortools",
        "--time-limit",
        0.3,
        "--workers",
        1000,
        "--threads",
        64,
    )
    assert code == 0, err
    assert "note: 1 workers, not 1000" in err and f"{available_cores()} cores" in err
    assert "1 instances, 1 feasible" in out and "with 1 workers" in out
