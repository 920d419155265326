"""A waveform with a given log-mel envelope: white noise shaped, frame by frame, to the band
powers of :mod:`avdm.frontend.envelope` (the lip front-end's prediction, or a measured envelope).

Lip-to-speech starts its sampler from this rendering of the lips' predicted envelope, partly
noised, instead of from pure noise (``start: lip_envelope`` in a decode config; docs/experiments.md,
"Lip-to-speech from the lips' envelope (seeds)").  It carries what the lips show (when, how loud, which
region of the spectrum) and nothing finer: no pitch, no harmonics; the diffusion model adds those.
"""
from __future__ import annotations

from typing import Optional

import torch

from avdm import SAMPLES_PER_FRAME
from avdm.frontend.envelope import N_FFT, _mel_matrix

HOP = 160  # 10 ms: the envelope (one value per 40 ms video frame) is interpolated to this rate


def render_envelope(log_mel: torch.Tensor, n_samples: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """(T, n_bands) natural-log band powers at the video frame rate -> (n_samples,) waveform.

    The band powers are interpolated linearly in time between the frame centres, spread over the
    FFT bins by the mel filters (each bin the filter-weighted mean of its bands' power density),
    and imposed on the STFT of white noise (unit magnitude, random phase)."""
    log_mel = torch.as_tensor(log_mel, dtype=torch.float32)
    if log_mel.dim() != 2:
        raise ValueError(f"log_mel must be (frames, bands), got shape {tuple(log_mel.shape)}")
    n_frames, n_bands = log_mel.shape
    fb = _mel_matrix(n_bands)  # (F, n_bands), power of one FFT bin -> band power
    density = log_mel - torch.log(fb.sum(0).clamp_min(1e-8))  # log power per bin within each band
    frames = n_samples // HOP + 1
    centres = (torch.arange(n_frames, dtype=torch.float32) + 0.5) * SAMPLES_PER_FRAME
    pos = torch.arange(frames, dtype=torch.float32) * HOP
    # linear interpolation between frame centres, held at both ends
    k = torch.searchsorted(centres, pos).clamp(1, max(n_frames - 1, 1))
    if n_frames == 1:
        per_hop = density.expand(frames, n_bands)
    else:
        w = ((pos - centres[k - 1]) / (centres[k] - centres[k - 1])).clamp(0, 1)[:, None]
        per_hop = (1 - w) * density[k - 1] + w * density[k]
    weights = fb / fb.sum(1, keepdim=True).clamp_min(1e-8)  # (F, n_bands), rows sum to 1 inside the mel range
    magnitude = torch.exp(0.5 * (per_hop @ weights.T)).T  # (F, frames)
    magnitude = magnitude * (fb.sum(1) > 0).float()[:, None]  # nothing outside the mel range
    noise = torch.randn(n_samples + N_FFT, generator=generator)
    window = torch.hann_window(N_FFT)
    X = torch.stft(noise, N_FFT, HOP, window=window, return_complex=True)[:, :frames]
    X = X / X.abs().clamp_min(1e-8) * magnitude
    return torch.istft(X, N_FFT, HOP, window=window, length=n_samples)
