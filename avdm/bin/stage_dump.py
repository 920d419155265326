"""Stage 2: 16 kHz audio (clean, noisy, noise) of a data dir, checked against the lip lengths.

    python -m avdm.bin.stage_dump --data_dir data/<set> --out_dir dump/raw/<set> --nj N
        [--lip_dir dump/lip/<base>] [--audio_format flac|ark] [--write_stats]

Writes out_dir/{wav.scp,noisy.scp,noise.scp,lip.scp,lip_shape,utt2num_samples,text,utt2spk,
spk2utt,skipped,audio_format} with the same keys in every per-utterance file, a condition set's
condition and base_set (avdm.data.condition) and, with
--write_stats, lip_stats.json (mean and std of the lip pixels, for the model's normalisation).
Every kept utterance has exactly 640 samples per video frame.  The set is built beside out_dir and
replaces it only once complete: an earlier dump stays until then (and stays if this run fails).
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np

from avdm.data.datadir import spk2utt_from
from avdm.fileio import atomic_open, load_ark, read_kv, replace_dir, require_files, staging_dir, write_kv
from avdm.launch import JobsFailed
from avdm.logging_setup import setup_logging
from avdm.parallel import job_dir, merge_lists, run_split

logger = logging.getLogger("stage_dump")


def lip_stats(lip_scp: Path, max_utts: int = 1000) -> dict:
    """Mean and standard deviation of lip pixel values (0-255).

    Over every utterance of ``lip_scp``, or over ``max_utts`` of them spread evenly over the
    sorted list (so that every speaker counts, not only the first ones).
    """
    scp = read_kv(lip_scp)
    keys = sorted(scp.keys())
    if len(keys) > max_utts:
        keys = [keys[i] for i in np.linspace(0, len(keys) - 1, max_utts).round().astype(int)]
    total, sq, n = 0.0, 0.0, 0
    for k in keys:
        a = np.asarray(load_ark(scp[k], str(lip_scp)), np.float64)
        total += a.sum()
        sq += (a ** 2).sum()
        n += a.size
    if n == 0:
        raise ValueError(f"{lip_scp}: no lips to compute statistics from")
    mean = total / n
    return {"mean": mean, "std": float(np.sqrt(max(sq / n - mean ** 2, 1e-6))), "num_values": n,
            "num_utts": len(keys)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stage_dump", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--nj", type=int, default=4)
    p.add_argument("--lip_dir", default=None, help="stage 1 output of the base set (omit for noise-only sets)")
    p.add_argument("--audio_format", choices=("flac", "ark"), default="flac")
    p.add_argument("--min_utts_per_job", type=int, default=20,
                   help="fewer jobs than --nj for small sets: a job costs a process start, an utterance far less")
    p.add_argument("--write_stats", action="store_true", help="write lip_stats.json (training set)")
    args = p.parse_args(argv)
    if args.write_stats and not args.lip_dir:
        p.error("--write_stats needs --lip_dir (the statistics are of the lips)")
    setup_logging()
    data, out = Path(args.data_dir), Path(args.out_dir)
    try:
        require_files(data / "wav.scp", stage_hint="stage 0")
        if args.lip_dir:
            require_files(Path(args.lip_dir) / "lip.scp", Path(args.lip_dir) / "lip_shape", stage_hint="stage 1")
    except FileNotFoundError as e:
        logger.error("%s", e)
        return 1
    try:
        read_kv(data / "wav.scp")  # a malformed list (e.g. a key twice) is refused before any job starts
    except ValueError as e:
        logger.error("stage 2: %s", e)
        return 1
    # the set is built beside out_dir and replaces it only once complete (earlier dumps stay till then);
    # the lists name the files where they will be after the swap
    stage = staging_dir(out)
    logdir = stage / "logdir"
    parts = logdir / "keys.JOB.scp"
    cmd = [sys.executable, "-m", "avdm.bin.dump_audio", "--keys", str(parts),
           "--data_dir", str(data), "--out_dir", str(job_dir(stage)), "--audio_format", args.audio_format]
    if args.lip_dir:
        cmd += ["--lip_shape", str(Path(args.lip_dir) / "lip_shape")]
    if not (data / "utt2spk").is_file():
        cmd.append("--no_silence_check")  # noise banks: any signal is fine
    try:
        n_jobs = run_split(data / "wav.scp", args.nj, cmd, parts, logdir / "dump.JOB.log", args.min_utts_per_job)
    except JobsFailed as e:
        logger.error("stage 2 failed (earlier dumps, if any, are unchanged): %s", e)
        return 1
    # paths inside the staging dir are listed as they will be after the swap
    merged = merge_lists(stage, n_jobs, ("*.scp", "utt2num_samples", "skipped"),
                         required=("wav.scp", "utt2num_samples", "skipped"), relocate=(stage, out),
                         stage_hint="dump job JOB")
    keys = set(merged.get("utt2num_samples", {}))
    if not keys:
        write_kv(stage / "skipped", merged.get("skipped", {}))
        logger.error("stage 2: every utterance of %s was skipped (see %s); %s is left as it was", data,
                     stage / "skipped", out)
        return 1
    final_out, out = out, stage  # the lists below are written into the staging dir
    # wav.scp goes last: its presence means every other file of the set is complete
    for name, content in merged.items():
        if name == "wav.scp":
            continue
        write_kv(out / name, content if name == "skipped" else {k: v for k, v in content.items() if k in keys})
    for name in ("text", "utt2spk", "utt2snr", "utt2noise"):
        if (data / name).is_file():
            write_kv(out / name, {k: v for k, v in read_kv(data / name).items() if k in keys})
    if (data / "utt2spk").is_file():
        write_kv(out / "spk2utt", spk2utt_from(read_kv(out / "utt2spk")))
    # condition + base_set: what the set is (avdm.data.condition); corpus: what stage 3 records as the
    # model's training data
    for name in ("base_set", "condition", "corpus"):
        if (data / name).is_file():
            shutil.copy(data / name, out / name)
    if args.lip_dir:
        lip = Path(args.lip_dir)
        write_kv(out / "lip_shape", {k: v for k, v in read_kv(lip / "lip_shape").items() if k in keys})
        write_kv(out / "lip.scp", {k: v for k, v in read_kv(lip / "lip.scp").items() if k in keys})
        if args.write_stats:
            stats = lip_stats(out / "lip.scp")
            with atomic_open(out / "lip_stats.json") as f:
                json.dump(stats, f, indent=1)
            logger.info("lip statistics of %s: mean %.2f, std %.2f over %d utterances", data.name, stats["mean"],
                        stats["std"], stats["num_utts"])
    with atomic_open(out / "audio_format") as f:
        f.write(args.audio_format + "\n")
    write_kv(out / "wav.scp", {k: v for k, v in merged["wav.scp"].items() if k in keys})
    replace_dir(stage, final_out)
    skipped = merged.get("skipped", {})
    logger.info("stage 2: %s: %d utterances dumped (%s), %d skipped", data.name, len(keys), args.audio_format,
                len(skipped))
    return 0


if __name__ == "__main__":
    from avdm.launch import die_with_driver

    die_with_driver()  # a driver killed with -9 leaves no stage behind (nor its jobs)
    sys.exit(main())
