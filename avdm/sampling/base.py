"""The sampler contract: every sampler, the posterior one included, is a plain solver function ::

    solve(sde, score_fn, x, ts, *, y=None, observation=None, generator=None, callback=None, **options) -> x_0

``score_fn(x, t) -> score``; ``x`` is the state at ``ts[0]`` (drawn from the SDE's prior, or a
partly noised estimate at ``t_start``); ``ts`` the time grid from ``T`` (or ``t_start``) down to ``t_eps`` (one of :mod:`avdm.sampling.schedules`, apart from the
solver); ``y`` the mean the forward process drifts to (supervised enhancement) or None;
``observation`` what posterior sampling explains besides the prior (:class:`Observation`) or None;
``callback(info)``, when given, sees a dict after every step (``i``, ``t``, ``x`` and what the
solver adds, e.g. the denoised estimate or the noise model) and changes nothing.  All state of one
call lives in that call.

A config names a sampler by registry key with options (``sampler: pc``, ``sampler_conf``);
:data:`avdm.registry.SAMPLERS` builds a :class:`Sampler`: the solver bound to its schedule and
options, which counts the network evaluations (NFE) each call makes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import torch

from avdm.sde import AbsSDE, expand_like, noise_like

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[Dict[str, Any]], None]
Schedule = Callable[..., torch.Tensor]  # (sde, steps, t_eps, device, t_start=None) -> ts


@dataclass(frozen=True)
class Observation:
    """What posterior sampling conditions on: the noisy linear STFT ``stft`` (B, 1, F, T) and the
    ``compression`` between it and the model's domain (:class:`avdm.stft.AmplitudeCompression`);
    ``nmf_init``: optional initial noise factors ``(W (B, F, K), H (B, K, T))``."""

    stft: torch.Tensor
    compression: Any
    nmf_init: Optional[Tuple[torch.Tensor, torch.Tensor]] = None


class CountingScore:
    """Wraps a score function and counts its calls (network function evaluations)."""

    def __init__(self, fn: ScoreFn):
        self.fn = fn
        self.nfe = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.fn(x, t)


@dataclass(frozen=True)
class Sampler:
    """A solver bound to its schedule and options, as built from a config (no per-call state).

    ``nfe``: network evaluations per call; ``observes``: the solver samples a posterior given an
    :class:`Observation` (and nothing else does).
    """

    key: str
    solve: Callable[..., torch.Tensor]
    schedule: Schedule
    steps: int
    t_eps: float
    nfe: int
    options: Mapping[str, Any] = field(default_factory=dict)
    observes: bool = False

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")

    def nominal_nfe(self) -> int:
        """Network evaluations per sample, for this configuration."""
        return self.nfe

    def __call__(self, sde: AbsSDE, score_fn: ScoreFn, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                 generator: Optional[torch.Generator] = None, *, observation: Optional[Observation] = None,
                 callback: Optional[Callback] = None, t_start: Optional[float] = None) -> Tuple[torch.Tensor, int]:
        """``(x_0, the NFE this call made)``; ``t_start``: ``x`` is the state at that time, not at ``T``."""
        if self.observes and observation is None:
            raise ValueError(f"{self.key} needs the noisy observation (an Observation: noisy STFT and compression)")
        if observation is not None and not self.observes:
            raise ValueError(f"sampler {self.key} does not condition on an observation (posterior sampling "
                             "is posterior_nmf)")
        counter = CountingScore(score_fn)
        with torch.no_grad():
            ts = self.schedule(sde, self.steps, self.t_eps, x.device, t_start=t_start)
            out = self.solve(sde, counter, x, ts, y=y, observation=observation, generator=generator,
                             callback=callback, **self.options)
        return out, counter.nfe


def report(callback: Optional[Callback], i: int, t: torch.Tensor, x: torch.Tensor, **more) -> None:
    """Give ``callback`` (if any) the state after step ``i`` from time ``t``."""
    if callback is not None:
        callback({"i": i, "t": float(t), "x": x, **more})


def bt(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A scalar time as a (B,) float32 tensor for ``x``'s batch."""
    return torch.full((x.shape[0],), float(t), device=x.device, dtype=torch.float32)


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
