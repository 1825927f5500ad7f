"""Nothing lost, nothing forged: output paths refused before the solve, files replaced whole, the plan printed
before any file is written, option refusals, control characters escaped, folder outputs that never collide."""

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli

from envs.errors import NcoError
from envs.io.json_format import load_solution_json, save_instance_json
from envs.io.load import load_instance
from envs.io.output_files import replaced, write_text
from nco.cli.render import shown

CITY = ROOT / "data" / "city.json"
FLEET_VRP = ROOT / "data" / "hfvrp" / "X101-FSMFD.vrp"


def small_city(tmp_path, name="small", ids=None) -> Path:
    rng = np.random.default_rng(3)
    n = 8
    doc = {
        "name": name,
        "depot": {"id": "depot", "x": 50.0, "y": 50.0},
        "clients": [
            {"id": (ids[k] if ids else f"C{k + 1}"), "x": float(x), "y": float(y), "demand": 1}
            for k, (x, y) in enumerate(rng.uniform(0, 100, (n, 2)))
        ],
        "fleet": [{"name": "van", "capacity": 4, "count": 4}],
    }
    path = tmp_path / f"{name if name.isidentifier() else 'city'}.json"
    path.write_text(json.dumps(doc))
    return path


# ---------------------------------------------------------------------- output targets, before the solve
def _under_a_file(tmp_path):
    (tmp_path / "plain").write_text("x")
    return tmp_path / "plain" / "out.json"


@pytest.mark.parametrize(
    "option, target, message",
    [
        ("--output", lambda t: t, "is a folder; give a file name"),
        ("--output", _under_a_file, "is a file, not a folder"),
        ("--plot", lambda t: t / "routes.xyz", ".xyz is not a picture format"),
        ("--trace-plot", lambda t: t / "trace.doc", ".doc is not a picture format"),
        ("--plot", lambda t: t, "is a folder; give a file name"),
    ],
)
def test_an_unwritable_output_is_refused_before_solving(tmp_path, capsys, option, target, message):
    # a 30 s budget: a refusal after the solve would show as the time and the summary line
    path = target(tmp_path)
    code, out, err = run_cli(capsys, "solve", "--instance", CITY, "--time-limit", 30, option, path)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"error: {option} {path}: ") and message in err


def test_a_folder_solve_refuses_an_output_that_is_a_file_and_a_trace_plot(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text(CITY.read_text())
    (tmp_path / "taken").write_text("x")
    code, out, err = run_cli(capsys, "solve", "--instance", tmp_path / "in", "--output", tmp_path / "taken")
    assert code == 2 and out == "" and "is a file; give a folder when solving a folder" in err
    code, out, err = run_cli(capsys, "solve", "--instance", tmp_path / "in", "--trace-plot", tmp_path / "t.png")
    assert code == 2 and out == "" and "--trace-plot draws one solve's curve" in err


def test_plot_of_an_instance_without_coordinates_is_refused_before_solving(tmp_path, capsys):
    doc = {
        "name": "matrix-only",
        "depot": {"id": "d"},
        "clients": [{"id": "a", "demand": 1}, {"id": "b", "demand": 1}],
        "fleet": [{"capacity": 5, "count": 1}],
        "distance_matrix": [[0, 1, 2], [1, 0, 1], [2, 1, 0]],
    }
    (tmp_path / "m.json").write_text(json.dumps(doc))
    code, out, err = run_cli(capsys, "solve", "--instance", tmp_path / "m.json", "--plot", tmp_path / "p.png")
    assert code == 2 and out == "" and "has no coordinates to draw" in err


# ---------------------------------------------------------------------- whole files or none
def test_replaced_leaves_the_old_file_whole_when_the_writer_fails(tmp_path):
    target = tmp_path / "keep.json"
    target.write_text("old and good")
    with pytest.raises(RuntimeError), replaced(target) as tmp:
        tmp.write_text("half a ne")
        raise RuntimeError("the writer died")
    assert target.read_text() == "old and good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.json"]  # no temporary left behind
    write_text(target, "new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.json"]


def test_a_full_disk_keeps_the_previous_solution_and_prints_the_plan(tmp_path):
    """The second solve cannot write its file (files capped at 1 KB, as a full disk would): the previous
    solution file stays whole, the error names the file, and the plan's routes are printed even with --quiet."""
    out = tmp_path / "solution.json"
    cmd = [
        sys.executable,
        "-m",
        "nco",
        "solve",
        "--instance",
        str(CITY),
        "--time-limit",
        "0",
        "--starts",
        "0",
        "--augment",
        "1",
        "--output",
        str(out),
        "--quiet",
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = out.read_bytes()

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300, preexec_fn=cap)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [f"error: cannot write {out}: File too large"]
    lines = second.stdout.splitlines()
    vehicles = int(lines[0].split(" vehicles")[0].rsplit("| ", 1)[1])
    assert "feasible" in lines[0] and sum(line.startswith("  route ") for line in lines) == vehicles
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["solution.json"]
    load_solution_json(load_instance(CITY), out)  # still a readable solution


