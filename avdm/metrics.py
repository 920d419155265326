"""Speech quality and intelligibility metrics: PESQ (wide/narrow band), STOI, ESTOI, SI-SDR.

PESQ comes from the ``pesq`` package (ITU-T P.862 reference code), STOI/ESTOI from ``pystoi``;
SI-SDR is computed here.  Per-utterance values are averaged with 95% confidence intervals
(Student's t).
"""
from __future__ import annotations

import logging
import math
from typing import Dict, Iterable, Sequence, Tuple

import numpy as np

logger = logging.getLogger(__name__)

METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "sisdr")
MAX_LENGTH_MISMATCH = 0.1  # seconds; beyond this a pair is an error, not trimmed


class LengthMismatchError(ValueError):
    pass


def align_lengths(ref: np.ndarray, est: np.ndarray, fs: int = 16000, utt: str = "") -> Tuple[np.ndarray, np.ndarray]:
    """Trim both signals to the shorter length; refuse mismatches above ``MAX_LENGTH_MISMATCH``."""
    diff = abs(len(ref) - len(est))
    if diff > MAX_LENGTH_MISMATCH * fs:
        raise LengthMismatchError(f"{utt}: reference has {len(ref)} samples, estimate {len(est)} "
                                  f"({diff / fs:.2f} s apart, more than {MAX_LENGTH_MISMATCH} s)")
    n = min(len(ref), len(est))
    return ref[:n], est[:n]


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (both signals made zero-mean)."""
    ref = np.asarray(ref, np.float64) - np.mean(ref)
    est = np.asarray(est, np.float64) - np.mean(est)
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + 1e-12)
    target = alpha * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + 1e-12) / (np.dot(noise, noise) + 1e-12)))


def pesq(ref: np.ndarray, est: np.ndarray, fs: int = 16000, mode: str = "wb") -> float:
    from pesq import pesq as _pesq

    if mode == "nb" and fs != 8000:
        from avdm.audio_io import resample

        ref, est, fs = resample(ref, fs, 8000), resample(est, fs, 8000), 8000
    try:
        return float(_pesq(fs, np.asarray(ref, np.float64), np.asarray(est, np.float64), mode))
    except Exception as e:  # pesq raises for silent or too short signals
        logger.warning("PESQ-%s failed (%s): NaN", mode.upper(), e)
        return float("nan")


def stoi(ref: np.ndarray, est: np.ndarray, fs: int = 16000, extended: bool = False) -> float:
    from pystoi import stoi as _stoi

    return float(_stoi(np.asarray(ref, np.float64), np.asarray(est, np.float64), fs, extended=extended))


_FUNCS = {"pesq_wb": lambda r, e, fs: pesq(r, e, fs, "wb"), "pesq_nb": lambda r, e, fs: pesq(r, e, fs, "nb"),
          "stoi": lambda r, e, fs: stoi(r, e, fs), "estoi": lambda r, e, fs: stoi(r, e, fs, extended=True),
          "sisdr": lambda r, e, fs: si_sdr(r, e)}


def score_pair(ref: np.ndarray, est: np.ndarray, fs: int = 16000, utt: str = "",
               metrics: Sequence[str] = METRICS) -> Dict[str, float]:
    """The ``metrics`` of ``est`` against ``ref`` after :func:`align_lengths`."""
    unknown = [m for m in metrics if m not in _FUNCS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
    ref, est = align_lengths(ref, est, fs, utt)
    return {m: _FUNCS[m](ref, est, fs) for m in metrics}


def mean_ci(values: Iterable[float], level: float = 0.95) -> Tuple[float, float, int]:
    """Mean, half-width of the ``level`` confidence interval (Student's t), count of finite values."""
    from scipy.stats import t as student_t

    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], np.float64)
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), 0
    if n == 1:
        return float(v[0]), float("nan"), 1
    half = student_t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n)
    return float(v.mean()), float(half), n
