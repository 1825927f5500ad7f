"""The batched CVRP environment on rl4co's environment base (training side).

Transitions, masks and rewards come from envs.rl.dynamics, the same code
the policy decodes with at inference, and costs are read from the `dist`
matrix of each instance, so asymmetric road matrices work unchanged.
Importing this module pulls in rl4co/tensordict (seconds): keep it out of the
inference path.
"""

from __future__ import annotations

import numpy as np
import torch
from rl4co.envs.common.base import RL4COEnvBase
from rl4co.envs.common.utils import Generator
from tensordict import TensorDict

from envs.generate.cvrp import xlike_instance
from envs.generate.fleets import MIXES, profiled_instance
from envs.generate.svrp import svrp_instance
from envs.generate.variants import parse_variants, variant_instance
from envs.model.instance import Instance
from envs.rl.batch import stack_instances
from envs.rl.distributions import DISTRIBUTIONS, asymmetric_batch, uniform_batch
from envs.rl.routing_env import RoutingEnv
from envs.roads.city_dataset import DEFAULT_ROAD_DATASET


class UniformCVRPGenerator(Generator):
    def __init__(self, num_clients: int = 100):
        super().__init__(num_clients=num_clients)
        self.num_clients = num_clients

    def _generate(self, batch_size) -> TensorDict:
        (b,) = batch_size
        return TensorDict(uniform_batch(b, self.num_clients), batch_size=[b])


class AsymmetricCVRPGenerator(UniformCVRPGenerator):
    """Uniform positions with asymmetric distance and duration matrices (synthetic road-like detours)."""

    def _generate(self, batch_size) -> TensorDict:
        (b,) = batch_size
        return TensorDict(asymmetric_batch(b, self.num_clients), batch_size=[b])


class SampledCVRPGenerator(Generator):
    """Instances drawn one by one in numpy (one seed each, from the generator's own stream) and stacked."""

    def __init__(self, num_clients: int = 100, seed: int = 0):
        super().__init__(num_clients=num_clients)
        self.num_clients = num_clients
        self.rng = np.random.default_rng(seed)

    def sample(self, seed: int) -> Instance:
        raise NotImplementedError

    def _generate(self, batch_size) -> TensorDict:
        (b,) = batch_size
        seeds = self.rng.integers(0, 2**62, size=b)
        return TensorDict(stack_instances([self.sample(int(s)) for s in seeds]), batch_size=[b])


class XLikeCVRPGenerator(SampledCVRPGenerator):
    """X-set-like instances (Uchoa et al. 2017)."""

    def sample(self, seed: int) -> Instance:
        return xlike_instance(self.num_clients, seed)


class RoadCVRPGenerator(SampledCVRPGenerator):
    """Instances drawn from the training split of a city dataset (real road matrices, envs.roads.city_dataset)."""

    def __init__(self, num_clients: int = 100, dataset: str | None = None, seed: int = 0):
        from envs.roads.city_dataset import load_city_dataset

        super().__init__(num_clients, seed)
        self.dataset = load_city_dataset(dataset or DEFAULT_ROAD_DATASET)

    def sample(self, seed: int) -> Instance:
        from envs.roads.city_dataset import sample_instance

        return sample_instance(self.dataset, self.num_clients, "train", seed)


class RoadDayGenerator(RoadCVRPGenerator):
    """Delivery days with time windows on the training split of a city dataset (envs.generate.road_days)."""

    def sample(self, seed: int) -> Instance:
        from envs.generate.road_days import road_day_instance

        return road_day_instance(self.dataset, self.num_clients, "train", seed)


class VariantGenerator(SampledCVRPGenerator):
    """Mixed batches: each instance of a variant drawn uniformly from `variants` (envs.generate.variants), its index
    in that list under the key `variant` (for per-variant reward normalisation)."""

    def __init__(self, num_clients: int = 100, variants: str | list[str] = "cvrp", seed: int = 0):
        super().__init__(num_clients, seed)
        self.variants = parse_variants(variants)

    def _generate(self, batch_size) -> TensorDict:
        (b,) = batch_size
        picks = self.rng.integers(len(self.variants), size=b)
        seeds = self.rng.integers(0, 2**62, size=b)
        batch = stack_instances(
            [variant_instance(self.variants[v], self.num_clients, int(s)) for v, s in zip(picks, seeds)]
        )
        batch["variant"] = torch.as_tensor(picks)
        return TensorDict(batch, batch_size=[b])


