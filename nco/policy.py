"""POMO-style attention encoder-decoder for routing, in plain torch.

The encoder embeds the depot and clients with transformer layers; the decoder
points at the next node, attending from a context (graph embedding, current
node, remaining capacity) over the node embeddings. Decoding runs S rollouts
per instance at once (POMO multi-start), greedy or sampled, stepping through
envs.cvrp_dynamics so the same rules govern training and inference.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from envs import cvrp_dynamics as dyn


@dataclass
class PolicyConfig:
    embed_dim: int = 128
    num_heads: int = 8
    num_layers: int = 6
    ff_dim: int = 512
    tanh_clip: float = 10.0
    matrix: bool = False  # read the (asymmetric) distance/duration matrices, not only coordinates

    def to_dict(self) -> dict:
        return asdict(self)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: PolicyConfig):
        super().__init__()
        self.heads = cfg.num_heads
        self.qkv = nn.Linear(cfg.embed_dim, 3 * cfg.embed_dim, bias=False)
        self.out = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.norm1 = nn.InstanceNorm1d(cfg.embed_dim, affine=True)
        self.ff = nn.Sequential(nn.Linear(cfg.embed_dim, cfg.ff_dim), nn.ReLU(), nn.Linear(cfg.ff_dim, cfg.embed_dim))
        self.norm2 = nn.InstanceNorm1d(cfg.embed_dim, affine=True)

    def _norm(self, norm: nn.Module, h: torch.Tensor) -> torch.Tensor:
        return norm(h.transpose(1, 2)).transpose(1, 2)

    def forward(self, h: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = h.shape
        q, k, v = self.qkv(h).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(b, n, d)
        h = self._norm(self.norm1, h + self.out(att))
        return self._norm(self.norm2, h + self.ff(h))


class OutOfTime(Exception):
    """Decoding passed its deadline before the rollouts finished."""


@dataclass
class Rollout:
    actions: torch.Tensor  # (B, S, T) node indices
    log_likelihood: torch.Tensor  # (B, S) sum of log-probabilities of the actions


class AttentionPolicy(nn.Module):
    def __init__(self, cfg: PolicyConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or PolicyConfig()
        d = cfg.embed_dim
        self.embed_depot = nn.Linear(2, d)
        self.embed_client = nn.Linear(5 if cfg.matrix else 3, d)
        if cfg.matrix:
            # Matrix-aware: a per-head attention bias learned from (d_ij, d_ji, t_ij), clients' distances
            # to and from the depot as features, and the distance from the current node in the pointer.
            self.edge_bias = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, cfg.num_heads))
            self.dist_weight = nn.Parameter(torch.tensor(1.0))
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_layers))
        self.project_kvl = nn.Linear(d, 3 * d, bias=False)  # glimpse keys, values, logit keys
        self.project_graph = nn.Linear(d, d, bias=False)
        self.project_step = nn.Linear(d + 1, d, bias=False)
        self.project_out = nn.Linear(d, d, bias=False)

    def matrix_parameters(self) -> list[nn.Parameter]:
        """The parameters that read the matrices (empty for a planar policy); training may give them their own rate."""
        if not self.cfg.matrix:
            return []
        return [*self.edge_bias.parameters(), self.dist_weight, *self.embed_client.parameters()]

    # ------------------------------------------------------------------ encoder
    def encode(
        self, locs: torch.Tensor, demand: torch.Tensor, mats: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        depot = self.embed_depot(locs[:, :1])
        feats = [locs[:, 1:], demand[:, 1:, None]]
        bias = None
        if mats is not None:
            dist, dur = mats
            feats += [dist[:, 0, 1:, None], dist[:, 1:, 0, None]]
            edges = torch.stack([dist, dist.transpose(1, 2), dur], dim=-1)  # (B, N+1, N+1, 3)
            bias = self.edge_bias(edges).permute(0, 3, 1, 2)  # (B, H, N+1, N+1)
        h = torch.cat([depot, self.embed_client(torch.cat(feats, dim=-1))], dim=1)
        for layer in self.layers:
            h = layer(h, bias)
        return h

    @staticmethod
    def matrix_inputs(data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Distance and duration matrices divided by their means: scale-free, so raw metres work as well."""
        dist = data["dist"].float()
        dur = data.get("duration", data["dist"]).float()
        return (
            dist / dist.mean((-1, -2), keepdim=True).clamp_min(1e-9),
            dur / dur.mean((-1, -2), keepdim=True).clamp_min(1e-9),
        )

    # ------------------------------------------------------------------ decoder
    def forward(
        self,
        data: dict[str, torch.Tensor],
        num_starts: int | None = None,
        decode: str = "greedy",
        num_augment: int = 1,
        max_steps: int | None = None,
        generator: torch.Generator | None = None,
        deadline: float | None = None,
    ) -> Rollout:
        """Roll out S rollouts per instance and augmentation.

        num_starts: POMO multi-start, rollout s first visits client s+1 (clients
        are cycled when S > N); None means a single rollout chosen by the policy.
        num_augment: 1 or 8 symmetric transforms of the planar features. Results
        come back shaped (B, A*S, T), augmentation-major. deadline: a
        time.perf_counter() value past which decoding stops with OutOfTime.
        """
        locs, demand = data["locs"], data["demand"]
        b, n1, _ = locs.shape
        mats = self.matrix_inputs(data) if self.cfg.matrix else None
        if num_augment > 1:  # the planar views change; the matrices do not
            locs = augment(locs, num_augment)
            demand = demand.repeat(num_augment, 1)
            mats = tuple(m.repeat(num_augment, 1, 1) for m in mats) if mats else None
        h = self.encode(locs, demand, mats)
        bb = h.shape[0]
        d, heads = self.cfg.embed_dim, self.cfg.num_heads
        gk, gv, lk = self.project_kvl(h).chunk(3, dim=-1)
        gk = gk.view(bb, n1, heads, -1).transpose(1, 2)  # (BB, H, N+1, dh)
        gv = gv.view(bb, n1, heads, -1).transpose(1, 2)
        graph_q = self.project_graph(h.mean(1)).unsqueeze(1)  # (BB, 1, D)

        s = num_starts or 1
        state = dyn.reset({"demand": demand}, s)
        actions, logp = [], torch.zeros(bb, s, device=h.device)
        if num_starts:
            first = (torch.arange(s, device=h.device) % (n1 - 1) + 1).expand(bb, s)
            state = dyn.step(state, first)
            actions.append(first)
        limit = max_steps or 4 * n1 + 4
        for _ in range(limit):
            if dyn.done(state).all():
                break
            if deadline is not None and time.perf_counter() > deadline:
                raise OutOfTime(f"decoding stopped after {len(actions)} of {n1 - 1}+ steps")
            mask = dyn.action_mask(state)  # (BB, S, N+1)
            cur = h.gather(1, state["current"].unsqueeze(-1).expand(-1, -1, d))
            q = graph_q + self.project_step(torch.cat([cur, 1.0 - state["used"].unsqueeze(-1)], dim=-1))
            q = q.view(bb, s, heads, -1).transpose(1, 2)  # (BB, H, S, dh)
            glimpse = F.scaled_dot_product_attention(q, gk, gv, attn_mask=mask.unsqueeze(1))
            glimpse = self.project_out(glimpse.transpose(1, 2).reshape(bb, s, d))
            logits = torch.bmm(glimpse, lk.transpose(1, 2)) / math.sqrt(d)
            logits = self.cfg.tanh_clip * torch.tanh(logits)
            if mats is not None:  # nearer (by the matrix, from where we are) is likelier
                rows = mats[0].gather(1, state["current"].unsqueeze(-1).expand(-1, -1, n1))
                logits = logits - self.dist_weight * rows
            logits = logits.masked_fill(~mask, float("-inf"))
            log_p = torch.log_softmax(logits, dim=-1)
            if decode == "greedy":
                a = log_p.argmax(-1)
            elif decode == "sampling":
                a = sample(log_p, generator)
            else:
                raise ValueError(f"unknown decode type {decode!r}")
            logp = logp + log_p.gather(-1, a.unsqueeze(-1)).squeeze(-1)
            state = dyn.step(state, a)
            actions.append(a)
        else:
            raise RuntimeError(f"decoding did not finish within {limit} steps")
        acts = torch.stack(actions, dim=-1)
        if num_augment > 1:  # (A*B, S, T) -> (B, A*S, T)
            acts = acts.view(num_augment, b, s, -1).transpose(0, 1).reshape(b, num_augment * s, -1)
            logp = logp.view(num_augment, b, s).transpose(0, 1).reshape(b, num_augment * s)
        return Rollout(acts, logp)


