"""Stage 0: Kaldi data dirs (train/dev/test + noisy dev/test condition sets) from a GRID root.

    python -m avdm.bin.prepare_grid --grid_root DIR --out data [--seed 0] [--snrs "-10 -5 0 5"]
        [--talker_snrs "-5 0"] [--max_dev_cond_utts N]
        [--dev_speakers s3,s4] [--test_speakers s1,s2] [--nj 2] [--probe true]
"""
from __future__ import annotations

import argparse
import logging
import sys

from avdm.data.grid_prep import GridLayoutError, prepare
from avdm.logging_setup import setup_logging


def _bool(s: str) -> bool:
    if s.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")
    return s.lower() == "true"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="prepare_grid", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid_root", required=True)
    p.add_argument("--out", default="data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snrs", default="-10 -5 0 5", help="SNRs in dB of the noisy dev/test sets")
    p.add_argument("--talker_snrs", default="-5 0",
                   help="SNRs in dB of the competing-talker dev/test sets (empty: none)")
    p.add_argument("--dev_speakers", default="", help="comma-separated speaker ids")
    p.add_argument("--test_speakers", default="", help="comma-separated speaker ids")
    p.add_argument("--nj", type=int, default=2)
    p.add_argument("--probe", type=_bool, default=True, help="decode every video once to catch broken files")
    p.add_argument("--noise_files", type=int, default=3, help="generated files per training noise type")
    p.add_argument("--max_test_utts", type=int, default=0, help="use at most this many test utterances (0: all)")
    p.add_argument("--max_dev_cond_utts", type=int, default=0,
                   help="dev utterances in each dev condition set (0: all); tuning sweeps decode every set")
    args = p.parse_args(argv)
    setup_logging()
    split = lambda s: [x for x in s.replace(",", " ").split() if x]  # noqa: E731
    try:
        prepare(args.grid_root, args.out, seed=args.seed, snrs=[float(s) for s in split(args.snrs)],
                dev_speakers=split(args.dev_speakers), test_speakers=split(args.test_speakers),
                nj=args.nj, probe=args.probe, noise_files=args.noise_files, max_test_utts=args.max_test_utts,
                talker_snrs=[float(s) for s in split(args.talker_snrs)], max_dev_cond_utts=args.max_dev_cond_utts)
    except (GridLayoutError, ValueError) as e:
        logging.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
