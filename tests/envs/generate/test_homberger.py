"""Gehring-Homberger-style instances: every class, every size, each client servable on a route of its own."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.generate.homberger import CAPACITY, CLASSES, homberger_instance, homberger_set
from envs.model.check import check
from envs.model.savings import savings
from envs.model.solution import Route, Solution


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 300), cls=st.sampled_from(CLASSES), seed=st.integers(0, 2**32 - 1))
def test_every_client_can_be_served_on_a_route_of_its_own(n, cls, seed):
    inst = homberger_instance(n, cls, seed)
    assert inst.num_clients == n and inst.fleet[0].capacity == CAPACITY[cls]
    assert inst.fleet[0].count == max(1, n // 4)
    opens, closes = inst.time_windows[1:, 0], inst.time_windows[1:, 1]
    assert np.all(opens <= closes) and np.all(opens >= inst.distance[0, 1:] - 1e-9)
    horizon = inst.time_windows[0, 1]
    assert np.all(closes + inst.service[1:] + inst.distance[1:, 0] <= horizon + 1e-9)
    for c in range(1, min(n, 20) + 1):  # alone on a route, each client is feasible (the fleet aside)
        single = check(inst, Solution(routes=[Route([c], 0)], solver="test"))
        assert not [v for v in single.violations if "not served" not in v], single.violations


def test_the_set_is_deterministic_and_savings_fits_its_fleet():
    first, again = homberger_set(200, 1, seed=7), homberger_set(200, 1, seed=7)
    assert [i.name for i in first] == [i.name for i in again] and len(first) == len(CLASSES)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.distance, b.distance) and np.array_equal(a.time_windows, b.time_windows)
        plan = savings(a)
        report = check(a, plan)
        assert report.feasible and report.num_routes <= a.fleet[0].count, (a.name, report.violations)
    assert len({i.name for i in homberger_set(200, 1, seed=8)} & {i.name for i in first}) == 0


def test_an_unknown_class_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown class 'R3'; known: R1, C1, RC1, R2, C2, RC2"):
        homberger_instance(100, "R3", 0)
