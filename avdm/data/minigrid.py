"""The embedded mini-GRID corpus: synthetic speakers in the GRID corpus's layout and formats.

    DIR/s<k>/<utt>.mpg            MPEG-1 video 360x288 25 fps + MP2 stereo 44.1 kHz audio, 3 s
    DIR/audio_25k/s<k>/<utt>.wav  25 kHz mono 16-bit audio
    DIR/align/s<k>/<utt>.align    word timings ("start end word", in 1/25000 s as GRID does)

Speech comes from espeak-ng (voice, variant, pitch, pitch range and rate differ per speaker);
the video is a real face photo whose mouth follows the phonemes (see :mod:`avdm.data.face`).
Each speaker is generated in a fresh process, in a fixed order, so the same seed gives the same
audio samples and the same frames whatever the parallelism.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import ffmpeg
import numpy as np
import soundfile as sf

from avdm.audio_io import resample
from avdm.data.espeak import Espeak, Voice
from avdm.data.face import FRAME_H, FRAME_W, Appearance, TalkingFace
from avdm.data.grid_grammar import random_sentence, sentence_to_name, spoken_form
from avdm.data.visemes import articulation
from avdm.ffmpeg_bin import ffmpeg_exe
from avdm.fileio import atomic_path

logger = logging.getLogger(__name__)

CLIP_SECONDS = 3.0
FPS = 25
N_FRAMES = int(CLIP_SECONDS * FPS)
SIZES = {  # speakers x utterances per speaker
    "tiny": (3, 4),
    "demo": (10, 30),  # 6 training speakers, 2 dev and 2 test (each the other's competing talker)
    "bench": (12, 220),  # 2640 utterances x 3 s = 2.2 h
}
_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5"]


@dataclass
class SpeakerSpec:
    name: str
    voice: Voice
    seed: int


def speaker_specs(num_speakers: int, seed: int) -> List[SpeakerSpec]:
    rng = random.Random(seed)
    specs = []
    for k in range(1, num_speakers + 1):
        variant = _VARIANTS[(k - 1) % len(_VARIANTS)]
        lang = rng.choice(["en", "en-us", "en-gb-x-rp"])
        female = variant.startswith("f")
        voice = Voice(name=f"{lang}+{variant}",
                      pitch=rng.randint(45, 75) if female else rng.randint(25, 55),
                      pitch_range=rng.randint(30, 80), rate=rng.randint(150, 190))
        specs.append(SpeakerSpec(f"s{k}", voice, rng.randrange(2 ** 31)))
    return specs


def generate(out: Path, num_speakers: int, utts_per_speaker: int, seed: int = 0,
             nj: int = 1, strip: bool = True) -> Dict[str, int]:
    """Write the corpus under ``out``; returns {speaker: number of utterances written}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specs = speaker_specs(num_speakers, seed)
    args = [(out, spec, utts_per_speaker, strip and i == 0) for i, spec in enumerate(specs)]
    ctx = mp.get_context("spawn")  # a fresh espeak-ng state per speaker
    with ctx.Pool(processes=max(1, nj), maxtasksperchild=1) as pool:
        counts = pool.starmap(_generate_speaker, args, chunksize=1)
    info = {"num_speakers": num_speakers, "utts_per_speaker": utts_per_speaker, "seed": seed,
            "voices": {s.name: s.voice.__dict__ for s in specs}}
    with atomic_path(out / "minigrid.json") as tmp:
        tmp.write_text(json.dumps(info, indent=1, sort_keys=True))
    return {s.name: c for s, c in zip(specs, counts)}


