"""`nco check`: nco's JSON and VRPLIB .sol files, the check's own figures, and claims the check contradicts."""

import json
from pathlib import Path

import pytest
from conftest import ROOT

from nco.cli.main import main

X101 = ROOT / "data" / "x" / "X-n101-k25.vrp"
X101_SOL = X101.with_suffix(".sol")  # the best-known routes, Cost 27591
HD110 = ROOT / "data" / "hfvrp" / "X110-HD.vrp"  # unrounded distances: its best known is 15859.34144...
FSMFD129 = ROOT / "data" / "hfvrp" / "X129-FSMFD.vrp"  # its .sol states PyVRP's exact objective (x1e5)


def run_check(capsys, instance, solution):
    code = main(["check", "--instance", str(instance), "--solution", str(solution)])
    out, err = capsys.readouterr()
    return code, out, err


def notes(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("note:")]


def sol_with(tmp_path, text: str, name: str = "plan.sol") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """A JSON solution written by `nco solve` (the savings construction: quick and deterministic)."""
    path = tmp_path_factory.mktemp("solve") / "x101.json"
    args = ["solve", "--instance", str(X101), "--solver", "pyvrp", "--time-limit", "0", "--output", str(path)]
    assert main([*args, "--quiet"]) == 0
    return json.loads(path.read_text())


def test_a_best_known_sol_checks_feasible_with_its_cost(capsys):
    code, out, err = run_check(capsys, X101, X101_SOL)
    head = out.splitlines()[0]
    assert code == 0 and err == ""
    assert "| cost 27591 |" in head and "| 26 vehicles |" in head and "| feasible" in head
    assert not notes(out) and "the file says" not in out


@pytest.mark.parametrize(
    "instance",
    [pytest.param(HD110, id="unrounded distances"), pytest.param(FSMFD129, id="PyVRP exact units")],
)
def test_shipped_sol_costs_agree_in_either_unit(capsys, instance):
    code, out, _ = run_check(capsys, instance, instance.with_suffix(".sol"))
    assert code == 0 and "| feasible" in out and not notes(out)


def test_a_cost_rounded_to_its_written_decimals_agrees(tmp_path, capsys):
    routes = HD110.with_suffix(".sol").read_text().split("Cost")[0]
    for stated in ("15859", "15859.3", "15859.34"):  # the check finds 15859.3414...
        code, out, _ = run_check(capsys, HD110, sol_with(tmp_path, f"{routes}Cost {stated}\n"))
        assert code == 0 and not notes(out), stated
    code, out, _ = run_check(capsys, HD110, sol_with(tmp_path, f"{routes}Cost 15859.4\n"))
    assert code == 1 and notes(out) == ["note: the file claims cost 15859.4; the check finds 15859.3"]


def test_a_wrong_cost_line_is_noted_and_exits_1(tmp_path, capsys):
    text = X101_SOL.read_text().replace("Cost 27591", "Cost 1")
    code, out, err = run_check(capsys, X101, sol_with(tmp_path, text))
    assert code == 1 and err == ""
    assert "| cost 27591 |" in out and "| feasible" in out  # the check's figures, not the file's
    assert notes(out) == ["note: the file claims cost 1; the check finds 27591"]


def test_a_sol_without_a_cost_line_claims_nothing(tmp_path, capsys):
    text = X101_SOL.read_text().replace("Cost 27591", "")
    code, out, _ = run_check(capsys, X101, sol_with(tmp_path, text))
    assert code == 0 and not notes(out)


def test_vrplib_text_is_recognised_by_its_content(tmp_path, capsys):
    code, out, _ = run_check(capsys, X101, sol_with(tmp_path, X101_SOL.read_text(), "plan.txt"))
    assert code == 0 and "| cost 27591 |" in out


