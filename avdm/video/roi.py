"""Mouth regions of interest: smoothed, gap-filled tracks and fixed-scale 96x96 gray crops."""
from __future__ import annotations

import logging
from typing import Tuple

import cv2
import numpy as np

from avdm.video.detectors import MouthTrack

logger = logging.getLogger(__name__)

ROI_SIZE = 96
CROP_TO_FACE = 0.6  # the crop side is this fraction of the face width


class NoFaceError(RuntimeError):
    """Too many frames without a face/mouth to make a trustworthy ROI sequence."""


def fill_and_smooth(track: MouthTrack, max_failed_frac: float = 0.25, window: int = 5
                    ) -> Tuple[np.ndarray, float]:
    """Centres with failed frames interpolated and temporal smoothing; and one crop side length."""
    T = len(track.centre)
    failed = track.failed
    n_failed = int(failed.sum())
    if n_failed == T:
        raise NoFaceError(f"no face found in any of {T} frames")
    if n_failed > max_failed_frac * T:
        raise NoFaceError(f"no face in {n_failed} of {T} frames (more than {max_failed_frac:.0%})")
    t = np.arange(T)
    ok = ~failed
    centre = np.stack([np.interp(t, t[ok], track.centre[ok, i]) for i in range(2)], axis=1)
    if window > 1 and T > 1:
        k = np.ones(window) / window
        padded = np.pad(centre, ((window // 2, window // 2), (0, 0)), mode="edge")
        centre = np.stack([np.convolve(padded[:, i], k, mode="valid") for i in range(2)], axis=1)[:T]
    side = CROP_TO_FACE * float(np.median(track.face_size[np.isfinite(track.face_size)]))
    return centre, side


def crop_mouths(frames, centre: np.ndarray, side: float, size: int = ROI_SIZE) -> np.ndarray:
    """uint8 ``(T, size, size)`` crops of side ``side`` pixels centred on ``centre`` (one scale);
    ``frames`` an array or a stream of the ``T = len(centre)`` frames."""
    out = np.empty((len(centre), size, size), np.uint8)
    s = size / side
    c = (size - 1) / 2  # pixel centres sit on integer coordinates (dlib and OpenCV alike)
    t = -1
    for t, frame in enumerate(frames):
        if t >= len(out):
            raise ValueError(f"more frames than the {len(out)} tracked")
        cx, cy = centre[t]
        M = np.array([[s, 0, c - s * cx], [0, s, c - s * cy]], dtype=np.float64)
        out[t] = cv2.warpAffine(frame, M, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    if t + 1 != len(out):
        raise ValueError(f"{t + 1} frames for {len(out)} tracked centres")
    return out


def write_preview(path, lips: np.ndarray, every: int = 5) -> None:
    from avdm.fileio import atomic_path

    strip = np.concatenate(list(lips[::every]), axis=1)
    ok, buf = cv2.imencode(".png", strip)
    if not ok:
        raise RuntimeError(f"cannot encode {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
