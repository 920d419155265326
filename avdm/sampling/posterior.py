"""Unsupervised enhancement by posterior sampling: a clean-speech diffusion prior (lip-conditioned)
and a Gaussian noise model whose power spectrogram is low-rank (NMF), fitted by EM while sampling.

Observation model, in the linear STFT domain:  ``Y = S + N``, ``N(f, t) ~ CN(0, (W H)(f, t))``.
The posterior score uses Tweedie's identity twice: for the prior drifting to zero,
``x_t = a x0 + s z``, ::

    grad log p(x_t | Y) = grad log p(x_t) + (a / s^2) (E[x0 | x_t, Y] - E[x0 | x_t])

``E[x0 | x_t]`` is the denoiser (one network evaluation).  ``E[x0 | x_t, Y]`` treats the
denoised speech as Gaussian around that estimate with the variance left at time ``t``
(``rho_t = s^2 / (a^2 sigma_d^2 + s^2)`` of the speech power, ``sigma_d^2`` the data variance in
the model's compressed domain) and combines it with the noisy STFT by a Wiener update in the
linear domain.  The correction is therefore bounded at every noise level (no backpropagation
through the network, no blow-up when ``a(t)`` is small) and, for Gaussian speech with the
identity compression, exact.  ``likelihood_weight`` scales the correction (1 = Bayes).

Every ``em_every`` steps the NMF factors get an EM update: the E-step is the expected residual
power ``E|Y - S|^2`` under the same Gaussian posterior of ``S``, the M-step ``em_iters``
multiplicative Itakura-Saito updates, each of which never decreases the likelihood of that
power (a callback sees the log-likelihood before and after each update).  The last step
returns the denoised estimate under the corrected score (``final_denoise``, the default) rather
than taking one more solver step to ``t_eps``: with few steps that step spans much of the process
and overshoots.  A final Wiener filter with the speech and noise power estimates gives the output
(UDiffSE-style); ``gain_floor`` is the least gain that filter applies to any time-frequency bin
(0: none; 1: the observation itself), the usual guard against suppressing speech where the
speech estimate is too weak.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from avdm.registry import SAMPLERS
from avdm.sampling.base import Sampler, bt, report, reverse_step
from avdm.sampling.schedules import uniform_times
from avdm.sde import expand_like

EPS = 1e-10
# the posterior's own floor and float rounding of the compression (avdm.stft.AmplitudeCompression),
# kept so that its estimates stay bit-identical to those stored before the compression was shared
POSTERIOR_ROUNDING = dict(eps=EPS, skip_identity=False, scale_magnitude_first=True)
NOISE_INITS = ("random", "quiet_frames")


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


def nmf_log_likelihood_batched(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor) -> float:
    return float(sum(nmf_log_likelihood(V[b], W[b], H[b]) for b in range(V.shape[0])))


def nmf_update_batched(V, W, H, iters):
    Ws, Hs = [], []
    for b in range(V.shape[0]):
        w, h = nmf_update(V[b], W[b], H[b], iters)
        Ws.append(w)
        Hs.append(h)
    return torch.stack(Ws), torch.stack(Hs)


def init_nmf_random(V: torch.Tensor, rank: int, seed: int = 0):
    """Random factors (B, F, K), (B, K, T) carrying the mean power of ``V`` (B, F, T)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    B, Fq, T = V.shape
    W = torch.rand(B, Fq, rank, generator=g, dtype=V.dtype).to(V.device) + 0.1
    H = torch.rand(B, rank, T, generator=g, dtype=V.dtype).to(V.device) + 0.1
    scale = V.mean(dim=(1, 2), keepdim=True) / (W @ H).mean(dim=(1, 2), keepdim=True)
    return W, H * scale