class FleetGenerator(SampledCVRPGenerator):
    """Heterogeneous, profiled fleets (envs.generate.fleets), half on uniform and half on X-like positions; `variant`
    is the fleet mix's index (per-variant reward normalisation: fixed costs make some mixes far dearer)."""

    def sample(self, seed: int) -> Instance:
        return profiled_instance(self.num_clients, seed, base="xlike" if seed % 2 else "uniform")

    def _generate(self, batch_size) -> TensorDict:
        (b,) = batch_size
        seeds = self.rng.integers(0, 2**62, size=b)
        instances = [self.sample(int(s)) for s in seeds]
        batch = stack_instances(instances)
        mixes = [MIXES.index(_mix_of(i)) for i in instances]
        batch["variant"] = torch.as_tensor(mixes)
        return TensorDict(batch, batch_size=[b])


class SVRPGenerator(SampledCVRPGenerator):
    """SVRPBench-like city days with stochastic travel times (envs.generate.svrp)."""

    def sample(self, seed: int) -> Instance:
        return svrp_instance(self.num_clients, seed)


def _mix_of(instance: Instance) -> str:
    fixed = any(v.fixed_cost for v in instance.fleet)
    unit = any(v.unit_cost != 1 for v in instance.fleet)
    limited = all(v.count is not None for v in instance.fleet)
    return "FSMFD" if fixed and unit else "FSMF" if fixed else "HD" if limited else "FSMD"


GENERATORS = {
    "uniform": UniformCVRPGenerator,
    "xlike": XLikeCVRPGenerator,
    "asymmetric": AsymmetricCVRPGenerator,
    "road": RoadCVRPGenerator,
    "roadtw": RoadDayGenerator,
    "fleet": FleetGenerator,
    "svrp": SVRPGenerator,
}
assert GENERATORS.keys() == DISTRIBUTIONS.keys(), "every training distribution has its generator"


class CVRPEnv(RL4COEnvBase):
    """State fields are (B, S, ...) for S parallel rollouts per instance."""

    name = "nco_cvrp"

    def __init__(self, generator: Generator | None = None, num_rollouts: int = 1, **kwargs):
        kwargs.setdefault("check_solution", False)
        super().__init__(**kwargs)
        self.generator = generator or UniformCVRPGenerator()
        self.num_rollouts = num_rollouts

    def _reset(self, td: TensorDict | None = None, batch_size=None) -> TensorDict:
        env = RoutingEnv(td)
        state = self._observe(env, env.reset(self.num_rollouts))
        return TensorDict({**td, **state}, batch_size=td.batch_size, device=td.device)

    def _step(self, td: TensorDict) -> TensorDict:
        env = RoutingEnv(td)
        state = self._observe(env, env.step(td, td["action"]))
        state["reward"] = torch.zeros_like(state["used"])
        td.update(state)
        return td

    @staticmethod
    def _observe(env: RoutingEnv, state: dict) -> dict:
        """Add the mask and completion flags: `rollout_done` (B, S), and `done` (B,) once all rollouts are."""
        state["action_mask"] = env.mask(state)
        state["rollout_done"] = env.done(state)
        state["done"] = state["rollout_done"].all(-1)
        return state

    def get_action_mask(self, td: TensorDict) -> torch.Tensor:
        return RoutingEnv(td).mask(td)

    def _get_reward(self, td: TensorDict, actions: torch.Tensor) -> torch.Tensor:
        """Negative cost, (B, S), for actions (B, S, T): RoutingEnv.cost (with a travel model, the sampled
        lateness is charged too)."""
        return -RoutingEnv(td).cost(actions)

    def check_solution_validity(self, td: TensorDict, actions: torch.Tensor) -> None:
        RoutingEnv(td).validate(actions)

    def _make_spec(self, td_params: TensorDict = None):
        pass  # specs are optional in rl4co; our state shapes depend on S

    def _set_seed(self, seed: int | None):
        self.rng = torch.manual_seed(seed)
