"""The three inference jobs on one utterance: generate, enhance (supervised), enhance_unsup."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import numpy as np
import torch

from avdm import SAMPLES_PER_FRAME
from avdm.inference.chunking import process_chunked
from avdm.inference.job_list import JOBS, job as job_of
from avdm.registry import SAMPLERS
from avdm.sampling.base import Callback, Observation

logger = logging.getLogger(__name__)

GENERATED_PEAK = 0.5  # generated speech has no reference level: written at this peak


def _from_noise(m, wav, like, g):
    """Lip-to-speech: start from the prior, no mean, nothing observed."""
    return m.sde.prior_sample(like, None, generator=g), None, None


def _towards_noisy(m, wav, like, g):
    """Supervised enhancement: the forward process drifts to the noisy spectrogram ``Y``."""
    Y = m.stft(wav)
    return m.sde.prior_sample(Y, Y, generator=g), Y, None


def _observing_noisy(m, wav, like, g):
    """Unsupervised enhancement: the prior's sample explains the noisy linear STFT."""
    return m.sde.prior_sample(like, None, generator=g), None, Observation(m.stft.linear(wav).unsqueeze(1),
                                                                          m.stft.compression)


@dataclass(frozen=True)
class Sampling:
    """How one inference job (:mod:`avdm.inference.job_list`: its model mode and input) samples:
    what its sampler starts from, drifts to and observes (``inputs(model, wav, like, g) -> (x_T, y,
    observation)``)."""

    inputs: Callable
    observes: bool = False  # needs a sampler that conditions on the observation (posterior sampling)
    output_peak: Optional[float] = None  # None: the output keeps the input's level
    mode_hint: str = ""     # added to the error for a model of the wrong mode


SAMPLING: Dict[str, Sampling] = {
    "generate": Sampling(_from_noise, output_peak=GENERATED_PEAK),
    "enhance": Sampling(_towards_noisy, mode_hint="; use enhance_unsup with a prior model"),
    "enhance_unsup": Sampling(_observing_noisy, observes=True),
}
assert set(SAMPLING) == set(JOBS), "every job of avdm.inference.job_list needs its Sampling here"


STARTS = ("noise", "lip_envelope")


