"""NCSN++-style U-Nets over the (frequency, time) plane: ``ncsnpp`` (SGMSE+ size) and ``ncsnpp_lite``."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from avdm.registry import SCORE_MODELS
from avdm.score.abs_score import AbsScoreModel, to_channels, to_complex
from avdm.score.layers import ResBlock, SelfAttention2d, timestep_embedding

# "direct": the output is the network's last layer.  "gain" (conditional scorers): the last layer
# gives two complex maps r and g and the output is r + g * y, y the conditioning spectrogram the
# scorer was given.  With a coarse frequency grid (freq_stride > 1) the network's own output is
# built from that grid; the gain applies it to y at full resolution, so the harmonics of the
# speech in y need not be rebuilt from the coarse grid (a complex mask, as in mask-based enhancers,
# plus a residual for what y does not hold).  It scored worse on the demo's dev sets, so "direct"
# is the default (docs/experiments.md, "Output head gain").
OUTPUT_HEADS = ("direct", "gain")


class ConditionedUNet(AbsScoreModel):
    def __init__(self, conditional: bool = False, visual_dim: int = 0, base_channels: int = 32,
                 channel_mults: Sequence[int] = (1, 2, 3, 4), num_res_blocks: int = 1,
                 attn_levels: Sequence[int] = (), fusion: str = "film", dropout: float = 0.0,
                 temb_dim: Optional[int] = None, freq_stride: int = 1, output_head: str = "direct",
                 visual_map: bool = False, n_freqs: int = 256):
        super().__init__()
        if freq_stride not in (1, 2, 4):
            raise ValueError(f"freq_stride must be 1, 2 or 4, got {freq_stride}")
        if output_head not in OUTPUT_HEADS:
            raise ValueError(f"unknown output_head '{output_head}'; known: {', '.join(OUTPUT_HEADS)}")
        if output_head == "gain" and not conditional:
            raise ValueError("output_head 'gain' multiplies the conditioning spectrogram: it needs conditional=True")
        self.freq_stride = freq_stride
        self.output_head = output_head
        self.in_ch = 4 if conditional else 2
        # visual_map: the visual features projected onto the frequency axis, one more input channel,
        # so the scorer sees where in the spectrogram the lips say the target's energy is, not only
        # when (FiLM modulates whole channels per frame).  Zero-initialised: it starts as no input.
        self.vmap = None
        if visual_map and visual_dim > 0:
            self.vmap = nn.Conv1d(visual_dim, n_freqs, 1)
            nn.init.zeros_(self.vmap.weight)
            nn.init.zeros_(self.vmap.bias)
            self.in_ch += 1
        self.levels = len(channel_mults)
        temb_dim = temb_dim or 4 * base_channels
        self.temb_in = base_channels
        self.temb = nn.Sequential(nn.Linear(base_channels, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim))
        fs = freq_stride
        # a strided stem (and transposed output) works at a coarser frequency grid: cheaper
        self.stem = (nn.Conv2d(self.in_ch, base_channels, 3, padding=1) if fs == 1 else
                     nn.Conv2d(self.in_ch, base_channels, (2 * fs, 3), stride=(fs, 1), padding=(fs // 2, 1)))
        chans = [base_channels * m for m in channel_mults]
        self.down = nn.ModuleList()
        skips = [base_channels]
        cin = base_channels
        for lvl, c in enumerate(chans):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(cin, c, temb_dim, visual_dim, fusion, dropout))
                cin = c
                skips.append(c)
            attn = SelfAttention2d(c) if lvl in attn_levels else None
            down = nn.Conv2d(c, c, 3, stride=2, padding=1) if lvl < self.levels - 1 else None
            if down is not None:
                skips.append(c)
            self.down.append(nn.ModuleDict({"blocks": blocks, "attn": attn or nn.Identity(),
                                            "down": down or nn.Identity()}))
        self.mid1 = ResBlock(cin, cin, temb_dim, visual_dim, fusion, dropout)
        self.mid_attn = SelfAttention2d(cin) if attn_levels else nn.Identity()
        self.mid2 = ResBlock(cin, cin, temb_dim, visual_dim, fusion, dropout)
        self.up = nn.ModuleList()
        for lvl in reversed(range(self.levels)):
            c = chans[lvl]
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(ResBlock(cin + skips.pop(), c, temb_dim, visual_dim, fusion, dropout))
                cin = c
            attn = SelfAttention2d(c) if lvl in attn_levels else None
            up = nn.Conv2d(c, c, 3, padding=1) if lvl > 0 else None
            self.up.append(nn.ModuleDict({"blocks": blocks, "attn": attn or nn.Identity(),
                                          "up": up or nn.Identity()}))
        assert not skips
        self.out_norm = nn.GroupNorm(8 if cin % 8 == 0 else 1, cin)
        n_out = 4 if output_head == "gain" else 2
        self.out = (nn.Conv2d(cin, n_out, 3, padding=1) if fs == 1 else
                    nn.ConvTranspose2d(cin, n_out, (2 * fs, 3), stride=(fs, 1), padding=(fs // 2, 1)))
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t, y=None, visual=None):
        T = x.shape[-1]
        mult = 2 ** (self.levels - 1)
        pad = (-T) % mult
        h = to_channels(x, y)
        if self.vmap is not None:
            h = torch.cat([h, self.vmap(visual).unsqueeze(1).to(h.dtype)], dim=1)
        if pad:
            h = F.pad(h, (0, pad))
            visual = F.pad(visual, (0, pad), mode="replicate") if visual is not None else None
        temb = self.temb(timestep_embedding(t, self.temb_in))
        h = self.stem(h)
        hs = [h]
        for level in self.down:
            for block in level["blocks"]:
                h = block(h, temb, visual)
                hs.append(h)
            h = level["attn"](h)
            if not isinstance(level["down"], nn.Identity):
                h = level["down"](h)
                hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb, visual)), temb, visual)
        for level in self.up:
            for block in level["blocks"]:
                h = block(torch.cat([h, hs.pop()], dim=1), temb, visual)
            h = level["attn"](h)
            if not isinstance(level["up"], nn.Identity):
                h = level["up"](F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.out(F.silu(self.out_norm(h)))
        if pad:
            h = h[..., :T]
        if self.output_head == "gain":  # r + g y: the full-resolution detail of y passes through the gain
            return to_complex(h[:, :2]) + to_complex(h[:, 2:]) * y
        return to_complex(h)


@SCORE_MODELS.register("ncsnpp_lite")
class NCSNppLite(ConditionedUNet):
    """A small NCSN++-style U-Net on a 2x coarser frequency grid (about 2 M parameters): the CPU demo scorer."""

    def __init__(self, conditional: bool = False, visual_dim: int = 0, base_channels: int = 24,
                 channel_mults: Sequence[int] = (1, 2, 3, 4), num_res_blocks: int = 1,
                 fusion: str = "film", dropout: float = 0.0, freq_stride: int = 2, output_head: str = "direct",
                 visual_map: bool = False, n_freqs: int = 256):
        super().__init__(conditional, visual_dim, base_channels, channel_mults, num_res_blocks, (), fusion, dropout,
                         freq_stride=freq_stride, output_head=output_head, visual_map=visual_map, n_freqs=n_freqs)


@SCORE_MODELS.register("ncsnpp")
class NCSNpp(ConditionedUNet):
    """NCSN++-style U-Net of SGMSE+ size (about 62 M parameters, attention at the lowest level): for GPUs."""

    def __init__(self, conditional: bool = False, visual_dim: int = 0, base_channels: int = 128,
                 channel_mults: Sequence[int] = (1, 1, 2, 2, 2, 2, 2), num_res_blocks: int = 2,
                 attn_levels: Sequence[int] = (6,), fusion: str = "film", dropout: float = 0.0,
                 output_head: str = "direct", visual_map: bool = False, n_freqs: int = 256):
        super().__init__(conditional, visual_dim, base_channels, channel_mults, num_res_blocks, attn_levels,
                         fusion, dropout, output_head=output_head, visual_map=visual_map, n_freqs=n_freqs)
