"""Pretraining the lip front-end on the training set, and the probe that says what it learnt.

The encoder (``lip_envelope``) learns to predict the clean speech's log-mel envelope at the video
frame rate from the lips (MSE on the per-band standardised envelope, random crops of
``segment_frames``, the same lip crop and flip as the diffusion training).  The probe decodes whole
utterances of held-out speakers and reports the Pearson correlation of predicted and true envelope
(broadband log energy over all frames; the standardised band envelope over all frames and bands),
and the ESTOI of the predicted envelope rendered as shaped noise (``avdm.frontend.render``): what
lip-to-speech can take from the front-end before any diffusion.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from avdm import SAMPLES_PER_FRAME
from avdm.data.dumpset import crop_or_repeat_last_frame, load_set
from avdm.frontend.envelope import broadband, log_mel_envelope

logger = logging.getLogger(__name__)


@dataclass
class Example:
    utt: str
    lips: np.ndarray      # uint8 (T, H, W)
    envelope: torch.Tensor  # (T, n_bands) log band power
    clean: Optional[np.ndarray] = None  # the speech, T video frames of it (for the rendering probe)


def load_examples(dump_dir, n_bands: int, max_utts=None) -> List[Example]:
    """Lips and speech envelope of every utterance of a stage-2 dump dir, cut to a common length."""
    out = []
    for u in load_set(dump_dir, max_utts=max_utts, noisy=False, lips=True):
        env = log_mel_envelope(u.clean, n_bands)[0]
        n = min(len(u.lips), env.shape[0])
        if n == 0:
            logger.warning("%s: %s has no frame; left out", dump_dir, u.utt)
            continue
        out.append(Example(u.utt, crop_or_repeat_last_frame(u.lips, n), env[:n], u.clean[:n * SAMPLES_PER_FRAME]))
    return out


def _crop(lips: np.ndarray, size: int, rng: np.random.Generator, train: bool) -> np.ndarray:
    H, W = lips.shape[1:]
    if H <= size and W <= size:
        return lips
    y0, x0 = ((int(rng.integers(0, H - size + 1)), int(rng.integers(0, W - size + 1))) if train
              else ((H - size) // 2, (W - size) // 2))
    return lips[:, y0:y0 + size, x0:x0 + size]


def pretrain(encoder, train: Sequence[Example], lip_mean: float, lip_std: float, steps: int = 400,
             batch_size: int = 8, segment_frames: int = 25, lr: float = 2e-3, lip_crop: int = 88,
             flip_prob: float = 0.5, seed: int = 0, log_every: int = 50) -> List[Dict[str, float]]:
    """Train the whole encoder (trunk, temporal context, head); sets its band statistics; returns the loss log."""
    if not train:
        raise ValueError("no training utterance for the lip front-end")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    allenv = torch.cat([e.envelope for e in train])
    encoder.band_mean.copy_(allenv.mean(0))
    encoder.band_std.copy_(allenv.std(0).clamp_min(1e-3))
    params = [p for n, p in encoder.named_parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    encoder.train()
    history, t0, running = [], time.time(), []
    for step in range(1, steps + 1):
        lips, targets = [], []
        for _ in range(batch_size):
            ex = train[int(rng.integers(len(train)))]
            T = len(ex.lips)
            n = min(segment_frames, T)
            s = int(rng.integers(0, T - n + 1))
            clip = _crop(ex.lips[s:s + n], lip_crop, rng, train=True)
            if rng.random() < flip_prob:
                clip = clip[:, :, ::-1]
            lips.append(np.ascontiguousarray(clip))
            targets.append(ex.envelope[s:s + n])
        n = min(len(t) for t in targets)  # utterances shorter than a segment: a common length
        x = (torch.from_numpy(np.stack([c[:n] for c in lips])).float() - lip_mean) / lip_std
        y = (torch.stack([t[:n] for t in targets]) - encoder.band_mean) / encoder.band_std  # (B, n, bands)
        loss = torch.nn.functional.mse_loss(encoder.envelope(x).transpose(1, 2), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running.append(loss.item())
        if step % log_every == 0 or step == steps:
            rec = {"step": step, "loss": float(np.mean(running)), "seconds": round(time.time() - t0, 1)}
            history.append(rec)
            logger.info("lip front-end step %d: loss %.4f (%.1f s)", step, rec["loss"], rec["seconds"])
            running = []
    encoder.eval()
    return history


@torch.no_grad()
def predict(encoder, lips: np.ndarray, lip_mean: float, lip_std: float, lip_crop: int = 88) -> torch.Tensor:
    """(T, n_bands) log-mel envelope predicted from one utterance's lips (centre crop)."""
    clip = _crop(lips, lip_crop, np.random.default_rng(0), train=False)
    x = (torch.from_numpy(np.ascontiguousarray(clip)).float()[None] - lip_mean) / lip_std
    return encoder.log_mel(x)[0]


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else float("nan")


def probe(encoder, examples: Sequence[Example], lip_mean: float, lip_std: float, lip_crop: int = 88) -> Dict:
    """Correlation of the lip-predicted and the true envelope over ``examples``."""
    if not examples:
        raise ValueError("no utterance to probe the lip front-end on")
    pred = [predict(encoder, e.lips, lip_mean, lip_std, lip_crop) for e in examples]
    true = [e.envelope for e in examples]
    std = lambda v: (v - encoder.band_mean) / encoder.band_std  # noqa: E731
    per_utt = [_pearson(broadband(p), broadband(t)) for p, t in zip(pred, true)]
    rendered = {}
    if all(e.clean is not None for e in examples):
        from avdm.frontend.render import render_envelope
        from avdm.metrics import stoi

        estoi = [stoi(e.clean, render_envelope(p, len(e.clean), torch.Generator().manual_seed(0)).numpy(),
                      extended=True) for e, p in zip(examples, pred)]
        rendered = {"render_estoi": round(float(np.mean(estoi)), 4)}
    return {"utterances": len(examples), **rendered,
            "broadband_r": round(_pearson(torch.cat([broadband(p) for p in pred]),
                                          torch.cat([broadband(t) for t in true])), 4),
            "broadband_r_per_utt_mean": round(float(np.nanmean(per_utt)), 4),
            "band_r": round(_pearson(torch.cat([std(p) for p in pred]), torch.cat([std(t) for t in true])), 4)}
