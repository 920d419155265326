"""Mouth shapes from phonemes: a viseme table and coarticulated articulator trajectories.

Each espeak-ng phoneme maps to articulator targets (jaw/lip opening, lip spreading (+) or
rounding (-), bilabial closure, visible teeth, visible tongue).  Targets are held over the
phoneme, then smoothed (coarticulation); closures are sharpened so /p b m/ really close the lips.
The video leads the audio by a small offset, as the mouth moves before the sound it makes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

# (open, spread, closure, teeth, tongue)
REST = (0.03, 0.0, 0.0, 0.0, 0.0)
_CLASSES: Dict[str, Tuple[float, float, float, float, float]] = {
    "bilabial": (0.0, 0.0, 1.0, 0.0, 0.0),
    "labiodental": (0.08, 0.1, 0.0, 1.0, 0.0),
    "dental": (0.25, 0.1, 0.0, 1.0, 1.0),
    "alveolar": (0.2, 0.15, 0.0, 0.5, 0.3),
    "sibilant": (0.1, 0.45, 0.0, 1.0, 0.0),
    "postalveolar": (0.18, -0.5, 0.0, 0.8, 0.0),
    "lateral": (0.3, 0.1, 0.0, 0.4, 0.8),
    "velar": (0.3, 0.05, 0.0, 0.3, 0.0),
    "glottal": (0.35, 0.0, 0.0, 0.2, 0.0),
    "w": (0.08, -0.95, 0.0, 0.0, 0.0),
    "r": (0.2, -0.45, 0.0, 0.2, 0.0),
    "j": (0.15, 0.5, 0.0, 0.5, 0.0),
    "open_vowel": (0.95, 0.1, 0.0, 0.6, 0.2),
    "mid_front": (0.6, 0.45, 0.0, 0.7, 0.1),
    "close_front": (0.3, 0.75, 0.0, 0.8, 0.0),
    "back_round": (0.6, -0.65, 0.0, 0.2, 0.0),
    "close_round": (0.25, -0.9, 0.0, 0.0, 0.0),
    "central": (0.45, 0.0, 0.0, 0.4, 0.1),
    "pause": REST,
}
_CONSONANTS = {
    "p": "bilabial", "b": "bilabial", "m": "bilabial",
    "f": "labiodental", "v": "labiodental",
    "T": "dental", "D": "dental",
    "t": "alveolar", "d": "alveolar", "n": "alveolar",
    "s": "sibilant", "z": "sibilant",
    "S": "postalveolar", "Z": "postalveolar", "tS": "postalveolar", "dZ": "postalveolar",
    "l": "lateral", "k": "velar", "g": "velar", "N": "velar", "x": "velar",
    "h": "glottal", "w": "w", "r": "r", "j": "j", "_": "pause",
}
_VOWELS = {
    "a": "open_vowel", "A": "open_vowel", "aa": "open_vowel",
    "E": "mid_front", "e": "mid_front",
    "I": "close_front", "i": "close_front",
    "0": "back_round", "O": "back_round", "o": "back_round",
    "U": "close_round", "u": "close_round",
    "V": "central", "@": "central", "3": "central",
}


def viseme_class(symbol: str) -> Tuple[str, ...]:
    """The viseme class(es) of an espeak-ng phoneme; diphthongs give two (first, second half)."""
    s = symbol.replace("'", "").replace(",", "").replace(":", "").replace("#", "").replace("%", "")
    if not s:
        return ("pause",)
    if s in _CONSONANTS:
        return (_CONSONANTS[s],)
    if s[0] in _CONSONANTS and s[0] != "_" and s not in _VOWELS and len(s) > 1 and s[:2] in _CONSONANTS:
        return (_CONSONANTS[s[:2]],)
    classes = [_VOWELS[c] for c in s if c in _VOWELS]
    if not classes:
        cons = [_CONSONANTS[c] for c in s if c in _CONSONANTS]
        return (cons[0],) if cons else ("central",)
    return tuple(classes[:2])


@dataclass
class Articulation:
    """Per-frame articulator values, each an array of shape (n_frames,)."""

    open: np.ndarray
    spread: np.ndarray
    closure: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray


def articulation(phonemes: Sequence, offset: float, n_frames: int, fps: float = 25.0,
                 lead: float = 0.04, smooth_ms: float = 35.0, rate: int = 1000) -> Articulation:
    """Trajectories sampled at the video frames.

    ``phonemes`` have ``symbol``, ``start``, ``end`` in seconds relative to the speech start,
    which lies at ``offset`` seconds into the clip.  Video frame k shows the mouth at time
    ``k / fps + lead`` of the audio.
    """
    total = int(np.ceil((n_frames / fps + lead + 0.2) * rate))
    track = np.tile(np.array(REST, dtype=np.float64), (total, 1))
    for ph in phonemes:
        classes = viseme_class(ph.symbol)
        a = int(round((ph.start + offset) * rate))
        b = int(round((ph.end + offset) * rate))
        a, b = max(a, 0), min(b, total)
        if b <= a:
            continue
        if len(classes) == 1:
            track[a:b] = _CLASSES[classes[0]]
        else:
            mid = (a + b) // 2
            track[a:mid] = _CLASSES[classes[0]]
            track[mid:b] = _CLASSES[classes[1]]
    sig = smooth_ms * rate / 1000.0
    smooth = gaussian_filter1d(track, sigma=sig, axis=0, mode="nearest")
    # closures must reach the lips: widen, then smooth lightly
    closure = maximum_filter1d(track[:, 2], size=int(0.03 * rate))
    smooth[:, 2] = np.clip(gaussian_filter1d(closure, sigma=sig / 3, mode="nearest") * 1.2, 0, 1)
    smooth[:, 0] *= 1.0 - smooth[:, 2]
    idx = np.clip(np.round((np.arange(n_frames) / fps + lead) * rate).astype(int), 0, total - 1)
    v = smooth[idx]
    return Articulation(v[:, 0], v[:, 1], v[:, 2], v[:, 3], v[:, 4])
