"""A visual encoder that carries speech from the first diffusion step: pretrained on the lips to
predict the speech's log-mel envelope (``avdm.frontend.pretrain``), then frozen or fine-tuned.

Its features are the light CNN's hidden features (with ``context_dilations``, after a dilated temporal
stack that lets each frame see its neighbours) followed by the predicted envelope (standardised per
band), so a scorer conditioned on them sees when and roughly where the target speaks.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from avdm.registry import VISUAL_ENCODERS
from avdm.visual.abs_visual import AbsVisualEncoder
from avdm.visual.light_cnn import LightCNNEncoder
from avdm.visual.temporal_context import DilatedTemporalStack

logger = logging.getLogger(__name__)


@VISUAL_ENCODERS.register("lip_envelope")
class LipEnvelopeEncoder(AbsVisualEncoder):
    """Light CNN + a head predicting the speech's log-mel envelope; loads a pretrained front-end."""

    def __init__(self, channels: int = 16, hidden_dim: int = 64, n_bands: int = 20, temporal_kernel: int = 5,
                 context_dilations: Sequence[int] = (), pretrained: Optional[str] = None, freeze: bool = True):
        super().__init__()
        self.trunk = LightCNNEncoder(channels, hidden_dim, temporal_kernel)
        self.context = DilatedTemporalStack(hidden_dim, tuple(context_dilations))
        self.head = nn.Conv1d(hidden_dim, n_bands, 1)
        self.n_bands = int(n_bands)
        self.output_dim = hidden_dim + n_bands
        self.pretrained = pretrained
        self.freeze = bool(freeze)
        # per-band mean and std of the training envelope: the head predicts (log_mel - mean) / std
        self.register_buffer("band_mean", torch.zeros(n_bands))
        self.register_buffer("band_std", torch.ones(n_bands))

    def _hidden(self, lips: torch.Tensor) -> torch.Tensor:
        return self.context(self.trunk(lips))

    def envelope(self, lips: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W) normalised lips -> (B, n_bands, T) standardised log-mel envelope."""
        return self.head(self._hidden(lips))

    def log_mel(self, lips: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W) normalised lips -> (B, T, n_bands) natural-log band powers (the envelope un-standardised)."""
        return self.envelope(lips).transpose(1, 2) * self.band_std + self.band_mean

    def forward(self, lips: torch.Tensor) -> torch.Tensor:
        h = self._hidden(lips)
        return torch.cat([h, self.head(h)], dim=1)

    def load_pretrained(self) -> None:
        """Load the front-end named by ``pretrained`` (training start only: a trained model carries the
        weights in its own state) and freeze it if asked."""
        if self.pretrained:
            path = Path(self.pretrained)
            if not path.is_file():
                raise FileNotFoundError(f"visual_encoder_conf.pretrained: {path} not found (pretrain it first: "
                                        "python -m avdm.bin.pretrain_frontend, stage 3 of the recipe)")
            blob = torch.load(path, map_location="cpu", weights_only=True)
            try:
                self.load_state_dict(blob["state_dict"])
            except RuntimeError as e:
                raise ValueError(f"{path}: does not match visual_encoder_conf ({e})") from None
            logger.info("lip_envelope: loaded the pretrained front-end %s%s", path, " (frozen)" if self.freeze else "")
        elif self.freeze:
            raise ValueError("lip_envelope: freeze: true without pretrained: a frozen random encoder carries nothing")
        if self.freeze:
            self.requires_grad_(False)
