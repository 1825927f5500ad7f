"""The batched environment: masks, transitions and matrix-read rewards, in both the pure and the rl4co form."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.model.check import check
from envs.model.instance import Instance, VehicleType
from envs.model.solution import Solution
from envs.rl import dynamics as dyn
from envs.rl.distributions import uniform_batch
from nco.policy.model import AttentionPolicy, PolicyConfig, augment, sample

SMALL = PolicyConfig(embed_dim=32, num_heads=4, num_layers=1, ff_dim=64)


def data_from(demand, dist, locs=None):
    demand = torch.tensor([demand], dtype=torch.float32)
    n1 = demand.shape[1]
    return {
        "demand": demand,
        "dist": torch.tensor(np.asarray(dist)[None], dtype=torch.float64),
        "locs": torch.rand(1, n1, 2) if locs is None else locs,
    }


def test_mask_forbids_visited_overfull_and_repeated_depot():
    d = data_from([0, 0.5, 0.4, 0.3], np.ones((4, 4)))
    s = dyn.reset(d, 1)
    m = dyn.action_mask(s)[0, 0]
    assert m.tolist() == [False, True, True, True]  # no empty route from the depot
    s = dyn.step(s, torch.tensor([[1]]))
    m = dyn.action_mask(s)[0, 0]
    assert m.tolist() == [True, False, True, True]  # 0.5 + 0.4 fits, 0.5 + 0.3 fits
    s = dyn.step(s, torch.tensor([[2]]))
    m = dyn.action_mask(s)[0, 0]
    assert m.tolist() == [True, False, False, False]  # 0.9 + 0.3 exceeds capacity
    s = dyn.step(s, torch.tensor([[0]]))
    assert s["used"].item() == 0.0  # the depot empties the vehicle
    s = dyn.step(s, torch.tensor([[3]]))
    assert not dyn.done(s).item()
    s = dyn.step(s, torch.tensor([[0]]))
    assert dyn.done(s).item()
    assert dyn.action_mask(s)[0, 0].tolist() == [True, False, False, False]  # finished rollouts wait at the depot


def test_tour_cost_reads_the_asymmetric_matrix():
    dist = np.array([[0, 1, 10], [100, 0, 2], [5, 1000, 0]], dtype=float)
    d = data_from([0, 0.1, 0.1], dist)
    forward = dyn.tour_cost(d["dist"], torch.tensor([[[1, 2, 0]]]))
    backward = dyn.tour_cost(d["dist"], torch.tensor([[[2, 1, 0]]]))
    assert forward.item() == 1 + 2 + 5
    assert backward.item() == 10 + 1000 + 100
    inst = Instance(distance=dist, demand=[0, 1, 1], fleet=[VehicleType(capacity=10)])
    assert check(inst, Solution.from_giant_tour([1, 2, 0], "t")).cost == forward.item()


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 25), starts=st.integers(1, 30), seed=st.integers(0, 10_000), greedy=st.booleans())
def test_policy_rollouts_are_always_feasible(n, starts, seed, greedy):
    torch.manual_seed(seed)
    data = uniform_batch(2, n)
    policy = AttentionPolicy(SMALL).eval()
    with torch.no_grad():
        out = policy(data, num_starts=starts, decode="greedy" if greedy else "sampling", num_augment=2)
    assert out.actions.shape[:2] == (2, 2 * starts)
    dyn.validate(data, out.actions)  # every client once, capacity kept
    assert torch.isfinite(out.log_likelihood).all()
    # multi-start really starts at distinct clients
    assert out.actions[0, :starts, 0].tolist() == [(s % n) + 1 for s in range(starts)]


@pytest.mark.slow
def test_rl4co_env_steps_with_the_same_rules():
    from tensordict import TensorDict

    from envs.rl.env import CVRPEnv, UniformCVRPGenerator

    env = CVRPEnv(generator=UniformCVRPGenerator(8), num_rollouts=3, check_solution=True)
    td = env.reset(batch_size=[4])
    assert td["action_mask"].shape == (4, 3, 9)
    actions = []
    while not td["done"].all():
        mask = td["action_mask"]
        a = mask.float().argmax(-1)  # lowest feasible node: the depot when allowed, else a client
        td.set("action", a)
        td = env.step(td)["next"]
        actions.append(a)
    acts = torch.stack(actions, -1)
    reward = env.get_reward(TensorDict({"demand": td["demand"], "dist": td["dist"]}, batch_size=[4]), acts)
    assert reward.shape == (4, 3)
    assert torch.allclose(-reward, dyn.tour_cost(td["dist"], acts))


def test_invalid_tour_is_rejected_by_validation():
    d = data_from([0, 0.6, 0.6], np.ones((3, 3)))
    with pytest.raises(AssertionError, match="capacity"):
        dyn.validate(d, torch.tensor([[[1, 2, 0]]]))
    with pytest.raises(AssertionError, match="exactly once"):
        dyn.validate(d, torch.tensor([[[1, 0, 1, 0]]]))


def test_augmentations_are_the_eight_symmetries():
    locs = torch.rand(3, 5, 2)
    aug = augment(locs, 8).view(8, 3, 5, 2)
    # pairwise distances are preserved by every symmetry
    for k in range(8):
        assert torch.allclose(torch.cdist(aug[k], aug[k]), torch.cdist(locs, locs), atol=1e-6)
    assert len({tuple(a.flatten().tolist()) for a in aug}) == 8


def test_sampling_never_draws_masked_entries():
    torch.manual_seed(0)
    logits = torch.randn(2000, 7)
    logits[:, [0, 3, 6]] = float("-inf")
    draws = sample(torch.log_softmax(logits, -1))
    assert not torch.isin(draws, torch.tensor([0, 3, 6])).any()
    # and matches the distribution
    probs = torch.softmax(torch.tensor([[0.0, 1.0, 2.0]]), -1).expand(20000, 3)
    freq = torch.bincount(sample(probs.log()), minlength=3).float() / 20000
    assert torch.allclose(freq, probs[0], atol=0.02)


MATRIX = PolicyConfig(embed_dim=32, num_heads=4, num_layers=1, ff_dim=64, matrix=True)


@settings(max_examples=8, deadline=None)
@given(n=st.integers(2, 20), seed=st.integers(0, 10_000))
def test_matrix_policy_rollouts_are_feasible_on_asymmetric_data(n, seed):
    from envs.rl.distributions import asymmetric_batch

    torch.manual_seed(seed)
    data = asymmetric_batch(2, n)
    assert not torch.allclose(data["dist"], data["dist"].transpose(1, 2))
    with torch.no_grad():
        out = AttentionPolicy(MATRIX).eval()(data, num_starts=n, num_augment=2, decode="sampling")
    dyn.validate(data, out.actions)


def test_matrix_policy_reads_the_matrix():
    """Same coordinates and demands, different matrices: a matrix-aware policy may route differently."""
    from envs.rl.distributions import asymmetric_batch

    torch.manual_seed(1)
    data = asymmetric_batch(1, 30)
    policy = AttentionPolicy(MATRIX).eval()
    flipped = {**data, "dist": data["dist"].transpose(1, 2).contiguous()}
    with torch.no_grad():
        a = policy(data, num_starts=30).actions
        b = policy(flipped, num_starts=30).actions
        planar = AttentionPolicy(SMALL).eval()
        assert torch.equal(planar(data, num_starts=30).actions, planar(flipped, num_starts=30).actions)
    assert not torch.equal(a, b)


def test_matrix_policy_handles_a_thousand_clients():
    from envs.rl.distributions import asymmetric_batch

    data = asymmetric_batch(1, 1000)
    with torch.no_grad():
        out = AttentionPolicy(PolicyConfig(matrix=True)).eval()(data, num_starts=4)
    dyn.validate(data, out.actions)