@dataclass
class DecodeConfig:
    sampler: str = "dpm2m"
    sampler_conf: dict = None
    guidance: float = 1.0
    use_ema: bool = True
    chunk_frames: int = 250  # 10 s
    overlap_frames: int = 25
    # lip-to-speech only: "lip_envelope" starts the sampler at t_start from the lip front-end's
    # envelope rendered as shaped noise (avdm.frontend.render), partly noised; "noise": at T from the prior
    start: str = "noise"
    t_start: Optional[float] = None

    @staticmethod
    def from_dict(d: dict) -> "DecodeConfig":
        known = set(DecodeConfig.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown decode option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        cfg = DecodeConfig(**d)
        if cfg.start not in STARTS:
            raise ValueError(f"start: {cfg.start!r} is not one of {', '.join(STARTS)}")
        if cfg.start == "lip_envelope" and cfg.t_start is None:
            raise ValueError("start: lip_envelope needs t_start (the time the sampler starts from, below T)")
        if cfg.start == "noise" and cfg.t_start is not None:
            raise ValueError("t_start is for start: lip_envelope (start: noise starts at T)")
        return cfg


@dataclass
class Result:
    wav: np.ndarray
    nfe: int
    rtf: float


class Decoder:
    def __init__(self, model, job: str, config: DecodeConfig, device: str = "cpu"):
        listed, spec = job_of(job), SAMPLING[job]
        if model.mode != listed.mode:
            raise ValueError(f"job '{job}' needs a {listed.mode} model (mode: {listed.mode}){spec.mode_hint}")
        self.model, self.job, self.spec, self.cfg, self.device = model, job, spec, config, device
        self.reads_noisy = listed.noisy_input
        self.sampler = SAMPLERS.build(config.sampler, config.sampler_conf or {})
        if spec.observes != self.sampler.observes:
            raise ValueError("enhance_unsup needs sampler: posterior_nmf, and posterior_nmf is only "
                             f"for enhance_unsup (job {job}, sampler {config.sampler})")
        self.from_lip_envelope = config.start == "lip_envelope"
        if self.from_lip_envelope:
            if job != "generate":
                raise ValueError(f"start: lip_envelope is for lip-to-speech (job generate), not {job}")
            if not self.sampler.t_eps < float(config.t_start) <= model.sde.T:
                raise ValueError(f"t_start must lie in (t_eps, T] = ({self.sampler.t_eps:g}, {model.sde.T:g}], "
                                 f"got {config.t_start}")
            if model.audio_only or not model.predicts_envelope:
                # the audio-only twin is the baseline of lip-to-speech: it decodes as before, said once
                logger.warning("start: lip_envelope: the %s model's visual encoder predicts no envelope (%s); "
                               "starting from noise at T (start: noise)", model.mode,
                               "audio-only" if model.audio_only else "not lip_envelope")
                self.from_lip_envelope = False

    def __call__(self, lips: Optional[np.ndarray], noisy: Optional[np.ndarray], n_frames: int,
                 seed: int = 0, callback: Optional[Callback] = None) -> Result:
        """``callback``: given to the sampler of every chunk (see :mod:`avdm.sampling.base`)."""
        t0 = time.time()
        nfe_total = [0]

        def run(start: int, end: int) -> np.ndarray:
            g = torch.Generator(device="cpu").manual_seed(seed * 1000003 + start)
            wav, nfe = self._segment(None if lips is None else lips[start:end],
                                     None if noisy is None else noisy[start * SAMPLES_PER_FRAME:end * SAMPLES_PER_FRAME],
                                     end - start, g, callback)
            nfe_total[0] = max(nfe_total[0], nfe)
            return wav

        wav = process_chunked(n_frames, run, self.cfg.chunk_frames, self.cfg.overlap_frames)
        if not np.isfinite(wav).all():
            raise RuntimeError(f"the {self.job} sampler ({self.cfg.sampler}) produced non-finite samples")
        dur = n_frames * SAMPLES_PER_FRAME / 16000
        return Result(wav, nfe_total[0], (time.time() - t0) / dur)

    @torch.no_grad()
    def _segment(self, lips, noisy, n_frames: int, g: torch.Generator, callback: Optional[Callback] = None):
        m, spec = self.model, self.spec
        dev = m.device
        n = n_frames * SAMPLES_PER_FRAME
        T = m.stft.n_frames(n)
        vis_lips = None if lips is None else m.prepare_lips(lips)
        visual = m.encode_visual(vis_lips, T, use_ema=self.cfg.use_ema, batch=1)
        like = torch.zeros(1, 1, m.stft.n_freqs, T, dtype=torch.complex64, device=dev)
        # the model works on peak-normalised signals (see AVDiffusionModel.input_scale); the
        # enhanced speech gets the input's level back, generated speech is left at the model's
        scale = m.input_scale(noisy) if self.reads_noisy else 1.0
        wav = torch.tensor(np.asarray(noisy, np.float32) / scale, device=dev)[None] if self.reads_noisy else None
        x, y, observation = spec.inputs(m, wav, like, g)
        t_start = None
        if self.from_lip_envelope and vis_lips is not None:
            x, t_start = self._from_lip_envelope(vis_lips, n, g), float(self.cfg.t_start)
        fn = m.score_fn(visual, y=y, guidance=self.cfg.guidance, use_ema=self.cfg.use_ema)
        out, nfe = self.sampler(m.sde, fn, x, y, g, observation=observation, callback=callback, t_start=t_start)
        wav = m.stft.inverse(out, n)[0].cpu().numpy() * scale
        if spec.output_peak is not None:
            wav = wav * (spec.output_peak / max(float(np.abs(wav).max()), 1e-8))
        return wav, nfe

    def _from_lip_envelope(self, vis_lips: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
        """``x`` at ``t_start``: the lips' predicted envelope rendered as shaped noise, at the level the
        model trains on, through the forward process from 0 to ``t_start``."""
        from avdm.frontend.render import render_envelope

        m = self.model
        wav = render_envelope(m.lip_envelope(vis_lips, use_ema=self.cfg.use_ema).cpu(), n, generator=g)[None]
        x0 = m.stft((wav / m.input_scale(wav)).to(m.device))
        t = torch.full((1,), float(self.cfg.t_start), device=m.device)
        return m.sde.perturb(x0, t, None, generator=g)[0]
