"""The peer's training budget at equal wall-clock (``avdm-bench peer --peer_budget wall_clock``).

avdm's time is what its compared model cost to train: the seconds of its training epochs
(espnet2's ``[train] ... time=<s> seconds`` per epoch; validation not counted) plus the
pretraining of the lip front-end it loads (``probe.json: train_seconds`` beside ``frontend.pth``).
The peer gets as many of its own training steps as fit in that time, its seconds per step
measured in this process on the same threads and precision, with a batch of the compared model's
shape (one warm-up step, then the mean of a few).  After training, both times are read back from
the logs, so the record shows how equal they came out.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Optional

import torch

from avdm.bench.record import parse_train_log
from avdm.precision import autocast

logger = logging.getLogger(__name__)

CALIBRATION_STEPS = 3


def frontend_seconds(avdm_config: dict) -> Optional[dict]:
    """``{"frontend": path, "seconds": s}`` of the pretrained lip front-end the model loads, else None."""
    weights = (avdm_config.get("visual_encoder_conf") or {}).get("pretrained")
    if not weights:
        return None
    probe = Path(weights).parent / "probe.json"
    if not probe.is_file():
        raise FileNotFoundError(f"{probe}: missing; the wall-clock budget counts the front-end's pretraining "
                                f"time, which stage 3 records there (rerun stage 3)")
    with open(probe, encoding="utf-8") as f:
        seconds = json.load(f).get("train_seconds")
    if seconds is None:
        raise ValueError(f"{probe}: no train_seconds (a front-end pretrained before they were recorded; rerun stage 3)")
    return {"frontend": str(weights), "seconds": float(seconds)}


def avdm_seconds(model_dir, avdm_config: dict) -> dict:
    """The training time of an avdm model: its epochs' training seconds plus its front-end's."""
    log = Path(model_dir) / "train.log"
    speed = parse_train_log(log)
    if not speed.get("train_seconds"):
        raise ValueError(f"{log}: no epoch results with a training time; the wall-clock budget needs the "
                         f"compared model's espnet2 training log")
    out = {"model_steps_seconds": speed["train_seconds"], "epochs": speed["epochs_logged"]}
    front = frontend_seconds(avdm_config)
    if front:
        out.update(frontend=front["frontend"], frontend_seconds=front["seconds"])
    out["seconds"] = out["model_steps_seconds"] + out.get("frontend_seconds", 0.0)
    return out


def measure_step_seconds(model, batch_size: int, segment_samples: int, precision: str = "fp32",
                         steps: int = CALIBRATION_STEPS, device: str = "cpu") -> float:
    """Mean seconds of one training step (forward, backward, Adam) of an espnet2 enhancement model
    on a random batch, after one untimed step.  The model's weights are changed: pass a copy."""
    from avdm.bench.peer_precision import score_network_at

    score_network_at(model, precision)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    gen = torch.Generator().manual_seed(0)
    speech = 0.1 * torch.randn(batch_size, segment_samples, generator=gen)
    mix = speech + 0.05 * torch.randn(batch_size, segment_samples, generator=gen)
    lengths = torch.full((batch_size,), segment_samples)
    speech, mix, lengths = speech.to(device), mix.to(device), lengths.to(device)

    def step():
        loss, _, _ = model(mix, lengths, speech_ref1=speech)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def steps_in(seconds: float, step_seconds: float) -> int:
    """Whole training steps that fit in ``seconds`` (at least one)."""
    if not (step_seconds > 0 and math.isfinite(step_seconds)):
        raise ValueError(f"seconds per step must be positive, got {step_seconds}")
    return max(1, int(seconds // step_seconds))


def equal_time_budget(model_dir, avdm_config: dict, peer_config, batch_size: int, segment_samples: int,
                      precision: str, device: str = "cpu") -> dict:
    """avdm's training seconds, the peer's measured seconds per step, and the peer's steps."""
    from espnet2.tasks.enh import EnhancementTask

    avdm = avdm_seconds(model_dir, avdm_config)
    args = EnhancementTask.get_parser().parse_args(["--config", str(peer_config)])
    step_s = measure_step_seconds(EnhancementTask.build_model(args), batch_size, segment_samples, precision,
                                  device=device)
    steps = steps_in(avdm["seconds"], step_s)
    logger.info("peer budget: avdm trained for %.0f s (%s); the peer's step takes %.2f s here -> %d steps",
                avdm["seconds"], ", ".join(f"{k} {v:.0f} s" for k, v in avdm.items()
                                           if k.endswith("seconds") and k != "seconds"), step_s, steps)
    return {"avdm": avdm, "peer_step_seconds": step_s, "peer_steps": steps, "precision": precision,
            "batch_size": batch_size, "segment_samples": segment_samples}


def peer_seconds(peer_exp) -> dict:
    """The peer's own training seconds, read back from its espnet2 log after training."""
    speed = parse_train_log(Path(peer_exp) / "train.log")
    return {"seconds": speed.get("train_seconds"), "epochs": speed.get("epochs_logged")}
