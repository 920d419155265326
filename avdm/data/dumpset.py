"""A stage-2 dump dir, read one way by every stage, CLI and benchmark (:class:`DumpSet`).

A dump dir has ``wav.scp`` (clean reference), ``lip.scp`` + ``lip_shape`` (lips; the first field
of the shape is the frame count), ``noisy.scp`` for the noisy condition sets, ``utt2spk``,
``text``, ``utt2snr``, ``condition`` (:mod:`avdm.data.condition`) and ``audio_format`` (``flac``: scp values are audio files; ``ark``: Kaldi
ark entries ``file.ark:offset``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from avdm import SAMPLES_PER_FRAME
from avdm.fileio import load_ark, read_kv, require_files


def load_signal(value: str, where: str = "scp") -> np.ndarray:
    """An scp value: an audio/video file, or an ark entry (``file.ark:offset``) from stage 2."""
    if ".ark:" in value:
        return np.asarray(load_ark(value, where), np.float32)
    from avdm.audio_io import load_audio

    return load_audio(value)


class DumpSet:
    """The lists, audio and lips of the dump dir ``path``; each list is read once, when first used."""

    def __init__(self, path):
        self.dir = Path(path)
        self.name = self.dir.name
        self._lists: Dict[str, Dict[str, str]] = {}

    def require(self, *names: str, stage_hint: str = "stage 2") -> None:
        """FileNotFoundError naming every missing list of ``names`` (and the stage that writes it)."""
        require_files(*(self.dir / n for n in names), stage_hint=stage_hint)

    def has(self, name: str) -> bool:
        return (self.dir / name).is_file()

    def list(self, name: str) -> Dict[str, str]:
        """The Kaldi list ``name`` (``wav.scp``, ``lip_shape``, ``utt2spk`` ...) as ``{utt: value}``."""
        if name not in self._lists:
            self._lists[name] = read_kv(self.dir / name)
        return self._lists[name]

    @property
    def audio_format(self) -> str:
        f = self.dir / "audio_format"
        return f.read_text().strip() if f.is_file() else "flac"

    def n_frames(self, utt: str) -> int:
        """The video frame count of ``utt`` (its audio has this many times SAMPLES_PER_FRAME samples)."""
        return int(self.list("lip_shape")[utt].split(",")[0])

    def audio(self, scp: str, utt: str, n_frames: Optional[int] = None) -> np.ndarray:
        """The signal of ``utt`` in the list ``scp`` (e.g. ``noisy.scp``), cut to ``n_frames`` video frames."""
        x = load_signal(self.list(scp)[utt], str(self.dir / scp))
        return x if n_frames is None else x[:n_frames * SAMPLES_PER_FRAME]

    def lips(self, utt: str) -> np.ndarray:
        """The lip ROIs of ``utt``, uint8 (T, H, W)."""
        return np.asarray(load_ark(self.list("lip.scp")[utt], str(self.dir / "lip.scp")))

    def espnet_args(self, prefix: str, entries: Sequence[Tuple[str, str, Optional[str]]]) -> List[str]:
        """espnet2's ``--<prefix>_data_path_and_name_and_type`` options for ``(file, data name, type)``
        entries; type ``None``: the audio type of this dir's ``audio_format``."""
        audio_type = "kaldi_ark" if self.audio_format == "ark" else "sound"
        out: List[str] = []
        for file, name, kind in entries:
            out += [f"--{prefix}_data_path_and_name_and_type", f"{self.dir}/{file},{name},{kind or audio_type}"]
        return out


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
    ds = DumpSet(data_dir)
    need = ["wav.scp", "lip_shape"] + (["lip.scp"] if lips else []) + (["noisy.scp"] if noisy else [])
    ds.require(*need, stage_hint="stage 2 of the recipe")
    wavs, shapes = ds.list("wav.scp"), ds.list("lip_shape")
    spk = ds.list("utt2spk") if ds.has("utt2spk") else {}
    noisy_scp = ds.list("noisy.scp") if noisy else {}
    out = []
    for utt in pick([u for u in shapes if u in wavs and (not noisy or u in noisy_scp)], max_utts):
        n_frames = ds.n_frames(utt)
        u = Utterance(utt, n_frames, ds.audio("wav.scp", utt, n_frames), spk=spk.get(utt))
        if lips:
            u.lips = ds.lips(utt)
        if noisy:
            u.noisy = ds.audio("noisy.scp", utt, n_frames)
        out.append(u)
    if not out:
        raise ValueError(f"{ds.dir}: no utterance with all of {', '.join(need)}")
    return out


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
