"""Sampled travel times in torch, for training policies that leave slack (the training-side twin of envs.model.robust).

A policy decodes on the planning matrix (expected times, envs.model.travel_model.
planning_instance), so its masks keep every window on average; the reward then
replays its routes under sampled travel times of the instance's model (rush
hours, log-normal noise, accidents, on the nominal matrix) and charges the
expected lateness. Routes that only fit on a lucky day cost more, and the
policy learns to leave slack. Conventions are the checker's: a route leaves the
depot when it opens, waits for a window's opening, a late vehicle serves on
arrival and carries on.

Data keys added to a batch (envs.rl.batch.instance_tensors with `travel`):
  tm_base (B, N+1, N+1)  nominal durations (the model's base), in the batch's time units
  tm_peaks (B, P, 3)     rush hours: time, width, amplitude (amplitude 0 = padding)
  tm_noise, tm_rate, tm_delay (B,)  log-normal sigma, accident probability per arc, mean accident delay
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from envs.model.instance import Instance
from envs.rl import dynamics as dyn

KEYS = ("tm_base", "tm_peaks", "tm_noise", "tm_rate", "tm_delay")
MAX_PEAKS = 4


def travel_tensors(instance: Instance, t_scale: float, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The travel model of `instance` as batch tensors (times multiplied by t_scale, like the duration matrix)."""
    model = instance.travel_model
    peaks = np.zeros((MAX_PEAKS, 3))
    peaks[:, 1] = 1.0
    if len(model.peaks) > MAX_PEAKS:
        raise ValueError(f"{instance.name}: at most {MAX_PEAKS} rush hours can be trained on")
    for k, p in enumerate(model.peaks):
        peaks[k] = (p.time * t_scale, p.width * t_scale, p.amplitude)
    return {
        "tm_base": torch.tensor(instance.duration * t_scale, dtype=dtype)[None],
        "tm_peaks": torch.tensor(peaks, dtype=dtype)[None],
        "tm_noise": torch.tensor([model.noise_sigma], dtype=dtype),
        "tm_rate": torch.tensor([model.accident_rate], dtype=dtype),
        "tm_delay": torch.tensor([model.accident_delay * t_scale], dtype=dtype),
    }


def has_travel_model(data: Mapping[str, torch.Tensor]) -> bool:
    return "tm_base" in data


def expected_lateness(
    data: Mapping[str, torch.Tensor],
    actions: torch.Tensor,
    num_samples: int = 8,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, S): total lateness (clients' service starts after their windows close, and closed routes' returns
    after the depot closes), averaged over `num_samples` draws of travel times, for tours (B, S, T)."""
    b, s, steps = actions.shape
    base, tw, service = data["tm_base"], data["tw"], data["service"]
    dtype, dev = base.dtype, base.device
    shape = (b, s, num_samples)
    start = tw[:, 0, 0][:, None, None].expand(shape)
    close = tw[:, 0, 1][:, None, None]
    peaks = data["tm_peaks"][:, None, None]  # (B, 1, 1, P, 3)
    sigma, rate, delay = (data[k][:, None, None] for k in ("tm_noise", "tm_rate", "tm_delay"))
    opened = data["open_route"][:, None, None] if "open_route" in data else torch.zeros(b, 1, 1, dtype=torch.bool)
    time, late = start.clone(), torch.zeros(shape, dtype=dtype, device=dev)
    prev = torch.zeros(b, s, dtype=torch.long, device=dev)
    for t in range(steps):
        a = actions[..., t]
        arc = dyn.entries(base, prev, a)[..., None]
        c = 1 + (peaks[..., 2] * torch.exp(-((time[..., None] - peaks[..., 0]) ** 2) / (2 * peaks[..., 1] ** 2))).sum(
            -1
        )
        noise = torch.exp(sigma * torch.randn(shape, generator=generator, dtype=dtype, device=dev) - sigma**2 / 2)
        hit = torch.rand(shape, generator=generator, dtype=dtype, device=dev) < rate
        extra = torch.where(
            hit & (arc > 0), -delay * torch.log1p(-torch.rand(shape, generator=generator, dtype=dtype, device=dev)), 0.0
        )
        arrive = time + arc * c * noise + extra
        to_depot, moving = (a == 0)[..., None], ((prev != 0) | (a != 0))[..., None]
        latest = torch.where(to_depot, close, tw[..., 1].gather(1, a)[..., None])
        counts = moving & ~(to_depot & opened)
        late = late + torch.where(counts, (arrive - latest).clamp_min(0), 0.0)
        served = torch.maximum(arrive, tw[..., 0].gather(1, a)[..., None]) + service.gather(1, a)[..., None]
        time = torch.where(to_depot, start, torch.where(moving, served, time))
        prev = a
    return late.mean(-1)