def _generate_speaker(out: Path, spec: SpeakerSpec, n_utts: int, write_strip: bool) -> int:
    logging.basicConfig(level=logging.INFO)
    rng = random.Random(spec.seed)
    nrng = np.random.default_rng(spec.seed)
    face = TalkingFace(Appearance.random(nrng))
    tts = Espeak.get()
    names = set()
    written = 0
    while written < n_utts:
        words = random_sentence(rng)
        name = sentence_to_name(words)
        if name in names:
            continue
        names.add(name)
        utt = tts.synthesize(spoken_form(words), spec.voice)
        speech = resample(utt.audio, utt.sample_rate, 25000)
        dur = len(speech) / 25000
        room = CLIP_SECONDS - dur - 0.15
        if room < 0.2:
            logger.warning("%s/%s: speech of %.2f s does not fit a %.1f s clip; skipped",
                           spec.name, name, dur, CLIP_SECONDS)
            continue
        offset = rng.uniform(0.4, min(0.9, room - 0.05)) if room > 0.45 else room / 2
        audio25 = np.zeros(int(CLIP_SECONDS * 25000), np.float32)
        start = int(offset * 25000)
        audio25[start:start + len(speech)] = speech * rng.uniform(0.5, 0.9) / (np.abs(speech).max() + 1e-9)
        audio25 += nrng.normal(0, 10 ** (-62 / 20), size=audio25.shape).astype(np.float32)  # room noise floor
        art = articulation(utt.phonemes, offset, N_FRAMES, fps=FPS)
        frames = face.render(art, nrng, fps=FPS)
        _write_utterance(out, spec.name, name, audio25, frames, utt.words, offset)
        if write_strip and written == 0:
            write_frame_strip(frames, out / f"{spec.name}_{name}_frames.png")
        written += 1
    return written


def _write_utterance(out: Path, spk: str, name: str, audio25: np.ndarray, frames: np.ndarray,
                     words, offset: float) -> None:
    wav_path = out / "audio_25k" / spk / f"{name}.wav"
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(wav_path) as tmp:
        sf.write(str(tmp), audio25, 25000, subtype="PCM_16", format="WAV")
    align_path = out / "align" / spk / f"{name}.align"
    align_path.parent.mkdir(parents=True, exist_ok=True)
    lines, t = [], 0
    for word, s, e in words:
        a, b = int(round((s + offset) * 25000)), int(round((e + offset) * 25000))
        if a > t:
            lines.append(f"{t} {a} sil")
        lines.append(f"{a} {b} {word.strip().lower()}")
        t = b
    if t < len(audio25):
        lines.append(f"{t} {len(audio25)} sil")
    with atomic_path(align_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    mpg_path = out / spk / f"{name}.mpg"
    mpg_path.parent.mkdir(parents=True, exist_ok=True)
    encode_mpg(frames, resample(audio25, 25000, 44100), mpg_path)


def encode_mpg(frames: np.ndarray, audio44k: np.ndarray, path: Path) -> None:
    """MPEG-1 video (360x288, 25 fps) with MP2 stereo 44.1 kHz audio, as GRID is distributed."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=path.parent) as tmpdir:
        wav_tmp = Path(tmpdir) / "audio.wav"
        sf.write(str(wav_tmp), np.stack([audio44k, audio44k], axis=1), 44100, subtype="PCM_16")
        with atomic_path(path) as tmp:
            video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{FRAME_W}x{FRAME_H}",
                                 framerate=FPS)
            audio = ffmpeg.input(str(wav_tmp))
            stream = ffmpeg.output(video.video, audio.audio, str(tmp), format="mpeg", vcodec="mpeg1video",
                                   qscale=4, acodec="mp2", audio_bitrate="128k", ar=44100, ac=2,
                                   threads=1, fflags="+bitexact", **{"flags:v": "+bitexact",
                                                                      "flags:a": "+bitexact"})
            cmd = stream.overwrite_output().compile(cmd=ffmpeg_exe())
            proc = subprocess.run(cmd[:1] + ["-nostdin", "-v", "error"] + cmd[1:],
                                  input=frames.tobytes(), capture_output=True)
            if proc.returncode != 0:
                raise RuntimeError(f"ffmpeg failed writing {path}: {proc.stderr.decode(errors='replace')[-500:]}")


def write_frame_strip(frames: np.ndarray, path: Path, every: int = 5, crop: Optional[tuple] = None) -> None:
    """A PNG of every ``every``-th frame side by side, for a person to look at."""
    import cv2

    picks = frames[::every]
    if crop is not None:
        y0, y1, x0, x1 = crop
        picks = picks[:, y0:y1, x0:x1]
    strip = np.concatenate(list(picks), axis=1)
    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR) if strip.ndim == 3 else strip)
        if not ok:
            raise RuntimeError(f"cannot encode {path}")
        tmp.write_bytes(buf.tobytes())
