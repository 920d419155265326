"""Ornstein-Uhlenbeck variance-exploding SDE of SGMSE+ (Richter et al., 2023)."""
from __future__ import annotations

import math
from typing import Optional

import torch

from avdm.registry import SDES
from avdm.sde.abs_sde import AbsSDE, expand_like


@SDES.register("ouve")
class OUVESDE(AbsSDE):
    """Drift theta*(y - x) towards the mean y, exponentially growing noise (SGMSE+ default)."""

    def __init__(self, theta: float = 1.5, sigma_min: float = 0.05, sigma_max: float = 0.5,
                 T: float = 1.0):
        if not (0 < sigma_min < sigma_max):
            raise ValueError(f"ouve: need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.theta = float(theta)
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        self.T = float(T)
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def mean_coeff(self, t):
        return torch.exp(-self.theta * t)

    def std(self, t):
        lr = self._log_ratio
        var = (self.sigma_min ** 2) * (torch.exp(2 * t * lr) - torch.exp(-2 * self.theta * t)) \
            * lr / (self.theta + lr)
        return torch.sqrt(var)

    def drift(self, x, t, y: Optional[torch.Tensor]):
        th = expand_like(torch.full_like(t, self.theta), x)
        return th * ((0 if y is None else y) - x)

    def diffusion(self, t):
        return self.sigma_min * torch.exp(t * self._log_ratio) * math.sqrt(2 * self._log_ratio)
