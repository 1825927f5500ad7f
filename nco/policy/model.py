"""POMO-style attention encoder-decoder for routing, in plain torch.

The encoder embeds the depot and clients with transformer layers; the decoder
points at the next node, attending from a context (graph embedding, current
node, remaining capacity) over the node embeddings. Decoding runs S rollouts
per instance at once (POMO multi-start), greedy or sampled, stepping through
envs.rl.dynamics so the same rules govern training and inference.

Fleets (CAMP): with the "fleet" group the context also holds the current
vehicle type (capacity, fixed and unit cost, vehicles left) and the type a
depot move would switch to, and the pointer adds a learned multiple of the
current type's preference for each client to its logits; zones are masks.

Variants (RouteFinder): a policy reads the attribute groups in
`PolicyConfig.attributes` as extra client features (pickups, time windows),
global features added to the depot's embedding and to the decoder's context
(open routes, backhaul order, route limits), and route-state features in the
context (time, load picked up, what is left of the limits). Every input layer's
columns are named (`input_columns`), so fine-tuning into a policy that reads
more attributes copies the columns it knows and starts the new ones at zero
(RouteFinder's efficient adapter layers). `moe_experts` turns the encoder's
feed-forward layers into top-k gated mixtures of experts (MVMoE).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from envs import interrupt
from envs.model.features import POLICY_GROUPS
from envs.rl import dynamics as dyn
from envs.rl.batch import MEAN_UNIT_DISTANCE  # training data have mean matrix entries of this size
from envs.rl.routing_env import RoutingEnv

# Attribute groups a policy can read (Instance.features() names; service times go with time windows).
ATTRIBUTE_GROUPS = tuple(POLICY_GROUPS)  # the input groups a policy may read (envs/model/features.py)


@dataclass
class PolicyConfig:
    embed_dim: int = 128
    num_heads: int = 8
    num_layers: int = 6
    ff_dim: int = 512
    tanh_clip: float = 10.0
    matrix: bool = False  # read the (asymmetric) distance/duration matrices, not only coordinates
    attributes: tuple[str, ...] = ()  # ATTRIBUTE_GROUPS read as features; () = capacity only (CVRP)
    moe_experts: int = 0  # > 0: encoder feed-forward layers are mixtures of this many experts
    moe_top_k: int = 2

    # whole-number fields: (least, most); the most keeps a hand-edited configuration from allocating gigabytes
    LIMITS = {
        "embed_dim": (1, 4096),
        "num_heads": (1, 64),
        "num_layers": (1, 64),
        "ff_dim": (1, 16384),
        "moe_experts": (0, 64),
        "moe_top_k": (1, 64),
    }

    def __post_init__(self):
        for name, (least, most) in self.LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
                raise ValueError(f"{name} must be a whole number from {least} to {most}, got {value!r}")
        if self.embed_dim % self.num_heads:
            near = max(1, round(self.embed_dim / self.num_heads)) * self.num_heads
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by the policy's {self.num_heads} attention"
                f" heads (try {near})"
            )
        if (
            isinstance(self.tanh_clip, bool)
            or not isinstance(self.tanh_clip, int | float)
            or not 0 < self.tanh_clip < 1e6
        ):
            raise ValueError(f"tanh_clip must be a positive number, got {self.tanh_clip!r}")
        if not isinstance(self.matrix, bool):
            raise ValueError(f"matrix must be true or false, got {self.matrix!r}")
        if self.moe_experts and self.moe_top_k > self.moe_experts:
            raise ValueError(f"moe_top_k {self.moe_top_k} must be at most moe_experts {self.moe_experts}")
        if isinstance(self.attributes, str) or not all(isinstance(a, str) for a in self.attributes):
            raise ValueError(f"attributes must be a list of names, got {self.attributes!r}")
        unknown = set(self.attributes) - set(ATTRIBUTE_GROUPS)
        if unknown:
            raise ValueError(f"unknown attribute groups {sorted(unknown)}; known: {', '.join(ATTRIBUTE_GROUPS)}")
        self.attributes = tuple(a for a in ATTRIBUTE_GROUPS if a in self.attributes)  # canonical order

    def to_dict(self) -> dict:
        """JSON-ready (lists, not tuples), so a checkpoint's saved configuration compares equal to it."""
        return {**asdict(self), "attributes": list(self.attributes)}


