"""The inference jobs, defined once: which model serves each, what it decodes, its decode config,
where its outputs go.  Stage 4 (and the recipe driver through ``avdm.bin.model_jobs``), stage 5,
the report and the command-line tools read them from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

from avdm.inference.model_io import decode_config_file_name


@dataclass(frozen=True)
class InferenceJob:
    name: str
    mode: str            # the model mode that serves it (model_conf.mode: prior | conditional)
    noisy_input: bool    # decodes the noisy condition sets; else the lips of the base test sets alone
    title: str           # its heading in RESULTS.md

    @property
    def decode_config(self) -> str:
        """The file name of its decode config (``conf/<name>`` in a recipe, beside a decoded model)."""
        return decode_config_file_name(self.name)


INFERENCE_JOBS = (
    InferenceJob("generate", "prior", False, "Lip-to-speech generation (generate)"),
    InferenceJob("enhance", "conditional", True, "Supervised AV enhancement (enhance)"),
    InferenceJob("enhance_unsup", "prior", True, "Unsupervised AV enhancement (enhance_unsup)"),
)
JOBS = tuple(j.name for j in INFERENCE_JOBS)
MODES = ("prior", "conditional")


def job(name: str) -> InferenceJob:
    for j in INFERENCE_JOBS:
        if j.name == name:
            return j
    raise ValueError(f"unknown job '{name}'; known: {', '.join(JOBS)}")


def model_mode(config: dict) -> str:
    """The mode of a model's training config (``model_conf.mode``, default prior)."""
    mode = (config.get("model_conf") or {}).get("mode", config.get("mode", "prior"))
    if mode not in MODES:
        raise ValueError(f"unknown model mode {mode!r}; known: {', '.join(MODES)}")
    return mode


def is_audio_only(config: dict) -> bool:
    """An audio-only twin (``visual_encoder: none``) runs the same jobs: its "generation" is unconditional
    sampling, the baseline that shows what the lips add."""
    enc = config.get("visual_encoder")
    return enc is None or str(enc).lower() in ("none", "null")


def jobs_for(config: dict) -> List[str]:
    """The jobs a model of this training config serves: a prior generates and enhances without
    supervision, a conditional model enhances."""
    mode = model_mode(config)
    return [j.name for j in INFERENCE_JOBS if j.mode == mode]


def enhancement_job(mode: str) -> str:
    """The job that enhances noisy speech with a model of ``mode``."""
    return next(j.name for j in INFERENCE_JOBS if j.mode == mode and j.noisy_input)


def output_dir_name(job_name: str, set_name: str) -> str:
    """The dir stage 4 writes the outputs of ``job_name`` on ``set_name`` into (under exp/<tag>/)."""
    return f"{job_name}_{set_name}"


def parse_output_dir_name(name: str) -> Optional[Tuple[str, str]]:
    """``(job, set)`` of a stage-4 output dir name (see :func:`output_dir_name`); None for another dir."""
    for j in sorted(JOBS, key=len, reverse=True):  # enhance_unsup_<set> is not enhance on unsup_<set>
        if name.startswith(j + "_") and len(name) > len(j) + 1:
            return j, name[len(j) + 1:]
    return None
