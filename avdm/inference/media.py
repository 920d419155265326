"""For people with a video, not a recipe: lips and audio out of a file, speech muxed back in."""
from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from avdm import SAMPLES_PER_FRAME
from avdm.audio_io import load_audio, save_wav
from avdm.ffmpeg_bin import ffmpeg_exe
from avdm.fileio import atomic_path
from avdm.video.decode import VideoError, probe

logger = logging.getLogger(__name__)


def lips_of(video, detector: str = "dlib68") -> Optional[np.ndarray]:
    """uint8 (T, 96, 96) mouth crops, or None when no face is found."""
    import avdm.video  # noqa: F401
    from avdm.registry import LANDMARK_DETECTORS
    from avdm.video.lips import extract_lips
    from avdm.video.roi import NoFaceError

    try:
        return extract_lips(video, LANDMARK_DETECTORS.build(detector))
    except NoFaceError as e:
        logger.warning("%s: %s", video, e)
        return None


def visual_input(model, lips: Optional[np.ndarray], source: str) -> Optional[np.ndarray]:
    """The lips to condition on; without a face only a model trained with visual dropout (or an
    audio-only model) can go on, using its null embedding."""
    if lips is not None or model.audio_only:
        return None if model.audio_only else lips
    if model.p_uncond > 0:
        logger.warning("%s: no face: using the model's no-lips (null) embedding", source)
        return None
    raise VideoError(f"{source}: no face found, and this audio-visual model was trained without visual "
                     "dropout (p_uncond 0), so it cannot run without lips; use an audio-only model")


def audio_and_frames(video, lips: Optional[np.ndarray]) -> Tuple[np.ndarray, int]:
    """16 kHz audio of ``video`` and the number of 25 fps frames to process."""
    info = probe(video)
    if not info.has_audio:
        raise VideoError(f"{video}: the file has no audio track to enhance")
    audio = load_audio(video)
    n_frames = len(audio) // SAMPLES_PER_FRAME
    if lips is not None:
        n_frames = min(n_frames, len(lips))
    if n_frames == 0:
        raise VideoError(f"{video}: shorter than one video frame")
    return audio[:n_frames * SAMPLES_PER_FRAME], n_frames


def mux(video_in, wav: np.ndarray, out) -> None:
    """``video_in``'s picture with ``wav`` (16 kHz) as its only audio track, into ``out``."""
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = Path(tmp) / "speech.wav"
        save_wav(wav_path, wav)
        with atomic_path(out) as part:
            cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(video_in), "-i", str(wav_path),
                   "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-shortest",
                   "-f", {".mpg": "mpeg", ".mkv": "matroska", ".avi": "avi"}.get(out.suffix.lower(), "mp4"),
                   str(part)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise VideoError(f"cannot write {out}: {proc.stderr.strip()[-300:]}")
