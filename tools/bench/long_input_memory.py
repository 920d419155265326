"""Peak memory (RSS) of ``avdm-enhance`` on long videos: does it stay flat as the input grows?

    tools/venv/bin/python tools/bench/long_input_memory.py [--minutes 2 10] [--detector dlib68]

Builds a talking-face clip of 10 s (the mini-GRID face), loops it to each length with ffmpeg with
a noise track as audio, and runs ``python -m avdm.bin.enhance`` on it with a small randomly
initialised conditional model and a one-step sampler (memory, not quality, is measured).  The
peak RSS of the enhance process (ru_maxrss of its process tree) is printed per length.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

MODEL = {"sde": "ouve", "sde_conf": {}, "score_model": "ncsnpp_lite",
         "score_model_conf": {"base_channels": 8, "channel_mults": [1, 2]}, "visual_encoder": "light_cnn",
         "visual_encoder_conf": {"channels": 4, "output_dim": 8}, "model_conf": {"mode": "conditional"},
         "init": None}


def make_model(exp: Path) -> Path:
    import argparse as ap

    import torch
    import yaml

    from avdm.task import AVDMTask

    exp.mkdir(parents=True)
    (exp / "config.yaml").write_text(yaml.safe_dump(MODEL))
    torch.manual_seed(0)
    torch.save(AVDMTask.build_model(ap.Namespace(**MODEL)).state_dict(), exp / "valid.loss.best.pth")
    return exp


def make_clip(path: Path, seconds: int = 10) -> None:
    """A silent talking-face clip (the mini-GRID face moving a little)."""
    import cv2
    import numpy as np

    from avdm.data.face import base_face
    from avdm.video.decode import write_video

    img, _ = base_face()
    frames = np.stack([cv2.warpAffine(img, np.array([[0.8, 0, 30.0 + k % 3], [0, 0.8, 10.0]]), (360, 288))
                       for k in range(seconds * 25)])
    write_video(path, frames)


def loop_to(clip: Path, out: Path, minutes: int, clip_seconds: int = 10) -> None:
    """``clip`` looped to ``minutes`` with one noise track of the same length (re-encoded: a stream
    copy of a looped clip drifts, and the CLI refuses audio and video of different lengths)."""
    import numpy as np
    import soundfile as sf

    from avdm.ffmpeg_bin import ffmpeg_exe

    wav = out.with_suffix(".wav")
    sf.write(wav, 0.1 * np.random.default_rng(0).standard_normal(minutes * 60 * 16000).astype(np.float32), 16000)
    loops = minutes * 60 // clip_seconds - 1
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(clip),
                    "-i", str(wav), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "libx264", "-preset", "ultrafast",
                    "-r", "25", "-c:a", "aac", "-shortest", str(out)], check=True)
    wav.unlink()


def peak_rss_mb(cmd) -> tuple:
    """Run ``cmd`` in a fresh wrapper process; (peak RSS of its tree in MB, seconds, exit status)."""
    wrapper = ("import resource, subprocess, sys, time; t = time.time(); rc = subprocess.run(sys.argv[1:]).returncode; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.time() - t, rc)")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True)
    kb, secs, rc = out.stdout.split()[-3:]
    return int(kb) / 1024, float(secs), int(rc)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=int, nargs="+", default=[2, 10])
    p.add_argument("--detector", default="dlib68")
    args = p.parse_args(argv)
    from avdm.markdown_table import number, row, table

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = make_model(tmp / "exp")
        conf = tmp / "decode.yaml"
        conf.write_text("sampler: dpm2m\nsampler_conf: {steps: 1}\n")
        make_clip(tmp / "clip.mp4")
        print("\n".join(table(["video", "peak RSS (MB)", "wall (s)"])))
        for minutes in args.minutes:
            video = tmp / f"talk_{minutes}min.mp4"
            loop_to(tmp / "clip.mp4", video, minutes)
            mb, secs, rc = peak_rss_mb([sys.executable, "-m", "avdm.bin.enhance", "--model", str(model),
                                        "--inference_config", str(conf), "--detector", args.detector,
                                        str(video), str(tmp / f"out_{minutes}.mp4")])
            if rc != 0:
                print(f"avdm-enhance failed on {video} (exit {rc})", file=sys.stderr)
                return 1
            print(row([f"{minutes} min", number(mb, 0), number(secs, 0)]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
