"""The complex STFT representation of SGMSE+: Hann window, n_fft 510, hop 128, amplitude
compression |X|^0.5 scaled by 0.15 (so the diffusion state has a sensible dynamic range).

:class:`AmplitudeCompression` is the one implementation of that compression; the model's
:class:`CompressedSTFT` and the posterior sampler (which works in both domains) use it.
"""
from __future__ import annotations

import torch


class AmplitudeCompression:
    """``c = beta |X|^alpha X / |X|`` (:meth:`compress`) and its inverse (:meth:`expand`).

    ``eps`` floors the magnitude that the phase is divided by.  ``alpha == 1`` skips the power law
    unless ``skip_identity`` is off.  ``scale_magnitude_first`` computes ``(beta |X|^alpha) (X / |X|)``
    instead of ``beta (|X|^alpha (X / |X|))``: equal maths, another float rounding.  The two options
    and ``eps`` exist so that the model's STFT and the posterior sampler keep the exact bits they
    have always produced (see :data:`avdm.sampling.posterior.POSTERIOR_ROUNDING`).
    """

    def __init__(self, alpha: float = 0.5, beta: float = 0.15, eps: float = 1e-12, skip_identity: bool = True,
                 scale_magnitude_first: bool = False):
        self.alpha, self.beta, self.eps = float(alpha), float(beta), float(eps)
        self.skip_identity = bool(skip_identity)
        self.scale_magnitude_first = bool(scale_magnitude_first)

    def with_rounding(self, **rounding) -> "AmplitudeCompression":
        """The same compression (alpha, beta) with other ``eps`` / rounding options."""
        kw = dict(eps=self.eps, skip_identity=self.skip_identity, scale_magnitude_first=self.scale_magnitude_first)
        kw.update(rounding)
        return AmplitudeCompression(self.alpha, self.beta, **kw)

    def _identity(self) -> bool:
        return self.skip_identity and self.alpha == 1.0

    def compress(self, X: torch.Tensor) -> torch.Tensor:
        """Linear complex STFT -> the model's compressed domain."""
        if self._identity():
            return self.beta * X
        mag = X.abs().clamp_min(self.eps)
        if self.scale_magnitude_first:
            return self.beta * mag ** self.alpha * (X / mag)
        return self.beta * (mag ** self.alpha * (X / mag))

    def expand(self, c: torch.Tensor) -> torch.Tensor:
        """The model's compressed domain -> linear complex STFT."""
        X = c / self.beta
        if self._identity():
            return X
        mag = X.abs().clamp_min(self.eps)
        return mag ** (1.0 / self.alpha) * (X / mag)


class CompressedSTFT(torch.nn.Module):
    """wav (B, N) <-> compressed complex spectrogram (B, 1, n_fft//2+1, frames)."""

    def __init__(self, n_fft: int = 510, hop_length: int = 128, alpha: float = 0.5, beta: float = 0.15):
        super().__init__()
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.compression = AmplitudeCompression(alpha, beta)
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True), persistent=False)

    @property
    def alpha(self) -> float:
        return self.compression.alpha

    @property
    def beta(self) -> float:
        return self.compression.beta

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    def n_frames(self, n_samples: int) -> int:
        return n_samples // self.hop_length + 1

    def linear(self, wav: torch.Tensor) -> torch.Tensor:
        """The uncompressed complex STFT of ``wav`` (B, N) -> (B, n_fft//2+1, frames)."""
        return torch.stft(wav.float(), self.n_fft, self.hop_length, window=self.window.to(wav.device),
                          center=True, return_complex=True)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.compression.compress(self.linear(wav)).unsqueeze(1)

    def inverse(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        X = self.compression.expand(spec.squeeze(1))
        return torch.istft(X, self.n_fft, self.hop_length, window=self.window.to(spec.device),
                           center=True, length=length)
