"""The audio-only baseline: no visual information (the model then always uses its null embedding)."""
from __future__ import annotations

import torch

from avdm.registry import VISUAL_ENCODERS
from avdm.visual.abs_visual import AbsVisualEncoder


@VISUAL_ENCODERS.register("none")
class NoVisualEncoder(AbsVisualEncoder):
    """Ignores the lips: the audio-only twin of every AV model, on the same code path."""

    def __init__(self, output_dim: int = 128):
        super().__init__()
        self.output_dim = output_dim

    def forward(self, lips: torch.Tensor) -> torch.Tensor:
        B, T = lips.shape[:2]
        return lips.new_zeros(B, self.output_dim, T)
