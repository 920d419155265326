"""Pretrain the lip front-end from a config and write it with its probe (stage 3 of the recipe).

Writes ``<exp_dir>/frontend.pth`` (the encoder's state, what ``visual_encoder_conf.pretrained``
names), ``<exp_dir>/config.yaml`` (the config it was trained with) and ``<exp_dir>/probe.json``
(the envelope correlation on every probe set).  A finished front-end with the same config is kept;
one with another config is refused unless ``restart`` (the models trained on it would not say which).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, Sequence

import torch
import yaml

from avdm.fileio import atomic_open, atomic_path, require_files
from avdm.registry import VISUAL_ENCODERS, load_all

logger = logging.getLogger(__name__)

TRAIN_KEYS = ("steps", "batch_size", "segment_frames", "lr", "lip_crop", "flip_prob", "seed")


class FrontendConfigChanged(RuntimeError):
    """The exp dir holds a front-end pretrained with another config."""


def run(config: Dict, train_dir: Path, probe_dirs: Dict[str, Path], exp_dir: Path, restart: bool = False) -> Dict:
    """Pretrain (unless already done with this config) and probe; returns the probe results."""
    from avdm.frontend.pretrain import load_examples, pretrain, probe

    exp_dir = Path(exp_dir)
    weights, conf_file, probe_file = exp_dir / "frontend.pth", exp_dir / "config.yaml", exp_dir / "probe.json"
    if weights.is_file() and probe_file.is_file() and conf_file.is_file():
        old = yaml.safe_load(conf_file.read_text())
        if old == config:
            logger.info("lip front-end: %s already pretrained with this config", weights)
            return json.loads(probe_file.read_text())
        if not restart:
            raise FrontendConfigChanged(
                f"{exp_dir} holds a front-end pretrained with another config ({conf_file}); move it away or "
                "pass --restart true to pretrain again (models already trained on it keep the old one)")
    require_files(train_dir / "wav.scp", train_dir / "lip.scp", train_dir / "lip_stats.json", stage_hint="stage 2")
    unknown = sorted(set(config) - set(TRAIN_KEYS) - {"visual_encoder", "visual_encoder_conf"})
    if unknown:
        raise ValueError(f"unknown front-end config key(s): {', '.join(unknown)}; known: "
                         f"visual_encoder, visual_encoder_conf, {', '.join(TRAIN_KEYS)}")
    load_all()
    enc_conf = dict(config.get("visual_encoder_conf") or {})
    enc_conf.pop("pretrained", None)
    enc_conf["freeze"] = False
    torch.manual_seed(int(config.get("seed", 0)))  # the initial weights too: the same config gives the same front-end
    encoder = VISUAL_ENCODERS.build(config.get("visual_encoder", "lip_envelope"), enc_conf)
    if not hasattr(encoder, "envelope"):
        raise ValueError(f"visual_encoder {config.get('visual_encoder')} has no envelope head to pretrain "
                         "(use lip_envelope)")
    stats = json.loads((train_dir / "lip_stats.json").read_text())
    train_conf = {k: config[k] for k in TRAIN_KEYS if k in config}
    examples = load_examples(train_dir, encoder.n_bands)
    logger.info("lip front-end: pretraining on %d utterances of %s", len(examples), train_dir)
    history = pretrain(encoder, examples, stats["mean"], stats["std"], **train_conf)
    results = {"train_loss": history[-1]["loss"], "train_seconds": history[-1]["seconds"],
               "steps": train_conf.get("steps", 400)}
    for name, d in probe_dirs.items():
        results[name] = probe(encoder, load_examples(d, encoder.n_bands), stats["mean"], stats["std"],
                              train_conf.get("lip_crop", 88))
        logger.info("lip front-end probe on %s: %s", name, results[name])
    exp_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights) as tmp:
        torch.save({"state_dict": encoder.state_dict(), "config": config}, tmp)
    with atomic_open(probe_file) as f:
        json.dump(results, f, indent=1, sort_keys=True)
    with atomic_open(conf_file) as f:  # last: a config.yaml means the front-end is complete
        yaml.safe_dump(config, f, sort_keys=True)
    return results


def parse_sets(names: Sequence[str], dump_dir: Path) -> Dict[str, Path]:
    return {n: Path(dump_dir) / n for n in names if n}