def augment(locs: torch.Tensor, num: int = 8) -> torch.Tensor:
    """The 8 symmetries of the unit square (POMO); returns (num*B, N+1, 2), transform-major."""
    x, y = locs[..., :1], locs[..., 1:]
    variants = [
        (x, y), (1 - x, y), (x, 1 - y), (1 - x, 1 - y),
        (y, x), (1 - y, x), (y, 1 - x), (1 - y, 1 - x),
    ]  # fmt: skip
    if num not in (1, 2, 4, 8):
        raise ValueError("augmentation factor must be 1, 2, 4 or 8")
    return torch.cat([torch.cat(v, dim=-1) for v in variants[:num]], dim=0)


def sample(log_p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one index per row of (..., N) log-probabilities by inverse CDF.

    One uniform per row instead of multinomial's N exponentials: several times
    faster on CPU. Zero-probability entries can never be drawn because the
    cumulative sum does not rise across them and the draw is strictly positive.
    """
    cdf = log_p.exp().cumsum(-1)
    u = torch.rand(cdf.shape[:-1] + (1,), generator=generator, device=cdf.device)
    u = (u * cdf[..., -1:]).clamp_min(1e-12)
    return torch.searchsorted(cdf, u).squeeze(-1).clamp_max(cdf.shape[-1] - 1)
