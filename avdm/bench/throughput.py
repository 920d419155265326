"""Benchmark 5: pipeline throughput (``throughput.json``).

* lip ROI extraction, frames/s per core of every landmark detector: ``tools/bench/lip_throughput.py``
  on the first ``--lip_videos`` videos of ``--video_scp`` (or its own default clips);
* dumping (stage 2): one ``avdm.bin.stage_dump`` job on ``--dump_data_dir`` (with the lips of
  ``--dump_lip_dir``) into a temporary dir, in utterances and audio seconds per second;
* training: steps/s of every model dir given (``--cond_model`` ...), read from the per-epoch
  ``train_time`` espnet2 logs in its ``train.log``, with the budget of its config.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

from avdm.bench.record import budget_of, header
from avdm.fileio import read_kv

logger = logging.getLogger(__name__)


def add_arguments(p) -> None:
    g = p.add_argument_group("throughput (benchmark 5)")
    g.add_argument("--video_scp", default="", help="videos for the lip benchmark (e.g. data/test/video.scp)")
    g.add_argument("--lip_videos", type=int, default=4, help="how many videos of --video_scp (0: no lip benchmark)")
    g.add_argument("--lip_repeat", type=int, default=3, help="timed passes of the lip benchmark (best kept)")
    g.add_argument("--dump_data_dir", default="", help="a Kaldi data dir to dump once (e.g. data/test_snr0_heldout)")
    g.add_argument("--dump_lip_dir", default="", help="its stage-1 lips (e.g. dump/lip/test)")


def lip_tool() -> Optional[Path]:
    """``tools/bench/lip_throughput.py`` of the source tree avdm runs from (None in an installed copy)."""
    import avdm

    p = Path(avdm.__file__).resolve().parents[1] / "tools" / "bench" / "lip_throughput.py"
    return p if p.is_file() else None


def lip_throughput(video_scp: str, n_videos: int, repeat: int = 3) -> dict:
    tool = lip_tool()
    if tool is None:
        return {"error": "tools/bench/lip_throughput.py not found (run from the avdm source tree)"}
    videos = list(read_kv(video_scp).values())[:n_videos] if video_scp else []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lip.json"
        cmd = [sys.executable, str(tool), *videos, "--repeat", str(repeat), "--json", str(out)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not out.is_file():
            return {"error": f"{tool.name} failed (exit {r.returncode}): {r.stderr.strip()[-500:]}"}
        res = json.loads(out.read_text())
    what = [f"<{len(videos)} videos of {video_scp}>"] if videos else []
    res["command"] = " ".join(["python", str(tool), *what, "--repeat", str(repeat)])
    return res


def dump_throughput(data_dir: str, lip_dir: str) -> dict:
    """One stage-2 job on ``data_dir``: utterances and seconds of audio dumped per second."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "avdm.bin.stage_dump", "--data_dir", data_dir, "--out_dir", f"{tmp}/dump",
               "--nj", "1"] + (["--lip_dir", lip_dir] if lip_dir else [])
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        lens = Path(tmp) / "dump" / "utt2num_samples"
        if r.returncode != 0 or not lens.is_file():
            return {"error": f"stage_dump failed (exit {r.returncode}): {r.stderr.strip()[-500:]}"}
        samples = [int(v) for v in read_kv(lens).values()]
    audio_s = sum(samples) / 16000
    return {"data_dir": data_dir, "jobs": 1, "utts": len(samples), "audio_seconds": audio_s, "wall_seconds": wall,
            "utts_per_s": len(samples) / wall, "audio_seconds_per_s": audio_s / wall,
            "note": "process start-up included; files of every kind the set has (clean, noisy, noise) are written"}


def run(args, argv) -> dict:
    rec = header("throughput", argv, args.threads)
    rec["lip"] = (lip_throughput(args.video_scp, args.lip_videos, args.lip_repeat) if args.lip_videos > 0
                  else {"skipped": "--lip_videos 0"})
    if args.dump_data_dir:
        rec["dump"] = dump_throughput(args.dump_data_dir, args.dump_lip_dir)
    models = [m for m in (args.cond_model, args.cond_ao_model, args.prior_model, args.prior_ao_model) if m]
    rec["train"] = {Path(m).name: budget_of(m) for m in models if Path(m).is_dir()}
    return rec


def report_lines(rec: dict) -> List[str]:
    lines = []
    for k, r in (rec.get("lip") or {}).get("detectors", {}).items():
        lines.append(f"  lips {k}: {r['fps_per_core']:.1f} frames/s per core")
    d = rec.get("dump") or {}
    if "utts_per_s" in d:
        lines.append(f"  dumping: {d['utts_per_s']:.2f} utt/s, {d['audio_seconds_per_s']:.1f} audio-s/s (1 job)")
    for name, b in (rec.get("train") or {}).items():
        s = (b.get("train_speed") or {}).get("steps_per_s")
        lines.append(f"  training {name}: " + (f"{s:.2f} steps/s" if s else "no speed in its train.log"))
    return lines
