"""The policy by sectors on big instances: every client in one sector, one batch, a feasible plan of the whole."""

import math
from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.generate.cvrp import uniform_instance, xlike_instance
from envs.generate.variants import variant_instance
from envs.model.check import check
from envs.model.instance import VehicleType
from nco.solvers import construct, sectors


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 1500), seed=st.integers(0, 1000))
def test_sectors_hold_every_client_once_in_near_equal_parts(n, seed):
    inst = uniform_instance(n, seed)
    parts = sectors.sectors(inst)
    assert len(parts) == math.ceil(n / sectors.SECTOR_CLIENTS)
    assert sorted(np.concatenate(parts).tolist()) == list(range(1, n + 1))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_a_big_instance_is_decoded_by_sectors_into_a_feasible_plan():
    inst = xlike_instance(650, seed=2)
    assert sectors.pays(inst)
    built = construct.build(inst, num_starts=4, num_augment=2)
    report = check(inst, built.solution)
    assert report.feasible, report.violations
    assert built.solution.meta["sectors"] == 7 and built.rollouts == 1 and built.num_starts == 4
    costs = [check(inst, p).cost for p in built.pool]
    assert costs == sorted(costs)


def test_time_windows_by_sectors_keep_every_window():
    inst = variant_instance("VRPTW", 520, seed=4)
    built = construct.build(inst, num_starts=None, num_augment=1)
    report = check(inst, built.solution)
    assert built.solution.meta["sectors"] == 6 and report.feasible, report.violations


def test_limited_and_mixed_fleets_and_small_instances_are_decoded_whole():
    inst = xlike_instance(600, seed=1)
    limited = replace(inst, fleet=[VehicleType(capacity=inst.fleet[0].capacity, count=200)])
    mixed = replace(inst, fleet=[VehicleType(capacity=inst.fleet[0].capacity), VehicleType(capacity=10, fixed_cost=5)])
    assert not sectors.pays(limited) and not sectors.pays(mixed)
    assert not sectors.pays(xlike_instance(sectors.SECTORS_FROM - 1, seed=1))
