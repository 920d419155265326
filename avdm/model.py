"""The audio-visual diffusion model as an ESPnet model.

Training (``forward``) is denoising score matching in the compressed complex STFT domain with
sigma^2 weighting: the scorer predicts the noise ``z`` of ``x_t = mean + s(t) z`` and the loss is
``|z_hat - z|^2`` (equal to ``s(t)^2 |score_hat - score|^2``), with ``t ~ U(t_eps, T)``.

Level: SGMSE+ normalises every waveform by the peak of the one it conditions on (the noisy input,
or the clean speech for a prior), so the compressed spectrogram has a range of ~0.1-1 against
the SDE's noise levels (sigma_min 0.05).  Without it quiet speech sits below sigma_min and the
network must resolve it from noise it cannot see.  ``normalize: peak`` (default) does the same
here, per utterance; ``normalize: rms`` divides by a multiple of the RMS instead, so that an
impulsive noise (a click far above the speech) does not push the speech down to a level the
model rarely sees; :meth:`input_scale` gives the factor inference divides by and multiplies back.

Parameterisation (``parameterization``):
* ``eps`` (SGMSE+): the scorer predicts the noise ``z``; loss ``|z_hat - z|^2``.
* ``edm`` (Karras et al., 2022, preconditioning written for a process with mean coefficient
  ``a(t)`` and std ``s(t)``): with ``u = x_t - m`` (``m`` = ``y`` for the conditional model, 0 for
  the prior) the denoiser is ``D = c_skip u/a + c_out F(c_in u/a, ...)`` where the effective noise
  level is ``s' = s/a`` and ``c_skip = sd^2/(sd^2+s'^2)``, ``c_out = s' sd/sqrt(sd^2+s'^2)``,
  ``c_in = 1/sqrt(sd^2+s'^2)`` (``sd`` = ``sigma_data``); the loss is ``|F - F_target|^2``, a
  unit-variance target at every ``t``.  At large ``t`` the network predicts the clean speech from
  the noisy one directly (enhancement is learnt first, not last), at small ``t`` it only corrects
  the identity: this trains much faster on a small budget.  The score follows from Tweedie's
  formula, ``(a D - u) / s^2``, so every sampler works with either.  The scorer sees the
  conditioning spectrogram as ``y / sd``, at unit level like its other input ``c_in u`` (with
  ``y`` unscaled, at about 0.1, it scored lower; docs/experiments.md, "Conditioning at unit level").

Prior matching (``prior_match_prob``, default 0): every sampler starts from ``x_T ~ N(m, s(T)^2)``,
but the forward marginal at ``T`` still holds ``a(T) (x_0 - m)`` (0.22 of the noise to remove for
the demo's OUVE process), so the first denoiser call sees an input unlike any it was trained on
(the "prior mismatch" of SGMSE+).  With ``prior_match_prob = p`` a fraction ``p`` of the training
examples is put at ``t = T`` and drawn from that prior instead, keeping the same target (the
clean speech); the eps target becomes ``(x_T - mean) / s(T)``.  At one or two NFE this is what
decides the output (docs/experiments.md, "Prior matching").

Precision (``precision``, default ``fp32``): ``bf16`` runs the score network and the visual
encoder under bfloat16 autocast where the device supports it (float32 with a warning elsewhere);
their outputs, the loss, STFT and EMA stay float32, in training and in :meth:`score_fn` alike
(:mod:`avdm.precision`; speed in docs/benchmark.md, "Training speed").

Modes:
* ``prior``: ``p(clean | lips)``; the forward process drifts towards zero.  Used for lip-to-speech
  and, combined with a noise model at inference, for unsupervised enhancement.
* ``conditional``: ``p(clean | noisy, lips)``; the forward process drifts towards the noisy
  spectrogram ``y`` as in SGMSE+, and the scorer also sees ``y``.

Visual features (25 fps) are mapped to the STFT frame rate (125 fps) inside the model, each STFT
frame taking the video frame it falls in.  For classifier-free guidance the visual condition is
replaced by a learned null embedding with probability ``p_uncond`` in training.  An exponential
moving average (EMA) of the weights is kept in the model (saved with it) and used for inference.

Inference API (used by the samplers and ``avdm.inference``):

* ``model.sde``, ``model.mode``, ``model.audio_only``, ``model.device``
* ``model.input_scale(wav) -> float`` (the level the waveform is divided by before the STFT)
* ``model.stft(wav (B, N)) -> spec (B, 1, F, T)``, ``model.stft.inverse(spec, length)``
* ``model.prepare_lips(lips uint8 (T, H, W) or (B, T, H, W)) -> float tensor`` (normalised, centre crop)
* ``model.encode_visual(lips, n_frames, use_ema=True) -> (B, D, n_frames)`` (None lips: null embedding)
* ``model.score_fn(visual, y=None, guidance=1.0, use_ema=True) -> callable(x, t) -> score``
"""
from __future__ import annotations

