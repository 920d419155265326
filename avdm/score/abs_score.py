"""Diffusion scorers: networks over the complex STFT state.

A scorer takes the state ``x`` (B, 1, F, T) complex, the diffusion time ``t`` (B,), the
conditioning spectrogram ``y`` (B, 1, F, T) complex or None (prior mode), and visual features
(B, D, T) at the STFT frame rate or None, and returns a complex tensor shaped like ``x``: the
estimate of the noise ``z`` in ``x_t = mean + s(t) z`` (the model turns it into the score
``-z_hat / s(t)``).
"""
from __future__ import annotations

from typing import Optional

import torch


class AbsScoreModel(torch.nn.Module):
    def forward(self, x: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor] = None,
                visual: Optional[torch.Tensor] = None) -> torch.Tensor:
        raise NotImplementedError


def to_channels(x: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
    parts = [x.real, x.imag] if y is None else [x.real, x.imag, y.real, y.imag]
    return torch.cat(parts, dim=1)


def to_complex(h: torch.Tensor) -> torch.Tensor:
    return torch.complex(h[:, :1].float(), h[:, 1:2].float())