def input_columns(cfg: PolicyConfig) -> dict[str, list[str]]:
    """The named input columns of the layers whose width depends on what the policy reads."""
    client = ["x", "y", "demand"] + (["dist_from_depot", "dist_to_depot"] if cfg.matrix else [])
    glob: list[str] = []
    ctx = ["free_capacity"]
    a = set(cfg.attributes)
    if "backhauls" in a:
        client += ["pickup"]
        glob += ["linehaul_first"]
        ctx += ["picked", "excess", "in_backhaul"]
    if "time_windows" in a:
        client += ["tw_early", "tw_late", "service"]
        glob += ["depot_close"]
        ctx += ["time"]
    if "open_routes" in a:
        glob += ["open_route"]
    if "duration_limits" in a:
        glob += ["max_duration"]
        ctx += ["duration_left"]
    if "distance_limits" in a:
        glob += ["max_distance"]
        ctx += ["distance_left"]
    if "fleet" in a:  # the current vehicle type and the one the depot would switch to
        ctx += [
            "veh_capacity",
            "veh_fixed",
            "veh_unit",
            "veh_left",
            "next_capacity",
            "next_fixed",
            "next_unit",
            "demand_left",
        ]
    return {
        "embed_client": client,
        "embed_global": glob,
        "project_step": [f"h{i}" for i in range(cfg.embed_dim)] + ctx + glob,
    }


class MoEFeedForward(nn.Module):
    """Top-k gated mixture of feed-forward experts, gated per node (MVMoE, Zhou et al. 2024).

    Each node goes through its k most probable experts, their outputs weighted by
    the renormalised gate probabilities. `aux_loss` after a forward pass is the
    load-balancing loss E * sum_e f_e * P_e (Switch Transformer): f_e the share of
    routing slots expert e received, P_e its mean gate probability; 1 when balanced.
    """

    def __init__(self, dim: int, ff_dim: int, experts: int, top_k: int):
        super().__init__()
        if not 1 <= top_k <= experts:
            raise ValueError(f"moe_top_k must be between 1 and moe_experts ({experts}), got {top_k}")
        self.top_k = top_k
        self.gate = nn.Linear(dim, experts, bias=False)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, ff_dim), nn.ReLU(), nn.Linear(ff_dim, dim)) for _ in range(experts)
        )
        self.aux_loss = torch.zeros(())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = h.reshape(-1, h.shape[-1])
        probs = torch.softmax(self.gate(x), dim=-1)  # (T, E)
        weight, index = probs.topk(self.top_k, dim=-1)  # (T, k)
        weight = weight / weight.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = (index == e).nonzero(as_tuple=True)
            if token.numel():
                out.index_add_(0, token, expert(x[token]) * weight[token, slot, None])
        share = F.one_hot(index, len(self.experts)).sum(1).float().mean(0) / self.top_k
        self.aux_loss = len(self.experts) * (share * probs.mean(0)).sum()
        return out.view_as(h)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: PolicyConfig):
        super().__init__()
        self.heads = cfg.num_heads
        self.qkv = nn.Linear(cfg.embed_dim, 3 * cfg.embed_dim, bias=False)
        self.out = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.norm1 = nn.InstanceNorm1d(cfg.embed_dim, affine=True)
        if cfg.moe_experts:
            self.ff = MoEFeedForward(cfg.embed_dim, cfg.ff_dim, cfg.moe_experts, cfg.moe_top_k)
        else:
            self.ff = nn.Sequential(
                nn.Linear(cfg.embed_dim, cfg.ff_dim), nn.ReLU(), nn.Linear(cfg.ff_dim, cfg.embed_dim)
            )
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
    cost: torch.Tensor | None = None  # (B, S) the fleet objective, with a fleet (else RoutingEnv.cost of the tours)
    routes_per_type: torch.Tensor | None = None  # (B, S, K) vehicles of each type used, with a fleet


