"""The three inference jobs on one utterance: generate, enhance (supervised), enhance_unsup."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from avdm import SAMPLES_PER_FRAME
from avdm.inference.chunking import process_chunked
from avdm.inference.job_list import JOBS
from avdm.registry import SAMPLERS
from avdm.sampling.posterior import Compression

GENERATED_PEAK = 0.5  # generated speech has no reference level: written at this peak


@dataclass
class DecodeConfig:
    sampler: str = "dpm2m"
    sampler_conf: dict = None
    guidance: float = 1.0
    use_ema: bool = True
    chunk_frames: int = 250  # 10 s
    overlap_frames: int = 25

    @staticmethod
    def from_dict(d: dict) -> "DecodeConfig":
        known = set(DecodeConfig.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown decode option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        return DecodeConfig(**d)


@dataclass
class Result:
    wav: np.ndarray
    nfe: int
    rtf: float


class Decoder:
    def __init__(self, model, job: str, config: DecodeConfig, device: str = "cpu"):
        if job not in JOBS:
            raise ValueError(f"unknown job '{job}'; known: {', '.join(JOBS)}")
        if job == "enhance" and model.mode != "conditional":
            raise ValueError("job 'enhance' needs a conditional model (mode: conditional); "
                             "use enhance_unsup with a prior model")
        if job in ("generate", "enhance_unsup") and model.mode != "prior":
            raise ValueError(f"job '{job}' needs a prior model (mode: prior)")
        self.model, self.job, self.cfg, self.device = model, job, config, device
        self.sampler = SAMPLERS.build(config.sampler, config.sampler_conf or {})
        from avdm.sampling.posterior import PosteriorNMF

        if (job == "enhance_unsup") != isinstance(self.sampler, PosteriorNMF):
            raise ValueError("enhance_unsup needs sampler: posterior_nmf, and posterior_nmf is only for "
                             f"enhance_unsup (job {job}, sampler {config.sampler})")
        self.comp = Compression(model.stft.alpha, model.stft.beta)

    def __call__(self, lips: Optional[np.ndarray], noisy: Optional[np.ndarray], n_frames: int,
                 seed: int = 0) -> Result:
        t0 = time.time()
        nfe_total = [0]

        def run(start: int, end: int) -> np.ndarray:
            g = torch.Generator(device="cpu").manual_seed(seed * 1000003 + start)
            wav, nfe = self._segment(None if lips is None else lips[start:end],
                                     None if noisy is None else noisy[start * SAMPLES_PER_FRAME:end * SAMPLES_PER_FRAME],
                                     end - start, g)
            nfe_total[0] = max(nfe_total[0], nfe)
            return wav

        wav = process_chunked(n_frames, run, self.cfg.chunk_frames, self.cfg.overlap_frames)
        if not np.isfinite(wav).all():
            raise RuntimeError(f"the {self.job} sampler ({self.cfg.sampler}) produced non-finite samples")
        dur = n_frames * SAMPLES_PER_FRAME / 16000
        return Result(wav, nfe_total[0], (time.time() - t0) / dur)

    @torch.no_grad()
    def _segment(self, lips, noisy, n_frames: int, g: torch.Generator):
        m = self.model
        dev = m.device
        n = n_frames * SAMPLES_PER_FRAME
        T = m.stft.n_frames(n)
        vis_lips = None if lips is None else m.prepare_lips(lips)
        visual = m.encode_visual(vis_lips, T, use_ema=self.cfg.use_ema, batch=1)
        like = torch.zeros(1, 1, m.stft.n_freqs, T, dtype=torch.complex64, device=dev)
        # the model works on peak-normalised signals (see AVDiffusionModel.input_scale); the
        # enhanced speech gets the input's level back, generated speech is left at the model's
        scale = 1.0 if self.job == "generate" else m.input_scale(noisy)
        if self.job == "enhance":
            Y = m.stft(torch.tensor(np.asarray(noisy, np.float32) / scale, device=dev)[None])
            fn = m.score_fn(visual, y=Y, guidance=self.cfg.guidance, use_ema=self.cfg.use_ema)
            x = m.sde.prior_sample(Y, Y, generator=g)
            out, nfe = self.sampler(m.sde, fn, x, Y, g)
        elif self.job == "generate":
            fn = m.score_fn(visual, guidance=self.cfg.guidance, use_ema=self.cfg.use_ema)
            out, nfe = self.sampler(m.sde, fn, m.sde.prior_sample(like, None, generator=g), None, g)
        else:
            wav = torch.tensor(np.asarray(noisy, np.float32) / scale, device=dev)[None]
            Yl = torch.stft(wav, m.stft.n_fft, m.stft.hop_length, window=m.stft.window, center=True,
                            return_complex=True).unsqueeze(1)
            fn = m.score_fn(visual, guidance=self.cfg.guidance, use_ema=self.cfg.use_ema)
            x = m.sde.prior_sample(like, None, generator=g)
            out, nfe = self.sampler(m.sde, fn, x, None, g, observation=Yl, compression=self.comp)
        wav = m.stft.inverse(out, n)[0].cpu().numpy() * scale
        if self.job == "generate":
            wav = wav * (GENERATED_PEAK / max(float(np.abs(wav).max()), 1e-8))
        return wav, nfe