def init_nmf_from_quiet_frames(V: torch.Tensor, rank: int, quiet_fraction: float = 0.2, seed: int = 0):
    """The mean power spectrum of the quietest ``quiet_fraction`` of the frames (the pauses, where a
    recording holds noise alone) as a stationary first component, the others small and random."""
    B, Fq, T = V.shape
    k = max(1, int(round(quiet_fraction * T)))
    quiet = V.sum(dim=1).argsort(dim=1)[:, :k]  # (B, k) frames of least energy
    floor = torch.gather(V, 2, quiet[:, None, :].expand(B, Fq, k)).mean(dim=2) + EPS  # (B, F)
    W, H = init_nmf_random(V, rank, seed)
    H = H * 0.05 * floor.mean(dim=1)[:, None, None] / (W @ H).mean(dim=(1, 2), keepdim=True)
    total = floor.sum(dim=1, keepdim=True)
    W[:, :, 0] = floor / total
    H[:, 0, :] = total
    return W, H


def posterior_variance(x, x0, a, s):
    """Variance of the compressed speech given ``x_t``, from the denoiser's own gain.

    For Gaussian data the denoiser is linear, ``x0_hat = k x_t`` with ``k = a sd^2 /
    (a^2 sd^2 + s^2)``, and ``Var[x0 | x_t] = k s^2 / a``; ``k`` is read per frequency by
    regressing the denoised estimate on ``x_t`` (no extra network evaluation).
    """
    k = (x0 * x.conj()).real.sum(dim=-1, keepdim=True) / ((x.abs() ** 2).sum(dim=-1, keepdim=True) + EPS)
    rho = (a[:, None] * k).clamp(0.0, 1.0)  # fraction of the data variance left at time t
    return rho * (s / a)[:, None] ** 2  # (B, 1, F, 1)


def to_linear_variance(Vc, x0, S_hat, comp):
    """Variance of the linear STFT for compressed variance ``Vc`` around ``x0`` (local
    linearisation of the compression, plus its second-order term near zero)."""
    inv = 1.0 / comp.alpha
    jac2 = 0.5 * (inv ** 2 + 1) * (S_hat.abs() ** 2) / (x0.abs() ** 2).clamp_min(EPS)
    return jac2 * Vc + 2 * (inv - 1) * (Vc / comp.beta ** 2) ** inv


def sample_posterior_nmf(sde, score_fn, x, ts, *, y=None, observation=None, generator=None, callback=None,
                         nmf_rank: int = 8, likelihood_weight: float = 1.0, em_every: int = 1, em_iters: int = 2,
                         wiener: bool = True, seed: int = 0, noise_init: str = "random", quiet_fraction: float = 0.2,
                         final_denoise: bool = True, gain_floor: float = 0.0):
    """Posterior sampling given ``observation`` (the noisy linear STFT (B, 1, F, T)); returns the
    compressed estimate.

    The noise model starts from ``observation.nmf_init`` if given, else ``noise_init``: ``random``
    factors carrying half the observed power, or ``quiet_frames`` (:func:`init_nmf_from_quiet_frames`).
    ``callback`` also sees ``denoised`` (the prior's estimate), ``nmf`` (the current factors
    ``(W, H)``; the last call's are those of the final Wiener filter) and, after an EM update,
    ``nmf_log_likelihood`` (before, after).
    """
    if observation is None:
        raise ValueError("posterior_nmf needs the noisy observation and the compression")
    if y is not None:
        raise ValueError("posterior_nmf samples a prior model (mean y must be None)")
    comp = observation.compression.with_rounding(**POSTERIOR_ROUNDING)
    steps = len(ts) - 1
    Yl = observation.stft[:, 0]
    Vy = (Yl.abs() ** 2).double()  # NMF in double precision: its ratios underflow in float32
    if observation.nmf_init is not None:
        W, H = (f.to(device=Vy.device, dtype=Vy.dtype) for f in observation.nmf_init)
    elif noise_init == "quiet_frames":
        W, H = init_nmf_from_quiet_frames(Vy, nmf_rank, quiet_fraction, seed)
    else:
        W, H = init_nmf_random(0.5 * Vy, nmf_rank, seed)  # start: half the noisy power is noise
    rdt = Yl.real.dtype
    for i in range(steps):
        t = ts[i]
        tt = bt(t, x)
        a = expand_like(sde.mean_coeff(tt), x)[:, 0]  # (B, 1, 1)
        s = expand_like(sde.std(tt), x)[:, 0]
        score = score_fn(x, tt)
        x0 = (x + s[:, None] ** 2 * score) / a[:, None]  # Tweedie (prior drifts to zero)
        Pn = W @ H  # (B, F, T) noise power, double
        S_hat = comp.expand(x0)[:, 0]
        Vc = posterior_variance(x, x0, a, s)
        Vs = to_linear_variance(Vc, x0, S_hat.unsqueeze(1), comp)[:, 0].double()
        gain = Vs / (Vs + Pn + EPS)  # (B, F, T) Wiener gain of the observation
        S_post = S_hat + gain.to(rdt) * (Yl - S_hat)
        c_post = comp.compress(S_post.unsqueeze(1))
        if final_denoise and i == steps - 1:
            # end on the denoised estimate under the corrected score (Tweedie: x0 + w (c_post - x0)),
            # not on one more solver step: with few steps that step spans most of the process
            # and overshoots (tests/test_posterior.py)
            x = x0 + likelihood_weight * (c_post - x0)
        else:
            post = score + likelihood_weight * (a / s ** 2)[:, None] * (c_post - x0)
            x, _ = reverse_step(sde, lambda *_: post, x, t, ts[i + 1], None, generator, noise=i < steps - 1)
        em = {}
        if em_iters and (i + 1) % em_every == 0:
            # E-step: expected residual power under the Gaussian posterior of S
            V = ((Yl - S_post).abs() ** 2).double() + gain * Pn
            before = nmf_log_likelihood_batched(V, W, H) if callback is not None else None
            W, H = nmf_update_batched(V, W, H, em_iters)
            if callback is not None:
                em = {"nmf_log_likelihood": (before, nmf_log_likelihood_batched(V, W, H))}
        report(callback, i, t, x, denoised=x0, nmf=(W, H), **em)
    S = comp.expand(x)[:, 0]
    if wiener:
        Ps_t, Pn_t = S.abs() ** 2, (W @ H).to(rdt)
        S = Yl * (Ps_t / (Ps_t + Pn_t + EPS)).clamp_min(gain_floor)
    return comp.compress(S.unsqueeze(1))


