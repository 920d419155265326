"""Lip ROI throughput per detector, in frames per second on one core (decode excluded and included).

    tools/venv/bin/python tools/bench/lip_throughput.py [VIDEO ...] [--repeat 3] [--json out.json]

Without videos it uses the real GRID clips of ../shared/data/grid_samples when present, else it
generates two mini-GRID clips.  Target (issue 4): >= 100 frames/s per core for dlib68 with tracking.
All detectors are measured side by side in one run, on the same frames, best of --repeat; dlib68
is also measured without tracking (face detection on every frame) to show what tracking buys.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="*")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    import avdm.video  # noqa: F401
    from avdm.registry import LANDMARK_DETECTORS
    from avdm.video.decode import read_frames
    from avdm.video.roi import crop_mouths, fill_and_smooth

    videos = [Path(v) for v in args.videos]
    source = "videos given on the command line"
    if not videos:
        shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "grid_samples"
        videos = sorted(shared.glob("*.mpg"))
        source = "real GRID clips"
    if not videos:
        from avdm.data.minigrid import generate

        tmp = Path(tempfile.mkdtemp())
        generate(tmp, 1, 2, seed=0, nj=1)
        videos = sorted(tmp.glob("s1/*.mpg"))
        source = "generated mini-GRID clips"
    t0 = time.perf_counter()
    frames = [read_frames(v) for v in videos]
    decode_s = time.perf_counter() - t0
    n = sum(len(f) for f in frames)
    results = {"videos": [str(v) for v in videos], "source": source, "frames": n,
               "decode_fps": n / decode_s, "detectors": {}}
    # every registered detector with its defaults, plus dlib68 detecting on every frame (no tracking)
    variants = [(key, key, {}) for key in LANDMARK_DETECTORS.keys()]
    variants.append(("dlib68/no-tracking", "dlib68", {"min_similarity": 2.0}))
    for key, reg_key, conf in variants:
        det = LANDMARK_DETECTORS.build(reg_key, conf)
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            detections = failed = 0
            for f in frames:
                track = det.track(f)
                detections += track.stats.get("detections", len(f))
                failed += int(track.failed.sum())
                centre, side = fill_and_smooth(track)
                crop_mouths(f, centre, side)
            best = min(best, time.perf_counter() - t0)
        fps = n / best
        results["detectors"][key] = {"fps_per_core": fps, "with_decode_fps": n / (best + decode_s),
                                     "full_frame_detections": detections, "failed_frames": failed}
    print(f"lip ROI throughput on {n} frames of {len(videos)} {source} (1 thread, best of {args.repeat})")
    print(f"  decoding alone: {results['decode_fps']:.0f} frames/s")
    for key, r in results["detectors"].items():
        flag = ""
        if key == "dlib68":
            flag = "  (target >= 100: " + ("met" if r["fps_per_core"] >= 100 else "MISSED") + ")"
        print(f"  {key:18s} {r['fps_per_core']:7.1f} frames/s per core, {r['with_decode_fps']:7.1f} with decoding, "
              f"{r['full_frame_detections']} full-frame detections, {r['failed_frames']} failed frames{flag}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
