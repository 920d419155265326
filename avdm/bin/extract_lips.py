"""``avdm-lips``: mouth ROIs (uint8 T x 96 x 96) of videos into Kaldi ark/scp.

    avdm-lips VIDEO... --out_dir DIR [--detector dlib68|haar] [--preview [--preview_dir D]]
    avdm-lips --scp video.scp --out_dir DIR ...          (the mode stage 1 runs per job)

Writes DIR/lip.ark, DIR/lip.scp, DIR/lip_shape ("utt T,96,96") and DIR/skipped ("utt reason");
with --preview, one PNG strip per utterance (every 5th crop side by side) in DIR/preview/.
A video that cannot be read or shows no face is logged with the reason and skipped; the rest go
on (exit status 1 when no video gave lips).  The scp appears only when the job finishes, so an interrupted job leaves no scp that a later
stage could trust, and a rerun rewrites the ark from the start.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2
import kaldiio
from tqdm import tqdm

from avdm.fileio import atomic_path, read_kv, write_kv
from avdm.logging_setup import setup_logging
from avdm.registry import LANDMARK_DETECTORS
from avdm.video.decode import VideoError
from avdm.video.lips import extract_lips
from avdm.video.roi import NoFaceError, write_preview

logger = logging.getLogger("avdm-lips")
OUTPUTS = ("lip.scp", "lip_shape", "skipped")


def run(videos: dict, out_dir: Path, detector: str = "dlib68", detector_conf: dict = None,
        max_failed_frac: float = 0.25, preview: bool = False, preview_dir: Path = None) -> dict:
    """Extract every video of ``{utt: path}``; returns ``{utt: reason}`` of the skipped ones."""
    import avdm.video  # noqa: F401  (registers the detectors)

    out_dir = Path(out_dir)
    preview_dir = Path(preview_dir) if preview_dir else out_dir / "preview"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        # an old scp would point into the ark about to be rewritten; temp files are left by a
        # killed job (its atomic writes never finished)
        for stale in [out_dir / name, *out_dir.glob(f".{name}.*.tmp")]:
            if stale.is_file():
                stale.unlink()
    det = LANDMARK_DETECTORS.build(detector, detector_conf or {})
    skipped, shapes = {}, {}
    ark = out_dir / "lip.ark"
    with atomic_path(out_dir / "lip.scp") as tmp_scp:
        with kaldiio.WriteHelper(f"ark,scp:{ark},{tmp_scp}", write_function="numpy") as writer:
            for utt in tqdm(sorted(videos), desc=f"lips {out_dir.name}", unit="utt", mininterval=5):
                try:
                    lips = extract_lips(videos[utt], det, max_failed_frac)
                except (VideoError, NoFaceError, OSError, ValueError, cv2.error) as e:
                    reason = " ".join(str(e).replace(str(videos[utt]) + ": ", "").split())
                    logger.warning("skipping %s: %s", utt, reason)
                    skipped[utt] = reason
                    continue
                writer(utt, lips)
                shapes[utt] = ",".join(map(str, lips.shape))
                if preview:
                    write_preview(preview_dir / f"{utt}.png", lips)
        # the scp is renamed into place last: its presence means the job's outputs are complete
        write_kv(out_dir / "lip_shape", shapes)
        write_kv(out_dir / "skipped", skipped)
    return skipped


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="avdm-lips", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="*", help="video files (utterance id = file name stem)")
    p.add_argument("--scp", help="video.scp (utt path) instead of video files")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--detector", default="dlib68", help="landmark_detector registry key (avdm-list)")
    p.add_argument("--detector_conf", default="{}", help="JSON dict of detector options")
    p.add_argument("--max_failed_frac", type=float, default=0.25,
                   help="skip an utterance with more than this share of frames without a face")
    p.add_argument("--preview", action="store_true", help="write PNG strips of the crops")
    p.add_argument("--preview_dir", default=None, help="where the PNG strips go (default OUT_DIR/preview)")
    args = p.parse_args(argv)
    setup_logging()
    if bool(args.videos) == bool(args.scp):
        p.error("give video files or --scp, not both")
    videos = read_kv(args.scp) if args.scp else {Path(v).stem: v for v in args.videos}
    try:
        skipped = run(videos, Path(args.out_dir), args.detector, json.loads(args.detector_conf),
                      args.max_failed_frac, args.preview, args.preview_dir)
    except (ValueError, TypeError) as e:  # bad detector key or options
        logger.error("%s", e)
        return 2
    logger.info("%d of %d videos done, %d skipped", len(videos) - len(skipped), len(videos), len(skipped))
    if videos and len(skipped) == len(videos) and not args.scp:
        logger.error("no video gave lips (reasons in %s)", Path(args.out_dir) / "skipped")
        return 1  # (a stage-1 job, --scp, leaves that verdict to the stage, over the whole set)
    return 0


if __name__ == "__main__":
    sys.exit(main())
