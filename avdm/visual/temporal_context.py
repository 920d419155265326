"""Residual dilated temporal convolutions: context over neighbouring video frames.

A mouth shape alone says little about the sound; with a few hundred milliseconds around it (the
syllable, coarticulation) it says much more.  Each block is a dilated conv (kernel 3), group norm,
SiLU and a 1x1 conv added back to its input, so the receptive field grows to
``1 + 2 * sum(dilations)`` frames at the cost of a few small 1-D convs
(docs/experiments.md, "Temporal context in the lip front-end (seeds)").
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class DilatedTemporalStack(nn.Module):
    """(B, C, T) -> (B, C, T); the identity when ``dilations`` is empty."""

    def __init__(self, channels: int, dilations: Sequence[int] = (), kernel: int = 3):
        super().__init__()
        if any(int(d) < 1 for d in dilations):
            raise ValueError(f"temporal context dilations must be >= 1, got {list(dilations)}")
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(channels, channels, kernel, dilation=int(d), padding=int(d) * (kernel // 2)),
                          nn.GroupNorm(4, channels), nn.SiLU(), nn.Conv1d(channels, channels, 1))
            for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return x