import copy
import logging
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import torch
from espnet2.train.abs_espnet_model import AbsESPnetModel

from avdm import SAMPLES_PER_FRAME
from avdm.precision import autocast, check_precision
from avdm.sde import AbsSDE, expand_like
from avdm.stft import CompressedSTFT
from avdm.visual.none import NoVisualEncoder

logger = logging.getLogger(__name__)

MODES = ("prior", "conditional")
NORMALIZE = ("peak", "rms", "none")
PARAMETERIZATIONS = ("eps", "edm")
PEAK_FLOOR = 1e-4  # a silent input is not blown up to full scale
# ``normalize: rms`` divides by this many times the RMS: about the crest factor (peak / RMS) of
# mixtures with stationary or tonal noise, so those land near the level that peak normalisation
# gives them, while impulsive noise no longer sets it (docs/experiments.md, "Input level: peak or RMS").
RMS_TO_PEAK = 6.0


class AVDiffusionModel(AbsESPnetModel):
    def __init__(self, score_model: torch.nn.Module, visual_encoder: torch.nn.Module, sde: AbsSDE,
                 mode: str = "prior", t_eps: float = 0.03, p_uncond: float = 0.1, ema_decay: float = 0.999,
                 lip_mean: float = 128.0, lip_std: float = 64.0, lip_crop: int = 88,
                 stft_conf: Optional[Dict] = None, normalize: str = "peak", parameterization: str = "eps",
                 sigma_data: float = 0.1, prior_match_prob: float = 0.0, precision: str = "fp32"):
        super().__init__()
        self.precision = check_precision(precision)
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}'; known: {', '.join(MODES)}")
        if normalize not in NORMALIZE:
            raise ValueError(f"unknown normalize '{normalize}'; known: {', '.join(NORMALIZE)}")
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"unknown parameterization '{parameterization}'; known: {', '.join(PARAMETERIZATIONS)}")
        if sigma_data <= 0:
            raise ValueError(f"sigma_data must be > 0, got {sigma_data}")
        if not 0.0 <= prior_match_prob <= 1.0:
            raise ValueError(f"prior_match_prob must be in [0, 1], got {prior_match_prob}")
        self.prior_match_prob = float(prior_match_prob)
        self.mode = mode
        self.normalize = normalize
        self.parameterization = parameterization
        self.sigma_data = float(sigma_data)
        self.sde = sde
        self.t_eps = float(t_eps)
        self.p_uncond = float(p_uncond)
        self.ema_decay = float(ema_decay)
        self.lip_crop = int(lip_crop)
        self.stft = CompressedSTFT(**(stft_conf or {}))
        self.net = torch.nn.ModuleDict({"score": score_model, "visual": visual_encoder})
        dim = getattr(visual_encoder, "output_dim", 0)
        self.null_visual = torch.nn.Parameter(torch.zeros(dim))
        self.register_buffer("lip_mean", torch.tensor(float(lip_mean)))
        self.register_buffer("lip_std", torch.tensor(float(lip_std)))
        self.ema = copy.deepcopy(self.net).requires_grad_(False) if self.ema_decay > 0 else None
        self.register_buffer("ema_null", torch.zeros(dim))
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))

    @property
    def device(self) -> torch.device:
        return self.lip_mean.device

    @property
    def audio_only(self) -> bool:
        return isinstance(self.net["visual"], NoVisualEncoder)

    # ------------------------------------------------------------------ EMA
    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema is None:
            return
        n = int(self.ema_updates)
        decay = min(self.ema_decay, (1 + n) / (10 + n))  # warm-up: short runs are not all init weights
        for pe, p in zip(self.ema.parameters(), self.net.parameters()):
            pe.lerp_(p.detach(), 1 - decay)
        for be, b in zip(self.ema.buffers(), self.net.buffers()):
            be.copy_(b)
        self.ema_null.lerp_(self.null_visual.detach(), 1 - decay)
        self.ema_updates += 1

    def load_pretrained(self) -> None:
        """Load pretrained components (the lip front-end) at the start of training and copy them into
        the EMA; a trained model's own state holds them afterwards, so inference never calls this."""
        load = getattr(self.net["visual"], "load_pretrained", None)
        if load is None:
            return
        load()
        if self.ema is not None:
            self.ema.load_state_dict(self.net.state_dict())

    def _nets(self, use_ema: bool):
        if use_ema and self.ema is not None and int(self.ema_updates) > 0:
            return self.ema, self.ema_null
        return self.net, self.null_visual

    # ------------------------------------------------------------------ level
    def input_scale(self, wav) -> float:
        """The factor one waveform is divided by before the STFT (:meth:`_level` of it)."""
        w = wav if isinstance(wav, torch.Tensor) else torch.tensor(np.asarray(wav, np.float32))
        return float(self._level(w.reshape(1, -1)))

    def _level(self, wav: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, 1) per-utterance scale of a padded batch (``lengths``: valid samples per row).

        ``peak``: the largest magnitude (padding is zeros, so it never sets it); ``rms``:
        ``RMS_TO_PEAK`` times the RMS over the valid samples, which an impulse barely moves;
        ``none``: 1."""
        if self.normalize == "none":
            return torch.ones(wav.shape[0], 1, device=wav.device)
        if self.normalize == "peak":
            return wav.abs().amax(dim=-1, keepdim=True).clamp_min(PEAK_FLOOR)
        n = torch.full((wav.shape[0],), wav.shape[-1], device=wav.device) if lengths is None else lengths
        power = wav.float().pow(2).sum(dim=-1, keepdim=True) / n.to(wav.device).clamp_min(1).reshape(-1, 1)
        return (RMS_TO_PEAK * power.sqrt()).clamp_min(PEAK_FLOOR)

    # ------------------------------------------------------------------ conditioning
    def prepare_lips(self, lips) -> torch.Tensor:
        """uint8 or float lips (T, H, W) / (B, T, H, W) -> normalised float, centre-cropped."""
        lips = torch.as_tensor(lips)
        if lips.dim() == 3:
            lips = lips.unsqueeze(0)
        lips = lips.to(self.lip_mean.device).float()
        H, W = lips.shape[-2:]
        c = self.lip_crop
        if H > c or W > c:
            y0, x0 = (H - c) // 2, (W - c) // 2
            lips = lips[..., y0:y0 + c, x0:x0 + c]
        return (lips - self.lip_mean) / self.lip_std

    def encode_visual(self, lips: Optional[torch.Tensor], n_frames: int, use_ema: bool = False,
                      drop: Optional[torch.Tensor] = None, batch: Optional[int] = None) -> torch.Tensor:
        """Visual features at the STFT frame rate, (B, D, n_frames); the null embedding where
        ``drop`` is True, for the audio-only encoder, or when ``lips`` is None."""
        nets, null = self._nets(use_ema)
        if lips is None or self.audio_only:
            B = batch if lips is None else lips.shape[0]
            return null[None, :, None].expand(B, -1, n_frames)
        with autocast(self.precision, lips.device):
            feats = nets["visual"](lips).float()  # (B, D, Tv)
        Tv = feats.shape[-1]
        idx = torch.clamp(torch.arange(n_frames, device=feats.device) * self.stft.hop_length // SAMPLES_PER_FRAME,
                          max=Tv - 1)
        feats = feats[..., idx]
        if drop is not None and drop.any():
            feats = torch.where(drop[:, None, None], null[None, :, None].expand_as(feats), feats)
        return feats

    @property
    def predicts_envelope(self) -> bool:
        """The visual encoder is a lip front-end with an envelope head (``lip_envelope``)."""
        return hasattr(self.net["visual"], "envelope")

    @torch.no_grad()
    def lip_envelope(self, lips: torch.Tensor, use_ema: bool = False) -> torch.Tensor:
        """(T_video, n_bands) natural-log mel band powers that the lip front-end predicts from one
        utterance's prepared lips (1, T, H, W) (:mod:`avdm.frontend.envelope`)."""
        if not self.predicts_envelope:
            raise ValueError(f"visual encoder {type(self.net['visual']).__name__} predicts no envelope "
                             "(needs visual_encoder: lip_envelope)")
        return self._nets(use_ema)[0]["visual"].log_mel(lips)[0].float()

    def score_fn(self, visual: torch.Tensor, y: Optional[torch.Tensor] = None, guidance: float = 1.0,
                 use_ema: bool = True, null_visual: Optional[torch.Tensor] = None) -> Callable:
        """A function ``(x, t) -> score`` for the samplers.

        ``visual`` are features from :meth:`encode_visual`; with ``guidance != 1`` the score is
        ``s_null + w (s_visual - s_null)`` (classifier-free guidance), computed in one batched call.
        """
        nets, null = self._nets(use_ema)
        scorer = nets["score"]
        if self.mode == "conditional" and y is None:
            raise ValueError("a conditional model needs the noisy spectrogram y")
        guided = guidance != 1.0 and not self.audio_only
        vis_null = null_visual if null_visual is not None else null[None, :, None].expand_as(visual)

        def net(x, t, yy, vis):
            return self._raw_output(scorer, x, t, yy, vis)

        def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            yy = y if self.mode == "conditional" else None
            if guided:  # guidance is linear in the network output, for either parameterisation
                both = net(torch.cat([x, x]), torch.cat([t, t]), None if yy is None else torch.cat([yy, yy]),
                           torch.cat([visual, vis_null]))
                o_c, o_u = both.chunk(2)
                out = o_u + guidance * (o_c - o_u)
            else:
                out = net(x, t, yy, visual)
            std = expand_like(self.sde.std(t), x)
            if self.parameterization == "eps":
                return -out / std
            a = expand_like(self.sde.mean_coeff(t), x)
            u = x - (0 if yy is None else yy)
            return (a * out - u) / std ** 2  # out is D, the estimate of x_0 - m

        return fn

    # ------------------------------------------------------------------ parameterisation
    def _precond(self, x: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor]):
        """EDM terms at ``t``, each shaped for ``x``: ``u = (x - m) / a(t)`` and (c_skip, c_out, c_in)."""
        a = expand_like(self.sde.mean_coeff(t), x)
        s_eff = expand_like(self.sde.std(t), x) / a
        sd2 = self.sigma_data ** 2
        norm = torch.sqrt(sd2 + s_eff ** 2)
        u = (x - (0 if y is None else y)) / a
        return u, sd2 / norm ** 2, s_eff * self.sigma_data / norm, 1.0 / norm

    def _raw_output(self, scorer, x, t, y, visual):
        """The scorer's output turned into the parameterisation's quantity: ``z`` (eps) or ``D`` (edm)."""
        if self.parameterization == "eps":
            return self._run_scorer(scorer, x, t, y, visual)
        u, c_skip, c_out, c_in = self._precond(x, t, y)
        return c_skip * u + c_out * self._run_scorer(scorer, c_in * u, t, self._scorer_y(y), visual)

    def _run_scorer(self, scorer, x, t, y, visual):
        """``scorer(x, t, y, visual)`` at the model's precision (avdm.precision), returned in float32."""
        with autocast(self.precision, x.device):
            out = scorer(x, t, y, visual)
        return out.to(torch.complex64) if out.is_complex() else out.float()

    def _scorer_y(self, y: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """The conditioning spectrogram as an edm scorer sees it: in units of ``sigma_data``."""
        return None if y is None else y / self.sigma_data

    # ------------------------------------------------------------------ training
    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor, lip: torch.Tensor,
                lip_lengths: torch.Tensor, speech_mix: Optional[torch.Tensor] = None,
                speech_mix_lengths: Optional[torch.Tensor] = None, **kwargs
                ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        if self.training:
            self.update_ema()  # EMA of the weights after the previous optimiser step
        B = speech.shape[0]
        if self.mode == "conditional" and speech_mix is None:
            raise ValueError("conditional mode needs speech_mix (noisy speech or dynamic mixing)")
        if self.mode == "conditional":
            scale = self._level(speech_mix, speech_mix_lengths)
        else:
            scale = self._level(speech, speech_lengths)
        X = self.stft(speech / scale)
        Y = None
        if self.mode == "conditional":
            Y = self.stft(speech_mix / scale)
        n_frames = X.shape[-1]
        drop = (torch.rand(B, device=speech.device) < self.p_uncond) if self.training else None
        visual = self.encode_visual(self._normalise(lip), n_frames, drop=drop)
        t = torch.rand(B, device=speech.device) * (self.sde.T - self.t_eps) + self.t_eps
        at_prior = None
        if self.training and self.prior_match_prob > 0:
            at_prior = torch.rand(B, device=speech.device) < self.prior_match_prob
            t = torch.where(at_prior, torch.full_like(t, self.sde.T), t)
        x_t, z, std = self.sde.perturb(X, t, Y)
        if at_prior is not None:
            x_t, z = self._from_prior(Y, x_t, z, std, at_prior)
        if self.parameterization == "eps":
            err = (self._run_scorer(self.net["score"], x_t, t, Y, visual) - z).abs() ** 2  # (B, 1, F, T)
        else:
            u, c_skip, c_out, c_in = self._precond(x_t, t, Y)
            target = ((X - (0 if Y is None else Y)) - c_skip * u) / c_out
            err = (self._run_scorer(self.net["score"], c_in * u, t, self._scorer_y(Y), visual) - target).abs() ** 2
        frames = torch.clamp(speech_lengths // self.stft.hop_length + 1, max=n_frames)
        mask = (torch.arange(n_frames, device=speech.device)[None] < frames[:, None]).float()
        loss = (err.mean(dim=(1, 2)) * mask).sum() / mask.sum()
        stats = {"loss": loss.detach()}
        loss, stats, weight = self._gather(loss, stats, B)
        return loss, stats, weight

    @staticmethod
    def _from_prior(Y, x_t, z, std, at_prior):
        """Replace the rows ``at_prior`` (all at ``t = T``) by a draw of the prior the samplers start
        from, ``N(m, s(T)^2)``, keeping their noise ``z``; the eps target becomes ``(x_T - mean) / s``
        (``mean = x_t - s z``, the forward marginal's)."""
        x_prior = (0 if Y is None else Y) + std * z
        rows = expand_like(at_prior, x_t)
        return torch.where(rows, x_prior, x_t), torch.where(rows, (x_prior - (x_t - std * z)) / std, z)

    def _normalise(self, lip: torch.Tensor) -> torch.Tensor:
        return (lip.float() - self.lip_mean) / self.lip_std

    def _gather(self, loss, stats, B):
        from espnet2.torch_utils.device_funcs import force_gatherable

        return force_gatherable((loss, stats, torch.tensor(B, device=loss.device)), loss.device)

    def collect_feats(self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {"feats": speech, "feats_lengths": speech_lengths}
