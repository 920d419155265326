"""Loading a trained model from an experiment dir or a packed model (``avdm-pack``)."""
from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path
from typing import Optional, Tuple

logger = logging.getLogger(__name__)


class ModelNotFoundError(FileNotFoundError):
    """No usable model at the given path (the message says what is missing)."""


def _weights_in(exp: Path) -> Path:
    try:
        return inference_model_file(exp)
    except FileNotFoundError as e:
        raise ModelNotFoundError(str(e)) from None


def load_model(path, device: str = "cpu") -> Tuple["torch.nn.Module", dict]:
    """An ``AVDiffusionModel`` in eval mode (EMA weights used by its inference API) and its config.

    A packed model is read from the zip directly (nothing is unpacked to disk), its weights with
    ``torch.load(weights_only=True)``: tensors only, no code runs from the file.
    """
    import torch
    import yaml

    from avdm.model_builder import build_av_model

    path = Path(path)
    if not path.exists():
        raise ModelNotFoundError(f"{path}: no such model (an exp dir from stage 3 or a .zip from avdm-pack)")
    try:
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise ModelNotFoundError(f"{path}: not a packed model (expected a zip made by avdm-pack)")
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                for need in ("config.yaml", "model.pth"):
                    if need not in names:
                        raise ModelNotFoundError(f"{path}: packed model lacks {need}")
                config = yaml.safe_load(z.read("config.yaml").decode("utf-8"))
                state = torch.load(io.BytesIO(z.read("model.pth")), map_location=device, weights_only=True)
            config_file = weights = f"{path}:model.pth"
        else:
            config_file = path / "config.yaml"
            if not config_file.is_file():
                raise ModelNotFoundError(f"{config_file}: missing (run stage 3 first)")
            weights = _weights_in(path)
            with open(config_file, encoding="utf-8") as f:
                config = yaml.safe_load(f)
            state = torch.load(weights, map_location=device, weights_only=True)
    except ModelNotFoundError:
        raise
    except Exception as e:  # a corrupt zip or weights file: say which and why, not a traceback
        raise ModelNotFoundError(f"{path}: unreadable model ({type(e).__name__}: {' '.join(str(e).split())[:300]}); "
                                 "copy it again, or pack it again with avdm-pack") from None
    # built as AVDMTask.build_model does, without importing espnet2's task (seconds per process)
    model = build_av_model(config).to(device)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelNotFoundError(f"{weights}: does not match the model of {config_file}: {e}") from None
    model.eval()
    logger.info("loaded %s (%s mode%s) from %s", type(model).__name__, model.mode,
                ", audio-only" if model.audio_only else "", weights)
    return model, config


CORPUS_FILE = "corpus"  # one line naming the training corpus: stage 0 -> stage 2 -> stage 3 -> avdm-pack
MINIGRID = "mini-GRID"  # how egs/grid/local/data.sh names the synthetic corpus (the line's start)


def model_corpus(path) -> Optional[str]:
    """The corpus a model (exp dir or packed zip) was trained on, or None when not recorded."""
    path = Path(path)
    if (path / CORPUS_FILE).is_file():
        return (path / CORPUS_FILE).read_text(encoding="utf-8").strip() or None
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if CORPUS_FILE in z.namelist():
                return z.read(CORPUS_FILE).decode("utf-8").strip() or None
    return None


def announce_corpus(path) -> None:
    """Log what ``path`` was trained on; warn when it is the synthetic mini-GRID of the demo."""
    corpus = model_corpus(path)
    logger.info("model %s trained on: %s", path, corpus or "(not recorded)")
    if corpus and corpus.startswith(MINIGRID):
        logger.warning("this model was trained on the synthetic mini-GRID, a demo: on real video it makes speech "
                       "worse, not better.  Models for real video come from training on a real corpus "
                       "(egs/grid with GRID=/path/to/GRID)")


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


def inference_model_file(exp: Path) -> Path:
    """The weights inference uses: the n-best average if espnet2 made one, else the best, else the last."""
    for name in ("valid.loss.ave.pth", "valid.loss.best.pth", "latest.pth"):
        if (exp / name).exists():
            return exp / name
    epochs = sorted(exp.glob("*epoch.pth"), key=lambda p: int(p.name.split("epoch")[0]))
    if epochs:
        return epochs[-1]
    raise FileNotFoundError(f"no model weights in {exp}: run stage 3 first")
