"""The training target of the lip front-end: the speech's log-mel envelope at the video frame rate.

One frame per video frame (640 samples at 16 kHz, a 1024-point Hann window centred on it), ``n_bands``
mel bands from 80 Hz to 7.6 kHz, natural log of the band power.  Coarse on purpose: it is what the
mouth shows (when the speaker speaks, how open, roughly which formant region), not the harmonics.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from avdm import SAMPLE_RATE, SAMPLES_PER_FRAME

N_FFT = 1024
FMIN, FMAX = 80.0, 7600.0
POWER_FLOOR = 1e-8  # about -80 dB: digital silence does not dominate the statistics


@lru_cache(maxsize=8)
def _mel_matrix(n_bands: int) -> torch.Tensor:
    import torchaudio

    return torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, FMIN, FMAX, n_bands, SAMPLE_RATE,
                                                 norm="slaney", mel_scale="slaney")  # (F, n_bands)


def log_mel_envelope(wav, n_bands: int = 20) -> torch.Tensor:
    """(N,) or (B, N) waveform -> (B, N // 640, n_bands) log band power, one row per video frame."""
    w = torch.as_tensor(np.asarray(wav, np.float32) if not isinstance(wav, torch.Tensor) else wav).float()
    if w.dim() == 1:
        w = w[None]
    n_frames = w.shape[-1] // SAMPLES_PER_FRAME
    # window k centred on sample 640 k + 320, the middle of video frame k
    left = N_FFT // 2 - SAMPLES_PER_FRAME // 2
    w = torch.nn.functional.pad(w, (left, N_FFT))
    window = torch.hann_window(N_FFT, periodic=True)
    X = torch.stft(w, N_FFT, SAMPLES_PER_FRAME, window=window, center=False, return_complex=True)[..., :n_frames]
    power = X.abs().pow(2).transpose(1, 2) @ _mel_matrix(n_bands)
    return power.clamp_min(POWER_FLOOR).log()


def broadband(log_mel: torch.Tensor) -> torch.Tensor:
    """The broadband log energy of a log-mel envelope (..., n_bands) -> (...)."""
    return torch.logsumexp(log_mel, dim=-1)
