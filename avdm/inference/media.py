"""For people with a video, not a recipe: lips and audio out of a file, speech muxed back in."""
from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from avdm import SAMPLES_PER_FRAME, VIDEO_FPS
from avdm.audio_io import load_audio, save_wav
from avdm.ffmpeg_bin import ffmpeg_exe
from avdm.fileio import atomic_path
from avdm.video.decode import MPEG_PS_VIDEO, OUTPUT_FORMATS, VideoError, probe

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


MAX_AV_MISMATCH_S = 0.2  # the audio and picture of one recording differ by tens of ms, not more



def check_outputs(pairs, extra_inputs=(), suffixes=None) -> None:
    """Refuse, before any work, an output that would replace an input, is named twice, or has a
    suffix no muxer is chosen for (``suffixes``: those allowed, default the video formats)."""
    suffixes = suffixes or OUTPUT_FORMATS
    inputs = [Path(src) for src, _ in pairs] + [Path(x) for x in extra_inputs if x]
    seen = set()
    for _, dst in pairs:
        dst = Path(dst)
        if dst.suffix.lower() not in suffixes:
            raise VideoError(f"{dst}: unknown output format '{dst.suffix}' (use {', '.join(sorted(suffixes))})")
        if any(_same_path(dst, src) for src in inputs):
            raise VideoError(f"{dst}: the output would replace an input; choose another output path")
        if dst.resolve() in seen:
            raise VideoError(f"{dst}: named as the output of two inputs")
        seen.add(dst.resolve())


def _same_path(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def video_frames(video, lips: Optional[np.ndarray]) -> Optional[int]:
    """The number of 25 fps frames of ``video``: of its lips, else from the container's duration."""
    if lips is not None:
        return len(lips)
    duration = probe(video).duration
    return None if duration is None else int(round(duration * VIDEO_FPS))


def match_lengths(audio: np.ndarray, n_video: Optional[int], audio_src, video_src) -> Tuple[np.ndarray, int]:
    """``audio`` cut to whole video frames, and their number; :class:`VideoError` when the audio
    and the video differ by more than :data:`MAX_AV_MISMATCH_S` (never a silent truncation)."""
    n_audio = len(audio) // SAMPLES_PER_FRAME
    if n_video is not None and abs(n_audio - n_video) > MAX_AV_MISMATCH_S * VIDEO_FPS:
        what = f"the audio of {audio_src}" if str(audio_src) == str(video_src) else f"{audio_src}"
        raise VideoError(f"{what} lasts {n_audio / VIDEO_FPS:.2f} s but the video {video_src} "
                         f"{n_video / VIDEO_FPS:.2f} s: they must be one recording (trim them to the same length)")
    n = n_audio if n_video is None else min(n_audio, n_video)
    if n == 0:
        raise VideoError(f"{audio_src}: shorter than one video frame")
    return audio[:n * SAMPLES_PER_FRAME], n


def audio_and_frames(video, lips: Optional[np.ndarray]) -> Tuple[np.ndarray, int]:
    """16 kHz audio of ``video`` and the number of 25 fps frames to process."""
    info = probe(video)
    if not info.has_audio:
        raise VideoError(f"{video}: the file has no audio track to enhance")
    return match_lengths(load_audio(video), video_frames(video, lips), video, video)


def mux(video_in, wav: np.ndarray, out) -> None:
    """``video_in``'s picture with ``wav`` (16 kHz) as its only audio track, into ``out``."""
    out = Path(out)
    check_outputs([(video_in, out)])
    fmt, acodec = OUTPUT_FORMATS[out.suffix.lower()]
    vcodec = ["-c:v", "copy"]
    if fmt == "mpeg" and probe(video_in).codec not in MPEG_PS_VIDEO:
        vcodec = ["-c:v", "mpeg2video", "-q:v", "2"]  # MPEG-PS cannot carry e.g. H.264 as it is
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = Path(tmp) / "speech.wav"
        save_wav(wav_path, wav)
        with atomic_path(out) as part:
            cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(video_in), "-i", str(wav_path),
                   "-map", "0:v:0", "-map", "1:a:0", *vcodec, "-c:a", acodec, "-shortest", "-f", fmt, str(part)]
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
            if proc.returncode != 0:
                reason = "; ".join(line.strip() for line in proc.stderr.strip().splitlines()[-3:])
                raise VideoError(f"cannot write {out}: ffmpeg: {reason or f'exit {proc.returncode}'}")


def process_each(pairs, convert, desc: str, failure: str) -> int:
    """``convert(src, dst)`` for every (input, output) pair of a CLI batch: a bad input is logged
    (``"<src>: <failure>: <why>"``) and the next one goes on; 1 if any failed, after naming them."""
    from tqdm import tqdm

    failed = []
    for src, dst in tqdm(pairs, desc=desc, unit="file"):
        try:
            convert(src, dst)
        except (RuntimeError, ValueError, OSError) as e:  # VideoError, AudioError, NoFaceError...
            logger.error("%s: %s: %s", src, failure, e)
            failed.append(src)
    if failed:
        logger.error("%d of %d input(s) failed (%s); the other outputs were written", len(failed), len(pairs),
                     ", ".join(map(str, failed)))
        return 1
    return 0
