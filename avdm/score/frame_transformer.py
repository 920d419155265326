"""A structurally different scorer: a transformer over STFT frames (each frame's spectrum a token)."""
from __future__ import annotations

import math

import torch
from torch import nn

from avdm.registry import SCORE_MODELS
from avdm.score.abs_score import AbsScoreModel, to_channels
from avdm.score.layers import timestep_embedding


@SCORE_MODELS.register("frame_transformer")
class FrameTransformer(AbsScoreModel):
    """Transformer encoder over time; visual features added to the tokens before every layer."""

    def __init__(self, conditional: bool = False, visual_dim: int = 0, n_freqs: int = 256,
                 d_model: int = 256, num_layers: int = 4, heads: int = 4, ff_dim: int = 512,
                 dropout: float = 0.0):
        super().__init__()
        self.in_ch = 4 if conditional else 2
        self.n_freqs = n_freqs
        self.d_model = d_model
        self.inp = nn.Linear(self.in_ch * n_freqs, d_model)
        self.temb = nn.Sequential(nn.Linear(d_model, d_model), nn.SiLU(), nn.Linear(d_model, d_model))
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(d_model, heads, ff_dim, dropout, batch_first=True, norm_first=True)
            for _ in range(num_layers)])
        self.cond = nn.ModuleList([nn.Linear(visual_dim, d_model) for _ in range(num_layers)]) if visual_dim else None
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, 2 * n_freqs)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _positions(self, T: int, device) -> torch.Tensor:
        pos = torch.arange(T, device=device, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, self.d_model, 2, device=device) * (-math.log(10000.0) / self.d_model))
        pe = torch.zeros(T, self.d_model, device=device)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        return pe

    def forward(self, x, t, y=None, visual=None):
        B, _, Fq, T = x.shape
        if Fq != self.n_freqs:
            raise ValueError(f"frame_transformer built for {self.n_freqs} frequencies, got {Fq}")
        h = to_channels(x, y).permute(0, 3, 1, 2).reshape(B, T, self.in_ch * Fq)
        h = self.inp(h) + self._positions(T, x.device)[None]
        h = h + self.temb(timestep_embedding(t, self.d_model))[:, None, :]
        vis = visual.transpose(1, 2) if visual is not None else None
        for i, layer in enumerate(self.layers):
            if vis is not None and self.cond is not None:
                h = h + self.cond[i](vis)
            h = layer(h)
        out = self.out(self.norm(h)).reshape(B, T, 2, Fq).permute(0, 2, 3, 1)
        return torch.complex(out[:, :1].float(), out[:, 1:2].float())
