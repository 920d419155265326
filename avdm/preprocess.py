"""The training preprocessor: aligned audio/video segments, lip augmentation, dynamic mixing.

ESPnet's chunk iterator cannot cut audio samples and video frames together, so the sequence
iterator delivers whole utterances and this function crops an aligned segment (640 samples per
video frame).  Lips arrive as uint8 (ESPnet's dataset only accepts float/int arrays) and leave as
float32 pixel values; the model normalises them with the training-set statistics.  Supervised
(conditional) models get their noisy input by mixing a random noise of the training noise bank at
a random SNR on the fly, so no fixed noisy copy of the training set is needed; with probability
``talker_prob`` the interferer is instead another training speaker's utterance (a competing talker,
at an SNR from ``talker_snr_range`` measured on both active speech levels), which only the lips tell
apart from the target.
"""
from __future__ import annotations

import logging
from typing import Dict, Optional, Sequence

import numpy as np

from avdm import SAMPLES_PER_FRAME
from avdm.seeding import utt_rng

logger = logging.getLogger(__name__)


class AVPreprocessor:
    def __init__(self, train: bool, segment_frames: Optional[int] = 40, lip_crop: int = 88,
                 flip_prob: float = 0.5, noise_scp: Optional[str] = None,
                 snr_range: Sequence[float] = (-5.0, 10.0), mix_prob: float = 1.0,
                 talker_prob: float = 0.0, talker_snr_range: Sequence[float] = (-6.0, 6.0),
                 talker_scp: Optional[str] = None, talker_utt2spk: Optional[str] = None):
        if not 0.0 <= talker_prob <= 1.0:
            raise ValueError(f"talker_prob must be in [0, 1], got {talker_prob}")
        if talker_prob > 0 and not (talker_scp and talker_utt2spk):
            raise ValueError("talker_prob > 0 needs talker_scp and talker_utt2spk (the training speech and "
                             "its speakers; stage 3 passes them)")
        self.train = train
        self.segment_frames = int(segment_frames) if segment_frames else None
        self.lip_crop = int(lip_crop)
        self.flip_prob = float(flip_prob)
        self.snr_range = tuple(float(s) for s in snr_range)
        self.mix_prob = float(mix_prob)
        self.noise_scp = noise_scp
        self._noises = None
        self.talker_prob = float(talker_prob)
        self.talker_snr_range = tuple(float(s) for s in talker_snr_range)
        self.talker_scp, self.talker_utt2spk = talker_scp, talker_utt2spk
        self._talkers = None

    def _rng(self, uid: str) -> np.random.Generator:
        if self.train:
            return np.random.default_rng(np.random.randint(2 ** 31))  # seeded by ESPnet's --seed
        return utt_rng(uid)  # the same crop and mixture of a validation utterance in every epoch

    def _noise_bank(self):
        if self._noises is None:
            from avdm.audio_io import load_audio
            from avdm.fileio import read_kv

            scp = read_kv(self.noise_scp)
            self._noises = [load_audio(p) for _, p in sorted(scp.items())]
            if not self._noises:
                raise ValueError(f"{self.noise_scp}: no noise files")
        return self._noises

    def _talker_for(self, uid: str, rng: np.random.Generator) -> np.ndarray:
        """An utterance of another speaker than ``uid``'s, loaded when drawn."""
        if self._talkers is None:
            from avdm.fileio import read_kv

            scp, spk = read_kv(self.talker_scp), read_kv(self.talker_utt2spk)
            missing = sorted(set(scp) - set(spk))
            if missing:
                raise ValueError(f"{self.talker_utt2spk}: no speaker for {missing[0]} of {self.talker_scp}")
            self._talkers = (sorted(scp.items()), spk, {})
        items, spk, by_own = self._talkers
        own = spk.get(uid)
        if own not in by_own:  # the candidates of each speaker, listed once (not per example)
            by_own[own] = [path for utt, path in items if spk[utt] != own]
        others = by_own[own]
        if not others:
            raise ValueError(f"{self.talker_scp}: no utterance of a speaker other than {own} to mix with {uid}")
        from avdm.audio_io import load_audio

        return load_audio(others[int(rng.integers(len(others)))])

    def __call__(self, uid: str, data: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        rng = self._rng(uid)
        out = dict(data)
        if "lip" in data:
            lip = np.asarray(data["lip"])
            T = lip.shape[0]
            if "speech" in data:
                n = len(data["speech"])
                if n < T * SAMPLES_PER_FRAME:  # stage 2 made them equal; be safe with user data
                    T = n // SAMPLES_PER_FRAME
            start = 0
            if self.segment_frames and T > self.segment_frames:
                start = int(rng.integers(0, T - self.segment_frames + 1)) if self.train else \
                    (T - self.segment_frames) // 2
                T = self.segment_frames
            lip = lip[start:start + T]
            H, W = lip.shape[1:]
            c = self.lip_crop
            if H > c or W > c:
                if self.train:
                    y0, x0 = int(rng.integers(0, H - c + 1)), int(rng.integers(0, W - c + 1))
                else:
                    y0, x0 = (H - c) // 2, (W - c) // 2
                lip = lip[:, y0:y0 + c, x0:x0 + c]
            if self.train and rng.random() < self.flip_prob:
                lip = lip[:, :, ::-1]
            out["lip"] = np.ascontiguousarray(lip, dtype=np.float32)
            for name in ("speech", "speech_mix"):
                if name in data:
                    a = np.asarray(data[name], dtype=np.float32)
                    if a.ndim > 1:
                        a = a.mean(axis=1)
                    out[name] = a[start * SAMPLES_PER_FRAME:(start + T) * SAMPLES_PER_FRAME]
        if self.noise_scp and "speech" in out and "speech_mix" not in out and rng.random() < self.mix_prob:
            from avdm.data.mixing import mix

            level = "mean"
            if self.talker_prob > 0 and rng.random() < self.talker_prob:
                noise, level = self._talker_for(uid, rng), "active"
                snr = float(rng.uniform(*self.talker_snr_range))
            else:
                noises = self._noise_bank()
                noise = noises[int(rng.integers(len(noises)))]
                snr = float(rng.uniform(*self.snr_range))
            try:
                # the target is the speech at the level it has in the mixture (scaled down with the
                # noise where the sum would clip), not the unscaled segment
                out["speech_mix"], _, out["speech"] = mix(out["speech"], noise, snr, rng, noise_level=level)
            except ValueError as e:  # silent segment: train on it unmixed rather than fail
                logger.debug("%s: no mixing (%s)", uid, e)
                out["speech_mix"] = out["speech"].copy()
        elif self.noise_scp and "speech" in out and "speech_mix" not in out:
            out["speech_mix"] = out["speech"].copy()
        return out
