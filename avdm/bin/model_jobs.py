"""Print the inference jobs a trained model serves (used by stage 4 with --inference_jobs auto).

    python -m avdm.bin.model_jobs exp/<tag>/config.yaml

A ``prior`` model (lip-conditioned clean-speech prior) serves lip-to-speech generation and
unsupervised enhancement; a ``conditional`` model serves supervised enhancement.  Audio-only twins
(``visual_encoder: none``) run the same jobs: their "generation" is unconditional sampling, the
baseline that shows what the lips add.
"""
from __future__ import annotations

import sys

import yaml

JOBS = {"prior": ["generate", "enhance_unsup"], "conditional": ["enhance"]}


def model_mode(config: dict) -> str:
    mode = (config.get("model_conf") or {}).get("mode", config.get("mode", "prior"))
    if mode not in JOBS:
        raise ValueError(f"unknown model mode {mode!r}; known: {', '.join(JOBS)}")
    return mode


def is_audio_only(config: dict) -> bool:
    enc = config.get("visual_encoder")
    return enc is None or str(enc).lower() in ("none", "null")


def jobs_for(config: dict):
    return list(JOBS[model_mode(config)])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
        print(" ".join(jobs_for(config)))
    except (OSError, ValueError, yaml.YAMLError) as e:
        print(f"model_jobs: {argv[0]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
