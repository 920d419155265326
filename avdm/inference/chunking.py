"""Chunked inference with overlap-add: bounded memory for long inputs.

The signal is cut into chunks of ``chunk_frames`` video frames overlapping by ``overlap_frames``;
each chunk is processed alone and the outputs are cross-faded (linear ramps) over the overlaps.
An input no longer than one chunk is processed whole, so short inputs give exactly the
whole-file result.
"""
from __future__ import annotations

from typing import Callable, List, Tuple

import numpy as np

from avdm import SAMPLES_PER_FRAME


def chunk_bounds(n_frames: int, chunk_frames: int, overlap_frames: int) -> List[Tuple[int, int]]:
    if chunk_frames <= overlap_frames:
        raise ValueError(f"chunk ({chunk_frames} frames) must be longer than the overlap ({overlap_frames})")
    if n_frames <= chunk_frames:
        return [(0, n_frames)]
    hop = chunk_frames - overlap_frames
    bounds, start = [], 0
    while True:
        end = min(start + chunk_frames, n_frames)
        bounds.append((start, end))
        if end == n_frames:
            break
        start += hop
    # the last chunk keeps full length (better context) by starting earlier
    s, e = bounds[-1]
    if e - s < chunk_frames:
        bounds[-1] = (max(0, e - chunk_frames), e)
    return bounds


def process_chunked(n_frames: int, fn: Callable[[int, int], np.ndarray], chunk_frames: int = 250,
                    overlap_frames: int = 25) -> np.ndarray:
    """``fn(start_frame, end_frame) -> waveform of (end - start) * 640 samples``; overlap-added."""
    bounds = chunk_bounds(n_frames, chunk_frames, overlap_frames)
    if len(bounds) == 1:
        return fn(0, n_frames)
    total = n_frames * SAMPLES_PER_FRAME
    out = np.zeros(total, np.float32)  # float32 accumulators, divided in place: memory of a long input
    weight = np.zeros(total, np.float32)  # stays at two copies of the output signal
    for i, (s, e) in enumerate(bounds):
        seg = np.asarray(fn(s, e), np.float32)
        n = len(seg)
        w = np.ones(n, np.float32)
        ramp = overlap_frames * SAMPLES_PER_FRAME
        if i > 0:
            prev_end = bounds[i - 1][1] * SAMPLES_PER_FRAME
            r = min(ramp, max(prev_end - s * SAMPLES_PER_FRAME, 1))
            w[:r] = np.linspace(0, 1, r + 2)[1:-1]
        if i < len(bounds) - 1:
            next_start = bounds[i + 1][0] * SAMPLES_PER_FRAME
            r = min(ramp, max(e * SAMPLES_PER_FRAME - next_start, 1))
            w[n - r:] = np.minimum(w[n - r:], np.linspace(1, 0, r + 2)[1:-1])
        a = s * SAMPLES_PER_FRAME
        out[a:a + n] += w * seg
        weight[a:a + n] += w
    np.maximum(weight, 1e-8, out=weight)
    out /= weight
    return out