# ---------------------------------------------------------------------- options refused by name
@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "-3"], "--seeds must be 1 or more, got -3"),
        (["--seeds", "0"], "--seeds must be 1 or more, got 0"),
        (["--starts", "-1"], "--starts must be 0 (one greedy rollout) or more, got -1"),
        (["--samples", "-4"], "--samples must be between 0 and 1,000,000, got -4"),
        (["--samples", "10000000"], "--samples must be between 0 and 1,000,000, got 10000000"),
        (["--time-limit", "nan"], "--time-limit must be a finite number of seconds"),
        (["--time-limit", "inf"], "--time-limit must be a finite number of seconds"),
        (["--threads", "0"], "--threads must be from 1 to 1024, got 0"),
        (["--threads", "100000"], "--threads must be from 1 to 1024, got 100000"),
        (["--seed", "-1"], "--seed must be a whole number from 0 to 4294967295, got -1"),
        (["--seed", str(2**70)], "--seed must be a whole number from 0 to 4294967295"),
        (["--augment", "3"], "argument --augment: invalid choice"),
    ],
)
def test_bad_solve_options_are_refused_by_name(capsys, args, message):
    with pytest.raises(SystemExit) if args[0] == "--augment" else _no_raise():
        code, out, err = run_cli(capsys, "solve", "--instance", CITY, *args)
    if args[0] == "--augment":
        err = capsys.readouterr().err
    else:
        assert code == 2 and out == "" and err.count("\n") == 1
    assert message in err


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_robust_evaluation_that_would_run_for_minutes_is_refused_before_solving():
    from envs.generate.svrp import svrp_instance
    from nco.solvers.pipeline import MAX_SAMPLED_VISITS, SolveOptions, solve_and_check

    inst = svrp_instance(300, 1)
    with pytest.raises(NcoError, match=r"1,000,000 samples x 300 clients is more than 200,000,000 sampled visits"):
        solve_and_check(inst, SolveOptions("pyvrp", 30.0, samples=1_000_000))
    assert MAX_SAMPLED_VISITS // 300 == 666_666


# ---------------------------------------------------------------------- nothing a file holds reaches the terminal raw
def test_control_characters_in_names_and_ids_are_escaped(tmp_path, capsys):
    forged = "evil\x1b[2J\rsample | feasible\nfake-line"
    path = small_city(tmp_path, name=forged, ids=["C1\x1b]0;x\x07", "C2\u202e", *[f"C{k}" for k in range(3, 9)]])
    code, out, err = run_cli(capsys, "solve", "--instance", path, "--solver", "pyvrp", "--time-limit", 0.3)
    assert code == 0, err
    assert not any(c in out for c in "\x1b\r\x07\u202e")
    assert out.splitlines()[0].startswith(r"evil\x1b[2J\x0dsample | feasible\x0afake-line: 8 clients")
    assert r"C1\x1b]0;x\x07" in out and r"C2\u202e" in out
    assert len(out.splitlines()) == 1 + sum(line.startswith("  route ") for line in out.splitlines())


def test_an_error_naming_a_file_stays_one_escaped_line(tmp_path, capsys):
    bad = tmp_path / "a\x1b[31mb\nc.json"
    bad.write_text("{ not json")
    code, out, err = run_cli(capsys, "solve", "--instance", bad)
    assert code == 2 and err.count("\n") == 1 and "\x1b" not in err and r"a\x1b[31mb" in err and "c.json" in err


def test_shown_keeps_printable_text():
    assert shown("Zürich Hbf – Gleis 7 ✓") == "Zürich Hbf – Gleis 7 ✓"
    assert shown("\t\x00\x7f\x85\u2028") == r"\x09\x00\x7f\x85\u2028"


