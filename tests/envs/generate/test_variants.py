"""Variants in one model: names, generated instances, the attribute-reading policy (dense and MoE), adapter
fine-tuning, mixed-batch training, and the shipped multi-variant checkpoint."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from envs.errors import InstanceError
from envs.generate.variants import ALL_VARIANTS, parse_variant, parse_variants, variant_instance, variant_instances
from envs.model.check import check, unservable_clients
from envs.model.solution import Solution
from envs.rl import dynamics as dyn
from envs.rl.batch import instance_tensors, stack_instances
from nco.policy.checkpoints import VARIANTS_CHECKPOINT, load_checkpoint, save_checkpoint, transplant
from nco.policy.model import ATTRIBUTE_GROUPS, AttentionPolicy, MoEFeedForward, PolicyConfig, input_columns

TINY = PolicyConfig(embed_dim=32, num_heads=4, num_layers=1, ff_dim=64, attributes=ATTRIBUTE_GROUPS)


def test_variant_names():
    assert len(ALL_VARIANTS) == len(set(ALL_VARIANTS)) == 24
    v = parse_variant("ovrpmbltw")
    assert v.open_routes and v.backhauls == "mixed" and v.length_limit and v.time_windows
    assert parse_variant("VRPB").backhauls == "linehaul_first" and parse_variant("vrp") == parse_variant("CVRP")
    assert [x.name for x in parse_variants("cvrp, VRPTW,vrptw")] == ["CVRP", "VRPTW"]
    assert len(parse_variants("all")) == 24
    for bad in ("VRPX", "tw", "OVRPTWB", ""):
        with pytest.raises(ValueError):
            parse_variants(bad)


@settings(max_examples=30, deadline=None)
@given(variant=st.sampled_from(ALL_VARIANTS), n=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_generated_instances_have_the_variant_and_every_client_fits_alone(variant, n, seed):
    inst = variant_instance(variant, n, seed)
    v = parse_variant(variant)
    f = inst.features()
    assert ("time_windows" in f) == v.time_windows and ("open_routes" in f) == v.open_routes
    assert ("backhauls" in f) == bool(v.backhauls) and ("distance_limits" in f) == v.length_limit
    if v.backhauls:
        assert inst.backhaul_mode == v.backhauls and not (inst.demand * inst.backhaul).any()
    assert unservable_clients(inst) is None
    assert variant_instance(variant, n, seed).name == inst.name  # deterministic


@settings(max_examples=12, deadline=None)
@given(variant=st.sampled_from(ALL_VARIANTS), seed=st.integers(0, 2**16), moe=st.booleans())
@example(variant="OVRPL", seed=181, moe=True)  # the mask's tolerance was looser than the checker's
def test_policy_rollouts_are_checker_feasible_with_the_checkers_cost(variant, seed, moe):
    """Greedy and sampled rollouts of an untrained policy on any variant: feasible, cost equal to the checker's."""
    torch.manual_seed(seed)
    cfg = PolicyConfig(**{**TINY.to_dict(), "moe_experts": 3 if moe else 0})
    policy = AttentionPolicy(cfg).eval()
    inst = variant_instance(variant, 15, seed)
    data = instance_tensors(inst)
    with torch.inference_mode():
        for decode in ("greedy", "sampling"):
            out = policy(data, num_starts=6, num_augment=2, decode=decode)
            dyn.validate(data, out.actions)
            costs = dyn.tour_cost(data["dist"], out.actions, data.get("open_route"))[0]
            for tour, cost in zip(out.actions[0].tolist(), costs.tolist()):
                report = check(inst, Solution.from_giant_tour(tour, "nco"))
                assert report.feasible, report.violations
                assert report.cost == pytest.approx(cost, rel=1e-9)


def test_adapter_transplant_keeps_behaviour_and_zeroes_new_columns():
    """A CVRP policy grown to read attributes (and into MoE) rolls out exactly as before on CVRP data;
    the new columns start at zero and the old ones keep their weights, matched by name."""
    torch.manual_seed(0)
    base = AttentionPolicy(PolicyConfig(embed_dim=32, num_heads=4, num_layers=2, ff_dim=64)).eval()
    grown = transplant(
        base,
        AttentionPolicy(TINY.__class__(**{**base.cfg.to_dict(), "attributes": ATTRIBUTE_GROUPS, "moe_experts": 3})),
    ).eval()
    cols = input_columns(grown.cfg)["embed_client"]
    w = grown.embed_client.weight
    assert torch.equal(w[:, cols.index("demand")], base.embed_client.weight[:, 2])
    assert not w[:, cols.index("tw_early")].any() and not grown.embed_global.weight.any()
    assert torch.equal(grown.layers[1].ff.experts[2][0].weight, base.layers[1].ff[0].weight)
    inst = variant_instance("CVRP", 20, 3)
    data = instance_tensors(inst)
    with torch.inference_mode():
        assert torch.equal(base(data, num_starts=20).actions, grown(data, num_starts=20).actions)
    # and back: a policy reading fewer attributes keeps the columns it shares
    shrunk = transplant(grown, AttentionPolicy(PolicyConfig(**{**grown.cfg.to_dict(), "attributes": ("backhauls",)})))
    assert torch.equal(shrunk.embed_client.weight[:, -1], w[:, cols.index("pickup")])