def test_a_client_served_twice_is_infeasible(tmp_path, capsys):
    text = X101_SOL.read_text().replace("Route #1: 31 46 35", "Route #1: 31 46 35 15")  # 15 is on route 2
    code, out, _ = run_check(capsys, X101, sol_with(tmp_path, text))
    assert code == 1 and "INFEASIBLE" in out.splitlines()[0] and "violation:" in out


@pytest.mark.parametrize(
    "text, problem",
    [
        ("Route #1: 1 2 101\nCost 5\n", "route 1 visits client 101, but X-n101-k25 has clients 1 to 100 only"),
        ("Route #1: 0 2\n", "route 1 visits client 0"),
        ("Route #1: 1 x\n", "cannot parse VRPLIB solution"),
        ("hello world\n", "not a VRPLIB solution: no 'Route #k: ...' line"),
        ("", "not a VRPLIB solution"),
        ("Route #1: 1 2\nCost abc\n", "its Cost line says 'abc'; expected a finite number"),
        ("Route #1: 1 2\nCost inf\n", "expected a finite number"),
    ],
)
def test_a_malformed_sol_is_one_line_naming_the_file(tmp_path, capsys, text, problem):
    code, out, err = run_check(capsys, X101, sol_with(tmp_path, text, "broken.sol"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: broken.sol: ") and problem in err


def test_a_missing_solution_file_is_one_line(tmp_path, capsys):
    code, _, err = run_check(capsys, X101, tmp_path / "none.sol")
    assert code == 2 and err.count("\n") == 1 and "none.sol" in err


def test_a_solved_json_checks_clean_and_labels_what_it_says(tmp_path, capsys, solved):
    doc = {**solved, "timings": {"total": 123.456}, "meta": {**solved["meta"], "note": "a solver note"}}
    path = sol_with(tmp_path, json.dumps(doc), "plan.json")
    code, out, _ = run_check(capsys, X101, path)
    head = out.splitlines()[0]
    assert code == 0 and not notes(out)
    assert f"| cost {solved['cost']:.6g} |" in head and "123.456" not in head  # the time is the check's own
    assert "  the file says: solved in 123.456 s; note: a solver note" in out.splitlines()


def test_an_edited_json_cost_is_noted(tmp_path, capsys, solved):
    path = sol_with(tmp_path, json.dumps({**solved, "cost": 1.0}), "plan.json")
    code, out, _ = run_check(capsys, X101, path)
    assert code == 1 and "| feasible" in out
    assert notes(out) == [f"note: the file claims cost 1.0; the check finds {solved['cost']:.6g}"]


def test_json_claims_of_feasibility_and_vehicles_are_compared(tmp_path, capsys, solved):
    wrong = {**solved, "feasible": False, "num_routes": solved["num_routes"] + 1}
    code, out, _ = run_check(capsys, X101, sol_with(tmp_path, json.dumps(wrong), "plan.json"))
    assert code == 1
    assert notes(out) == [
        "note: the file claims infeasible; the check finds feasible",
        f"note: the file claims {solved['num_routes'] + 1} vehicles; the check finds {solved['num_routes']}",
    ]
    # an infeasible plan the file calls feasible: exit 1 either way, and the note says which claim is wrong
    merged = json.loads(json.dumps(solved))
    merged["routes"][0]["clients"] += merged["routes"][1]["clients"]
    del merged["routes"][1]
    code, out, _ = run_check(capsys, X101, sol_with(tmp_path, json.dumps(merged), "plan.json"))
    assert code == 1 and "INFEASIBLE" in out.splitlines()[0]
    assert any(n.startswith("note: the file claims feasible; the check finds INFEASIBLE") for n in notes(out))


def test_json_in_a_sol_file_is_read_as_json(tmp_path, capsys, solved):
    code, out, _ = run_check(capsys, X101, sol_with(tmp_path, json.dumps(solved), "plan.sol"))
    assert code == 0 and "solver pyvrp" in out


def test_the_help_documents_sol_files_claims_and_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ".sol" in text and "the file claims" in text
    assert "1 infeasible, or a claim disagrees" in text