@dataclass
class Follow:
    """A labelled plan for the decoder to follow (imitation learning): each client's successor and predecessor
    on its route (0 at the route's ends) and the first client of each rollout, an end of its route.

    Where the plan leaves a choice, the decoder takes the one its own policy likes best: at the depot, which of
    the unserved routes comes next and, where `reversible` (symmetric costs, no time windows), from which end;
    route order and direction are symmetries of the plan, and this picks the sequence that fits the decoder."""

    succ: torch.Tensor  # (B, N+1) long
    pred: torch.Tensor  # (B, N+1) long
    first: torch.Tensor  # (B, S) long
    reversible: torch.Tensor  # (B,) bool

    def heads(self) -> torch.Tensor:
        """(B, N+1) the nodes a route may be entered at: its first client, or either end if reversible."""
        n1 = self.succ.shape[1]
        is_client = torch.arange(n1, device=self.succ.device) > 0
        return is_client & ((self.pred == 0) | (self.reversible.unsqueeze(-1) & (self.succ == 0)))

    def forward_at(self, node: torch.Tensor) -> torch.Tensor:
        """(B, S) True where entering the route at `node` follows it forwards (it is the route's first client)."""
        return self.pred.gather(1, node) == 0

    def next(self, state: dict, log_p: torch.Tensor, forwards: torch.Tensor) -> torch.Tensor:
        """(B, S) the plan's next node: along the current route, else (at the depot) the unserved route head the
        policy rates highest, else the depot."""
        cur = state["current"]
        along = torch.where(forwards, self.succ.gather(1, cur), self.pred.gather(1, cur))
        heads = self.heads().unsqueeze(1) & ~state["visited"]
        pick = log_p.masked_fill(~heads, float("-inf")).argmax(-1)
        pick = torch.where(heads.any(-1), pick, torch.zeros_like(pick))
        return torch.where(cur == 0, pick, along)


