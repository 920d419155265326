"""Decode speech to words with an ESPnet ASR model (espnet2.bin.asr_inference.Speech2Text).

The model is an ESPnet ASR experiment dir (``config.yaml`` + weights, as ``avdm.bin.train_asr``
writes), a packed ESPnet model (``.zip``/``.tar.gz`` from ``espnet2.bin.pack asr``), or a
``config.yaml`` path whose directory holds the weights.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import yaml

logger = logging.getLogger(__name__)

DEFAULT_DECODE = {"beam_size": 4, "ctc_weight": 1.0, "lm_weight": 0.0, "penalty": 0.0, "nbest": 1}
_ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


@dataclass
class ASRModel:
    config: Path
    weights: Path
    bpemodel: Optional[Path] = None


def _is_archive(p: Path) -> bool:
    return p.is_file() and p.name.endswith(_ARCHIVE_SUFFIXES)


def unpacked_dir(archive: Path) -> Path:
    name = archive.name
    for s in _ARCHIVE_SUFFIXES:
        if name.endswith(s):
            name = name[: -len(s)]
            break
    return archive.parent / f"{name}_unpacked"


def resolve_model(model, unpack_to: Optional[Path] = None) -> ASRModel:
    """Config, weights and sentencepiece model of ``model`` (dir, config.yaml or packed archive).

    A packed model is unpacked once into ``unpack_to`` (default ``<archive>_unpacked`` beside it);
    its config paths are rewritten to the unpacked files by espnet's ``unpack``.
    """
    from avdm.asr.train import model_file

    model = Path(model)
    if not model.exists():
        raise FileNotFoundError(f"ASR model {model} not found: train one with `python -m avdm.bin.train_asr` "
                                "(recipe: --skip_asr false) or pass a packed ESPnet ASR model")
    if _is_archive(model):
        from espnet2.main_funcs.pack_funcs import unpack

        out = (Path(unpack_to) if unpack_to else unpacked_dir(model)).resolve()
        files = unpack(model, out)
        if "asr_train_config" not in files or "asr_model_file" not in files:
            raise ValueError(f"{model}: not a packed ESPnet ASR model (meta.yaml lists {sorted(files)})")
        config, weights = Path(files["asr_train_config"]), Path(files["asr_model_file"])
    elif model.is_dir():
        config, weights = model / "config.yaml", model_file(model)
    else:
        config, weights = model, model_file(model.parent)
    if not config.is_file():
        raise FileNotFoundError(f"{config}: no ASR config (expected an ESPnet ASR experiment dir)")
    with open(config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    bpe = conf.get("bpemodel")
    bpemodel = None
    if bpe and not Path(bpe).is_file():
        # the config names the file relative to where training ran; look beside the config too
        for cand in (config.parent / bpe, config.parent / "bpe" / Path(bpe).name, config.parent / Path(bpe).name):
            if cand.is_file():
                bpemodel = cand
                break
        else:
            raise FileNotFoundError(f"{config}: sentencepiece model {bpe} not found")
    return ASRModel(config, weights, bpemodel)


@contextlib.contextmanager
def _quiet_root(level=logging.WARNING):
    """espnet's beam search logs every hypothesis through the root logger at INFO."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(max(level, old))
    try:
        yield
    finally:
        root.setLevel(old)


class Transcriber:
    """Speech2Text around one model; ``transcribe(x)`` gives the best hypothesis text."""

    def __init__(self, model, decode_conf: Optional[Dict] = None, device: str = "cpu"):
        from avdm.logging_setup import quiet_offline_noise

        quiet_offline_noise(g2p=True)
        from espnet2.bin.asr_inference import Speech2Text

        self.model = model if isinstance(model, ASRModel) else resolve_model(model)
        conf = dict(DEFAULT_DECODE)
        conf.update(decode_conf or {})
        kwargs = dict(asr_train_config=str(self.model.config), asr_model_file=str(self.model.weights),
                      device=device, **conf)
        if self.model.bpemodel is not None:
            kwargs["bpemodel"] = str(self.model.bpemodel)
        with _quiet_root():
            self.s2t = Speech2Text(**kwargs)
        logger.info("ASR: %s (%s), decoding %s", self.model.config.parent, self.model.weights.name, conf)

    def transcribe(self, x: np.ndarray) -> str:
        import torch

        with _quiet_root(), torch.no_grad():
            results = self.s2t(torch.as_tensor(np.asarray(x, np.float32)))
        return results[0][0] if results and results[0][0] else ""


def load_decode_conf(path) -> Dict:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    allowed = {"beam_size", "ctc_weight", "lm_weight", "penalty", "nbest", "maxlenratio", "minlenratio",
               "normalize_length", "time_sync"}
    unknown = sorted(set(conf) - allowed)
    if unknown:
        raise ValueError(f"{path}: unknown ASR decoding option(s) {unknown}; accepted: {sorted(allowed)}")
    return conf
