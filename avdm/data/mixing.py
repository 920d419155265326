"""Mixing speech and noise at a target SNR measured on the active speech level.

The active level follows the idea of ITU-T P.56 in a simple form: the speech power is averaged
only over 10 ms frames whose smoothed energy is within ``ACTIVITY_RANGE_DB`` of the loudest frame,
so leading and trailing silence do not lower the measured speech level.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

ACTIVITY_RANGE_DB = 35.0


def active_power(x: np.ndarray, fs: int = 16000, frame_ms: float = 10.0) -> float:
    """Mean power of ``x`` over its active frames."""
    x = np.asarray(x, dtype=np.float64)
    n = max(1, int(fs * frame_ms / 1000))
    frames = len(x) // n
    if frames == 0:
        return float(np.mean(x ** 2)) if len(x) else 0.0
    e = np.mean(x[:frames * n].reshape(frames, n) ** 2, axis=1)
    smooth = np.convolve(e, np.ones(3) / 3, mode="same")
    peak = smooth.max()
    if peak <= 0:
        return 0.0
    active = smooth >= peak * 10 ** (-ACTIVITY_RANGE_DB / 10)
    return float(e[active].mean())


def snr_db(speech: np.ndarray, noise: np.ndarray, fs: int = 16000) -> float:
    """SNR of a speech/noise pair: active speech power over mean noise power, in dB."""
    return 10 * np.log10(active_power(speech, fs) / (np.mean(np.asarray(noise, np.float64) ** 2) + 1e-20))


def crop_noise(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random segment of ``n`` samples (tiled when the noise is shorter)."""
    if len(noise) == 0:
        raise ValueError("empty noise signal")
    if len(noise) < n:
        noise = np.tile(noise, int(np.ceil(n / len(noise))) + 1)
    start = int(rng.integers(0, len(noise) - n + 1))
    return noise[start:start + n]


NOISE_LEVELS = ("mean", "active")


def mix(speech: np.ndarray, noise: np.ndarray, snr: float, rng: Optional[np.random.Generator] = None,
        fs: int = 16000, peak: float = 0.99, noise_level: str = "mean") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mix ``speech`` with a segment of ``noise`` at ``snr`` dB.

    ``noise_level``: how the interferer's power is measured, ``mean`` (over the whole segment: noise)
    or ``active`` (over its active frames, like the speech: a competing talker, whose pauses would
    otherwise make it louder than the SNR says).

    Returns ``(mixture, scaled_noise, scaled_speech)`` of the speech's length, with
    ``mixture = scaled_speech + scaled_noise``.  When any of the three would clip, speech and noise are
    scaled down together (the SNR is unchanged), so ``scaled_speech`` is ``gain * speech``: it, not
    ``speech``, is the clean reference (and training target) that matches the mixture.  At -5 dB
    with impulsive noise the gain falls to 0.1.
    """
    if noise_level not in NOISE_LEVELS:
        raise ValueError(f"unknown noise_level '{noise_level}'; known: {', '.join(NOISE_LEVELS)}")
    rng = rng or np.random.default_rng()
    speech = np.asarray(speech, dtype=np.float64)
    seg = crop_noise(np.asarray(noise, dtype=np.float64), len(speech), rng)
    p_s = active_power(speech, fs)
    p_n = active_power(seg, fs) if noise_level == "active" else np.mean(seg ** 2)
    if p_s <= 0:
        raise ValueError("silent speech: cannot set an SNR")
    if p_n <= 0:
        raise ValueError("silent noise: cannot set an SNR")
    seg = seg * np.sqrt(p_s / (p_n * 10 ** (snr / 10)))
    # every written signal stays below the peak: the noise alone can exceed the mixture where the
    # two partly cancel, and a clipped noise file would no longer be mixture - speech
    m = max(np.abs(speech + seg).max(), np.abs(seg).max(), np.abs(speech).max())
    gain = peak / m if m > peak else 1.0
    speech, seg = (gain * speech).astype(np.float32), (gain * seg).astype(np.float32)
    return speech + seg, seg, speech
