"""The problem model's contracts: one Feature vocabulary, an Instance fixed once validated (derived ones are
validated again), and a checker's report aligned with the solution's routes, its violations typed."""

from dataclasses import FrozenInstanceError, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.errors import InstanceError
from envs.generate.cvrp import uniform_instance
from envs.generate.variants import ALL_VARIANTS, variant_instance
from envs.model import features
from envs.model.check import KINDS, check
from envs.model.features import FEATURES, Feature
from envs.model.instance import VehicleType
from envs.model.solution import Route, Solution


def test_features_are_one_vocabulary_of_plain_names():
    assert [str(f) for f in FEATURES] == [f.value for f in Feature] and "time_windows" in set(FEATURES)
    assert features.parse(["asymmetric", "profiles"]) == {Feature.ASYMMETRIC, Feature.PROFILES}
    with pytest.raises(ValueError, match="'time_window' is not a feature"):
        features.parse(["time_window"])  # a typo fails instead of never matching
    assert features.VARIANT | features.FLEET <= set(FEATURES)
    assert set().union(*features.POLICY_GROUPS.values()) == features.VARIANT | features.FLEET


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(ALL_VARIANTS), seed=st.integers(0, 1000))
def test_an_instance_is_fixed_once_validated_and_its_features_computed_once(name, seed):
    inst = variant_instance(name, 8, seed)
    found = inst.features()
    assert inst.features() is found  # cached: the O(n^2) symmetry test runs once
    with pytest.raises(FrozenInstanceError, match="dataclasses.replace"):
        inst.open_routes = not inst.open_routes
    with pytest.raises(FrozenInstanceError):
        inst.fleet[0].capacity = 1.0  # vehicle types are frozen too
    assert isinstance(inst.fleet, tuple)
    flipped = replace(inst, open_routes=not inst.open_routes)  # derived: validated and featured afresh
    assert (Feature.OPEN_ROUTES in flipped.features()) != (Feature.OPEN_ROUTES in found)


def test_a_derived_instance_is_validated_again():
    inst = uniform_instance(10, 0)
    with pytest.raises(InstanceError, match="more than any vehicle"):
        replace(inst, fleet=[VehicleType(capacity=0.5)])
    given_fleet = [VehicleType(capacity=100.0, allowed=[True] * inst.num_nodes)]
    derived = replace(inst, fleet=given_fleet)
    assert given_fleet[0].allowed == [True] * inst.num_nodes  # the caller's vehicle type is left as it was
    assert derived.fleet[0].allowed.dtype == bool


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), empty=st.integers(0, 3), bad=st.booleans())
def test_the_report_is_aligned_with_the_routes(seed, empty, bad):
    inst = variant_instance("VRPTW", 12, seed)
    rng = np.random.default_rng(seed)
    clients = [int(c) for c in rng.permutation(np.arange(1, 13))]
    routes = [Route(clients[k : k + 3]) for k in range(0, 12, 3)]
    routes[empty:empty] = [Route([])]  # an empty route keeps its place
    if bad:
        routes.append(Route([99]))  # not a client: reported, and its row is None
    sol = Solution(routes, "test")
    report = check(inst, sol)
    assert len(report.routes) == len(sol.routes)
    assert (report.routes[-1] is None) == bad and report.routes[empty].cost == 0.0
    walked = [s for s, r in zip(report.routes, sol.routes) if s is not None and r.visits]
    assert report.num_routes == len(walked) and report.cost == pytest.approx(sum(s.cost for s in walked))
    for r, stats in enumerate(report.routes):
        if stats is not None and sol.routes[r].visits:
            assert stats.delivery == pytest.approx(inst.demand[sol.routes[r].visits].sum())
    for v in report.violations:
        assert v.kind in KINDS and (v.route is None or 0 <= v.route < len(sol.routes))
        assert v.route is None or str(v).startswith(f"route {v.route}:")
    assert bad == any(v.kind == "node" for v in report.violations)


def test_violations_name_their_kind():
    inst = uniform_instance(6, 1)
    tight = replace(inst, fleet=[replace(inst.fleet[0], count=1)])
    report = check(tight, Solution([Route([1, 2]), Route([3, 4, 5])], "test"))
    assert {v.kind for v in report.violations} == {"unserved", "fleet_count"}
    assert all(v.route is None for v in report.violations) and isinstance(report.violations[0], str)
