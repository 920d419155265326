"""Mixed precision for the networks of a model (``model_conf: precision``).

* ``fp32``: plain float32 everywhere (the default).
* ``bf16``: the score network and the visual encoder run under ``torch.autocast`` with bfloat16
  (convolutions and matrix products in bfloat16, normalisations and everything else in float32);
  their outputs, the loss, the STFT, the EMA and the optimiser stay in float32.  Used where the
  device computes bfloat16 natively: a CPU with AVX512-BF16 or AMX, a GPU that
  ``torch.cuda.is_bf16_supported()``.  Elsewhere the model falls back to float32 with one logged
  warning (emulated bfloat16 is slower than float32).

float16 needs a gradient scaler: on a GPU use espnet2's own ``use_amp: true`` (its trainer's
autocast and GradScaler), which this option does not replace.  Measurements: docs/benchmark.md,
"Training speed".
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Optional

import torch

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
_warned = set()


def check_precision(precision: str) -> str:
    """``precision`` lower-cased, or a ValueError naming the known values."""
    p = str(precision).lower()
    if p == "fp16":
        raise ValueError("precision 'fp16' is not a model option: float16 needs a gradient scaler; on a GPU "
                         "set espnet2's use_amp: true instead (known precisions: " + ", ".join(PRECISIONS) + ")")
    if p not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; known: {', '.join(PRECISIONS)}")
    return p


def cpu_flags() -> set:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16)."""
    cpu = torch.cpu
    probes = [getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None)]
    if all(p is not None for p in probes):
        return any(p() for p in probes)
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def device_has_bf16(device_type: str) -> bool:
    if device_type == "cpu":
        return cpu_has_bf16()
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return False


def autocast_dtype(precision: str, device_type: str) -> Optional[torch.dtype]:
    """The dtype to autocast to on ``device_type`` (None: float32), with one warning per device type
    where bfloat16 was asked for and the device lacks it."""
    if precision == "fp32":
        return None
    if device_has_bf16(device_type):
        return torch.bfloat16
    if device_type not in _warned:
        _warned.add(device_type)
        what = ("this CPU has neither AVX512-BF16 nor AMX" if device_type == "cpu" else
                f"device type '{device_type}' does not support it")
        logger.warning("precision bf16: %s; running in float32 instead", what)
    return None


def autocast(precision: str, device: torch.device | str):
    """A context running the networks at ``precision`` on ``device`` (a no-op for float32)."""
    device_type = torch.device(device).type
    dtype = autocast_dtype(precision, device_type)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype)
