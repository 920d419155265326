"""Stage 5: score inference dirs (or the noisy input, or the clean reference) against the references.

    python -m avdm.bin.stage_score --ref_dir dump/raw/<set>[,...] --inf_dir DIR[,...]
        [--noisy_input | --clean_input] [--nj N] [--asr_model exp/asr|packed.zip]
        [--asr_decode_conf conf/decode_asr.yaml]

Comma-separated lists score several (reference, inference) pairs together: their utterances are
split over --nj jobs (avdm.launch; logs in <common parent of the DIRs>/logdir/score.JOB.log).
Results go to DIR/scoring/ (see avdm.scoring).

The system is DIR/wav.scp (stage 4 output), or with --noisy_input the noisy mixture itself
(ref_dir/noisy.scp; DIR is e.g. exp/noisy_input/<set>), or with --clean_input the clean reference
(ref_dir/wav.scp; DIR e.g. exp/reference/<set>; WER only, it needs --asr_model), so the report can
put the input and the ASR's own error rate beside every system.  With --asr_model, WER is computed
against ref_dir/text.  Every reference utterance needs an output unless stage 4 listed it in
DIR/skipped; an output without reference is an error naming the utterance.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np

from avdm.fileio import read_kv, require_files
from avdm.inference.job_list import parse_output_dir_name
from avdm.logging_setup import setup_logging
from avdm.metrics import METRICS
from avdm.scoring import ScoreJob, check_coverage, read_skipped, run_scoring

logger = logging.getLogger("stage_score")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stage_score", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref_dir", required=True)
    p.add_argument("--inf_dir", required=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--noisy_input", action="store_true", help="score ref_dir/noisy.scp as the system")
    g.add_argument("--clean_input", action="store_true", help="WER of the clean reference itself")
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--asr_model", default=None, help="ESPnet ASR exp dir or packed model (WER); none: no WER.  "
                   "espnet2 loads it with a full unpickling: a model file can run code, so give only models "
                   "you trust as you would trust their code")
    p.add_argument("--asr_decode_conf", default=None, help="Speech2Text options (YAML), e.g. conf/decode_asr.yaml")
    args = p.parse_args(argv)
    setup_logging()
    refs = [Path(x) for x in args.ref_dir.split(",") if x]
    infs = [Path(x) for x in args.inf_dir.split(",") if x]
    if len(refs) != len(infs) or not refs:
        logger.error("%d reference dirs but %d inference dirs", len(refs), len(infs))
        return 2
    if args.clean_input and not args.asr_model:
        logger.error("--clean_input scores only WER: give --asr_model (or leave the reference out)")
        return 2
    try:
        jobs = [make_job(r, i, args) for r, i in zip(refs, infs)]
        log_dir = Path(os.path.commonpath([str(i) for i in infs])) / "logdir"
        summaries = run_scoring(jobs, args.nj, log_dir, args.asr_model, args.asr_decode_conf)
    except KeyError as e:
        logger.error("%s", e.args[0])
        return 1
    except (FileNotFoundError, ValueError, RuntimeError) as e:  # RuntimeError: avdm.launch.JobsFailed
        logger.error("%s", e)
        return 1
    for job, s in zip(jobs, summaries):
        parts = [f"{name} {s[key]['mean']:.3f}" for key, name in
                 (("pesq_wb", "PESQ-WB"), ("estoi", "ESTOI"), ("sisdr", "SI-SDR"), ("wer", "WER%")) if key in s]
        n = next((s[k]["n"] for k in ("pesq_wb", "wer") if k in s), 0)
        logger.info("stage 5: %s: %s (n=%d%s)", job.out_dir.parent, ", ".join(parts), n,
                    f", {s['n_skipped']} skipped" if s["n_skipped"] else "")
    return 0


def make_job(ref_dir: Path, inf_dir: Path, args) -> ScoreJob:
    if args.noisy_input:
        inf_scp, system, writer = ref_dir / "noisy.scp", "noisy", "stage 2"
    elif args.clean_input:
        inf_scp, system, writer = ref_dir / "wav.scp", "reference", "stage 2"
    else:
        inf_scp, system, writer = inf_dir / "wav.scp", inf_dir.parent.name, "stage 4"
    require_files(ref_dir / "wav.scp", stage_hint="stage 2")
    require_files(inf_scp, stage_hint=writer)
    text = None
    if args.asr_model:
        require_files(ref_dir / "text", stage_hint="stage 2")
        text = read_kv(ref_dir / "text", allow_empty_value=True)
    extra = {"set": ref_dir.name, "system": system}
    if system not in ("noisy", "reference"):
        job_and_set = parse_output_dir_name(inf_dir.name)  # a stage-4 dir; else (a trial decode) its name
        extra["job"] = job_and_set[0] if job_and_set and job_and_set[1] == ref_dir.name else inf_dir.name
    for name in ("utt2nfe", "utt2rtf"):
        if not (args.noisy_input or args.clean_input) and (inf_dir / name).is_file():
            vals = [float(v) for v in read_kv(inf_dir / name).values()]
            extra[name[4:]] = float(np.mean(vals))
    job = ScoreJob(str(inf_dir), read_kv(ref_dir / "wav.scp"), read_kv(inf_scp), inf_dir / "scoring",
                   metrics=() if args.clean_input else METRICS, text=text, extra=extra)
    check_coverage(job, read_skipped(inf_dir) if writer == "stage 4" else (), require_all_refs=True)
    return job


if __name__ == "__main__":
    from avdm.launch import die_with_driver

    die_with_driver()  # a driver killed with -9 leaves no stage behind (nor its jobs)
    sys.exit(main())
