"""Train the ASR model used for WER (a small CTC model, espnet2 ASRTask; tokens per the config's
``token_type``: bpe, word or char).

    python -m avdm.bin.train_asr --dump_dir dump/raw --train_set train --valid_set dev --exp_dir exp/asr
        [--config conf/asr_ctc_lite.yaml] [--ngpu N] [--vocab_size 100] [extra espnet2 arguments ...]

Reads dump/raw/<set>/{wav.scp,text,utt2num_samples} (stage 2); rerunning resumes.  Stage 5 decodes
with it through ``--asr_model exp/asr``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from avdm.launch import restore_sigint
from avdm.logging_setup import setup_logging

logger = logging.getLogger("train_asr")


def main(argv=None) -> int:
    restore_sigint()  # stage 3 starts it in the background of avdm.sh
    p = argparse.ArgumentParser(prog="train_asr", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dump_dir", default="dump/raw")
    p.add_argument("--train_set", default="train")
    p.add_argument("--valid_set", default="dev")
    p.add_argument("--exp_dir", default="exp/asr")
    p.add_argument("--config", default="conf/asr_ctc_lite.yaml")
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--vocab_size", type=int, default=100,
                   help="sentencepiece vocabulary for token_type bpe (an upper bound: a small corpus gives fewer pieces)")
    args, extra = p.parse_known_args(argv)
    setup_logging()
    from avdm.asr.train import train_asr

    try:
        model = train_asr(Path(args.dump_dir), args.train_set, args.valid_set, Path(args.exp_dir),
                          Path(args.config), args.ngpu, args.vocab_size, extra)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        logger.error("%s", e)
        return 1
    logger.info("ASR model: %s", model)
    return 0


if __name__ == "__main__":
    from avdm.launch import die_with_driver

    die_with_driver()  # a driver killed with -9 leaves no stage behind (nor its jobs)
    sys.exit(main())
