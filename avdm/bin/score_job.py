"""One parallel scoring job of stage 5 / ``avdm-score --nj N`` (started by avdm.scoring.run_scoring).

    python -m avdm.bin.score_job --tasks score_tasks.JOB.scp --out_dir score_out/split/JOB
        [--asr_model M] [--asr_decode_conf conf/decode_asr.yaml]

Task lines: ``<key> <metric,metric|-> <ref audio> <inferred audio>``; out_dir gets ``scores`` (key and
its scores as JSON) and ``skipped`` (key and reason).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from avdm.logging_setup import setup_logging

logger = logging.getLogger("score_job")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="score_job", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--asr_model", default=None)
    p.add_argument("--asr_decode_conf", default=None)
    args = p.parse_args(argv)
    setup_logging()
    from avdm.scoring import read_tasks, score_entries, write_job_lists

    tasks = read_tasks(args.tasks)
    transcriber = None
    if args.asr_model:
        from avdm.asr.decode import Transcriber, load_decode_conf

        transcriber = Transcriber(args.asr_model, load_decode_conf(args.asr_decode_conf))
    results, skipped = score_entries(tasks, transcriber, desc=args.tasks)
    write_job_lists(Path(args.out_dir), tasks, results, skipped)
    logger.info("scored %d utterances (%d skipped) -> %s", len(results), len(skipped), args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
