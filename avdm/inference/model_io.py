"""Loading a trained model from an experiment dir or a packed model (``avdm-pack``)."""
from __future__ import annotations

import logging
import tempfile
import zipfile
from pathlib import Path
from typing import Tuple

logger = logging.getLogger(__name__)


class ModelNotFoundError(FileNotFoundError):
    """No usable model at the given path (the message says what is missing)."""


def _weights_in(exp: Path) -> Path:
    from avdm.bin.stage_train import inference_model_file

    try:
        return inference_model_file(exp)
    except FileNotFoundError as e:
        raise ModelNotFoundError(str(e)) from None


def load_model(path, device: str = "cpu") -> Tuple["torch.nn.Module", dict]:
    """An ``AVDiffusionModel`` in eval mode (EMA weights used by its inference API) and its config."""
    import torch
    import yaml

    from avdm.model_builder import build_av_model

    path = Path(path)
    if not path.exists():
        raise ModelNotFoundError(f"{path}: no such model (an exp dir from stage 3 or a .zip from avdm-pack)")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise ModelNotFoundError(f"{path}: not a packed model (expected a zip made by avdm-pack)")
        tmp = Path(tempfile.mkdtemp(prefix="avdm_model_"))
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            for need in ("config.yaml", "model.pth"):
                if need not in names:
                    raise ModelNotFoundError(f"{path}: packed model lacks {need}")
            z.extractall(tmp)
        config_file, weights = tmp / "config.yaml", tmp / "model.pth"
    else:
        config_file = path / "config.yaml"
        if not config_file.is_file():
            raise ModelNotFoundError(f"{config_file}: missing (run stage 3 first)")
        weights = _weights_in(path)
    with open(config_file, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    # built as AVDMTask.build_model does, without importing espnet2's task (seconds per process)
    model = build_av_model(config).to(device)
    state = torch.load(weights, map_location=device, weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelNotFoundError(f"{weights}: does not match the model of {config_file}: {e}") from None
    model.eval()
    logger.info("loaded %s (%s mode%s) from %s", type(model).__name__, model.mode,
                ", audio-only" if model.audio_only else "", weights)
    return model, config


def decode_config_file_name(job: str) -> str:
    """Where stage 4 leaves, beside a model, the decode config it used for ``job``."""
    return f"decode_{job}.yaml"


def model_decode_config(path, job: str):
    """The decode config stored with a model (exp dir or packed zip) for ``job``, or None.

    Stage 4 writes ``exp/<tag>/decode_<job>.yaml`` (the recipe's choice, tuned on dev) and
    ``avdm-pack`` carries it into the zip, so the command-line tools decode as the recipe did.
    """
    import yaml

    path = Path(path)
    name = decode_config_file_name(job)
    text = None
    if (path / name).is_file():
        text = (path / name).read_text(encoding="utf-8")
    elif path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if name in z.namelist():
                text = z.read(name).decode("utf-8")
    return None if text is None else yaml.safe_load(text) or {}
