"""One parallel scoring job of stage 5 / ``avdm-score --nj N`` (started by avdm.scoring.run_scoring).

    python -m avdm.bin.score_job --tasks score_tasks.JOB.scp --out score_out.JOB.jsonl
        [--asr_model M] [--asr_decode_conf conf/decode_asr.yaml]

Task lines: ``<key> <metric,metric|-> <ref audio> <inferred audio>``; one JSON line per task out.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from avdm.fileio import atomic_open
from avdm.logging_setup import setup_logging

logger = logging.getLogger("score_job")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="score_job", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--asr_model", default=None)
    p.add_argument("--asr_decode_conf", default=None)
    args = p.parse_args(argv)
    setup_logging()
    from avdm.scoring import read_tasks, score_entries

    tasks = read_tasks(args.tasks)
    transcriber = None
    if args.asr_model:
        from avdm.asr.decode import Transcriber, load_decode_conf

        transcriber = Transcriber(args.asr_model, load_decode_conf(args.asr_decode_conf))
    results, skipped = score_entries(tasks, transcriber, desc=args.tasks)
    with atomic_open(args.out) as f:
        for key, *_ in tasks:
            rec = {"key": key, "skipped": skipped[key]} if key in skipped else {"key": key, "scores": results[key]}
            f.write(json.dumps(rec, sort_keys=True) + "\n")
    logger.info("scored %d utterances (%d skipped) -> %s", len(results), len(skipped), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
