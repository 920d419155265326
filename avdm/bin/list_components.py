"""``avdm-list``: every registry with its keys and a one-line description of each."""
from __future__ import annotations

import argparse
import sys

from avdm.registry import load_all


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="avdm-list", description=__doc__)
    p.add_argument("family", nargs="?", help="show only this registry (e.g. score_model)")
    args = p.parse_args(argv)
    from avdm.logging_setup import quiet_offline_noise

    quiet_offline_noise()
    registries = load_all()
    if args.family and args.family not in registries:
        p.error(f"unknown registry '{args.family}'; known: {', '.join(sorted(registries))}")
    for name, reg in registries.items():
        if args.family and name != args.family:
            continue
        print(f"{name}: {reg.description}")
        if not len(reg):
            print("    (no components registered)")
        width = max((len(k) for k in reg.keys()), default=0)
        for key, _, desc in reg.items():
            print(f"    {key.ljust(width)}  {desc}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
