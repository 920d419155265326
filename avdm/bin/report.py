"""Stage 6: RESULTS.md (tables per job and test condition, figures) from the scoring dirs.

    python -m avdm.bin.report --exp_dir exp [--dump_dir dump/raw] [--data_dir data] --out RESULTS.md
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from avdm.logging_setup import setup_logging
from avdm.report import build_report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp_dir", default="exp")
    p.add_argument("--dump_dir", default="dump/raw")
    p.add_argument("--data_dir", default="data")
    p.add_argument("--out", default="RESULTS.md")
    p.add_argument("--command", default="./run.sh --stage 5 --stop_stage 6",
                   help="the command printed as the way to regenerate the report")
    p.add_argument("--run_command", default="./run.sh",
                   help="the recipe command each table names as the way to reproduce it from scratch")
    p.add_argument("--no_figures", action="store_true")
    args = p.parse_args(argv)
    setup_logging()
    try:
        build_report(Path(args.exp_dir), Path(args.out), args.command, figures=not args.no_figures,
                     dump_dir=Path(args.dump_dir), run_command=args.run_command)
    except (FileNotFoundError, ValueError) as e:  # ValueError: a set without its condition (avdm.data.condition)
        logging.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
