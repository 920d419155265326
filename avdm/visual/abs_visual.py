"""Visual encoders map lip ROI videos (B, T, H, W), normalised floats, to (B, D, T) embeddings."""
from __future__ import annotations

import torch


class AbsVisualEncoder(torch.nn.Module):
    output_dim: int = 0

    def forward(self, lips: torch.Tensor) -> torch.Tensor:  # (B, T, H, W) -> (B, D, T)
        raise NotImplementedError
