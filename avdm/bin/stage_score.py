"""Stage 5: score inference dirs (or the noisy input) against the clean references.

    python -m avdm.bin.stage_score --ref_dir dump/raw/<set>[,...] --inf_dir DIR[,...] [--noisy_input] [--nj N]

Comma-separated lists score several (reference, inference) pairs in one process.

With --noisy_input the system is the noisy mixture itself (ref_dir/noisy.scp) and the results go
to DIR/scoring, so the report can put the input beside every system.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from avdm.bin.score import score_scp, write_scores
from avdm.fileio import read_kv, require_files
from avdm.logging_setup import setup_logging

logger = logging.getLogger("stage_score")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stage_score", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref_dir", required=True)
    p.add_argument("--inf_dir", required=True)
    p.add_argument("--noisy_input", action="store_true")
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--asr_model", default=None, help="(reserved) ESPnet ASR model for WER")
    args = p.parse_args(argv)
    setup_logging()
    refs = [Path(x) for x in args.ref_dir.split(",") if x]
    infs = [Path(x) for x in args.inf_dir.split(",") if x]
    if len(refs) != len(infs):
        logger.error("%d reference dirs but %d inference dirs", len(refs), len(infs))
        return 2
    failed = 0
    for ref_dir, inf_dir in zip(refs, infs):
        failed += score_one(ref_dir, inf_dir, args.noisy_input, args.nj)
    return 1 if failed else 0


def score_one(ref_dir: Path, inf_dir: Path, noisy_input: bool, nj: int) -> int:
    inf_scp = ref_dir / "noisy.scp" if noisy_input else inf_dir / "wav.scp"
    try:
        require_files(ref_dir / "wav.scp", stage_hint="stage 2")
        require_files(inf_scp, stage_hint="stage 2" if noisy_input else "stage 4")
        per_utt = score_scp(read_kv(ref_dir / "wav.scp"), read_kv(inf_scp), nj)
    except (FileNotFoundError, KeyError, ValueError) as e:
        logger.error("%s", e.args[0] if isinstance(e, KeyError) else e)
        return 1
    extra = {"set": ref_dir.name, "system": "noisy" if noisy_input else inf_dir.parent.name}
    for name in ("utt2nfe", "utt2rtf"):
        if (inf_dir / name).is_file():
            vals = [float(v) for v in read_kv(inf_dir / name).values()]
            extra[name[4:]] = float(np.mean(vals))
    summary = write_scores(inf_dir / "scoring", per_utt, extra)
    logger.info("stage 5: %s: PESQ-WB %.3f, ESTOI %.3f, SI-SDR %.2f dB (n=%d)", inf_dir, summary["pesq_wb"]["mean"],
                summary["estoi"]["mean"], summary["sisdr"]["mean"], summary["pesq_wb"]["n"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
