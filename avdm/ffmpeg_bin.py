"""Where the ffmpeg binary comes from: imageio-ffmpeg's static build (no ffprobe is shipped)."""
from __future__ import annotations

import functools
import os
import shutil


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: ``$AVDM_FFMPEG``, else imageio-ffmpeg's, else one on PATH."""
    env = os.environ.get("AVDM_FFMPEG")
    if env:
        return env
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # pragma: no cover - imageio-ffmpeg is a hard dependency
        found = shutil.which("ffmpeg")
        if found:
            return found
        raise RuntimeError("no ffmpeg binary: install imageio-ffmpeg (tools/setup.sh does)") from e
