"""The VRPLIB and Solomon readers never read a file silently wrong (issue 15, "nothing silently wrong").

Solomon's text form: decimals are read exactly; a word, NaN or infinity, a negative demand or time and a
misnumbered customer are refused naming the file, line and field. VRPLIB: a header, section or TYPE the reader
does not model is refused by name; a DIMENSION that disagrees with the node rows, and a node listed twice or
missing in a section, are refused. Every shipped file still loads as `vrplib` reads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import vrplib
from conftest import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs.errors import InstanceError
from envs.io.load import load_instance
from nco.cli.main import main

SHIPPED = sorted(p for p in DATA.rglob("*") if p.suffix in (".vrp", ".txt"))

# ---------------------------------------------------------------- Solomon's text form
FIELDS = ("customer number", "x coordinate", "y coordinate", "demand", "ready time", "due date", "service time")
ROWS = [[0, 40, 50, 0, 0, 1236, 0], [1, 45, 68, 10, 0, 967, 90], [2, 45, 70, 30, 0, 969, 90]]
CLIENT_LINE = 11  # the line of customer 1 in solomon_text(ROWS)


def solomon_text(rows, vehicles="25", capacity="200", name="S1") -> str:
    head = (
        f"{name}\n\nVEHICLE\nNUMBER     CAPACITY\n  {vehicles}         {capacity}\n\nCUSTOMER\n"
        "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\n\n"
    )
    return head + "".join("  ".join(str(v) for v in row) + "\n" for row in rows)


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def with_client_field(field: str, value) -> list[list]:
    rows = [list(r) for r in ROWS]
    rows[1][FIELDS.index(field)] = value
    return rows


def error(path: Path) -> str:
    with pytest.raises(InstanceError) as info:
        load_instance(path)
    return str(info.value)


def test_solomon_decimals_are_read_exactly(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[1][1:7] = ["45.5", "68.25", "10", "12.5", "967.5", "90.25"]
    inst = load_instance(write(tmp_path, solomon_text(rows), "S1.txt"))
    assert inst.coords[1].tolist() == [45.5, 68.25]  # before: (-1, -1)
    assert inst.time_windows[1].tolist() == [12.5, 967.5]  # before: "closes before it opens"
    assert inst.service[1] == 90.25
    assert inst.distance[0, 1] == np.floor(10 * np.hypot(5.5, 18.25)) / 10  # DIMACS: truncated to one decimal


def test_solomon_whole_numbers_read_as_vrplib_reads_them(tmp_path):
    path = write(tmp_path, solomon_text(ROWS), "S1.txt")
    inst, ref = load_instance(path), vrplib.read_instance(path, instance_format="solomon")
    np.testing.assert_array_equal(inst.coords, ref["node_coord"])
    np.testing.assert_array_equal(inst.demand, ref["demand"])
    np.testing.assert_array_equal(inst.time_windows, ref["time_window"])
    np.testing.assert_array_equal(inst.service, ref["service_time"])
    assert (inst.fleet[0].count, inst.fleet[0].capacity, inst.ids) == (25, 200, [0, 1, 2])


def test_solomon_text_of_c101_loads_as_its_vrplib_form(tmp_path):
    ref = load_instance(DATA / "solomon" / "C101.vrp")
    rows = [[k, *ref.coords[k], ref.demand[k], *ref.time_windows[k], ref.service[k]] for k in range(ref.num_nodes)]
    inst = load_instance(write(tmp_path, solomon_text([[f"{v:g}" for v in r] for r in rows]), "C101.txt"))
    for attr in ("coords", "distance", "demand", "time_windows", "service"):
        np.testing.assert_array_equal(getattr(inst, attr), getattr(ref, attr))


coordinate = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False, allow_infinity=False)
time = st.floats(min_value=0, max_value=1e5, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    points=st.lists(st.tuples(coordinate, coordinate), min_size=2, max_size=6),
    windows=st.lists(st.tuples(time, time), min_size=6, max_size=6),
    service=st.lists(time, min_size=6, max_size=6),
)
def test_random_decimals_round_trip_exactly_through_a_solomon_file(tmp_path, points, windows, service):
    rows = [
        [k, repr(x), repr(y), 0 if k == 0 else 1, repr(min(w)), repr(max(w)), repr(s)]
        for k, ((x, y), w, s) in enumerate(zip(points, windows, service))
    ]
    inst = load_instance(write(tmp_path, solomon_text(rows, capacity="1e3"), "R.txt"))
    assert inst.coords.tolist() == [list(p) for p in points]
    assert inst.time_windows.tolist() == [[min(w), max(w)] for w in windows[: len(points)]]
    assert inst.service.tolist() == service[: len(points)]
    assert inst.fleet[0].capacity == 1000


@pytest.mark.parametrize("field", FIELDS)
def test_solomon_word_is_refused_naming_line_and_field(tmp_path, field):
    path = write(tmp_path, solomon_text(with_client_field(field, "ten")), "C101.txt")
    assert error(path) == f"C101.txt line {CLIENT_LINE}: {field} 'ten' is not a number"


@pytest.mark.parametrize("token", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
@pytest.mark.parametrize("field", FIELDS[1:])
def test_solomon_nan_and_infinity_are_refused(tmp_path, field, token):
    path = write(tmp_path, solomon_text(with_client_field(field, token)), "S1.txt")
    assert error(path) == f"S1.txt line {CLIENT_LINE}: {field} '{token}' is not a finite number"


@pytest.mark.parametrize("field", ["demand", "ready time", "due date", "service time"])
def test_solomon_negative_demand_or_time_is_refused(tmp_path, field):
    path = write(tmp_path, solomon_text(with_client_field(field, "-5")), "S1.txt")
    assert error(path) == f"S1.txt line {CLIENT_LINE}: {field} -5 is negative; it must be zero or more"


def test_solomon_negative_coordinates_are_fine(tmp_path):
    inst = load_instance(write(tmp_path, solomon_text(with_client_field("x coordinate", "-45.5")), "S1.txt"))
    assert inst.coords[1, 0] == -45.5


@pytest.mark.parametrize(
    "number, expected",
    [
        ("1.5", "customer number '1.5' is not a whole number"),
        ("0", "customer 0 is listed twice"),
        ("2", "customer 2 where customer 1 was expected"),
    ],
)
def test_solomon_customers_are_numbered_in_order(tmp_path, number, expected):
    path = write(tmp_path, solomon_text(with_client_field("customer number", number)), "S1.txt")
    assert error(path).startswith(f"S1.txt line {CLIENT_LINE}: {expected}")


@pytest.mark.parametrize(
    "vehicles, capacity, expected",
    [
        ("many", "200", "vehicle number 'many' is not a number"),
        ("2.5", "200", "vehicle number '2.5' is not a whole number"),
        ("25", "nan", "capacity 'nan' is not a finite number"),
    ],
)
def test_solomon_vehicle_line_is_checked(tmp_path, vehicles, capacity, expected):
    path = write(tmp_path, solomon_text(ROWS, vehicles=vehicles, capacity=capacity), "S1.txt")
    assert error(path) == f"S1.txt line 5: {expected}"


def test_solomon_row_with_a_missing_field_is_refused(tmp_path):
    rows = [list(r) for r in ROWS]
    del rows[1][-1]
    assert error(write(tmp_path, solomon_text(rows), "S1.txt")).startswith(
        f"S1.txt line {CLIENT_LINE}: 6 values; a customer row has 7 (customer number, x coordinate"
    )


# ---------------------------------------------------------------- VRPLIB
VRP = (
    "NAME: v\nCOMMENT: three nodes\nTYPE: CVRP\nDIMENSION: 3\nCAPACITY: 10\nEDGE_WEIGHT_TYPE: EUC_2D\n"
    "NODE_COORD_SECTION\n1 0 0\n2 3 4\n3 6 8\n"  # lines 7-10
    "DEMAND_SECTION\n1 0\n2 3\n3 4\n"  # lines 11-14
    "DEPOT_SECTION\n1\n-1\nEOF\n"
)
VRPTW = VRP.replace("TYPE: CVRP", "TYPE: VRPTW").replace(
    "DEPOT_SECTION",
    "TIME_WINDOW_SECTION\n1 0 100\n2 0 50.5\n3 10 60\nSERVICE_TIME_SECTION\n1 0\n2 2.5\n3 2\nDEPOT_SECTION",
)
SUPPORTED_SECTIONS = (
    "(supported sections: NODE_COORD_SECTION, DEMAND_SECTION, TIME_WINDOW_SECTION, SERVICE_TIME_SECTION"
)


def test_vrplib_base_files_load(tmp_path):
    inst = load_instance(write(tmp_path, VRP, "v.vrp"))
    assert inst.coords.tolist() == [[0, 0], [3, 4], [6, 8]] and inst.demand.tolist() == [0, 3, 4]
    tw = load_instance(write(tmp_path, VRPTW, "tw.vrp"))
    assert tw.time_windows[1].tolist() == [0, 50.5] and tw.service.tolist() == [0, 2.5, 2]


@pytest.mark.parametrize(
    "section, expected",
    [
        ("PRIZE", "PRIZE_SECTION (prize-collecting) is not supported"),
        ("RELEASE_TIME", "RELEASE_TIME_SECTION (release times) is not supported"),
        ("PICKUP_AND_DELIVERY", "PICKUP_AND_DELIVERY_SECTION (pickup and delivery pairs) is not supported"),
        ("SURPRISE", "SURPRISE_SECTION is not supported"),
    ],
)
def test_vrplib_unsupported_section_is_refused_by_name(tmp_path, section, expected):
    text = VRP.replace("DEPOT_SECTION", f"{section}_SECTION\n1 0\n2 5\n3 5\nDEPOT_SECTION")
    assert error(write(tmp_path, text, "X.vrp")).startswith(f"X.vrp: {expected} {SUPPORTED_SECTIONS}")


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("PCVRP", "TYPE PCVRP (prize-collecting)"),
        ("OVRP", "TYPE OVRP (open routes)"),
        ("TSP", "TYPE TSP (travelling salesman)"),
        ("CVRPX", "TYPE CVRPX"),
    ],
)
def test_vrplib_unsupported_type_is_refused_by_name(tmp_path, kind, expected):
    msg = error(write(tmp_path, VRP.replace("TYPE: CVRP", f"TYPE: {kind}"), "X.vrp"))
    assert msg == f"X.vrp: {expected} is not supported (supported types: CVRP, DCVRP, VRPTW, CVRPTW, HFVRP, VRPB)"


def test_vrplib_unknown_header_is_refused_harmless_ones_are_read(tmp_path):
    msg = error(write(tmp_path, VRP.replace("CAPACITY: 10", "CAPACITY: 10\nPROFIT: 3"), "X.vrp"))
    assert msg.startswith("X.vrp: header PROFIT is not supported (supported: NAME, COMMENT, TYPE, DIMENSION")
    harmless = VRP.replace("TYPE: CVRP", "TYPE: DCVRP\nNODE_COORD_TYPE: TWOD_COORDS\nDISPLAY_DATA_TYPE: COORD_DISPLAY")
    harmless = harmless.replace("CAPACITY: 10", "CAPACITY: 10\nDISTANCE: 50.5\nSERVICE_TIME: 1.5")
    harmless = harmless.replace("DEPOT_SECTION", "DISPLAY_DATA_SECTION\n1 0 0\n2 3 4\n3 6 8\nDEPOT_SECTION")
    inst = load_instance(write(tmp_path, harmless, "ok.vrp"))
    assert inst.fleet[0].max_distance == 50.5 and inst.service.tolist() == [0, 1.5, 1.5]


@pytest.mark.parametrize(
    "edit, expected",
    [
        (("DIMENSION: 3", "DIMENSION: 5"), "X.vrp: DIMENSION is 5 but NODE_COORD_SECTION has 3 nodes"),
        (("DIMENSION: 3", "DIMENSION: 2"), "X.vrp: DIMENSION is 2 but NODE_COORD_SECTION has 3 nodes"),
        (("DIMENSION: 3", "DIMENSION: 3.5"), "X.vrp: line 4: DIMENSION '3.5' is not a whole number"),
        (("3 4\nDEPOT", "3 4\n4 1\nDEPOT"), "X.vrp: line 15: DEMAND_SECTION lists node 4, but DIMENSION is 3"),
    ],
)
def test_vrplib_dimension_must_agree_with_the_nodes(tmp_path, edit, expected):
    assert error(write(tmp_path, VRP.replace(*edit), "X.vrp")) == expected


def test_vrplib_dimension_must_agree_with_an_explicit_matrix(tmp_path):
    text = (
        "NAME: m\nTYPE: CVRP\nDIMENSION: 4\nCAPACITY: 10\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_FORMAT: FULL_MATRIX\n"
        "EDGE_WEIGHT_SECTION\n0 1 2\n1 0 3\n2 3 0\nDEMAND_SECTION\n1 0\n2 1\n3 1\n4 1\nDEPOT_SECTION\n1\n-1\nEOF\n"
    )
    assert error(write(tmp_path, text, "m.vrp")) == "m.vrp: DIMENSION is 4 but EDGE_WEIGHT_SECTION has 3 nodes"
    fixed = text.replace("DIMENSION: 4", "DIMENSION: 3").replace("4 1\n", "")
    assert load_instance(write(tmp_path, fixed, "m.vrp")).distance[1, 2] == 3


@pytest.mark.parametrize(
    "text, edit, expected",
    [
        (VRP, ("3 6 8\n", "2 6 8\n"), "line 10: NODE_COORD_SECTION lists node 2 twice"),
        (VRP, ("3 4\nDEPOT", "2 4\nDEPOT"), "line 14: DEMAND_SECTION lists node 2 twice"),
        (VRPTW, ("3 10 60\n", "1 10 60\n"), "line 18: TIME_WINDOW_SECTION lists node 1 twice"),
        (VRPTW, ("3 2\nDEPOT", "2 2\nDEPOT"), "line 22: SERVICE_TIME_SECTION lists node 2 twice"),
        (VRP, ("2 3\n3 4\n", "3 4\n2 3\n"), "line 14: DEMAND_SECTION lists node 2 after node 3; rows go in order"),
        (VRP, ("3 4\nDEPOT", "DEPOT"), "DEMAND_SECTION has no row for node 3"),
        (VRP, ("2 3\n", ""), "DEMAND_SECTION has no row for node 2"),
        (VRPTW, ("2 0 50.5\n", ""), "TIME_WINDOW_SECTION has no row for node 2"),
        (VRP, ("\n1 0\n", "\n0 0\n"), "line 12: DEMAND_SECTION lists node 0; nodes are numbered from 1"),
    ],
)
def test_vrplib_duplicate_or_missing_node_is_refused_by_name(tmp_path, text, edit, expected):
    assert edit[0] in text
    assert error(write(tmp_path, text.replace(*edit, 1), "X.vrp")) == f"X.vrp: {expected}"


@pytest.mark.parametrize(
    "edit, expected",
    [
        (("3 4\nDEPOT", "3 ten\nDEPOT"), "line 14: DEMAND_SECTION value of node 3 'ten' is not a number"),
        (("2 3 4\n", "2 nan 4\n"), "line 9: NODE_COORD_SECTION value of node 2 'nan' is not a finite number"),
        (("2 3 4\n", "2 3 inf\n"), "line 9: NODE_COORD_SECTION value of node 2 'inf' is not a finite number"),
        (("2 3 4\n", "2 3\n"), "line 9: NODE_COORD_SECTION row of node 2 has 1 values; expected 2"),
        (("2 3 4\n", "two 3 4\n"), "line 9: NODE_COORD_SECTION node number 'two' is not a number"),
        (("3 4\nDEPOT", "3 -4\nDEPOT"), "line 14: DEMAND_SECTION value of node 3 is -4; it must be zero or more"),
        (("CAPACITY: 10", "CAPACITY: ten"), "line 5: CAPACITY 'ten' is not a number"),
        (("CAPACITY: 10", "CAPACITY: -10"), "line 5: CAPACITY is -10; it must be zero or more"),
        (("\n1\n-1", "\n1.5\n-1"), "line 16: DEPOT_SECTION node number '1.5' is not a whole number"),
        (("CAPACITY: 10", "CAPACITY: 10\nCAPACITY: 20"), "line 6: header CAPACITY appears twice"),
        (("DEPOT_SECTION", "DEMAND_SECTION\n1 0\n2 9\n3 9\nDEPOT_SECTION"), "line 15: DEMAND_SECTION appears twice"),
    ],
)
def test_vrplib_bad_value_is_refused_naming_line(tmp_path, edit, expected):
    assert edit[0] in VRP
    assert error(write(tmp_path, VRP.replace(*edit), "X.vrp")) == f"X.vrp: {expected}"


def test_vrplib_matrix_beside_euclidean_type_is_refused(tmp_path):
    text = VRP.replace("DEMAND_SECTION", "EDGE_WEIGHT_SECTION\n0 1 2\n1 0 3\n2 3 0\nDEMAND_SECTION")
    assert error(write(tmp_path, text, "X.vrp")).startswith(
        "X.vrp: an EDGE_WEIGHT_SECTION needs EDGE_WEIGHT_TYPE: EXPLICIT (got EUC_2D)"
    )


def test_vrplib_vehicle_rows_are_numbered_in_order(tmp_path):
    text = (
        "NAME: h\nTYPE: HFVRP\nDIMENSION: 3\nVEHICLES: 2\nEDGE_WEIGHT_TYPE: EUC_2D\n"
        "NODE_COORD_SECTION\n1 0 0\n2 3 4\n3 6 8\nDEMAND_SECTION\n1 0\n2 3\n3 4\n"
        "CAPACITY_SECTION\n1 10\n2 20\nDEPOT_SECTION\n1\n-1\nEOF\n"
    )
    assert [v.capacity for v in load_instance(write(tmp_path, text, "h.vrp")).fleet] == [10, 20]
    msg = error(write(tmp_path, text.replace("2 20\n", "1 20\n"), "h.vrp"))
    assert msg == "h.vrp: line 16: CAPACITY_SECTION lists vehicle 1 twice"


# ---------------------------------------------------------------- shipped files
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(DATA)))
def test_every_shipped_file_loads_as_vrplib_reads_it(path):
    inst = load_instance(path)
    fmt = "solomon" if path.suffix == ".txt" and "DIMENSION" not in path.read_text()[:4000] else "vrplib"
    ref = vrplib.read_instance(path, instance_format=fmt, compute_edge_weights=False)
    assert int(np.atleast_1d(ref.get("depot", [0]))[0]) == 0  # depot first: the arrays line up
    np.testing.assert_array_equal(inst.coords, ref["node_coord"])
    np.testing.assert_array_equal(inst.demand, ref["demand"])
    if "time_window" in ref:
        np.testing.assert_array_equal(inst.time_windows, ref["time_window"])
        np.testing.assert_array_equal(inst.service, ref["service_time"])
    assert inst.num_nodes == ref.get("dimension", inst.num_nodes)


def test_data_ships_vrplib_files():
    assert {p.parent.name for p in SHIPPED} >= {"x", "solomon", "hfvrp"} and len(SHIPPED) >= 100


# ---------------------------------------------------------------- the CLI: one line, exit 2
@pytest.mark.parametrize(
    "name, text, expected",
    [
        (
            "C101.txt",
            solomon_text(with_client_field("demand", "ten")),
            "C101.txt line 11: demand 'ten' is not a number",
        ),
        (
            "X.vrp",
            VRP.replace("DEPOT_SECTION", "PRIZE_SECTION\n1 0\n2 5\n3 5\nDEPOT_SECTION"),
            "X.vrp: PRIZE_SECTION (prize-collecting) is not supported",
        ),
        (
            "X.vrp",
            VRP.replace("DIMENSION: 3", "DIMENSION: 5"),
            "X.vrp: DIMENSION is 5 but NODE_COORD_SECTION has 3 nodes",
        ),
    ],
)
def test_cli_prints_one_line_and_exits_2(tmp_path, capsys, name, text, expected):
    path = write(tmp_path, text, name)
    code = main(["solve", "--instance", str(path), "--time-limit", "0"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {expected}"), err
