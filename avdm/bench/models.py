"""Models for the benchmarks: a trained experiment dir (or packed zip), or an untrained model built
from a training config (enough for timing: the cost of a network evaluation does not depend on
the weights)."""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import torch


def config_args(config_yaml):
    """The full espnet2 argument namespace of ``config_yaml`` (defaults filled in by AVDMTask's parser)."""
    from avdm.task import AVDMTask

    parser = AVDMTask.get_parser()
    return parser.parse_args(["--config", str(config_yaml)])


def untrained_model(config_yaml, device: str = "cpu") -> torch.nn.Module:
    """A randomly initialised ``AVDiffusionModel`` of ``config_yaml`` in eval mode."""
    from avdm.task import AVDMTask

    model = AVDMTask.build_model(config_args(config_yaml)).to(device)
    model.eval()
    return model


def load_any(path, device: str = "cpu") -> Tuple[torch.nn.Module, bool]:
    """``(model, trained)``: a ``.yaml`` training config gives an untrained model, anything else
    goes through :func:`avdm.inference.model_io.load_model`."""
    p = Path(path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return untrained_model(p, device), False
    from avdm.inference.model_io import load_model

    model, _ = load_model(p, device)
    return model, True


def load_with_decode(model_path, decode_path, device: str = "cpu") -> Tuple[torch.nn.Module, bool, dict]:
    """``(model, trained, decode config)`` of a benchmark run: a missing decode config is named
    before the (slow) model load; the model as :func:`load_any` gives it."""
    from avdm.fileio import require_files
    from avdm.inference.decode_config import load_decode_config

    require_files(decode_path)
    model, trained = load_any(model_path, device)
    return model, trained, load_decode_config(decode_path)


def write_untrained_exp(config_yaml, exp_dir) -> Path:
    """An experiment dir (``config.yaml`` + ``1epoch.pth``) holding an untrained model of
    ``config_yaml``, loadable by ``load_model`` (for tests and smoke runs of the benchmarks)."""
    from espnet2.utils.yaml_no_alias_safe_dump import yaml_no_alias_safe_dump

    from avdm.task import AVDMTask

    exp = Path(exp_dir)
    exp.mkdir(parents=True, exist_ok=True)
    args = config_args(config_yaml)
    model = AVDMTask.build_model(args)
    with open(exp / "config.yaml", "w", encoding="utf-8") as f:
        yaml_no_alias_safe_dump(vars(args), f, indent=4, sort_keys=False)
    torch.save(model.state_dict(), exp / "1epoch.pth")
    return exp
