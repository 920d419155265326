"""Lock a directory for a shell script (the recipe driver locks its exp dir with its own pid).

    python -m avdm.bin.dir_lock acquire|release DIR --pid PID

Exit status 1, with the owner named, when another live run holds DIR.
"""
from __future__ import annotations

import argparse
import logging
import sys

from avdm.dir_lock import DirLockedError, acquire, release
from avdm.logging_setup import setup_logging


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="avdm.bin.dir_lock", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("acquire", "release"))
    p.add_argument("directory")
    p.add_argument("--pid", type=int, required=True, help="the process that owns the lock")
    args = p.parse_args(argv)
    setup_logging()
    try:
        (acquire if args.action == "acquire" else release)(args.directory, args.pid)
    except DirLockedError as e:
        logging.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
