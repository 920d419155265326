"""Which decode config a model decodes with, for the command-line tools.

In order: an explicit file (``--inference_config``), the config stage 4 left beside the model
(``decode_<job>.yaml``, carried by ``avdm-pack``), else the shipped default. The shipped defaults
are ``avdm/conf/decode_<job>.yaml``, the very files the recipe decodes with (``conf/decode_<job>.yaml``
links to them), so there is one source of decode defaults.
"""
from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import yaml

from avdm.seeding import utt_seed  # noqa: F401  (re-exported: the seed of stage 4, the CLIs, the benchmark)

logger = logging.getLogger(__name__)


def shipped_decode_config_path(job: str) -> Path:
    """The decode config shipped with the package for ``job`` (generate, enhance, enhance_unsup)."""
    from avdm.inference.job_list import job as job_of

    path = Path(str(resources.files("avdm") / "conf" / job_of(job).decode_config))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the shipped decode config of '{job}' is missing (a broken install?)")
    return path


def resolve_decode_config(job: str, config_path=None, model_path=None):
    """``(config dict, where it came from)`` for ``job``: ``config_path`` if given, else the config
    stored with the model at ``model_path``, else the shipped default."""
    from avdm.inference.model_io import model_decode_config

    if config_path:
        if not Path(config_path).is_file():
            raise FileNotFoundError(f"{config_path}: no such decode config (--inference_config)")
        return yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}, str(config_path)
    if model_path is not None and (stored := model_decode_config(model_path, job)) is not None:
        return stored, f"the decode config stored with {model_path}"
    path = shipped_decode_config_path(job)
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}, f"the shipped default {path}"


def decoder_for(model, job: str, config_path=None, model_path=None):
    """The :class:`~avdm.inference.jobs.Decoder` of ``job`` with the config
    :func:`resolve_decode_config` picks (logged, with its source)."""
    from avdm.inference.jobs import DecodeConfig, Decoder

    conf, source = resolve_decode_config(job, config_path, model_path)
    logger.info("%s: %s %s (%s)", job, conf.get("sampler"), conf.get("sampler_conf", {}), source)
    return Decoder(model, job, DecodeConfig.from_dict(conf))


def load_decode_config(path) -> dict:
    """A decode config file as a dict (an empty file is an empty config)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}
