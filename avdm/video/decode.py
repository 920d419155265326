"""Video decoding through ffmpeg-python and imageio-ffmpeg's ffmpeg (no ffprobe is shipped).

Stream facts (size, frame rate, audio presence) are read from ``ffmpeg -i``'s report on stderr.
Frames come out grayscale (or RGB) at the source rate, resampled to 25 fps when the source differs,
streamed (:func:`iter_frames`) so that a long video is never held whole in memory.
"""
from __future__ import annotations

import logging
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import ffmpeg
import numpy as np

from avdm import VIDEO_FPS
from avdm.ffmpeg_bin import ffmpeg_exe

logger = logging.getLogger(__name__)


# output suffix -> (ffmpeg muxer, audio codec that container carries)
OUTPUT_FORMATS = {".mp4": ("mp4", "aac"), ".m4v": ("mp4", "aac"), ".mov": ("mov", "aac"),
                  ".mkv": ("matroska", "aac"), ".avi": ("avi", "libmp3lame"), ".mpg": ("mpeg", "mp2"),
                  ".mpeg": ("mpeg", "mp2")}
MPEG_PS_VIDEO = ("mpeg1video", "mpeg2video")  # the video codecs MPEG-PS (.mpg) carries as they are


class VideoError(RuntimeError):
    """A video that cannot be read (the message names the file and why)."""


@dataclass
class StreamInfo:
    width: int
    height: int
    fps: float
    duration: Optional[float]
    has_audio: bool
    audio_rate: Optional[int]
    codec: str = ""


_VIDEO = re.compile(r"Stream #\S+.*?: Video: (\w+).*?(?<![\w.])(\d{2,5})x(\d{2,5})(?!\w)")
_FPS = re.compile(r"([\d.]+) fps")
_TBR = re.compile(r"([\d.]+)(k?) tbr")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: .*?(\d+) Hz")
_DUR = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")


def probe(path) -> StreamInfo:
    """Stream facts of ``path`` from ``ffmpeg -i``'s report (raises :class:`VideoError`)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True, errors="replace")
    return parse_stream_info(proc.stderr, path)


def parse_stream_info(report: str, path="video") -> StreamInfo:
    """Parse the first video (and audio) stream of an ``ffmpeg -i`` report."""
    m = _VIDEO.search(report)
    if not m:
        last = report.strip().splitlines()[-1] if report.strip() else "no output"
        last = last.replace(f"{path}: ", "")  # ffmpeg names the file itself
        raise VideoError(f"{path}: no video stream ({last})")
    end = report.find("\n", m.start())
    line = report[m.start():end if end >= 0 else None]
    fm = _FPS.search(line)
    if fm:
        fps = float(fm.group(1))
    else:  # no average rate reported: fall back to the stream's base rate, else assume 25
        tm = _TBR.search(line)
        fps = float(tm.group(1)) * (1000 if tm.group(2) else 1) if tm else float(VIDEO_FPS)
        logger.debug("%s: no fps in the stream report, using %g", path, fps)
    if not fps > 0:
        raise VideoError(f"{path}: frame rate {fps} in the stream report")
    dm = _DUR.search(report)
    duration = int(dm.group(1)) * 3600 + int(dm.group(2)) * 60 + float(dm.group(3)) if dm else None
    am = _AUDIO.search(report)
    return StreamInfo(int(m.group(2)), int(m.group(3)), fps, duration, am is not None,
                      int(am.group(1)) if am else None, m.group(1))


def iter_frames(path, gray: bool = True, fps: float = VIDEO_FPS, info: Optional[StreamInfo] = None,
                ) -> Iterator[np.ndarray]:
    """Frames one by one as uint8 ``(H, W)`` (gray) or ``(H, W, 3)`` (RGB) at ``fps``.

    Decoded as they are consumed, so memory does not grow with the length of the video.  After the
    last frame, :class:`VideoError` if ffmpeg failed or reported damaged data (a truncated or
    corrupt file would otherwise end early without a word).
    """
    info = info or probe(path)
    stream = ffmpeg.input(str(path), threads=1)  # one core per job: stage 1 runs --nj jobs side by side
    if abs(info.fps - fps) > 0.01:
        logger.info("%s: source at %.3f fps, resampled to %g fps", path, info.fps, fps)
        stream = stream.filter("fps", fps=fps)
    pix = "gray" if gray else "rgb24"
    cmd = stream.output("pipe:", format="rawvideo", pix_fmt=pix).compile(cmd=ffmpeg_exe())
    shape = (info.height, info.width) if gray else (info.height, info.width, 3)
    frame_bytes = int(np.prod(shape))
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a long error report cannot block ffmpeg
        proc = subprocess.Popen(cmd[:1] + ["-nostdin", "-v", "error"] + cmd[1:], stdout=subprocess.PIPE,
                                stderr=err)
        n = 0
        try:
            while True:
                data = proc.stdout.read(frame_bytes)
                if len(data) < frame_bytes:
                    break
                n += 1
                yield np.frombuffer(data, np.uint8).reshape(shape)
            code = proc.wait()
        finally:
            if proc.poll() is None:  # the consumer stopped early
                proc.kill()
                proc.wait()
            proc.stdout.close()
        err.seek(0)
        msg = err.read().decode(errors="replace").strip().splitlines()
    if code != 0 or n == 0:
        raise VideoError(f"{path}: cannot decode video ({msg[-1] if msg else 'no frames'})")
    if msg:
        raise VideoError(f"{path}: damaged or truncated video, {n} frames decoded (ffmpeg: {msg[0].strip()})")


def read_frames(path, gray: bool = True, fps: float = VIDEO_FPS, info: Optional[StreamInfo] = None) -> np.ndarray:
    """All frames as uint8 ``(T, H, W)`` (gray) or ``(T, H, W, 3)`` (RGB) at ``fps`` (short videos;
    long ones are better consumed through :func:`iter_frames`)."""
    return np.stack(list(iter_frames(path, gray, fps, info)))


def write_video(path, frames: np.ndarray, fps: float = VIDEO_FPS, audio=None, audio_rate: int = 16000,
                vcodec: str = "libx264") -> None:
    """Write RGB or gray uint8 frames (and optional mono float audio) to a video file."""
    import tempfile

    import soundfile as sf

    from avdm.fileio import atomic_path

    path = Path(path)
    frames = np.asarray(frames, np.uint8)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    n, h, w, _ = frames.shape
    with tempfile.TemporaryDirectory() as tmpdir, atomic_path(path) as tmp:
        video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=fps)
        streams = [video.video]
        if audio is not None:
            wav = Path(tmpdir) / "a.wav"
            sf.write(str(wav), np.asarray(audio, np.float32), audio_rate, subtype="PCM_16")
            streams.append(ffmpeg.input(str(wav)).audio)
        kwargs = {"vcodec": vcodec, "pix_fmt": "yuv420p", "threads": 1}
        if vcodec == "libx264":
            kwargs.update(crf=18, preset="veryfast")
        fmt, acodec = OUTPUT_FORMATS.get(path.suffix.lower(), OUTPUT_FORMATS[".mp4"])
        if audio is not None:
            kwargs.update(acodec=acodec)
        cmd = ffmpeg.output(*streams, str(tmp), format=fmt, **kwargs).overwrite_output().compile(cmd=ffmpeg_exe())
        proc = subprocess.run(cmd[:1] + ["-nostdin", "-v", "error"] + cmd[1:], input=frames.tobytes(),
                              capture_output=True)
        if proc.returncode != 0:
            raise VideoError(f"cannot write {path}: {proc.stderr.decode(errors='replace')[-400:]}")
