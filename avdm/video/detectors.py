"""Face / mouth localisers for lip ROI extraction (registry ``landmark_detector``).

A detector turns a gray frame sequence into per-frame :class:`MouthTrack` values: the mouth
centre and a face size (NaN where it failed).  ``dlib68`` predicts the 68-point landmarks on every
frame and runs the HOG face detector only on the first frame and when tracking is lost;
``haar`` finds an OpenCV Haar face box and places the mouth geometrically (fast, no landmarks).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from avdm.registry import LANDMARK_DETECTORS

logger = logging.getLogger(__name__)


@dataclass
class MouthTrack:
    centre: np.ndarray  # (T, 2) x, y; NaN where detection failed
    face_size: np.ndarray  # (T,) face width in pixels; NaN where failed
    landmarks: Optional[np.ndarray] = None  # (T, 68, 2) when the detector gives them

    @property
    def failed(self) -> np.ndarray:
        return ~np.isfinite(self.centre).all(axis=1)


class AbsDetector:
    def track(self, frames: np.ndarray) -> MouthTrack:  # frames: (T, H, W) uint8 gray
        raise NotImplementedError


@functools.lru_cache(maxsize=1)
def _dlib_models():
    import dlib
    import face_recognition_models

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(
        face_recognition_models.pose_predictor_model_location())


@LANDMARK_DETECTORS.register("dlib68")
class Dlib68Detector(AbsDetector):
    """dlib HOG face detector + 68-point predictor, tracking the face box between frames."""

    def __init__(self, detect_scale: float = 0.5, upsample: int = 1, max_box_change: float = 0.3):
        self.detect_scale = float(detect_scale)
        self.upsample = int(upsample)
        self.max_box_change = float(max_box_change)

    def _detect(self, frame: np.ndarray):
        import cv2
        import dlib

        det, _ = _dlib_models()
        small = cv2.resize(frame, None, fx=self.detect_scale, fy=self.detect_scale,
                           interpolation=cv2.INTER_AREA) if self.detect_scale != 1 else frame
        faces = det(small, self.upsample)
        if not faces:
            return None
        f = max(faces, key=lambda r: r.width() * r.height())
        s = 1.0 / self.detect_scale
        return dlib.rectangle(int(f.left() * s), int(f.top() * s), int(f.right() * s), int(f.bottom() * s))

    def track(self, frames: np.ndarray) -> MouthTrack:
        import dlib

        _, predictor = _dlib_models()
        T = len(frames)
        lms = np.full((T, 68, 2), np.nan)
        box = None
        h, w = frames.shape[1:3]
        for t in range(T):
            frame = np.ascontiguousarray(frames[t])
            if box is None:
                box = self._detect(frame)
                if box is None:
                    continue
            shape = predictor(frame, box)
            pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            # the next frame's box follows the landmarks; a jump in size or leaving the frame = lost
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            size = max(x1 - x0, y1 - y0)
            old = max(box.width(), box.height())
            inside = x0 > -0.1 * w and y0 > -0.1 * h and x1 < 1.1 * w and y1 < 1.1 * h
            if not inside or abs(size - old * 0.9) > self.max_box_change * old:
                redetect = self._detect(frame)
                if redetect is None:
                    box = None
                    continue
                box = redetect
                shape = predictor(frame, box)
                pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
                x0, y0 = pts.min(axis=0)
                x1, y1 = pts.max(axis=0)
            lms[t] = pts
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            half = max(x1 - x0, y1 - y0) / 0.9 / 2
            box = dlib.rectangle(int(cx - half), int(cy - half), int(cx + half), int(cy + half))
        centre = lms[:, 48:68].mean(axis=1)
        face = np.linalg.norm(lms[:, 16] - lms[:, 0], axis=1)
        return MouthTrack(centre, face, lms)


@LANDMARK_DETECTORS.register("haar")
class HaarDetector(AbsDetector):
    """OpenCV Haar cascade face box, mouth placed geometrically (fast fallback, no landmarks)."""

    def __init__(self, scale_factor: float = 1.15, min_neighbors: int = 4, mouth_y: float = 0.78):
        import cv2

        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if self.cascade.empty():
            raise RuntimeError("OpenCV's haarcascade_frontalface_default.xml is missing")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.mouth_y = float(mouth_y)

    def track(self, frames: np.ndarray) -> MouthTrack:
        T = len(frames)
        centre = np.full((T, 2), np.nan)
        face = np.full(T, np.nan)
        for t in range(T):
            boxes = self.cascade.detectMultiScale(frames[t], scaleFactor=self.scale_factor,
                                                  minNeighbors=self.min_neighbors, minSize=(40, 40))
            if len(boxes) == 0:
                continue
            x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
            centre[t] = (x + w / 2, y + self.mouth_y * h)
            face[t] = 0.85 * w  # Haar boxes are a little wider than the jaw line
        return MouthTrack(centre, face)
