"""The complex STFT representation of SGMSE+: Hann window, n_fft 510, hop 128, amplitude
compression |X|^0.5 scaled by 0.15 (so the diffusion state has a sensible dynamic range)."""
from __future__ import annotations

import torch


class CompressedSTFT(torch.nn.Module):
    """wav (B, N) <-> compressed complex spectrogram (B, 1, n_fft//2+1, frames)."""

    def __init__(self, n_fft: int = 510, hop_length: int = 128, alpha: float = 0.5, beta: float = 0.15):
        super().__init__()
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True), persistent=False)

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    def n_frames(self, n_samples: int) -> int:
        return n_samples // self.hop_length + 1

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        X = torch.stft(wav.float(), self.n_fft, self.hop_length, window=self.window.to(wav.device),
                       center=True, return_complex=True)
        if self.alpha != 1.0:
            mag = X.abs().clamp_min(1e-12)
            X = mag ** self.alpha * (X / mag)
        return (self.beta * X).unsqueeze(1)

    def inverse(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        X = spec.squeeze(1) / self.beta
        if self.alpha != 1.0:
            mag = X.abs().clamp_min(1e-12)
            X = mag ** (1.0 / self.alpha) * (X / mag)
        return torch.istft(X, self.n_fft, self.hop_length, window=self.window.to(spec.device),
                           center=True, length=length)
