"""Stage 1: lip ROIs of a data dir in parallel jobs.

    python -m avdm.bin.stage_lips --data_dir data/<set> --out_dir dump/lip/<set> --nj N
        [--detector dlib68] [--detector_conf '{}'] [--max_failed_frac 0.25] [--preview]

Writes out_dir/{lip.scp,lip_shape,lip_fps,skipped} (arks stay in out_dir/split/<job>/), job logs in
out_dir/logdir/lips.<job>.log and, with --preview, PNG strips of the crops in out_dir/preview/.
The set is built beside out_dir and replaces it only once complete: a failed or interrupted run
leaves the earlier lips as they were.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from avdm import VIDEO_FPS
from avdm.fileio import atomic_open, read_kv, replace_dir, require_files, staging_dir, write_kv
from avdm.launch import JobsFailed
from avdm.logging_setup import setup_logging
from avdm.parallel import job_dir, merge_lists, run_split

JOB_OUTPUTS = ("lip.scp", "lip_shape", "skipped")  # what each avdm.bin.extract_lips job writes


def merge_job_outputs(out_dir: Path, n_jobs: int, final_dir: Path = None) -> dict:
    """The job outputs of ``out_dir`` merged into its lists; with ``final_dir``, the scp names the arks
    where they will be once ``out_dir`` (a staging dir) has replaced ``final_dir``."""
    lists = merge_lists(out_dir, n_jobs, JOB_OUTPUTS, required=JOB_OUTPUTS,
                        relocate=(out_dir, final_dir) if final_dir else None)
    write_kv(out_dir / "lip_shape", lists.get("lip_shape", {}))
    write_kv(out_dir / "skipped", lists.get("skipped", {}))
    with atomic_open(out_dir / "lip_fps") as f:
        f.write(f"{VIDEO_FPS}\n")
    write_kv(out_dir / "lip.scp", lists.get("lip.scp", {}))  # last: its presence means the stage finished
    return lists.get("skipped", {})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stage_lips", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--nj", type=int, default=4)
    p.add_argument("--detector", default="dlib68")
    p.add_argument("--detector_conf", default="{}")
    p.add_argument("--max_failed_frac", type=float, default=0.25)
    p.add_argument("--preview", action="store_true")
    args = p.parse_args(argv)
    setup_logging()
    data, out = Path(args.data_dir), Path(args.out_dir)
    try:
        require_files(data / "video.scp", stage_hint="stage 0")
    except FileNotFoundError as e:
        logging.error("%s", e)
        return 1
    final, out = out, staging_dir(out)  # built beside the earlier lips, which stay until it is complete
    logdir = out / "logdir"
    parts = logdir / "video.JOB.scp"
    cmd = [sys.executable, "-m", "avdm.bin.extract_lips", "--scp", str(parts),
           "--out_dir", str(job_dir(out)), "--detector", args.detector,
           "--detector_conf", args.detector_conf, "--max_failed_frac", str(args.max_failed_frac)]
    if args.preview:
        cmd += ["--preview", "--preview_dir", str(out / "preview")]
    try:
        n_jobs = run_split(data / "video.scp", args.nj, cmd, parts, logdir / "lips.JOB.log")
    except JobsFailed as e:
        logging.error("stage 1 failed (earlier lips, if any, are unchanged): %s", e)
        return 1
    skipped = merge_job_outputs(out, n_jobs, final)
    n = len(read_kv(data / "video.scp"))
    if len(skipped) == n:
        logging.error("stage 1: no utterance of %s gave lips (see %s); %s is left as it was", data,
                      out / "skipped", final)
        return 1
    replace_dir(out, final)
    logging.info("stage 1: %s: %d of %d utterances have lips (%d skipped, see %s)", data.name, n - len(skipped),
                 n, len(skipped), final / "skipped")
    return 0


if __name__ == "__main__":
    from avdm.launch import die_with_driver

    die_with_driver()  # a driver killed with -9 leaves no stage behind (nor its jobs)
    sys.exit(main())
