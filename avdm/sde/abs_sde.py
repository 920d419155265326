"""The interface every forward process implements.

All processes used here are linear and drift towards a mean ``y`` (the noisy spectrogram for
supervised enhancement, zero for the clean-speech prior), so their marginals are Gaussian::

    x_t = y + a(t) (x_0 - y) + s(t) z,      z ~ N(0, I)

``a(t)`` is :meth:`mean_coeff`, ``s(t)`` is :meth:`std`.  Samplers only use this interface:
forward drift ``f(x, t, y)``, diffusion ``g(t)``, the marginal coefficients, and the prior.
``t`` is always a tensor of shape ``(B,)``; results broadcast over the trailing dimensions of ``x``.
Tensors may be real or complex (complex STFT); noise is drawn with :func:`noise_like`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional, Tuple

import torch


def expand_like(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a per-example ``(B,)`` tensor to broadcast against ``x`` of shape ``(B, ...)``."""
    return v.reshape(v.shape[0], *([1] * (x.dim() - 1)))


def noise_like(x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Standard normal noise with ``x``'s shape, dtype and device (complex: E|z|^2 = 1).

    Drawn on the generator's device and moved to ``x``'s, so one seed gives the same noise on the
    CPU and on a GPU (inference seeds a CPU generator per utterance).
    """
    dev = generator.device if generator is not None else x.device
    return torch.randn(x.shape, dtype=x.dtype, device=dev, generator=generator).to(x.device)


class AbsSDE(ABC):
    """A linear forward SDE ``dx = f(x, t, y) dt + g(t) dw`` on ``t in [0, T]``."""

    T: float = 1.0

    @abstractmethod
    def mean_coeff(self, t: torch.Tensor) -> torch.Tensor:
        """``a(t)`` in ``E[x_t | x_0] = y + a(t) (x_0 - y)``; shape ``(B,)``."""

    @abstractmethod
    def std(self, t: torch.Tensor) -> torch.Tensor:
        """Marginal standard deviation ``s(t)``; shape ``(B,)``."""

    @abstractmethod
    def drift(self, x: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        """Forward drift ``f(x, t, y)``."""

    @abstractmethod
    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """Diffusion coefficient ``g(t)``; shape ``(B,)``."""

    # ------------------------------------------------------------------ shared maths
    def marginal_prob(self, x0: torch.Tensor, t: torch.Tensor,
                      y: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation (broadcastable) of ``x_t`` given ``x_0``."""
        a = expand_like(self.mean_coeff(t), x0)
        mean = a * x0 if y is None else y + a * (x0 - y)
        return mean, expand_like(self.std(t), x0)

    def perturb(self, x0: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None):
        """Sample ``x_t`` given ``x_0``; returns ``(x_t, z, std)`` with the noise used."""
        mean, std = self.marginal_prob(x0, t, y)
        z = noise_like(x0, generator)
        return mean + std * z, z, std

    def prior_sample(self, like: torch.Tensor, y: Optional[torch.Tensor] = None,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """A sample of ``x_T`` ~ N(y, s(T)^2) (``y = 0`` when None), shaped like ``like``."""
        t = torch.full((like.shape[0],), self.T, device=like.device, dtype=torch.float32)
        std = expand_like(self.std(t), like).to(like.real.dtype if like.is_complex() else like.dtype)
        z = noise_like(like, generator)
        return (0 if y is None else y) + std * z

    def reverse_drift(self, x: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor],
                      score: torch.Tensor, probability_flow: bool = False) -> torch.Tensor:
        """Drift of the reverse-time SDE (or of the probability-flow ODE)."""
        g2 = expand_like(self.diffusion(t) ** 2, x)
        return self.drift(x, t, y) - (0.5 if probability_flow else 1.0) * g2 * score

    def score_from_noise(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The score of the perturbation kernel for noise ``z``: ``-z / s(t)``."""
        return -z / expand_like(self.std(t), z)


def as_time(t, batch: int, device=None) -> torch.Tensor:
    """``t`` as a float tensor of shape ``(batch,)``."""
    if not torch.is_tensor(t):
        return torch.full((batch,), float(t), device=device)
    if t.dim() == 0:
        return t.expand(batch).to(device)
    return t.to(device)
