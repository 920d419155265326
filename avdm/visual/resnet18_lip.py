"""The lipreading front end: a 3-D convolutional stem followed by a ResNet-18 trunk per frame."""
from __future__ import annotations

import torch
from torch import nn

from avdm.registry import VISUAL_ENCODERS
from avdm.visual.abs_visual import AbsVisualEncoder


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.down is None else self.down(x)))


@VISUAL_ENCODERS.register("resnet18_lip")
class ResNet18LipEncoder(AbsVisualEncoder):
    """3-D conv stem (5x7x7) + ResNet-18 trunk + temporal projection (the lipreading standard)."""

    def __init__(self, output_dim: int = 256, width: int = 64):
        super().__init__()
        w = width
        self.stem = nn.Sequential(
            nn.Conv3d(1, w, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False),
            nn.BatchNorm3d(w), nn.ReLU(), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        blocks, cin = [], w
        for i, cout in enumerate((w, 2 * w, 4 * w, 8 * w)):
            stride = 1 if i == 0 else 2
            blocks += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
            cin = cout
        self.trunk = nn.Sequential(*blocks)
        self.proj = nn.Conv1d(cin, output_dim, 1)
        self.output_dim = output_dim

    def forward(self, lips: torch.Tensor) -> torch.Tensor:
        B, T, H, W = lips.shape
        x = self.stem(lips.unsqueeze(1))  # (B, C, T, h, w)
        C, h, w = x.shape[1], x.shape[3], x.shape[4]
        x = x.transpose(1, 2).reshape(B * T, C, h, w)
        x = self.trunk(x).mean(dim=(2, 3)).reshape(B, T, -1).transpose(1, 2)
        return self.proj(x)
