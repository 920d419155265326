"""Run N parallel jobs from shell glue, Kaldi ``run.pl`` style.

    python -m avdm.bin.launch [--backend local|slurm] [--max_parallel K] [--gpu G]
        [--slurm_opts "..."] [JOB=1:N] LOG -- CMD [ARGS...]

``JOB`` in LOG and in the command is replaced by the job number.  A single CMD argument is run
by bash (so pipes work); several are run as an argument list.  Exit status 1 if any job failed,
after printing the tail of its log.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys

from avdm.launch import BACKENDS, JobsFailed, run_jobs
from avdm.logging_setup import setup_logging


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    sep = argv.index("--")
    head, cmd = argv[:sep], argv[sep + 1:]
    p = argparse.ArgumentParser(prog="avdm.bin.launch", description="run N parallel jobs")
    p.add_argument("--backend", choices=BACKENDS, default=None)
    p.add_argument("--max_parallel", type=int, default=None)
    p.add_argument("--gpu", type=int, default=0)
    p.add_argument("--slurm_opts", default=None)
    p.add_argument("positional", nargs="+", help="[JOB=1:N] LOG")
    args = p.parse_args(head)
    setup_logging(1)
    nj = 1
    pos = args.positional
    if len(pos) == 2:
        m = re.fullmatch(r"JOB=1:(\d+)", pos[0])
        if not m:
            p.error(f"expected JOB=1:N, got {pos[0]!r}")
        nj = int(m.group(1))
        log = pos[1]
    elif len(pos) == 1:
        log = pos[0]
    else:
        p.error("expected [JOB=1:N] LOG before --")
    if not cmd:
        p.error("no command after --")
    try:
        run_jobs(cmd, nj, log, backend=args.backend, max_parallel=args.max_parallel,
                 slurm_opts=args.slurm_opts, gpus=args.gpu)
    except JobsFailed as e:
        logging.error("%s", e)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
