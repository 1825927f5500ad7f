"""Heterogeneous, profiled fleets: generated instances, the vehicle-by-vehicle dynamics (zones, counts, the
fleet objective), the fleet-reading policy, training on fleets, and the shipped fleet checkpoint."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import fleet_cases
from hypothesis import given, settings

from envs.errors import InstanceError
from envs.generate.fleets import profiled_instance, profiled_instances
from envs.io.json_format import instance_from_dict, instance_to_dict
from envs.model.check import check
from envs.model.instance import Instance, VehicleType
from envs.model.solution import Solution
from envs.rl import dynamics as dyn
from envs.rl.batch import instance_tensors, stack_instances
from nco.policy.checkpoints import DEFAULT_CHECKPOINT, FLEET_CHECKPOINT, load_checkpoint, save_checkpoint
from nco.policy.model import AttentionPolicy, PolicyConfig

TINY = PolicyConfig(embed_dim=32, num_heads=4, num_layers=1, ff_dim=64, attributes=("fleet",))


def _solution(data, tour) -> Solution:
    return Solution.from_giant_tour(tour, "nco", types=dyn.route_types(data, [tour])[0])


@settings(max_examples=15, deadline=None)
@given(**fleet_cases())
@pytest.mark.slow
def test_generated_fleets_and_rollouts_agree_with_the_checker(seed, zones, mix, preferences, base):
    """Rollouts under the masks (an untrained policy, sampled): each move is allowed for the current vehicle
    type; the routes keep every zone; the dynamics' fleet cost equals the checker's cost with the route types."""
    inst = profiled_instance(12, seed, zones=zones, preferences=preferences, mix=mix, base=base)
    assert {"heterogeneous_fleet"} <= inst.features() and 2 <= len(inst.fleet) <= 5
    assert (inst.preference_weight > 0) == preferences
    if zones:
        assert any(v.allowed is not None for v in inst.fleet) and inst.fleet[0].allowed is None
    torch.manual_seed(seed)
    policy = AttentionPolicy(TINY).eval()
    data = instance_tensors(inst)
    with torch.inference_mode():
        out = policy(data, num_starts=8, num_augment=2, decode="sampling")
    dyn.validate(data, out.actions)
    assert torch.allclose(dyn.cost(data, out.actions), out.cost)
    for tour, cost, used in zip(out.actions[0].tolist(), out.cost[0].tolist(), out.routes_per_type[0].tolist()):
        sol = _solution(data, tour)
        report = check(inst, sol)
        zone_or_load = [v for v in report.violations if "used" not in v]  # counts bind no rollout
        assert not zone_or_load, zone_or_load
        assert report.cost == pytest.approx(cost, rel=1e-9, abs=1e-9)
        assert used == [sum(r.vehicle_type == k for r in sol.routes) for k in range(len(inst.fleet))]


def _zone_instance(count_small: int | None = None) -> Instance:
    """Six clients on a line; the big truck may not serve clients 1 and 2 (a pedestrian zone, far out)."""
    coords = np.array([[0, 0], [6, 0], [6.2, 0], [1, 0], [2, 0], [3, 0], [4, 0]], dtype=float)
    dist = np.abs(coords[:, None, 0] - coords[None, :, 0])
    allowed = np.array([True, False, False, True, True, True, True])
    fleet = [
        VehicleType(capacity=30, fixed_cost=5, allowed=allowed, name="truck"),
        VehicleType(capacity=4, count=count_small, name="van"),
    ]
    return Instance(distance=dist, demand=np.array([0, 2, 2, 5, 5, 5, 5.0]), fleet=fleet, coords=coords, name="zone")


def test_zone_masks_bar_the_truck_and_the_start_picks_an_allowed_type():
    inst = _zone_instance()
    data = instance_tensors(inst)
    state = dyn.reset(data, 1)
    assert int(state["vtype"]) == 0  # the truck goes first
    mask = dyn.action_mask(state)[0, 0]
    assert mask.tolist() == [True, False, False, True, True, True, True]  # depot = "switch to the van"
    state = dyn.step(state, torch.tensor([[0]]))  # switch
    assert int(state["vtype"]) == 1
    mask = dyn.action_mask(state)[0, 0]
    assert mask[1] and mask[2] and not mask[3]  # the van carries 4: clients of 5 do not fit
    assert not mask[0]  # K - 1 = 1 switch in a row at most while the van can serve someone
    # a POMO start at client 1 (the truck's zone) starts with the van
    start = dyn.choose_start_type(dyn.reset(data, 1), torch.tensor([[1]]))
    assert int(start["vtype"]) == 1
    # the checker names the zone
    bad = check(inst, Solution.from_giant_tour([1, 2, 3, 4, 5, 6], "x", types=[0]))
    assert not bad.feasible and any("may not serve client 1" in v for v in bad.violations)


def test_count_limits_keep_rollouts_that_fit_and_refuse_in_one_line():
    from nco.solvers import construct

    inst = _zone_instance(count_small=2)  # two vans for the two zone clients: every rollout fits
    sol = construct.solve(inst, DEFAULT_CHECKPOINT, num_starts=6, num_augment=1)
    report = check(inst, sol)
    assert report.feasible, report.violations
    vans = [r for r in sol.routes if r.vehicle_type == 1]
    assert 1 <= len(vans) <= 2 and sorted(c for r in vans for c in r.visits) == [1, 2]
    # the same zone with a van too small for both zone clients in one route and only one van: nothing fits
    tight = _zone_instance(count_small=1)
    tight = replace(tight, fleet=[*tight.fleet[:1], replace(tight.fleet[1], capacity=2), *tight.fleet[2:]])
    with pytest.raises(
        construct.FleetTooSmall, match=r"no policy rollout fits in the fleet \(unlimited x truck, 1 x van"
    ) as e:
        construct.solve(tight, DEFAULT_CHECKPOINT, num_starts=6, num_augment=1)
    assert "\n" not in str(e.value)
    over = check(tight, Solution.from_giant_tour([1, 0, 2, 0, 3, 4, 5, 6], "x", types=[1, 1, 0]))
    assert not over.feasible
    assert "vehicle type 1 used 2 times, only 1 available" in over.violations


def test_preferences_enter_the_cost_and_the_json_format():
    inst = _zone_instance()
    fleet = [inst.fleet[0], replace(inst.fleet[1], preference=np.array([0, 1, 1, 0, 0, 0, 0.0]))]
    inst = replace(inst, fleet=fleet, preference_weight=0.5)
    sol = Solution.from_giant_tour([1, 2, 0, 3, 4, 5, 6], "x", types=[1, 0])
    report = check(inst, sol)
    # van: 6 + 0.2 + 6.2 (distance), minus 0.5 * (1 + 1); truck: 5 (fixed) + 4 + 4
    assert report.cost == pytest.approx(12.4 - 1 + 13)
    data = instance_tensors(inst)
    tour = torch.tensor([[[1, 2, 0, 0, 3, 4, 5, 6, 0]]])  # the van first; at the depot, "next type": the truck
    dyn.validate(data, tour)
    assert float(dyn.cost(data, tour)) == pytest.approx(report.cost)
    assert dyn.route_types(data, [tour[0, 0].tolist()]) == [[1, 0]]
    back = instance_from_dict(instance_to_dict(inst))
    assert back.preference_weight == 0.5 and back.fleet[1].preference.tolist() == [0, 1, 1, 0, 0, 0, 0]
    for bad in (-1.0, float("nan")):
        with pytest.raises(InstanceError, match="preference_weight"):
            Instance(distance=inst.distance, demand=inst.demand, fleet=inst.fleet, preference_weight=bad)


def test_a_fleet_policy_transplanted_from_cvrp_rolls_out_as_before_on_one_type():
    """Fine-tuning cvrp100 into the fleet policy starts from cvrp100's behaviour (new columns zero)."""
    from nco.policy.checkpoints import transplant

    torch.manual_seed(0)
    base = AttentionPolicy(PolicyConfig(embed_dim=32, num_heads=4, num_layers=2, ff_dim=64)).eval()
    grown = transplant(base, AttentionPolicy(PolicyConfig(**{**base.cfg.to_dict(), "attributes": ["fleet"]}))).eval()
    inst = profiled_instance(15, 4, zones=None, preferences=False, mix="FSMD")
    inst = replace(inst, fleet=[replace(inst.fleet[-1], unit_cost=1.0, count=None)])
    plain = instance_tensors(inst)
    fleet = instance_tensors(inst, fleet=True)
    with torch.inference_mode():
        a, b = base(plain, num_starts=15).actions, grown(fleet, num_starts=15).actions
    assert torch.equal(a, b)


