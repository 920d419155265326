"""Unsupervised enhancement by posterior sampling: a clean-speech diffusion prior (lip-conditioned)
and a Gaussian noise model whose power spectrogram is low-rank (NMF), fitted by EM while sampling.

Observation model, in the linear STFT domain:  ``Y = S + N``, ``N(f, t) ~ CN(0, (W H)(f, t))``.
At every reverse step the prior score is corrected with the likelihood gradient taken at the
denoised estimate (Tweedie), ``score + w * a / (a^2 + s^2) * grad_x0 log p(Y | x0_hat)`` (no
backpropagation through the network: the denoiser's Jacobian is taken as that of unit-variance
data, and the noise variance is widened by the estimate's posterior variance); every ``em_every`` steps the NMF factors are updated by multiplicative
Itakura-Saito updates, which never decrease the likelihood of the residual power.  A final
Wiener filter with the speech and noise power estimates gives the output (UDiffSE-style).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from avdm.registry import SAMPLERS
from avdm.sampling.base import CountingScore, bt, reverse_step, time_grid
from avdm.sde import expand_like

EPS = 1e-10


def is_divergence(V: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Itakura-Saito divergence sum(V/P - log(V/P) - 1); minus the log-likelihood up to a constant."""
    r = (V + EPS) / (P + EPS)
    return (r - torch.log(r) - 1).sum()


def nmf_log_likelihood(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """log p(residual | W H) for zero-mean complex Gaussian residuals of power V (up to a constant)."""
    P = W @ H + EPS
    return -(V / P + torch.log(P)).sum()


def nmf_update(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor, iters: int = 1) -> Tuple[torch.Tensor, torch.Tensor]:
    """Multiplicative IS-NMF updates of ``W`` (F, K) and ``H`` (K, T) for power ``V`` (F, T)."""
    V = V + EPS  # an exactly zero residual power would make the updates 0 * inf
    for _ in range(iters):
        P = W @ H + EPS
        H = H * (W.T @ (V / P ** 2)) / (W.T @ (1 / P) + EPS)
        P = W @ H + EPS
        W = W * ((V / P ** 2) @ H.T) / ((1 / P) @ H.T + EPS)
        scale = W.sum(dim=0, keepdim=True) + EPS  # keep W columns normalised, H carries the energy
        W, H = W / scale, H * scale.T
    return W, H


class Compression:
    """Maps between the compressed spectrogram of the model and the linear STFT."""

    def __init__(self, alpha: float, beta: float):
        self.alpha, self.beta = alpha, beta

    def to_linear(self, c: torch.Tensor) -> torch.Tensor:
        c = c / self.beta
        mag = c.abs().clamp_min(EPS)
        return mag ** (1 / self.alpha) * (c / mag)

    def to_compressed(self, s: torch.Tensor) -> torch.Tensor:
        mag = s.abs().clamp_min(EPS)
        return self.beta * mag ** self.alpha * (s / mag)


@SAMPLERS.register("posterior_nmf")
class PosteriorNMF:
    """Posterior sampling with a diffusion speech prior and an NMF noise model fitted by EM."""

    def __init__(self, steps: int = 30, t_eps: float = 0.03, nmf_rank: int = 8, likelihood_weight: float = 1.0,
                 em_every: int = 1, em_iters: int = 2, wiener: bool = True, seed: int = 0):
        self.steps = int(steps)
        self.t_eps = float(t_eps)
        self.rank = int(nmf_rank)
        self.weight = float(likelihood_weight)
        self.em_every = max(1, int(em_every))
        self.em_iters = int(em_iters)
        self.wiener = bool(wiener)
        self.seed = int(seed)

    def nominal_nfe(self) -> int:
        return self.steps

    def __call__(self, sde, score_fn, x, y=None, generator: Optional[torch.Generator] = None,
                 observation: Optional[torch.Tensor] = None, compression: Optional[Compression] = None):
        """``observation``: the noisy linear STFT (B, 1, F, T); returns (compressed estimate, nfe)."""
        if observation is None or compression is None:
            raise ValueError("posterior_nmf needs the noisy observation and the compression")
        counter = CountingScore(score_fn)
        out, self.last_nmf = self._sample(sde, counter, x, observation, compression, generator)
        return out, counter.nfe

    def _init_nmf(self, V: torch.Tensor):
        g = torch.Generator(device="cpu").manual_seed(self.seed)
        B, Fq, T = V.shape
        W = torch.rand(B, Fq, self.rank, generator=g, dtype=V.dtype).to(V.device) + 0.1
        H = torch.rand(B, self.rank, T, generator=g, dtype=V.dtype).to(V.device) + 0.1
        scale = V.mean(dim=(1, 2), keepdim=True) / (W @ H).mean(dim=(1, 2), keepdim=True)
        return W, H * scale

    def _sample(self, sde, score_fn, x, Y, comp, generator):
        Yl = Y[:, 0]
        V_obs = (Yl.abs() ** 2).double()  # NMF in double precision: its ratios underflow in float32
        W, H = self._init_nmf(0.5 * V_obs)  # start: half the noisy power is noise
        power = V_obs.mean(dim=(1, 2), keepdim=True).to(Yl.real.dtype)
        ts = time_grid(sde, self.steps, self.t_eps, x.device)
        x0 = x
        for i in range(self.steps):
            t = ts[i]
            tt = bt(t, x)
            a = expand_like(sde.mean_coeff(tt), x)
            s = expand_like(sde.std(tt), x)
            with torch.no_grad():
                score = score_fn(x, tt)
            x0 = (x + s ** 2 * score) / a  # Tweedie (prior drifts to zero)
            # likelihood of Y given the denoised estimate; the estimate's own uncertainty
            # (posterior variance s^2 / (a^2 + s^2) of unit-variance data) widens the noise variance
            v_t = (s ** 2 / (a ** 2 + s ** 2))[:, 0]
            with torch.enable_grad():
                c = x0.detach().requires_grad_(True)
                R = Yl - comp.to_linear(c)[:, 0]
                P = (W @ H).to(R.real.dtype).detach() + v_t * power + EPS
                ll = -(R.abs() ** 2 / P).sum()
                grad, = torch.autograd.grad(ll, c)
            # chain rule to x_t with the Jacobian of the denoiser for unit-variance data
            post = score + self.weight * grad * a / (a ** 2 + s ** 2)
            with torch.no_grad():
                x, _ = reverse_step(sde, lambda *_: post, x, t, ts[i + 1], None, generator,
                                    noise=i < self.steps - 1)
                if (i + 1) % self.em_every == 0:
                    S = comp.to_linear(x0)[:, 0]
                    W, H = nmf_update_batched(((Yl - S).abs() ** 2).double(), W, H, self.em_iters)
        with torch.no_grad():
            S = comp.to_linear(x0)[:, 0]
            if self.wiener:
                Ps, Pn = S.abs() ** 2, (W @ H).to(S.real.dtype)
                S = Yl * Ps / (Ps + Pn + EPS)
        return comp.to_compressed(S.unsqueeze(1)), (W, H)


def nmf_update_batched(V, W, H, iters):
    Ws, Hs = [], []
    for b in range(V.shape[0]):
        w, h = nmf_update(V[b], W[b], H[b], iters)
        Ws.append(w)
        Hs.append(h)
    return torch.stack(Ws), torch.stack(Hs)
