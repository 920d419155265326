"""``avdm-minigrid``: generate the embedded mini-GRID corpus (GRID's layout and stream formats).

    avdm-minigrid --out DIR [--size tiny|demo|bench] [--num_speakers N --utts_per_speaker M]
        [--seed S] [--nj J]
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from avdm.data.minigrid import SIZES, generate
from avdm.logging_setup import setup_logging


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="avdm-minigrid", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--size", choices=sorted(SIZES), default="demo")
    p.add_argument("--num_speakers", type=int, default=None, help="overrides --size")
    p.add_argument("--utts_per_speaker", type=int, default=None, help="overrides --size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nj", type=int, default=2, help="speakers generated in parallel")
    args = p.parse_args(argv)
    setup_logging()
    n_spk, n_utt = SIZES[args.size]
    n_spk = args.num_speakers or n_spk
    n_utt = args.utts_per_speaker or n_utt
    t0 = time.time()
    counts = generate(args.out, n_spk, n_utt, seed=args.seed, nj=args.nj)
    logging.info("mini-GRID: %d speakers, %d utterances in %s (%.0f s)", len(counts), sum(counts.values()),
                 args.out, time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
