"""Training with sampled travel times: the torch lateness agrees with the Monte Carlo evaluator, and a short run
on stochastic city days lowers the cost plus the lateness it is charged."""

import pytest
import torch

from envs.generate.svrp import svrp_instance, svrp_instances
from envs.model.robust import evaluate
from envs.model.solution import Solution
from envs.rl import dynamics as dyn
from envs.rl.batch import instance_tensors, stack_instances
from envs.rl.sampled_times import KEYS, expected_lateness
from nco.policy.checkpoints import load_checkpoint, save_checkpoint, transplant
from nco.policy.model import AttentionPolicy, PolicyConfig


def test_torch_lateness_matches_the_evaluator():
    """The same routes, replayed by the training-side sampler and by envs.model.robust: the same expected lateness
    (within Monte Carlo error), in the instance's own units."""
    inst = svrp_instance(40, 3)
    data = instance_tensors(inst)
    assert set(KEYS) <= set(data) and "stochastic" not in set()  # planning copy plus the model's tensors
    policy = AttentionPolicy(
        PolicyConfig(embed_dim=32, num_heads=4, num_layers=1, ff_dim=64, attributes=("time_windows",))
    )
    torch.manual_seed(0)
    with torch.inference_mode():
        tours = policy(data, num_starts=4, decode="sampling").actions
    gen = torch.Generator().manual_seed(1)
    for s, tour in enumerate(tours[0].tolist()):
        sampled = float(expected_lateness(data, tours[:, s : s + 1], num_samples=4000, generator=gen))
        report = evaluate(inst, Solution.from_giant_tour(tour, "nco"), samples=4000, seed=2)
        assert sampled == pytest.approx(report.expected_lateness, rel=0.15, abs=0.3)


@pytest.mark.slow
def test_training_on_sampled_travel_times_lowers_cost_plus_lateness(tmp_path):
    from envs.rl.env import CVRPEnv
    from nco.train.run import TrainConfig, train

    held_out = stack_instances(svrp_instances((10,), 32, seed=9))
    cfg = PolicyConfig(embed_dim=64, num_heads=4, num_layers=2, ff_dim=128, attributes=("time_windows",))
    start = save_checkpoint(AttentionPolicy(cfg), tmp_path / "init.pt")
    env = CVRPEnv()

    def charged(policy):
        torch.manual_seed(0)
        with torch.no_grad():
            out = policy.eval()(held_out, num_starts=10)
        return -env.get_reward(held_out, out.actions).max(-1).values.mean().item()

    before = charged(transplant(load_checkpoint(start)[0], AttentionPolicy(cfg)))
    result = train(
        TrainConfig(
            num_clients=10,
            distribution="svrp",
            epochs=2,
            batch_size=64,
            train_size=640,
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
    assert "stochastic" in info["features"]
    assert charged(trained) < 0.95 * before
    assert dyn.has_attributes(held_out)
