"""The inference jobs of the recipe driver (stages 4 and 5), from avdm.inference.job_list.

    python -m avdm.bin.model_jobs exp/<tag>/config.yaml [--jobs "generate enhance"|auto]
        one line per job: "<job> <base|condition> <decode config file name>"; base: it decodes the
        test sets themselves (lips alone), condition: their noisy condition sets.  auto (default):
        the jobs the model serves (a prior: generate and enhance_unsup; a conditional model: enhance)
    python -m avdm.bin.model_jobs --outputs exp/<tag>
        "<set> <dir>" for each stage-4 output dir of exp/<tag> that has a wav.scp
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from avdm.inference.job_list import job, jobs_for, parse_output_dir_name


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="model_jobs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="a model's config.yaml")
    p.add_argument("--jobs", default="auto")
    p.add_argument("--outputs", default=None, help="list the stage-4 outputs of this exp dir instead")
    args = p.parse_args(argv)
    if args.outputs:
        exp = Path(args.outputs)
        for d in sorted(exp.iterdir()) if exp.is_dir() else []:
            parsed = parse_output_dir_name(d.name)
            if parsed and (d / "wav.scp").is_file():
                print(parsed[1], d)
        return 0
    if not args.config:
        p.error("give a model's config.yaml (or --outputs DIR)")
    try:
        with open(args.config, encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
        names = jobs_for(config) if args.jobs == "auto" else args.jobs.split()
        for j in map(job, names):
            print(j.name, "condition" if j.noisy_input else "base", j.decode_config)
    except (OSError, ValueError, yaml.YAMLError) as e:
        print(f"model_jobs: {args.config}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
