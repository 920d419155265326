"""Audio in and out: any wav/flac rate, or the audio track of a video, as 16 kHz mono float32."""
from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from avdm import SAMPLE_RATE
from avdm.ffmpeg_bin import ffmpeg_exe
from avdm.fileio import atomic_path

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".sph"}


class AudioError(RuntimeError):
    """An audio file or track that cannot be read (the message names the file and why)."""


def resample(x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Polyphase resampling along the first axis (exact rational ratio)."""
    if fs_in == fs_out:
        return x
    g = np.gcd(int(fs_in), int(fs_out))
    return resample_poly(x, fs_out // g, fs_in // g, axis=0).astype(np.float32)


def load_audio(path, fs: int = SAMPLE_RATE, mono: bool = True) -> np.ndarray:
    """Read ``path`` (audio file, or a video whose audio track is demuxed by ffmpeg) at ``fs``.

    Returns float32 in [-1, 1], shape ``(n,)`` when ``mono`` (channels averaged).
    Raises :class:`AudioError` for a missing, unreadable or empty file.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.suffix.lower() in AUDIO_SUFFIXES:
        try:
            x, fs_in = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as e:  # soundfile raises its own error types
            raise AudioError(f"{path}: unreadable audio ({e})") from None
        x = x.mean(axis=1) if mono else x
        x = resample(x, fs_in, fs)
    else:
        x = _demux(path, fs, mono)
    if x.shape[0] == 0:
        raise AudioError(f"{path}: zero-length audio")
    return np.ascontiguousarray(x, dtype=np.float32)


def _demux(path: Path, fs: int, mono: bool) -> np.ndarray:
    channels = 1 if mono else 2
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn",
           "-ac", str(channels), "-ar", str(fs), "-f", "f32le", "-acodec", "pcm_f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = err[-1] if err else f"ffmpeg exit {proc.returncode}"
        if "matches no streams" in reason:
            reason = "the file has no audio track"
        raise AudioError(f"{path}: cannot read audio ({reason})")
    x = np.frombuffer(proc.stdout, dtype=np.float32)
    return x if mono else x.reshape(-1, channels)


def save_wav(path, x: np.ndarray, fs: int = SAMPLE_RATE, subtype: str = "PCM_16") -> None:
    """Write ``x`` (float, [-1, 1]) atomically as a wav (or flac, by suffix) file."""
    path = Path(path)
    x = np.asarray(x, dtype=np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:
        logger.warning("%s: peak %.3f > 1, clipping", path, peak)
        x = np.clip(x, -1.0, 1.0)
    fmt = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    with atomic_path(path) as tmp:
        sf.write(str(tmp), x, fs, subtype=subtype, format=fmt)
