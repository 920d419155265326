"""What every sampler shares: time grids, NFE counting and the call convention.

A sampler is built from its registry key and options (``SAMPLERS.build("pc", {"steps": 30})``)
and called as ``sampler(sde, score_fn, x_T, y=None, generator=None) -> (x_0, nfe)``, where
``score_fn(x, t) -> score`` and ``nfe`` counts the network evaluations it made.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch

from avdm.sde import AbsSDE, expand_like, noise_like

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class CountingScore:
    """Wraps a score function and counts its calls (network function evaluations)."""

    def __init__(self, fn: ScoreFn):
        self.fn = fn
        self.nfe = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.fn(x, t)


def time_grid(sde: AbsSDE, steps: int, t_eps: float, device=None) -> torch.Tensor:
    """``steps + 1`` times from ``T`` down to ``t_eps``, evenly spaced."""
    return torch.linspace(sde.T, t_eps, steps + 1, device=device, dtype=torch.float64)


def bt(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A scalar time as a (B,) float32 tensor for ``x``'s batch."""
    return torch.full((x.shape[0],), float(t), device=x.device, dtype=torch.float32)


class AbsSampler:
    def __init__(self, steps: int = 30, t_eps: float = 0.03):
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.steps = int(steps)
        self.t_eps = float(t_eps)

    def __call__(self, sde: AbsSDE, score_fn: ScoreFn, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                 generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, int]:
        counter = CountingScore(score_fn)
        with torch.no_grad():
            out = self.sample(sde, counter, x, y, generator)
        return out, counter.nfe

    def sample(self, sde, score_fn, x, y, generator):
        raise NotImplementedError

    def nominal_nfe(self) -> int:
        """Network evaluations per sample, for a given configuration."""
        return self.steps


def denoise(sde: AbsSDE, score_fn: ScoreFn, x: torch.Tensor, t: torch.Tensor, y) -> torch.Tensor:
    """Tweedie's estimate of ``x_0`` from ``x_t``: ``y + (x - y + s^2 score) / a`` (one NFE)."""
    tt = bt(t, x)
    a = expand_like(sde.mean_coeff(tt), x)
    s = expand_like(sde.std(tt), x)
    yy = 0 if y is None else y
    return yy + (x - yy + s ** 2 * score_fn(x, tt)) / a


def reverse_step(sde: AbsSDE, score_fn, x, t, t_next, y, generator, noise: bool = True):
    """One Euler-Maruyama step of the reverse SDE from ``t`` to ``t_next`` (< t); returns (x, mean)."""
    tt = bt(t, x)
    dt = float(t_next - t)  # negative
    drift = sde.reverse_drift(x, tt, y, score_fn(x, tt))
    mean = x + drift * dt
    if not noise:
        return mean, mean
    g = expand_like(sde.diffusion(tt), x)
    return mean + g * (-dt) ** 0.5 * noise_like(x, generator), mean
