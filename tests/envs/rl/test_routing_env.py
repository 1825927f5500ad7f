"""The typed batch and the one RoutingEnv that decoding and training both step; the registry of training
distributions the CLI, the trainer and the generators share."""

import pytest
import torch

from envs.generate.variants import variant_instance
from envs.rl import dynamics as dyn
from envs.rl.batch import GROUPS, batch_of, instance_tensors
from envs.rl.distributions import DISTRIBUTIONS, uniform_batch
from envs.rl.routing_env import RoutingEnv


def test_a_batch_has_its_groups_whole_or_not_at_all():
    data = instance_tensors(variant_instance("VRPBLTW", 10, 0))
    assert set(GROUPS["variant"]) <= set(data)
    for key in GROUPS["variant"][1:]:
        partial = {k: v for k, v in data.items() if k != key}
        with pytest.raises(ValueError, match=f"part of its variant group: it lacks \\['{key}'\\]"):
            RoutingEnv(partial)
    with pytest.raises(ValueError, match="unknown keys \\['time_windows'\\]"):
        batch_of({**data, "time_windows": data["tw"]}, strict=True)  # a typo is refused, not read as "none"
    plain = uniform_batch(2, 5)
    env = RoutingEnv({**plain, "current": torch.zeros(2, 1)})  # a training state: its own keys are left out
    assert not (env.variant or env.fleet or env.travel) and "current" not in env.batch


def test_a_rollout_stepped_through_the_env_is_the_dynamics_rollout():
    data = instance_tensors(variant_instance("OVRPTW", 12, 3))
    env = RoutingEnv(data)
    state, actions = env.reset(4), []
    first = torch.arange(1, 5).expand(1, 4)
    state = env.start(state, first)
    actions.append(first)
    while not env.done(state).all():
        mask = env.mask(state)
        assert torch.equal(mask, dyn.action_mask(state))
        a = torch.where(mask[..., 1:].any(-1), mask[..., 1:].float().argmax(-1) + 1, 0)
        state = env.step(state, a)
        actions.append(a)
    tours = torch.stack(actions, -1)
    env.validate(tours)
    assert torch.equal(env.cost(tours), dyn.cost(data, tours))


def test_every_training_distribution_has_its_generator_and_cli_choice():
    from envs.rl.env import GENERATORS
    from nco.cli.main import build_parser

    assert GENERATORS.keys() == DISTRIBUTIONS.keys()
    choices = next(a.choices for a in _subparser(build_parser(), "train")._actions if a.dest == "distribution")
    assert tuple(choices) == tuple(DISTRIBUTIONS)


def _subparser(parser, name):
    import argparse

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]
