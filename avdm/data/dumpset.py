"""Utterances of a stage-2 dump dir as the benchmarks use them (the inputs stage 4 reads).

A dump dir has ``wav.scp`` (clean reference), ``lip.scp`` + ``lip_shape`` (lips; the first field
of the shape is the frame count), ``noisy.scp`` for the noisy condition sets and ``utt2snr``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from avdm import SAMPLES_PER_FRAME
from avdm.fileio import read_kv, require_files


@dataclass
class Utterance:
    utt: str
    n_frames: int
    clean: np.ndarray
    lips: Optional[np.ndarray] = None   # uint8 (T, H, W)
    noisy: Optional[np.ndarray] = None
    spk: Optional[str] = None           # from utt2spk, when the dump dir has one


def pick(keys: List[str], max_utts: Optional[int]) -> List[str]:
    """At most ``max_utts`` of the sorted keys, spread evenly over them (every speaker counts)."""
    keys = sorted(keys)
    if not max_utts or len(keys) <= max_utts:
        return keys
    idx = np.linspace(0, len(keys) - 1, max_utts).round().astype(int)
    return [keys[i] for i in idx]


def load_set(data_dir, max_utts: Optional[int] = None, noisy: bool = True, lips: bool = True) -> List[Utterance]:
    """The utterances of ``data_dir`` (all, or ``max_utts`` of them), audio cut to whole video frames."""
    from avdm.scoring import load_signal

    d = Path(data_dir)
    need = [d / "wav.scp", d / "lip_shape"] + ([d / "lip.scp"] if lips else []) + ([d / "noisy.scp"] if noisy else [])
    require_files(*need, stage_hint="stage 2 of the recipe")
    wavs, shapes = read_kv(d / "wav.scp"), read_kv(d / "lip_shape")
    spk = read_kv(d / "utt2spk") if (d / "utt2spk").is_file() else {}
    noisy_scp = read_kv(d / "noisy.scp") if noisy else {}
    lip_scp = None
    if lips:
        import kaldiio

        lip_scp = kaldiio.load_scp(str(d / "lip.scp"))
    out = []
    for utt in pick([u for u in shapes if u in wavs and (not noisy or u in noisy_scp)], max_utts):
        n_frames = int(shapes[utt].split(",")[0])
        n = n_frames * SAMPLES_PER_FRAME
        u = Utterance(utt, n_frames, load_signal(wavs[utt])[:n], spk=spk.get(utt))
        if lips:
            u.lips = np.asarray(lip_scp[utt])
        if noisy:
            u.noisy = load_signal(noisy_scp[utt])[:n]
        out.append(u)
    if not out:
        raise ValueError(f"{d}: no utterance with all of {', '.join(p.name for p in need)}")
    return out


def snr_of(data_dir) -> Optional[float]:
    """The SNR (dB) of a noisy condition set: from ``utt2snr``, else from a ``_snr<S>`` name."""
    d = Path(data_dir)
    if (d / "utt2snr").is_file():
        values = {float(v) for v in read_kv(d / "utt2snr").values()}
        if len(values) == 1:
            return values.pop()
    m = re.search(r"snr(-?\d+(?:\.\d+)?)", d.name)
    return float(m.group(1)) if m else None


def crop_or_repeat_last_frame(lips: np.ndarray, n_frames: int) -> np.ndarray:
    """``lips`` cut or padded (last frame repeated) to ``n_frames`` frames."""
    if len(lips) >= n_frames:
        return lips[:n_frames]
    pad = np.repeat(lips[-1:], n_frames - len(lips), axis=0)
    return np.concatenate([lips, pad], axis=0)


def same_speaker_lips(utts: List[Utterance]) -> List[np.ndarray]:
    """For each utterance the lips of the next utterance of the same speaker (cyclically, in the
    given order), fitted to its length: the 'right lips?' control of enhancement, where the speaker's
    face and voice match and only what is said differs."""
    by_spk: dict = {}
    for i, u in enumerate(utts):
        if u.spk is None:
            raise ValueError(f"{u.utt}: no speaker (utt2spk) to find another utterance of the same speaker")
        by_spk.setdefault(u.spk, []).append(i)
    lonely = sorted(s for s, idx in by_spk.items() if len(idx) < 2)
    if lonely:
        raise ValueError(f"speaker(s) {', '.join(lonely)} have a single utterance here: no other lips of the "
                         "same speaker (use more utterances per set)")
    out: List[Optional[np.ndarray]] = [None] * len(utts)
    for idx in by_spk.values():
        for k, i in enumerate(idx):
            out[i] = crop_or_repeat_last_frame(utts[idx[(k + 1) % len(idx)]].lips, utts[i].n_frames)
    return out


def shifted_lips(utts: List[Utterance], shift: int = 1) -> List[np.ndarray]:
    """For utterance ``i`` the lips of utterance ``i + shift`` (cyclically), fitted to its length:
    the 'lips of another utterance' control of lip-to-speech."""
    n = len(utts)
    if n < 2 or shift % n == 0:
        raise ValueError(f"lips of another utterance need at least 2 utterances and a shift that is not a "
                         f"multiple of their number (got {n} utterance(s), shift {shift})")
    return [crop_or_repeat_last_frame(utts[(i + shift) % n].lips, u.n_frames) for i, u in enumerate(utts)]
