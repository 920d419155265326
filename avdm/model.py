"""The audio-visual diffusion model as an ESPnet model.

Training (``forward``) is denoising score matching in the compressed complex STFT domain with
sigma^2 weighting: the scorer predicts the noise ``z`` of ``x_t = mean + s(t) z`` and the loss is
``|z_hat - z|^2`` (equal to ``s(t)^2 |score_hat - score|^2``), with ``t ~ U(t_eps, T)``.

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

* ``model.sde``, ``model.mode``, ``model.audio_only``
* ``model.stft(wav (B, N)) -> spec (B, 1, F, T)``, ``model.stft.inverse(spec, length)``
* ``model.prepare_lips(lips uint8 (T, H, W) or (B, T, H, W)) -> float tensor`` (normalised, centre crop)
* ``model.encode_visual(lips, n_frames, use_ema=True) -> (B, D, n_frames)`` (None lips: null embedding)
* ``model.score_fn(visual, y=None, guidance=1.0, use_ema=True) -> callable(x, t) -> score``
"""
from __future__ import annotations

import copy
import logging
from typing import Callable, Dict, Optional, Tuple

import torch
from espnet2.train.abs_espnet_model import AbsESPnetModel

from avdm import SAMPLES_PER_FRAME
from avdm.sde import AbsSDE, expand_like
from avdm.stft import CompressedSTFT
from avdm.visual.none import NoVisualEncoder

logger = logging.getLogger(__name__)

MODES = ("prior", "conditional")


class AVDiffusionModel(AbsESPnetModel):
    def __init__(self, score_model: torch.nn.Module, visual_encoder: torch.nn.Module, sde: AbsSDE,
                 mode: str = "prior", t_eps: float = 0.03, p_uncond: float = 0.1, ema_decay: float = 0.999,
                 lip_mean: float = 128.0, lip_std: float = 64.0, lip_crop: int = 88,
                 stft_conf: Optional[Dict] = None):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}'; known: {', '.join(MODES)}")
        self.mode = mode
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

    def _nets(self, use_ema: bool):
        if use_ema and self.ema is not None and int(self.ema_updates) > 0:
            return self.ema, self.ema_null
        return self.net, self.null_visual

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
        feats = nets["visual"](lips)  # (B, D, Tv)
        Tv = feats.shape[-1]
        idx = torch.clamp(torch.arange(n_frames, device=feats.device) * self.stft.hop_length // SAMPLES_PER_FRAME,
                          max=Tv - 1)
        feats = feats[..., idx]
        if drop is not None and drop.any():
            feats = torch.where(drop[:, None, None], null[None, :, None].expand_as(feats), feats)
        return feats

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

        def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            yy = y if self.mode == "conditional" else None
            if guided:
                both = scorer(torch.cat([x, x]), torch.cat([t, t]), None if yy is None else torch.cat([yy, yy]),
                              torch.cat([visual, vis_null]))
                e_c, e_u = both.chunk(2)
                eps = e_u + guidance * (e_c - e_u)
            else:
                eps = scorer(x, t, yy, visual)
            return -eps / expand_like(self.sde.std(t), x)

        return fn

    # ------------------------------------------------------------------ training
    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor, lip: torch.Tensor,
                lip_lengths: torch.Tensor, speech_mix: Optional[torch.Tensor] = None,
                speech_mix_lengths: Optional[torch.Tensor] = None, **kwargs
                ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        if self.training:
            self.update_ema()  # EMA of the weights after the previous optimiser step
        B = speech.shape[0]
        X = self.stft(speech)
        Y = None
        if self.mode == "conditional":
            if speech_mix is None:
                raise ValueError("conditional mode needs speech_mix (noisy speech or dynamic mixing)")
            Y = self.stft(speech_mix)
        n_frames = X.shape[-1]
        drop = (torch.rand(B, device=speech.device) < self.p_uncond) if self.training else None
        visual = self.encode_visual(self._normalise(lip), n_frames, drop=drop)
        t = torch.rand(B, device=speech.device) * (self.sde.T - self.t_eps) + self.t_eps
        x_t, z, _ = self.sde.perturb(X, t, Y)
        eps = self.net["score"](x_t, t, Y, visual)
        err = (eps - z).abs() ** 2  # (B, 1, F, T)
        frames = torch.clamp(speech_lengths // self.stft.hop_length + 1, max=n_frames)
        mask = (torch.arange(n_frames, device=speech.device)[None] < frames[:, None]).float()
        loss = (err.mean(dim=(1, 2)) * mask).sum() / mask.sum()
        stats = {"loss": loss.detach()}
        loss, stats, weight = self._gather(loss, stats, B)
        return loss, stats, weight

    def _normalise(self, lip: torch.Tensor) -> torch.Tensor:
        return (lip.float() - self.lip_mean) / self.lip_std

    def _gather(self, loss, stats, B):
        from espnet2.torch_utils.device_funcs import force_gatherable

        return force_gatherable((loss, stats, torch.tensor(B, device=loss.device)), loss.device)

    def collect_feats(self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {"feats": speech, "feats_lengths": speech_lengths}