@pytest.mark.slow
def test_fleet_training_lowers_the_cost(tmp_path):
    from nco.train.run import TrainConfig, train

    held_out = stack_instances(profiled_instances(10, 32, seed=5))
    start = save_checkpoint(
        AttentionPolicy(PolicyConfig(embed_dim=64, num_heads=4, num_layers=2, ff_dim=128)), tmp_path / "init.pt"
    )

    def greedy(policy):
        with torch.no_grad():
            return policy.eval()(held_out, num_starts=10).cost.min(-1).values.mean().item()

    from nco.policy.checkpoints import transplant

    before = greedy(
        transplant(
            load_checkpoint(start)[0],
            AttentionPolicy(PolicyConfig(embed_dim=64, num_heads=4, num_layers=2, ff_dim=128, attributes=("fleet",))),
        )
    )
    result = train(
        TrainConfig(
            num_clients=10,
            distribution="fleet",
            epochs=3,
            batch_size=64,
            train_size=1280,
            val_size=64,
            lr=1e-3,
            init_from=str(start),
            out_dir=str(tmp_path / "run"),
            progress_bar=False,
            logger="none",
            seed=3,
        )
    )
    trained, info = load_checkpoint(result["best"])
    assert trained.cfg.attributes == ("fleet",) and "heterogeneous_fleet" in info["features"]
    assert greedy(trained) < 0.95 * before


@pytest.mark.skipif(not FLEET_CHECKPOINT.exists(), reason="fleet100 not shipped")
@pytest.mark.slow
def test_shipped_fleet_checkpoint_is_feasible_and_beats_the_cvrp_policy():
    from nco.solvers import construct

    instances = profiled_instances(50, 8, seed=11)
    fleet_cost = cvrp_cost = 0.0
    for inst in instances:  # greedy from 50 starts each: the best that fits the counts
        a = construct.solve(inst, FLEET_CHECKPOINT, num_starts=50, num_augment=1)
        b = construct.solve(inst, DEFAULT_CHECKPOINT, num_starts=50, num_augment=1)
        ra, rb = check(inst, a), check(inst, b)
        assert ra.feasible and rb.feasible, ra.violations + rb.violations
        fleet_cost += ra.cost
        cvrp_cost += rb.cost
    assert fleet_cost < 0.97 * cvrp_cost  # 98.4 vs 103.0 when shipped
    assert construct.prepare(instances[0]) == FLEET_CHECKPOINT
