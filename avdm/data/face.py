"""A talking face for the mini-GRID corpus: a real face photo whose mouth follows the speech.

The photo is scikit-image's ``astronaut()``; its 68 landmarks are found once with dlib.  For each
video frame the mouth region is warped so that the lip and jaw landmarks reach the shape given by
the articulation (opening, spreading/rounding, closure), the mouth cavity is drawn inside the inner
lip contour with upper teeth and tongue where visible, eyes blink now and then, and the head moves
slightly.  Speakers differ in skin/illumination colour, face scale and position in the frame.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

from avdm.data.visemes import Articulation

FRAME_W, FRAME_H = 360, 288


@functools.lru_cache(maxsize=1)
def base_face() -> Tuple[np.ndarray, np.ndarray]:
    """The face photo (RGB uint8) and its 68 landmarks (float, x/y), detected once with dlib."""
    import dlib
    import face_recognition_models
    from skimage.data import astronaut

    img = astronaut()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    faces = sorted(detector(img, 1), key=lambda r: -r.width() * r.height())
    if not faces:
        raise RuntimeError("dlib found no face in skimage.data.astronaut()")
    shape = predictor(img, faces[0])
    pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
    return img, pts


@dataclass
class Appearance:
    """What distinguishes one speaker's video from another's."""

    colour: np.ndarray  # 3x3 colour mixing matrix (near identity)
    brightness: float
    scale: float  # face scale relative to the default framing
    offset: Tuple[float, float]  # face position offset in output pixels
    blink_every: float  # mean seconds between blinks

    @staticmethod
    def random(rng: np.random.Generator) -> "Appearance":
        colour = np.eye(3) * rng.uniform(0.8, 1.15, size=3) + rng.normal(0, 0.05, size=(3, 3))
        return Appearance(colour=colour, brightness=float(rng.uniform(-20, 20)),
                          scale=float(rng.uniform(0.88, 1.12)),
                          offset=(float(rng.uniform(-18, 18)), float(rng.uniform(-12, 12))),
                          blink_every=float(rng.uniform(2.0, 4.5)))


class TalkingFace:
    """Renders frames of one speaker (one :class:`Appearance`)."""

    def __init__(self, appearance: Appearance):
        img, pts = base_face()
        self.pts = pts
        img = img.astype(np.float32) @ appearance.colour.T.astype(np.float32) + appearance.brightness
        self.base = np.clip(img, 0, 255).astype(np.float32)
        self.app = appearance
        self.mouth_w = float(np.linalg.norm(pts[54] - pts[48]))
        # region that the mouth warp may change (source pixels)
        x0, y0 = pts[[48, 5]].min(axis=0) - [0.45 * self.mouth_w, 0]
        x1 = pts[[54, 11]].max(axis=0)[0] + 0.45 * self.mouth_w
        y0 = pts[33, 1] + 2
        y1 = pts[8, 1] + 0.45 * self.mouth_w
        self.box = (int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1)))
        bx0, by0, bx1, by1 = self.box
        yy, xx = np.mgrid[by0:by1, bx0:bx1].astype(np.float32)
        self.grid = np.stack([xx, yy], axis=-1)  # (h, w, 2)
        # the displacement field is smooth: evaluate it on a coarse grid and interpolate
        self._step = 3
        self.coarse = np.ascontiguousarray(self.grid[::self._step, ::self._step])
        self.face_centre = pts[list(range(17)) + list(range(27, 36))].mean(axis=0)
        # eyelid colour: skin just above each eye
        self.lid_colour = [self.base[int(pts[i, 1] - 6), int(pts[i, 0])].copy() for i in (37, 44)]

    # ------------------------------------------------------------------ mouth geometry
    def _targets(self, o: float, s: float, c: float) -> np.ndarray:
        """Landmark positions for opening ``o``, spread ``s`` (<0 rounding), closure ``c``."""
        p = self.pts.copy()
        W = self.mouth_w
        drop = 0.34 * W * o
        lower = {57: 1.0, 56: 0.85, 58: 0.85, 55: 0.5, 59: 0.5, 66: 1.0, 65: 0.8, 67: 0.8}
        for i, w in lower.items():
            p[i, 1] += drop * w
        for i in (49, 50, 51, 52, 53, 61, 62, 63):
            p[i, 1] -= 0.05 * W * o
        for i, w in {8: 1.0, 7: 0.9, 9: 0.9, 6: 0.7, 10: 0.7, 5: 0.4, 11: 0.4}.items():
            p[i, 1] += 0.75 * drop * w
        for i in (48, 54, 60, 64):
            p[i, 1] += 0.25 * drop
        # spreading pulls the corners out; rounding pushes them in (and the neighbours with them)
        k = 0.12 * W * s if s > 0 else 0.22 * W * s
        for i, w in {48: 1.0, 60: 1.0, 49: 0.5, 59: 0.5, 61: 0.3, 67: 0.3}.items():
            p[i, 0] -= k * w
        for i, w in {54: 1.0, 64: 1.0, 53: 0.5, 55: 0.5, 63: 0.3, 65: 0.3}.items():
            p[i, 0] += k * w
        if c > 0:  # pressed lips: inner contours meet at their midline
            for up, lo in ((61, 67), (62, 66), (63, 65)):
                mid = 0.5 * (p[up, 1] + p[lo, 1])
                p[up, 1] += c * (mid - p[up, 1])
                p[lo, 1] += c * (mid - p[lo, 1])
        return p

    def _warp_region(self, region: np.ndarray, target: np.ndarray) -> np.ndarray:
        ctrl = list(range(48, 68)) + list(range(4, 13))
        anchors = list(range(30, 36))
        src = self.pts[ctrl + anchors].astype(np.float32)
        dst = target[ctrl + anchors].astype(np.float32)
        disp = dst - src
        sigma = 0.16 * self.mouth_w
        d2 = ((self.coarse[:, :, None, :] - dst[None, None]) ** 2).sum(-1)
        w = np.exp(-d2 / np.float32(2 * sigma * sigma))
        flow = (w @ disp) / (w.sum(2)[..., None] + np.float32(0.08))
        h, wd = self.grid.shape[:2]
        flow = cv2.resize(flow, (wd, h), interpolation=cv2.INTER_LINEAR)
        maps = self.grid - flow - np.array(self.box[:2], dtype=np.float32)
        return cv2.remap(region, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)

    def _draw_cavity(self, region: np.ndarray, target: np.ndarray, o: float, teeth: float,
                     tongue: float) -> None:
        off = np.array(self.box[:2], dtype=np.float64)
        upper = target[[60, 61, 62, 63, 64]] - off
        drop = np.array([0.0, 0.8, 1.0, 0.8, 0.0]) * 0.34 * self.mouth_w * o
        lower = upper.copy()
        lower[:, 1] += drop
        height = float(drop.max())
        if height < 0.6 and teeth < 0.5:
            return
        poly = np.concatenate([upper, lower[::-1][1:-1]])
        mask = np.zeros(region.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(poly * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
        layer = region.copy()
        cv2.fillPoly(layer, [np.round(poly * 4).astype(np.int32)], (55, 18, 22), cv2.LINE_AA, shift=2)
        if teeth > 0.05:
            th = teeth * (0.45 * height + 1.5)
            band = np.concatenate([upper, (upper + [0, th])[::-1]])
            cv2.fillPoly(layer, [np.round(band * 4).astype(np.int32)], (225, 220, 205), cv2.LINE_AA, shift=2)
        if tongue > 0.05 and height > 2:
            cx, cy = lower[2]
            axes = (int(0.22 * self.mouth_w * tongue) + 1, int(0.3 * height * tongue) + 1)
            cv2.ellipse(layer, (int(cx), int(cy - 0.25 * height)), axes, 0, 0, 360, (170, 60, 70), -1)
        m = (mask.astype(np.float32) / 255.0)[..., None]
        region[:] = region * (1 - m) + layer * m

    def _blink(self, img: np.ndarray, amount: float) -> None:
        for eye, colour in ((range(36, 42), self.lid_colour[0]), (range(42, 48), self.lid_colour[1])):
            pts = self.pts[list(eye)]
            centre = pts.mean(axis=0)
            squashed = centre + (pts - centre) * [1.15, 1.6]
            poly = np.round(squashed * 4).astype(np.int32)
            layer = img.copy()
            cv2.fillPoly(layer, [poly], tuple(float(v) for v in colour), cv2.LINE_AA, shift=2)
            lid_line = np.round(np.stack([pts[0], centre + [0, 2], pts[3]]) * 4).astype(np.int32)
            cv2.polylines(layer, [lid_line], False, (40, 30, 30), 1, cv2.LINE_AA, shift=2)
            img[:] = img * (1 - amount) + layer * amount

    # ------------------------------------------------------------------ frames
    def render(self, art: Articulation, rng: np.random.Generator, fps: float = 25.0) -> np.ndarray:
        n = len(art.open)
        frames = np.empty((n, FRAME_H, FRAME_W, 3), np.uint8)
        bx0, by0, bx1, by1 = self.box
        motion = _head_motion(n, rng)
        blinks = _blinks(n, fps, self.app.blink_every, rng)
        scale0 = FRAME_W / 270.0 * self.app.scale
        for k in range(n):
            img = self.base.copy()
            target = self._targets(float(art.open[k]), float(art.spread[k]), float(art.closure[k]))
            region = self._warp_region(img[by0:by1, bx0:bx1].copy(), target)
            self._draw_cavity(region, target, float(art.open[k]), float(art.teeth[k]), float(art.tongue[k]))
            img[by0:by1, bx0:bx1] = region
            if blinks[k] > 0:
                self._blink(img, float(blinks[k]))
            dx, dy, rot, ds = motion[k]
            centre_out = (FRAME_W / 2 + self.app.offset[0] + dx, FRAME_H * 0.47 + self.app.offset[1] + dy)
            M = cv2.getRotationMatrix2D(tuple(self.face_centre), rot, scale0 * (1 + ds))
            M[:, 2] += np.array(centre_out) - self.face_centre
            out = cv2.warpAffine(img, M, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT)
            out += 1.5 * rng.standard_normal(size=out.shape, dtype=np.float32)
            frames[k] = np.clip(out, 0, 255).astype(np.uint8)
        return frames


def _head_motion(n: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth small head motion per frame: (dx px, dy px, rotation deg, relative scale)."""
    from scipy.ndimage import gaussian_filter1d

    raw = rng.normal(0, 1, size=(n + 20, 4))
    smooth = gaussian_filter1d(raw, sigma=6, axis=0)[10:10 + n]
    smooth /= smooth.std(axis=0, keepdims=True) + 1e-8
    return smooth * np.array([2.0, 1.5, 1.2, 0.012])


def _blinks(n: int, fps: float, every: float, rng: np.random.Generator) -> np.ndarray:
    amount = np.zeros(n)
    t = rng.uniform(0.3, every)
    shape = np.array([0.5, 1.0, 1.0, 0.5])
    while t * fps < n:
        k = int(t * fps)
        for j, a in enumerate(shape):
            if k + j < n:
                amount[k + j] = max(amount[k + j], a)
        t += rng.uniform(0.6, 1.4) * every
    return amount
