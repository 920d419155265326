"""Face / mouth localisers for lip ROI extraction (registry ``landmark_detector``).

A detector turns a gray frame sequence into per-frame :class:`MouthTrack` values: the mouth
centre and a face size (NaN where it failed).  ``dlib68`` predicts the 68-point landmarks on every
frame and runs the HOG face detector only on the first frame and when tracking is lost;
``haar`` finds an OpenCV Haar face box and places the mouth geometrically (fast, no landmarks).

Tracking is declared lost when the face patch under the tracked box no longer resembles the
previous frame's (normalised cross-correlation of a small gray thumbnail below
``min_similarity``), when the patch is flat (a blank or black frame), or when the predicted
landmarks leave the frame or change size abruptly.  The face is then searched again in the whole
frame: first on a downscaled copy (``detect_scale``, fast), then at full resolution, which finds
faces down to about 40 pixels wide.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Iterable, Optional, Tuple

import cv2
import numpy as np

from avdm.registry import LANDMARK_DETECTORS

logger = logging.getLogger(__name__)

THUMB = 24  # side of the gray thumbnail compared between frames
MIN_PATCH_STD = 3.0  # a face patch flatter than this (gray levels) is no face


@dataclass
class MouthTrack:
    centre: np.ndarray  # (T, 2) x, y; NaN where detection failed
    face_size: np.ndarray  # (T,) face width in pixels; NaN where failed
    landmarks: Optional[np.ndarray] = None  # (T, 68, 2) when the detector gives them
    stats: dict = field(default_factory=dict)  # e.g. {"detections": n} for logs and benchmarks

    @property
    def failed(self) -> np.ndarray:
        return ~np.isfinite(self.centre).all(axis=1)


class AbsDetector:
    def track(self, frames: Iterable[np.ndarray]) -> MouthTrack:
        """Track over ``frames``, (H, W) uint8 gray each: an array or a stream (one pass, in order)."""
        raise NotImplementedError


def thumbnail(frame: np.ndarray, box: Tuple[int, int, int, int]) -> Optional[np.ndarray]:
    """Zero-mean, unit-norm ``THUMB x THUMB`` thumbnail of ``box`` (x0, y0, x1, y1) in ``frame``.

    None when the box lies (almost) outside the frame or the patch is flat.
    """
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0), min(int(box[2]), w), min(int(box[3]), h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    p = cv2.resize(frame[y0:y1, x0:x1], (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
    p -= p.mean()
    if float(p.std()) < MIN_PATCH_STD:
        return None
    return p / np.linalg.norm(p)


def similarity(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> float:
    """Normalised cross-correlation of two thumbnails (-1 when either is missing)."""
    return -1.0 if a is None or b is None else float((a * b).sum())


@functools.lru_cache(maxsize=1)
def _dlib_models():
    import dlib
    import face_recognition_models

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(
        face_recognition_models.pose_predictor_model_location())


@LANDMARK_DETECTORS.register("dlib68")
class Dlib68Detector(AbsDetector):
    """dlib HOG face detector + 68-point predictor, tracking the face box between frames."""

    def __init__(self, detect_scale: float = 0.5, upsample: int = 1, max_box_change: float = 0.3,
                 min_similarity: float = 0.7, full_res_fallback: bool = True):
        if not 0 < detect_scale <= 1:
            raise ValueError(f"dlib68: detect_scale must be in (0, 1], got {detect_scale}")
        self.detect_scale = float(detect_scale)
        self.upsample = int(upsample)
        self.max_box_change = float(max_box_change)
        self.min_similarity = float(min_similarity)
        self.full_res_fallback = bool(full_res_fallback)

    def _detect(self, frame: np.ndarray):
        """The largest face of the frame as a dlib rectangle, or None."""
        import dlib

        det, _ = _dlib_models()
        tries = [(self.detect_scale, self.upsample)]
        if self.full_res_fallback and (self.detect_scale, self.upsample) != (1.0, 1):
            tries.append((1.0, 1))
        for scale, upsample in tries:
            img = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale != 1 else frame
            faces = det(img, upsample)
            if faces:
                f = max(faces, key=lambda r: r.width() * r.height())
                s = 1.0 / scale
                return dlib.rectangle(int(f.left() * s), int(f.top() * s), int(f.right() * s),
                                      int(f.bottom() * s))
        return None

    def _fit(self, predictor, frame: np.ndarray, box) -> np.ndarray:
        shape = predictor(frame, box)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)

    def _plausible(self, pts: np.ndarray, box, h: int, w: int) -> bool:
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        size = max(x1 - x0, y1 - y0)
        old = max(box.width(), box.height())
        inside = x0 > -0.1 * w and y0 > -0.1 * h and x1 < 1.1 * w and y1 < 1.1 * h
        return inside and abs(size - old * 0.9) <= self.max_box_change * old

    def track(self, frames: np.ndarray) -> MouthTrack:
        import dlib

        _, predictor = _dlib_models()
        lms = []
        box, ref = None, None  # tracked box and the face thumbnail under it in the previous frame
        n_detect = n_lost = 0
        for frame in frames:
            frame = np.ascontiguousarray(frame)
            h, w = frame.shape[:2]
            lms.append(np.full((68, 2), np.nan))
            if box is not None:
                cur = thumbnail(frame, (box.left(), box.top(), box.right(), box.bottom()))
                if similarity(cur, ref) < self.min_similarity:
                    box = None  # the face moved away, was covered, or the frame is blank
                    n_lost += 1
            if box is None:
                n_detect += 1
                box = self._detect(frame)
                if box is None:
                    continue
            pts = self._fit(predictor, frame, box)
            if not self._plausible(pts, box, h, w):
                n_lost += 1
                n_detect += 1
                box = self._detect(frame)
                if box is None:
                    continue
                pts = self._fit(predictor, frame, box)
            lms[-1] = pts
            # the next frame's box follows the landmarks
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            half = max(x1 - x0, y1 - y0) / 0.9 / 2
            box = dlib.rectangle(int(cx - half), int(cy - half), int(cx + half), int(cy + half))
            ref = thumbnail(frame, (box.left(), box.top(), box.right(), box.bottom()))
        lms = np.stack(lms) if lms else np.zeros((0, 68, 2))
        centre = lms[:, 48:68].mean(axis=1)
        face = np.linalg.norm(lms[:, 16] - lms[:, 0], axis=1)
        return MouthTrack(centre, face, lms, {"detections": n_detect, "lost": n_lost})


@LANDMARK_DETECTORS.register("haar")
class HaarDetector(AbsDetector):
    """OpenCV Haar cascade face box, mouth placed geometrically (fast fallback, no landmarks).

    The cascade runs on a ``detect_scale`` copy of the frame and, while a face is tracked, only
    in a window around the previous face box; the whole frame is searched when that fails.
    """

    def __init__(self, scale_factor: float = 1.15, min_neighbors: int = 4, mouth_y: float = 0.78,
                 detect_scale: float = 0.5, min_face: int = 40, search_margin: float = 0.5):
        if not 0 < detect_scale <= 1:
            raise ValueError(f"haar: detect_scale must be in (0, 1], got {detect_scale}")
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if self.cascade.empty():
            raise RuntimeError("OpenCV's haarcascade_frontalface_default.xml is missing")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.mouth_y = float(mouth_y)
        self.detect_scale = float(detect_scale)
        self.min_face = int(min_face)
        self.search_margin = float(search_margin)

    def _search(self, img: np.ndarray, min_size: int, max_size: int = 0):
        kw = {"maxSize": (max_size, max_size)} if max_size else {}
        boxes = self.cascade.detectMultiScale(img, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                              minSize=(min_size, min_size), **kw)
        return max(boxes, key=lambda b: b[2] * b[3]) if len(boxes) else None

    def track(self, frames: np.ndarray) -> MouthTrack:
        centre, face = [], []
        s = self.detect_scale
        min_size = max(int(round(self.min_face * s)), 20)  # the cascade's own window is 24 px
        prev = None  # last face box (x, y, w, h) in the downscaled frame
        n_full = 0
        for frame in frames:
            centre.append((np.nan, np.nan))
            face.append(np.nan)
            small = cv2.resize(frame, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s != 1 else frame
            found = None
            if prev is not None:
                x, y, w, h = prev
                m = int(self.search_margin * w)
                x0, y0 = max(x - m, 0), max(y - m, 0)
                win = small[y0:y + h + m, x0:x + w + m]
                b = self._search(win, max(min_size, int(w * 0.7)), int(w * 1.4) + 1)
                if b is not None:
                    found = (b[0] + x0, b[1] + y0, b[2], b[3])
            if found is None:
                n_full += 1
                b = self._search(small, min_size)
                found = None if b is None else tuple(b)
            prev = found
            if found is None:
                continue
            x, y, w, h = (v / s for v in found)
            centre[-1] = (x + w / 2, y + self.mouth_y * h)
            face[-1] = 0.85 * w  # Haar boxes are a little wider than the jaw line
        return MouthTrack(np.array(centre, np.float64).reshape(-1, 2), np.array(face, np.float64),
                          stats={"detections": n_full})
