"""Video file -> lip ROI sequence (the job of ``avdm-lips`` and stage 1)."""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from avdm.registry import LANDMARK_DETECTORS
from avdm.video.decode import iter_frames, probe
from avdm.video.roi import crop_mouths, fill_and_smooth

logger = logging.getLogger(__name__)


def extract_lips(path, detector=None, max_failed_frac: float = 0.25,
                 frames: Optional[np.ndarray] = None) -> np.ndarray:
    """uint8 ``(T, 96, 96)`` mouth crops of ``path`` at 25 fps (raises VideoError / NoFaceError).

    The video is decoded twice as a stream (tracking, then cropping with the smoothed track), so
    memory holds the crops but never the full frames of a long video.
    """
    detector = detector or LANDMARK_DETECTORS.build("dlib68")
    info = probe(path) if frames is None else None
    track = detector.track(iter_frames(path, info=info) if frames is None else frames)
    logger.debug("%s: %d frames, %d without a face, detector stats %s", path, len(track.centre),
                 int(track.failed.sum()), track.stats)
    centre, side = fill_and_smooth(track, max_failed_frac)
    return crop_mouths(iter_frames(path, info=info) if frames is None else frames, centre, side)