@SAMPLERS.register("posterior_nmf")
def posterior_nmf(steps: int = 30, t_eps: float = 0.03, nmf_rank: int = 8, likelihood_weight: float = 1.0,
                  em_every: int = 1, em_iters: int = 2, wiener: bool = True, seed: int = 0,
                  noise_init: str = "random", quiet_fraction: float = 0.2, final_denoise: bool = True,
                  gain_floor: float = 0.0) -> Sampler:
    """Posterior sampling with a diffusion speech prior and an NMF noise model fitted by EM."""
    if steps < 1 or nmf_rank < 1 or em_iters < 0:
        raise ValueError(f"posterior_nmf: need steps >= 1, nmf_rank >= 1, em_iters >= 0 "
                         f"(got {steps}, {nmf_rank}, {em_iters})")
    if noise_init not in NOISE_INITS:
        raise ValueError(f"posterior_nmf: noise_init must be 'random' or 'quiet_frames' (got '{noise_init}')")
    if not 0.0 < quiet_fraction <= 1.0:
        raise ValueError(f"posterior_nmf: quiet_fraction must be in (0, 1] (got {quiet_fraction})")
    if not 0.0 <= gain_floor <= 1.0:
        raise ValueError(f"posterior_nmf: gain_floor must be in [0, 1] (got {gain_floor})")
    if gain_floor > 0 and not wiener:
        raise ValueError("posterior_nmf: gain_floor is the floor of the final Wiener filter; "
                         "it needs wiener: true")
    options = dict(nmf_rank=int(nmf_rank), likelihood_weight=float(likelihood_weight), em_every=max(1, int(em_every)),
                   em_iters=int(em_iters), wiener=bool(wiener), seed=int(seed), noise_init=noise_init,
                   quiet_fraction=float(quiet_fraction), final_denoise=bool(final_denoise),
                   gain_floor=float(gain_floor))
    return Sampler("posterior_nmf", sample_posterior_nmf, uniform_times, int(steps), float(t_eps), nfe=int(steps),
                   options=options, observes=True)