class AttentionPolicy(nn.Module):
    def __init__(self, cfg: PolicyConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or PolicyConfig()
        d = cfg.embed_dim
        self.columns = cols = input_columns(cfg)
        self.embed_depot = nn.Linear(2, d)
        self.embed_client = nn.Linear(len(cols["embed_client"]), d)
        if cols["embed_global"]:  # instance-wide attributes, added to the depot's embedding
            self.embed_global = nn.Linear(len(cols["embed_global"]), d, bias=False)
        if cfg.matrix:
            # Matrix-aware: a per-head attention bias learned from (d_ij, d_ji, t_ij), clients' distances
            # to and from the depot as features, and the distance from the current node in the pointer.
            self.edge_bias = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, cfg.num_heads))
            self.dist_weight = nn.Parameter(torch.tensor(1.0))
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_layers))
        self.project_kvl = nn.Linear(d, 3 * d, bias=False)  # glimpse keys, values, logit keys
        self.project_graph = nn.Linear(d, d, bias=False)
        self.project_step = nn.Linear(len(cols["project_step"]), d, bias=False)
        self.project_out = nn.Linear(d, d, bias=False)
        if "fleet" in cfg.attributes:
            self.pref_weight = nn.Parameter(torch.tensor(1.0))

    def matrix_parameters(self) -> list[nn.Parameter]:
        """The parameters that read the matrices (empty for a planar policy); training may give them their own rate."""
        if not self.cfg.matrix:
            return []
        return [*self.edge_bias.parameters(), self.dist_weight, *self.embed_client.parameters()]

    @property
    def aux_loss(self) -> torch.Tensor:
        """The encoder's load-balancing loss of the last forward pass (0 for a dense policy)."""
        losses = [layer.ff.aux_loss for layer in self.layers if isinstance(layer.ff, MoEFeedForward)]
        return torch.stack(losses).mean() if losses else torch.zeros(())

    # ------------------------------------------------------------------ encoder
    def encode(
        self,
        data: dict[str, torch.Tensor],
        mats: tuple[torch.Tensor, torch.Tensor] | None = None,
        glob: torch.Tensor | None = None,
        units: tuple[torch.Tensor, torch.Tensor] | None = None,
        deadline: float | None = None,
    ) -> torch.Tensor:
        locs, demand = data["locs"], data["demand"].float()
        depot = self.embed_depot(locs[:, :1])
        if glob is not None:
            depot = depot + self.embed_global(glob).unsqueeze(1)
        feats = {"x": locs[:, 1:, 0], "y": locs[:, 1:, 1], "demand": demand[:, 1:]}
        bias = None
        if mats is not None:
            dist, dur = mats
            feats.update(dist_from_depot=dist[:, 0, 1:], dist_to_depot=dist[:, 1:, 0])
            edges = torch.stack([dist, dist.transpose(1, 2), dur], dim=-1)  # (B, N+1, N+1, 3)
            bias = self.edge_bias(edges).permute(0, 3, 1, 2)  # (B, H, N+1, N+1)
        if self.cfg.attributes:
            feats.update(_client_attributes(data, units))
        x = torch.stack([feats[c] for c in self.columns["embed_client"]], dim=-1)
        h = torch.cat([depot, self.embed_client(x)], dim=1)
        began = time.perf_counter()
        for k, layer in enumerate(self.layers):
            # a layer is the longest step on big inputs; Ctrl-C within a budget ends it as the deadline would
            if deadline is not None and (time.perf_counter() > deadline or interrupt.requested()):
                raise OutOfTime(f"encoding stopped after {k} of {len(self.layers)} layers")
            h = layer(h, bias)
            if deadline is not None and k == 0 and len(self.layers) > 1:  # the layers cost alike: will they fit?
                per_layer = time.perf_counter() - began
                if time.perf_counter() + per_layer * (len(self.layers) - 1) > deadline:
                    raise OutOfTime(f"encoding would take about {per_layer * len(self.layers):.1f} s")
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
        follow: Follow | None = None,
        distance_bias: float = 0.0,
    ) -> Rollout:
        """Roll out S rollouts per instance and augmentation.

        num_starts: POMO multi-start, rollout s first visits client s+1 (clients
        are cycled when S > N); None means a single rollout chosen by the policy.
        num_augment: 1 or 8 symmetric transforms of the planar features. Results
        come back shaped (B, A*S, T), augmentation-major. deadline: a
        time.perf_counter() value past which decoding stops with OutOfTime.
        follow: decode the plan it holds (teacher forcing): S = its first clients, and log_likelihood is the
        plan's under the policy (num_starts, decode and num_augment do not apply).
        distance_bias: distance-aware attention reshaping (DAR, Wang et al. 2024) for instances larger than
        training's: each logit less distance_bias * ln(N) * the planar distance from the current node.
        """
        if follow is not None:
            num_starts, num_augment = follow.first.shape[1], 1
        b, n1, _ = data["locs"].shape
        mats = self.matrix_inputs(data) if self.cfg.matrix else None
        keys = ["demand", *(dyn.ATTRIBUTES if dyn.has_attributes(data) else ())]
        keys += [*dyn.FLEET, "dist", "duration"] if dyn.has_fleet(data) else []
        data = {"locs": data["locs"], **{k: data[k] for k in dict.fromkeys(keys)}}
        if num_augment > 1:  # the planar views change; the matrices and attributes do not
            data = {k: v.repeat(num_augment, *[1] * (v.dim() - 1)) for k, v in data.items()}
            data["locs"] = augment(data["locs"][:b], num_augment)
            mats = tuple(m.repeat(num_augment, 1, 1) for m in mats) if mats else None
        # the time and length units, once per pass (not per step): means over whole matrices
        units = _units(data) if self.cfg.attributes and (dyn.has_attributes(data) or dyn.has_fleet(data)) else None
        glob = _global_attributes(data, self.columns["embed_global"], units) if self.columns["embed_global"] else None
        h = self.encode(data, mats, glob, units, deadline)
        bb = h.shape[0]
        d, heads = self.cfg.embed_dim, self.cfg.num_heads
        gk, gv, lk = self.project_kvl(h).chunk(3, dim=-1)
        gk = gk.view(bb, n1, heads, -1).transpose(1, 2)  # (BB, H, N+1, dh)
        gv = gv.view(bb, n1, heads, -1).transpose(1, 2)
        graph_q = self.project_graph(h.mean(1)).unsqueeze(1)  # (BB, 1, D)

        s = num_starts or 1
        env = RoutingEnv(data)
        state = env.reset(s)
        actions, logp = [], torch.zeros(bb, s, device=h.device)
        if num_starts:
            first = (torch.arange(s, device=h.device) % (n1 - 1) + 1).expand(bb, s)
            if follow is not None:
                first = follow.first
                forwards = follow.forward_at(first)
            state = env.start(state, first)
            actions.append(first)
        # every route may start with up to 2K vehicle-type switches (K-1 chosen, then a full turn when stuck)
        switches = 2 * data["veh_cap"].shape[1] * n1 if dyn.has_fleet(data) else 0
        limit = max_steps or 4 * n1 + 4 + switches
        began = time.perf_counter()
        for step in range(limit):
            if env.done(state).all():
                break
            if deadline is not None and (time.perf_counter() > deadline or interrupt.requested()):
                raise OutOfTime(f"decoding stopped after {len(actions)} of {n1 - 1}+ steps")
            if deadline is not None and step == 32 and n1 > 256:  # every client needs a step: will they fit?
                per_step = (time.perf_counter() - began) / step
                if time.perf_counter() + per_step * (n1 - 1 - step) > deadline:
                    raise OutOfTime(f"decoding would take about {per_step * n1:.1f} s")
            mask = env.mask(state)  # (BB, S, N+1)
            cur = h.gather(1, state["current"].unsqueeze(-1).expand(-1, -1, d))
            q = graph_q + self.project_step(torch.cat([cur, self._context(state, data, glob, units)], dim=-1))
            q = q.view(bb, s, heads, -1).transpose(1, 2)  # (BB, H, S, dh)
            glimpse = F.scaled_dot_product_attention(q, gk, gv, attn_mask=mask.unsqueeze(1))
            glimpse = self.project_out(glimpse.transpose(1, 2).reshape(bb, s, d))
            logits = torch.bmm(glimpse, lk.transpose(1, 2)) / math.sqrt(d)
            logits = self.cfg.tanh_clip * torch.tanh(logits)
            if mats is not None:  # nearer (by the matrix, from where we are) is likelier
                logits = logits - self.dist_weight * dyn.rows(mats[0], state["current"])
            if distance_bias:
                here = data["locs"].gather(1, state["current"].unsqueeze(-1).expand(-1, -1, 2))
                logits = logits - distance_bias * math.log(n1 - 1) * torch.cdist(here, data["locs"])
            if units is not None and "fleet" in self.cfg.attributes and dyn.has_fleet(state):
                pref = dyn.rows(state["veh_pref"], state["vtype"])
                logits = logits + self.pref_weight * (pref / units[1].unsqueeze(-1)).float()
            logits = logits.masked_fill(~mask, float("-inf"))
            log_p = torch.log_softmax(logits, dim=-1)
            if follow is not None:
                a = follow.next(state, log_p, forwards)
                if not mask.gather(-1, a.unsqueeze(-1)).all():
                    raise ValueError("the plan to follow makes a move the rules forbid (an infeasible label?)")
                forwards = torch.where(state["current"] == 0, follow.forward_at(a), forwards)
            elif decode == "greedy":
                a = log_p.argmax(-1)
            elif decode == "sampling":
                a = sample(log_p, generator)
            else:
                raise ValueError(f"unknown decode type {decode!r}")
            logp = logp + log_p.gather(-1, a.unsqueeze(-1)).squeeze(-1)
            state = env.step(state, a)
            actions.append(a)
        else:
            raise RuntimeError(f"decoding did not finish within {limit} steps")
        out = [torch.stack(actions, dim=-1), logp, *((state["cost"], state["vused"]) if dyn.has_fleet(state) else ())]
        if num_augment > 1:  # (A*B, S, ...) -> (B, A*S, ...)
            out = [
                x.reshape(num_augment, b, s, *x.shape[2:]).transpose(0, 1).reshape(b, num_augment * s, *x.shape[2:])
                for x in out
            ]
        return Rollout(*out)

    def _context(self, state: dict, data: dict, glob: torch.Tensor | None, units: tuple | None) -> torch.Tensor:
        """(B, S, C): the route state the decoder reads beside the current node's embedding."""
        names = self.columns["project_step"][self.cfg.embed_dim :]
        free = (dyn.capacity(state) - state["used"]).float()
        if not self.cfg.attributes:
            return free.unsqueeze(-1)
        feats = _route_attributes(state, data, units)
        if "fleet" in self.cfg.attributes:
            feats.update(_fleet_attributes(state, units))
        feats["free_capacity"] = free
        if glob is not None:
            feats.update({c: glob[:, i, None].expand_as(free) for i, c in enumerate(self.columns["embed_global"])})
        return torch.stack([feats[c] for c in names], dim=-1)


