"""Building blocks shared by the scorers: time embedding, conditioned residual blocks, fusion."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

FUSIONS = ("film", "xattn")


def timestep_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal embedding of diffusion time ``t`` (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = scale * t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def pool_time(cond: Optional[torch.Tensor], frames: int) -> Optional[torch.Tensor]:
    """Visual features (B, D, T) resampled to ``frames`` time steps (average or linear)."""
    if cond is None or cond.shape[-1] == frames:
        return cond
    if cond.shape[-1] > frames:
        return F.adaptive_avg_pool1d(cond, frames)
    return F.interpolate(cond, size=frames, mode="linear", align_corners=False)


class Fusion(nn.Module):
    """Injects visual features (B, D, T) into a feature map (B, C, F, T).

    ``film``: per-frame scale and shift of every channel; ``xattn``: the frequency-averaged
    feature map attends to the visual sequence and the result is added at every frequency.
    """

    def __init__(self, channels: int, cond_dim: int, kind: str = "film", heads: int = 4):
        super().__init__()
        if kind not in FUSIONS:
            raise ValueError(f"unknown fusion '{kind}'; known: {', '.join(FUSIONS)}")
        self.kind = kind
        if kind == "film":
            self.proj = nn.Conv1d(cond_dim, 2 * channels, 1)
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)
        else:
            heads = max(1, min(heads, channels // 8))
            self.q = nn.Linear(channels, channels)
            self.kv = nn.Linear(cond_dim, channels)
            self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
            self.out = nn.Linear(channels, channels)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor, cond: Optional[torch.Tensor]) -> torch.Tensor:
        if cond is None:
            return h
        cond = pool_time(cond, h.shape[-1])
        if self.kind == "film":
            scale, shift = self.proj(cond).chunk(2, dim=1)  # (B, C, T)
            return h * (1 + scale[:, :, None, :]) + shift[:, :, None, :]
        q = self.q(h.mean(dim=2).transpose(1, 2))  # (B, T, C)
        kv = self.kv(cond.transpose(1, 2))
        a, _ = self.attn(q, kv, kv, need_weights=False)
        return h + self.out(a).transpose(1, 2)[:, :, None, :]


def _groups(c: int) -> int:
    for g in (32, 16, 8, 4, 2, 1):
        if c % g == 0 and c // g >= 2:
            return g
    return 1


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv residual block with time embedding and visual fusion."""

    def __init__(self, cin: int, cout: int, temb_dim: int, cond_dim: int, fusion: str = "film",
                 dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb_dim, cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.fusion = Fusion(cout, cond_dim, fusion) if cond_dim > 0 else None
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb, cond):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.norm2(h)
        if self.fusion is not None:
            h = self.fusion(h, cond)
        h = self.conv2(self.dropout(F.silu(h)))
        return (self.skip(x) + h) / math.sqrt(2.0)


class SelfAttention2d(nn.Module):
    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        B, C, Fq, T = x.shape
        h = self.norm(x).reshape(B, C, Fq * T).transpose(1, 2)
        a, _ = self.attn(h, h, h, need_weights=False)
        return x + a.transpose(1, 2).reshape(B, C, Fq, T)
