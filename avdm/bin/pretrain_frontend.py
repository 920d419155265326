"""Stage 3, first step: pretrain the lip front-end (lips -> speech envelope) and probe it.

    python -m avdm.bin.pretrain_frontend --config conf/frontend_lip_envelope.yaml --dump_dir dump/raw \
        --train_set train --probe_sets "dev test" --exp_dir exp/lip_frontend [--steps N] [--restart false]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml

from avdm.logging_setup import setup_logging


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pretrain_frontend", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--dump_dir", default="dump/raw")
    p.add_argument("--train_set", default="train")
    p.add_argument("--probe_sets", default="dev test", help="sets (held-out speakers) to probe the envelope on")
    p.add_argument("--exp_dir", default="exp/lip_frontend")
    p.add_argument("--steps", type=int, default=None, help="override the config's training steps")
    p.add_argument("--restart", choices=("true", "false"), default="false",
                   help="pretrain again over a front-end made with another config")
    args = p.parse_args(argv)
    setup_logging()
    from avdm.frontend.run import FrontendConfigChanged, parse_sets, run

    try:
        with open(args.config, encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
        if args.steps is not None:
            config["steps"] = args.steps
        dump = Path(args.dump_dir)
        results = run(config, dump / args.train_set, parse_sets(args.probe_sets.split(), dump), Path(args.exp_dir),
                      restart=args.restart == "true")
    except (FileNotFoundError, ValueError, FrontendConfigChanged) as e:
        logging.error("%s", e)
        return 1
    for name in args.probe_sets.split():
        r = results.get(name)
        if r:
            print(f"lip front-end probe {name}: broadband r {r['broadband_r']:.3f}, band r {r['band_r']:.3f} "
                  f"({r['utterances']} utterances)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