# ---------------------------------------------------------------------- attribute features
# Times are read in units of the mean travel time / MEAN_UNIT_DISTANCE and lengths likewise by the
# distance matrix, so the features are scale-free (training batches already have those means). Data
# without attributes (a plain CVRP batch) reads as zeros: no windows, no pickups, no limits.


def _units(data: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Per instance (B, 1): the time and length units (the attribute helpers below take them; None where
    the data have no attributes)."""
    dur = data.get("duration", data["dist"])
    return (
        (dur.mean((-1, -2)) / MEAN_UNIT_DISTANCE).clamp_min(1e-9)[:, None],
        (data["dist"].mean((-1, -2)) / MEAN_UNIT_DISTANCE).clamp_min(1e-9)[:, None],
    )


def _finite(x: torch.Tensor, fill: torch.Tensor | float = 0.0) -> torch.Tensor:
    return torch.where(torch.isfinite(x), x, fill)


def _client_attributes(data: dict, units: tuple | None) -> dict[str, torch.Tensor]:
    demand = data["demand"]
    if not dyn.has_attributes(data):
        zero = torch.zeros_like(demand[:, 1:], dtype=torch.float32)
        return {"pickup": zero, "tw_early": zero, "tw_late": zero, "service": zero}
    t, _ = units
    tw = data["tw"]
    close = _finite(tw[:, :1, 1])  # a client's open-ended window ends when the depot closes
    return {
        "pickup": data["pickup"][:, 1:].float(),
        "tw_early": (tw[:, 1:, 0] / t).float(),
        "tw_late": (_finite(tw[:, 1:, 1], close) / t).float(),
        "service": (data["service"][:, 1:] / t).float(),
    }


def _global_attributes(data: dict, names: list[str], units: tuple | None) -> torch.Tensor:
    """(B, G): instance-wide attributes in `names` order."""
    b = data["demand"].shape[0]
    if not dyn.has_attributes(data):
        return torch.zeros(b, len(names), device=data["demand"].device)
    t, d = units
    feats = {
        "linehaul_first": (data["linehaul_first"] & (data["pickup"] > 0).any(-1)).double(),
        "depot_close": _finite(data["tw"][:, 0, 1]) / t[:, 0],
        "open_route": data["open_route"].double(),
        "max_duration": _finite(data["max_duration"]) / t[:, 0],
        "max_distance": _finite(data["max_distance"]) / d[:, 0],
    }
    return torch.stack([feats[c].float() for c in names], dim=-1)


def _route_attributes(state: dict, data: dict, units: tuple | None) -> dict[str, torch.Tensor]:
    """(B, S) features of each rollout's current route."""
    zero = torch.zeros_like(state["used"], dtype=torch.float32)
    if not dyn.has_attributes(state):
        return dict.fromkeys(("picked", "excess", "in_backhaul", "time", "duration_left", "distance_left"), zero)
    t, d = units
    elapsed = state["time"] - data["tw"][:, :1, 0]
    limit_t, limit_d = data["max_duration"][:, None], data["max_distance"][:, None]
    return {
        "picked": state["picked"].float(),
        "excess": state["excess"].float(),
        "in_backhaul": state["in_backhaul"].float(),
        "time": (state["time"] / t).float(),
        "duration_left": _finite((limit_t - elapsed) / t).float(),
        "distance_left": _finite((limit_d - state["route_dist"]) / d).float(),
    }


def _fleet_attributes(state: dict, units: tuple | None) -> dict[str, torch.Tensor]:
    """(B, S) features of the current vehicle type and the next (costs in length units, counts capped at 10)."""
    zero = torch.zeros_like(state["used"], dtype=torch.float32)
    names = (
        "veh_capacity",
        "veh_fixed",
        "veh_unit",
        "veh_left",
        "next_capacity",
        "next_fixed",
        "next_unit",
        "demand_left",
    )
    if not dyn.has_fleet(state):
        return dict.fromkeys(names, zero)
    _, d = units
    vtype = state["vtype"]
    nxt = dyn.next_type(state, vtype, with_vehicles_left=True)
    left = dyn.of_type(state["veh_count"], vtype) - dyn.of_type(state["vused"], vtype)
    undelivered = (state["demand"].unsqueeze(1) * ~state["visited"]).sum(-1)
    return {
        "veh_capacity": dyn.capacity(state).float(),
        "veh_fixed": (dyn.of_type(state["veh_fixed"], vtype) / d).float(),
        "veh_unit": dyn.of_type(state["veh_unit"], vtype).float(),
        "veh_left": left.clamp_max(10).float() / 10,
        "next_capacity": dyn.of_type(state["veh_cap"], nxt).float(),
        "next_fixed": (dyn.of_type(state["veh_fixed"], nxt) / d).float(),
        "next_unit": dyn.of_type(state["veh_unit"], nxt).float(),
        "demand_left": undelivered.float(),
    }


def augment(locs: torch.Tensor, num: int = 8) -> torch.Tensor:
    """The 8 symmetries of the unit square (POMO); returns (num*B, N+1, 2), transform-major."""
    x, y = locs[..., :1], locs[..., 1:]
    variants = [
        (x, y),
        (1 - x, y),
        (x, 1 - y),
        (1 - x, 1 - y),
        (y, x),
        (1 - y, x),
        (y, 1 - x),
        (1 - y, 1 - x),
    ]
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
