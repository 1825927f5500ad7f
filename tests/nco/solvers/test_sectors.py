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
    size = sectors.sector_size(inst)
    assert len(parts) == math.ceil(n / size) and sectors.SECTOR_CLIENTS <= size <= sectors.MAX_SECTOR_CLIENTS
    assert sorted(np.concatenate(parts).tolist()) == list(range(1, n + 1))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_a_big_instance_is_decoded_by_sectors_into_a_feasible_plan():
    inst = xlike_instance(1000, seed=2)
    assert sectors.pays(inst)
    built = construct.build(inst, num_starts=4, num_augment=2)
    report = check(inst, built.solution)
    assert report.feasible, report.violations
    assert built.solution.meta["sectors"] == len(sectors.sectors(inst)) >= sectors.MIN_SECTORS
    assert built.rollouts == 1 and built.num_starts == 4
    costs = [check(inst, p).cost for p in built.pool]
    assert costs == sorted(costs)


def test_time_windows_by_sectors_keep_every_window():
    base = variant_instance("VRPTW", 1000, seed=4)
    inst = replace(base, fleet=[replace(base.fleet[0], capacity=50.0)])  # ~10 clients a route: sectors of 100
    built = construct.build(inst, num_starts=None, num_augment=1)
    report = check(inst, built.solution)
    assert built.solution.meta["sectors"] == 10 and report.feasible, report.violations


def test_limited_and_mixed_fleets_and_small_instances_are_decoded_whole():
    inst = xlike_instance(600, seed=1)
    limited = replace(inst, fleet=[VehicleType(capacity=inst.fleet[0].capacity, count=200)])
    mixed = replace(inst, fleet=[VehicleType(capacity=inst.fleet[0].capacity), VehicleType(capacity=10, fixed_cost=5)])
    assert not sectors.pays(limited) and not sectors.pays(mixed)
    assert not sectors.pays(xlike_instance(sectors.SECTORS_FROM - 1, seed=1))


def test_long_routes_get_sectors_with_room_for_several_routes():
    inst = uniform_instance(2000, 3)
    mean = float(inst.demand[1:].mean())
    short_routes = replace(inst, fleet=[VehicleType(capacity=5 * mean)])  # ~5 clients a route
    long_routes = replace(inst, fleet=[VehicleType(capacity=30.5 * mean)])
    assert sectors.sector_size(short_routes) == sectors.SECTOR_CLIENTS
    assert sectors.sector_size(long_routes) == 305 and len(sectors.sectors(long_routes)) == 7
    few = replace(xlike_instance(1000, seed=1), fleet=[VehicleType(capacity=1e9)])  # one route holds every client
    assert sectors.sector_size(few) == sectors.MAX_SECTOR_CLIENTS and not sectors.pays(few)
