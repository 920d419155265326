"""What every benchmark file records: the command, the machine, and the training budget of a model."""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import shlex
from pathlib import Path
from typing import Optional, Sequence

from avdm import VIDEO_FPS
from avdm.fileio import atomic_open

_EPOCH_TRAIN = re.compile(r"(\d+)epoch results: \[train\] (.*?)(?:, \[valid\]|$)")


def header(name: str, argv: Sequence[str], threads: Optional[int] = None) -> dict:
    """The common head of a benchmark record: which benchmark, the command that made it, where, when."""
    return {"benchmark": name, "command": "avdm-bench " + shlex.join(list(argv)), "cwd": os.getcwd(),
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(threads)}


def machine_info(threads: Optional[int] = None) -> dict:
    import torch

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "requested_threads": threads, "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _clean(obj):
    """JSON-safe: NaN/inf become null, tuples lists, numpy scalars Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(out_dir, name: str, data: dict) -> Path:
    """``<out_dir>/<name>.json``, written atomically."""
    path = Path(out_dir) / f"{name}.json"
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(_clean(data), f, indent=1, allow_nan=False)
        f.write("\n")
    return path


def read_json(out_dir, name: str) -> Optional[dict]:
    path = Path(out_dir) / f"{name}.json"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


_DURATION = re.compile(r"(?:^|, )time=(.*?)(?=, [a-z_0-9]+=|$)")
_UNIT_SECONDS = {"hour": 3600.0, "minute": 60.0, "second": 1.0}


def duration_seconds(fields: str) -> Optional[float]:
    """The ``time=`` of an espnet2 epoch summary in seconds: it is written for people
    ("13.02 seconds", "1 minute and 32.84 seconds", "1 hour, 2 minutes and 3 seconds"); None if absent."""
    m = _DURATION.search(fields)
    if not m:
        return None
    parts = re.findall(r"([\d.]+) (hour|minute|second)s?", m.group(1))
    return sum(float(v) * _UNIT_SECONDS[u] for v, u in parts) if parts else None


def parse_train_log(log: Path) -> dict:
    """Per-epoch training speed from an espnet2 ``train.log`` (``[train] ... train_time=<s/step>``) and,
    when every epoch logs it, the training seconds of all epochs (``time=<s> seconds``; validation apart)."""
    epochs, epoch_seconds = {}, {}
    if not Path(log).is_file():
        return {}
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _EPOCH_TRAIN.search(line)
            if not m:
                continue
            fields = dict(kv.split("=", 1) for kv in m.group(2).split(", ") if "=" in kv)
            try:
                epochs[int(m.group(1))] = float(fields["train_time"])
            except (KeyError, ValueError):
                continue
            seconds = duration_seconds(m.group(2))
            if seconds is not None:
                epoch_seconds[int(m.group(1))] = seconds
    if not epochs:
        return {}
    times = [epochs[e] for e in sorted(epochs)]
    out = {"epochs_logged": len(times), "seconds_per_step": sum(times) / len(times),
           "steps_per_s": len(times) / sum(times)}
    if len(epoch_seconds) == len(epochs):
        out["train_seconds"] = sum(epoch_seconds.values())
    return out


def budget_of(model_dir) -> dict:
    """The training budget of an experiment dir, from the config espnet2 wrote there (it includes
    any command-line override) and the speed logged in its ``train.log``."""
    import yaml

    model_dir = Path(model_dir)
    config = model_dir / "config.yaml"
    if not config.is_file():
        return {"model_dir": str(model_dir), "error": f"{config}: missing"}
    with open(config, encoding="utf-8") as f:
        cfg = yaml.safe_load(f) or {}
    pre = cfg.get("preprocessor_conf") or {}
    if pre.get("segment_frames"):
        segment_s = pre["segment_frames"] / VIDEO_FPS
    elif pre.get("speech_segment"):
        segment_s = pre["speech_segment"] / 16000  # espnet2's EnhPreprocessor (samples at 16 kHz)
    else:
        segment_s = None  # whole utterances
    epochs, iters, batch = cfg.get("max_epoch"), cfg.get("num_iters_per_epoch"), cfg.get("batch_size")
    steps = epochs * iters if epochs and iters else None
    out = {"model_dir": str(model_dir), "max_epoch": epochs, "num_iters_per_epoch": iters, "batch_size": batch,
           "segment_seconds": segment_s, "steps": steps, "optim": cfg.get("optim"),
           "lr": (cfg.get("optim_conf") or {}).get("lr"), "ngpu": cfg.get("ngpu")}
    if steps and batch and segment_s:
        out["audio_hours_seen"] = steps * batch * segment_s / 3600
    speed = parse_train_log(model_dir / "train.log")
    if speed:
        out["train_speed"] = speed
        if steps:
            out["train_seconds_estimate"] = steps * speed["seconds_per_step"]
    return out


def same_budget(a: dict, b: dict) -> bool:
    keys = ("max_epoch", "num_iters_per_epoch", "batch_size", "segment_seconds", "optim", "lr")
    return all(a.get(k) == b.get(k) for k in keys)
