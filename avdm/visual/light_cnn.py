"""A light per-frame CNN with a temporal convolution: the CPU default visual encoder."""
from __future__ import annotations

import torch
from torch import nn

from avdm.registry import VISUAL_ENCODERS
from avdm.visual.abs_visual import AbsVisualEncoder


@VISUAL_ENCODERS.register("light_cnn")
class LightCNNEncoder(AbsVisualEncoder):
    """Four strided 2-D conv layers per frame, global pooling, then a temporal conv (CPU default)."""

    def __init__(self, channels: int = 32, output_dim: int = 128, temporal_kernel: int = 5):
        super().__init__()
        c = channels
        layers, cin = [], 1
        for cout in (c, 2 * c, 4 * c, 4 * c):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GroupNorm(4, cout), nn.SiLU()]
            cin = cout
        self.frame_net = nn.Sequential(*layers)
        self.temporal = nn.Sequential(
            nn.Conv1d(cin, output_dim, temporal_kernel, padding=temporal_kernel // 2), nn.SiLU(),
            nn.Conv1d(output_dim, output_dim, 3, padding=1))
        self.output_dim = output_dim

    def forward(self, lips: torch.Tensor) -> torch.Tensor:
        B, T, H, W = lips.shape
        f = self.frame_net(lips.reshape(B * T, 1, H, W)).mean(dim=(2, 3))  # (B*T, C)
        return self.temporal(f.reshape(B, T, -1).transpose(1, 2))
