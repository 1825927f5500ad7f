"""The one routing environment: reset, step, mask, done and cost over a batch, in plain torch.

The policy's decoding loop (nco/policy/model.py) and training (the rl4co environment of envs/rl/env.py, and the
rewards of nco/train/run.py) both step a `RoutingEnv`, so inference and training cannot drift apart; the rules
themselves are envs/rl/dynamics.py. Inference imports neither rl4co nor Lightning through this module.

A batch is a `RoutingBatch` (envs/rl/batch.py): its optional groups (variant attributes, a fleet, a travel
model) are checked present as a whole or absent as a whole once, when the environment is made.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from envs.rl import dynamics as dyn
from envs.rl.batch import RoutingBatch, batch_of
from envs.rl.sampled_times import expected_lateness

LATENESS_WEIGHT = 10.0  # stochastic travel times: a minute late costs as much as ten minutes of driving

State = dict[str, torch.Tensor]  # (B, S, ...) per rollout, the batch's tensors (B, ...) shared, not copied


class RoutingEnv:
    """The environment of one batch (B instances); states hold S parallel rollouts per instance."""

    def __init__(self, data: Mapping[str, torch.Tensor]):
        self.batch: RoutingBatch = batch_of(data)  # the batch's own keys, its groups checked
        self.variant = dyn.has_attributes(self.batch)  # time windows, backhauls, open routes, limits
        self.fleet = dyn.has_fleet(self.batch)  # vehicle types with counts, costs, zones, preferences
        self.travel = "tm_base" in self.batch  # a travel model: rewards replay routes under sampled times

    def reset(self, num_rollouts: int) -> State:
        """Every rollout at the depot with nothing served."""
        return dyn.reset(self.batch, num_rollouts)

    def start(self, state: State, first: torch.Tensor) -> State:
        """The forced first move of POMO's starts, `first` (B, S), with a vehicle type allowed to make it."""
        return dyn.step(dyn.choose_start_type(state, first), first)

    def step(self, state: State, action: torch.Tensor) -> State:
        """Each rollout moves to its `action` (B, S)."""
        return dyn.step(state, action)

    def mask(self, state: State) -> torch.Tensor:
        """(B, S, N+1) the moves allowed now (the checker's rules)."""
        return dyn.action_mask(state)

    def done(self, state: State) -> torch.Tensor:
        """(B, S) the rollouts that have served every client and are back at the depot."""
        return dyn.done(state)

    def cost(self, actions: torch.Tensor) -> torch.Tensor:
        """(B, S) the cost of tours (B, S, T): their length or fleet objective, plus with a travel model
        LATENESS_WEIGHT times the expected lateness under sampled travel times (the training reward's)."""
        cost = dyn.cost(self.batch, actions)
        if self.travel:
            cost = cost + LATENESS_WEIGHT * expected_lateness(self.batch, actions)
        return cost

    def validate(self, actions: torch.Tensor) -> None:
        """AssertionError unless each tour serves every client once, each move allowed when it was made."""
        dyn.validate(self.batch, actions)