# ---------------------------------------------------------------------- folders
def test_folder_outputs_of_one_stem_do_not_collide(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    save_instance_json(load_instance(FLEET_VRP), folder / "a.json")
    (folder / "a.vrp").write_text(FLEET_VRP.read_text())
    (folder / "b.json").write_text(small_city(tmp_path).read_text())
    code, out, err = run_cli(
        capsys,
        "solve",
        "--instance",
        folder,
        "--solver",
        "pyvrp",
        "--time-limit",
        0.3,
        "--workers",
        1,
        "--output",
        tmp_path / "out",
    )
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["a.json.solution.json", "a.vrp.solution.json", "b.solution.json"]
    assert "keep their suffix in their output names" in err
    for name, source in [("a.json.solution.json", folder / "a.json"), ("a.vrp.solution.json", folder / "a.vrp")]:
        load_solution_json(load_instance(source), tmp_path / "out" / name)


def test_folder_file_that_breaks_a_solver_fails_alone(tmp_path, capsys):
    """A schema-valid file whose numbers no solver model holds (a capacity of 1e308 once ended the batch)."""
    folder = tmp_path / "in"
    folder.mkdir()
    good = small_city(tmp_path)
    (folder / "good.json").write_text(good.read_text())
    doc = json.loads(good.read_text())
    doc["fleet"][0]["capacity"] = 1e308
    (folder / "huge.json").write_text(json.dumps(doc))
    code, out, err = run_cli(
        capsys,
        "solve",
        "--instance",
        folder,
        "--solver",
        "pyvrp",
        "--time-limit",
        0.3,
        "--workers",
        1,
        "--output",
        tmp_path / "out",
    )
    lines = out.splitlines()
    assert code == 1 and len(lines) == 3 and lines[-1].startswith("2 instances, 1 feasible")
    assert lines[0].startswith("small: 8 clients") and lines[1].startswith("error: ") and "huge" in lines[1]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.solution.json"]


# ---------------------------------------------------------------------- checkpoint files, by field
@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: c.update(embed_dim="abc"),
            "configuration embed_dim must be a whole number from 1 to 4096, got 'abc'",
        ),
        (lambda c: c.update(num_layers=-1), "configuration num_layers must be a whole number from 1 to 64, got -1"),
        (
            lambda c: c.update(embed_dim=130),
            "configuration embed_dim 130 is not divisible by the policy's 8 attention heads (try 128)",
        ),
        (lambda c: c.update(matrix="yes"), "configuration matrix must be true or false, got 'yes'"),
        (lambda c: c.update(bogus=3), "unknown configuration field 'bogus' (known: embed_dim, num_heads"),
        (lambda c: c.update(ff_dim=10**9), "configuration ff_dim must be a whole number from 1 to 16384"),
    ],
)
def test_a_checkpoint_configuration_is_checked_field_by_field(tmp_path, capsys, edit, message):
    from nco.policy.checkpoints import DEFAULT_CHECKPOINT

    info = json.loads(DEFAULT_CHECKPOINT.with_suffix(".json").read_text())
    edit(info["config"])
    (tmp_path / "p.json").write_text(json.dumps(info))
    (tmp_path / "p.pt").write_bytes(DEFAULT_CHECKPOINT.read_bytes())
    code, out, err = run_cli(capsys, "solve", "--instance", CITY, "--checkpoint", tmp_path / "p.pt")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"error: checkpoint {tmp_path / 'p.pt'}: {message}")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"garbage\n", "not a PyTorch weights file (or a damaged one)"),
        (None, "it holds pickled Python objects besides tensors, and nco loads weights only"),
    ],
)
def test_an_unreadable_checkpoint_gets_one_line_without_torchs_unpickling_advice(tmp_path, capsys, content, message):
    import torch

    from nco.policy.checkpoints import DEFAULT_CHECKPOINT

    (tmp_path / "p.json").write_text(DEFAULT_CHECKPOINT.with_suffix(".json").read_text())
    if content is None:
        torch.save({"weights": NcoError("an object, not a tensor")}, tmp_path / "p.pt")
    else:
        (tmp_path / "p.pt").write_bytes(content)
    code, out, err = run_cli(capsys, "solve", "--instance", CITY, "--checkpoint", tmp_path / "p.pt")
    assert code == 2 and err == f"error: checkpoint {tmp_path / 'p.pt'} cannot be read as policy weights: {message}\n"
    assert "weights_only" not in err


def test_osrm_build_refuses_an_output_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    pbf = ROOT / "data" / "osm" / "monaco.osm.pbf"
    code, out, err = run_cli(capsys, "osrm", "build", "--pbf", pbf, "--out", tmp_path / "taken")
    assert (
        code == 2
        and err == f"error: --out {tmp_path / 'taken'}: is a file; the graph is a folder of files (give a folder)\n"
    )
    code, out, err = run_cli(capsys, "osrm", "build", "--pbf", pbf, "--out", tmp_path / "taken" / "sub")
    assert (
        code == 2
        and err == f"error: --out {tmp_path / 'taken' / 'sub'}: {tmp_path / 'taken'} is a file, not a folder\n"
    )