def test_moe_layer_routes_each_node_to_its_top_k_experts():
    torch.manual_seed(1)
    moe = MoEFeedForward(8, 16, experts=4, top_k=2)
    h = torch.randn(3, 5, 8)
    out = moe(h)
    x = h.reshape(-1, 8)[7]
    p = torch.softmax(moe.gate(x), -1)
    w, idx = p.topk(2)
    expected = sum(wi / w.sum() * moe.experts[int(i)](x) for wi, i in zip(w, idx))
    assert torch.allclose(out.reshape(-1, 8)[7], expected, atol=1e-6)
    assert moe.aux_loss >= 1.0 - 1e-6  # E * sum f_e P_e is at least 1 when f follows P ... and well defined
    moe.aux_loss.backward()
    assert moe.gate.weight.grad is not None and moe.gate.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        MoEFeedForward(8, 16, experts=2, top_k=3)


@pytest.mark.slow
def test_mixed_variant_training_lowers_the_cost_on_every_variant(tmp_path):
    """A short mixed-batch run (per-variant reward normalisation) improves greedy cost on each variant."""
    from nco.train.run import TrainConfig, train

    variants = ["CVRP", "VRPTW", "OVRPB", "VRPMBL"]
    held_out = {v: stack_instances(variant_instances(v, 10, 24, seed=7)) for v in variants}
    start = save_checkpoint(
        AttentionPolicy(PolicyConfig(embed_dim=64, num_heads=4, num_layers=2, ff_dim=128)), tmp_path / "init.pt"
    )

    def greedy(policy, data):
        with torch.no_grad():
            out = policy.eval()(data, num_starts=10)
        return dyn.tour_cost(data["dist"], out.actions, data.get("open_route")).min(-1).values.mean().item()

    before = {
        v: greedy(
            transplant(
                load_checkpoint(start)[0],
                AttentionPolicy(
                    PolicyConfig(embed_dim=64, num_heads=4, num_layers=2, ff_dim=128, attributes=ATTRIBUTE_GROUPS)
                ),
            ),
            d,
        )
        for v, d in held_out.items()
    }
    result = train(
        TrainConfig(
            num_clients=10,
            variants=",".join(variants),
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
            moe_experts=2,
            moe_top_k=1,
        )
    )
    trained, info = load_checkpoint(result["best"])
    assert info["variants"] == variants and trained.cfg.moe_experts == 2
    assert set(trained.cfg.attributes) == {"time_windows", "backhauls", "open_routes", "distance_limits"}
    after = {v: greedy(trained, d) for v, d in held_out.items()}
    for v in variants:
        assert after[v] < 0.95 * before[v], (v, before, after)


def test_unservable_client_is_refused_in_one_line():
    from nco.solvers import construct

    inst = variant_instance("VRPTW", 10, 1)
    windows = inst.time_windows.copy()
    windows[4] = [0.0, 0.01]  # closes before anyone can get there
    inst = replace(inst, time_windows=windows)
    with pytest.raises(InstanceError, match="cannot be served even on a route of its own"):
        construct.solve(inst)


@pytest.mark.skipif(not VARIANTS_CHECKPOINT.exists(), reason="variants100 not shipped yet")
@pytest.mark.slow
def test_shipped_variants_checkpoint_is_feasible_on_every_variant_and_beats_the_cvrp_policy():
    """nco picks variants100 for attribute instances; its routes pass the checker on all 24 variants, and on
    time windows it beats the CVRP policy decoding under the same masks."""
    from nco.policy.checkpoints import DEFAULT_CHECKPOINT, default_checkpoint
    from nco.solvers import construct

    policy, info = load_checkpoint(VARIANTS_CHECKPOINT)
    assert set(policy.cfg.attributes) >= {"time_windows", "backhauls", "open_routes", "distance_limits"}
    for i, v in enumerate(ALL_VARIANTS):
        inst = variant_instance(v, 50, 1000 + i)
        if v != "CVRP":
            assert default_checkpoint(inst.features()) == VARIANTS_CHECKPOINT
        sol = construct.solve(inst, VARIANTS_CHECKPOINT, num_starts=20, num_augment=1)
        assert check(inst, sol).feasible, v
    ours, cvrp = [], []
    for inst in variant_instances("VRPTW", 100, 4, seed=5):
        ours.append(check(inst, construct.solve(inst, VARIANTS_CHECKPOINT, num_augment=1)).cost)
        cvrp.append(check(inst, construct.solve(inst, DEFAULT_CHECKPOINT, num_augment=1)).cost)
    assert np.mean(ours) < 0.95 * np.mean(cvrp), (ours, cvrp)


def test_train_refuses_an_unknown_variant_in_one_line(capsys):
    from nco.cli.main import main

    assert main(["train", "--variants", "CVRP,VRPX", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown variant 'VRPX'" in err and err.count("\n") == 1
