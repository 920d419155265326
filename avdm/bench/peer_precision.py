"""The peer's score network at a precision, the way avdm runs its own (:mod:`avdm.precision`):
the network under ``torch.autocast`` (bfloat16 where the device supports it), its output back in
float32 (complex64), the STFT, loss and sampler outside it.  The peer gets the same hardware
treatment as the avdm model it is compared with, in training (``espnet_enh_main``) and decoding."""
from __future__ import annotations

import torch

from avdm.precision import autocast, check_precision


def score_network_at(model, precision: str):
    """Make ``model.diffusion.dnn`` (espnet2's NCSN++) run at ``precision``; returns ``model``."""
    precision = check_precision(precision)
    if precision == "fp32":
        return model
    dnn = model.diffusion.dnn
    forward = dnn.forward

    def forward_at_precision(x, *args, **kwargs):
        with autocast(precision, x.device):
            out = forward(x, *args, **kwargs)
        return out.to(torch.complex64) if out.is_complex() else out.float()

    dnn.forward = forward_at_precision
    return model
