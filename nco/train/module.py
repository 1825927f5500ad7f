"""The Lightning module: REINFORCE with the shared POMO baseline, on rl4co's base."""

from __future__ import annotations

import torch
from rl4co.models.rl.common.base import RL4COLitModule

from envs.rl.env import CVRPEnv
from nco.policy.model import AttentionPolicy


class POMO(RL4COLitModule):
    """REINFORCE whose baseline is the mean reward over the S starts of the same instance."""

    def __init__(
        self,
        env: CVRPEnv,
        policy: AttentionPolicy,
        num_starts: int | None = None,
        matrix_lr: float | None = None,
        num_variants: int = 1,
        aux_weight: float = 0.01,
        **kwargs,
    ):
        super().__init__(env, policy, **kwargs)
        self.num_starts = num_starts
        self.matrix_lr = matrix_lr
        self.aux_weight = aux_weight
        # Per-variant reward normalisation (RouteFinder): each variant's advantages are divided by a running
        # mean of its cost, so variants with long tours (time windows) do not drown the others' gradients.
        self.register_buffer("variant_scale", torch.zeros(num_variants))

    def configure_optimizers(self, parameters=None):
        """Adam; the matrix-reading parameters at their own rate when set (Adam moves a weight about lr per
        step, so a distance weight that should travel units needs more than the fine-tuning rate)."""
        fast = self.policy.matrix_parameters() if self.matrix_lr else []
        if fast:
            ids = {id(p) for p in fast}
            rest = [p for p in self.parameters() if id(p) not in ids]
            parameters = [{"params": rest}, {"params": fast, "lr": self.matrix_lr}]
        return super().configure_optimizers(parameters)

    def shared_step(self, batch, batch_idx: int, phase: str, dataloader_idx: int | None = None):
        n = batch["demand"].shape[-1] - 1
        starts = self.num_starts or n
        train = phase == "train"
        out = self.policy(batch, num_starts=starts, decode="sampling" if train else "greedy")
        # with a fleet the decoding state already holds each rollout's cost: no replay needed
        reward = -out.cost if out.cost is not None else self.env.get_reward(batch, out.actions)  # (B, S)
        metrics = {"reward": reward.max(-1).values.mean(), "cost": -reward.max(-1).values.mean()}
        if train:
            advantage = reward - reward.mean(-1, keepdim=True)
            if "variant" in batch.keys():
                advantage = advantage / self._variant_scale(batch["variant"], -reward.mean(-1)).unsqueeze(-1)
            loss = -(advantage * out.log_likelihood).mean()
            if self.policy.cfg.moe_experts:
                aux = self.policy.aux_loss
                metrics["aux_loss"] = aux
                loss = loss + self.aux_weight * aux
            metrics["loss"] = loss
        self.log_metrics(metrics, phase, dataloader_idx=dataloader_idx)
        return {"loss": metrics.get("loss")}

    @torch.no_grad()
    def _variant_scale(self, variant: torch.Tensor, cost: torch.Tensor, momentum: float = 0.9) -> torch.Tensor:
        """Update each variant's running mean cost with this batch and return it per instance (B,)."""
        scale = self.variant_scale
        for v in variant.unique().tolist():
            mean = cost[variant == v].mean()
            scale[v] = mean if scale[v] == 0 else momentum * scale[v] + (1 - momentum) * mean
        return scale[variant].clamp_min(1e-6)

    def instantiate_metrics(self, metrics: dict):
        train = ["loss", "reward", "cost"] + (["aux_loss"] if self.policy.cfg.moe_experts else [])
        super().instantiate_metrics(metrics or {"train": train, "val": ["reward", "cost"], "test": ["reward", "cost"]})
