"""The reverse-time solvers (the contract is in :mod:`avdm.sampling.base`): Euler-Maruyama,
predictor-corrector, probability-flow Heun and few-step exponential integrators
(DPM-Solver++(2M)/(3M)-style), each registered with its schedule and NFE count."""
from __future__ import annotations

import math

import torch

from avdm.registry import SAMPLERS
from avdm.sampling.base import Sampler, bt, denoise, report, reverse_step
from avdm.sampling.schedules import half_log_snr, log_snr_times, uniform_times
from avdm.sde import expand_like, noise_like


def sample_em(sde, score_fn, x, ts, *, y=None, observation=None, generator=None, callback=None):
    """Euler-Maruyama on the reverse SDE; the last step is noise-free."""
    steps = len(ts) - 1
    for i in range(steps):
        x, mean = reverse_step(sde, score_fn, x, ts[i], ts[i + 1], y, generator, noise=i < steps - 1)
        report(callback, i, ts[i], x)
    return x


def sample_pc(sde, score_fn, x, ts, *, y=None, observation=None, generator=None, callback=None,
              snr: float = 0.5, corrector_steps: int = 1):
    """Annealed Langevin corrector steps then a reverse-diffusion predictor step at every time;
    returns the last predictor mean."""
    mean = x
    for i in range(len(ts) - 1):
        t = ts[i]
        tt = bt(t, x)
        for _ in range(corrector_steps):
            grad = score_fn(x, tt)
            step = expand_like(2 * (snr * sde.std(tt)) ** 2, x)
            mean = x + step * grad
            x = mean + torch.sqrt(2 * step) * noise_like(x, generator)
        x, mean = reverse_step(sde, score_fn, x, t, ts[i + 1], y, generator)
        report(callback, i, t, x, mean=mean)
    return mean


def sample_heun(sde, score_fn, x, ts, *, y=None, observation=None, generator=None, callback=None):
    """Probability-flow ODE with Heun's second-order method (Euler on the last step)."""
    steps = len(ts) - 1

    def f(x_, t_):
        tt = bt(t_, x_)
        return sde.reverse_drift(x_, tt, y, score_fn(x_, tt), probability_flow=True)

    for i in range(steps):
        dt = float(ts[i + 1] - ts[i])
        d1 = f(x, ts[i])
        x_euler = x + d1 * dt
        if i == steps - 1:
            x = x_euler
        else:
            x = x + 0.5 * (d1 + f(x_euler, ts[i + 1])) * dt
        report(callback, i, ts[i], x)
    return x


def sample_dpm_multistep(sde, score_fn, x, ts, *, y=None, observation=None, generator=None, callback=None,
                         order: int = 2, final_denoise: bool = False):
    """Exponential integrator of the probability-flow ODE in the data prediction (DPM-Solver++
    multistep), 1 NFE per step (best on a grid uniform in log-SNR).

    With ``u = x - y`` and ``lambda = log(a / s)`` the ODE solves exactly as
    ``u_t = (s_t / s_r) u_r + a_t * integral_0^h exp(tau - h) D(lambda_r + tau) dtau`` (``h =
    lambda_t - lambda_r``, ``D`` the denoised ``x0 - y``); ``D`` is extrapolated from the last
    ``order`` denoiser outputs (lower orders for the first steps).  ``final_denoise``: one more NFE,
    the denoised estimate at ``t_eps``.
    """
    yy = 0 if y is None else y
    hist = []  # (lambda, D) of previous steps, newest last
    for i in range(len(ts) - 1):
        t, t_next = ts[i], ts[i + 1]
        d = denoise(sde, score_fn, x, t, y) - yy  # data prediction, relative to the mean y
        lam, lam_next = float(half_log_snr(sde, t.view(1))), float(half_log_snr(sde, t_next.view(1)))
        h = lam_next - lam
        s, s_next = float(sde.std(t.view(1))), float(sde.std(t_next.view(1)))
        a_next = float(sde.mean_coeff(t_next.view(1)))
        k = min(order, len(hist) + 1)
        i0 = -math.expm1(-h)  # integral of exp(tau - h) over [0, h]
        if k == 1:
            dd = i0 * d
        elif k == 2:
            lam1, d1 = hist[-1]
            r = (lam - lam1) / h
            dd = i0 * ((1 + 1 / (2 * r)) * d - (1 / (2 * r)) * d1)
        else:  # quadratic Newton extrapolation through the last three outputs
            (lam2, d2), (lam1, d1) = hist[-2], hist[-1]
            h1, h2 = lam - lam1, lam1 - lam2
            delta1, delta2 = (d - d1) / h1, (d1 - d2) / h2
            c = (delta1 - delta2) / (h1 + h2)
            i1 = h - i0  # integral of exp(tau - h) tau
            i2 = 0.5 * h * h - i1  # integral of exp(tau - h) tau^2 / 2
            dd = i0 * d + i1 * (delta1 + c * h1) + i2 * 2 * c
        x = yy + (s_next / s) * (x - yy) + a_next * dd
        hist = (hist + [(lam, d)])[-2:]
        if callback is not None:
            report(callback, i, t, x, denoised=d + yy)
    if final_denoise:
        x = denoise(sde, score_fn, x, ts[-1], y)
    return x


@SAMPLERS.register("em")
def euler_maruyama(steps: int = 30, t_eps: float = 0.03) -> Sampler:
    """Euler-Maruyama on the reverse SDE (1 NFE per step; the last step is noise-free)."""
    return Sampler("em", sample_em, uniform_times, int(steps), float(t_eps), nfe=int(steps))


@SAMPLERS.register("pc")
def predictor_corrector(steps: int = 30, t_eps: float = 0.03, snr: float = 0.5, corrector_steps: int = 1) -> Sampler:
    """Reverse-diffusion predictor + annealed Langevin corrector (SGMSE+: 30 steps, snr 0.5 = 60 NFE)."""
    return Sampler("pc", sample_pc, uniform_times, int(steps), float(t_eps),
                   nfe=int(steps) * (1 + int(corrector_steps)),
                   options={"snr": float(snr), "corrector_steps": int(corrector_steps)})


@SAMPLERS.register("ode_heun")
def heun_ode(steps: int = 30, t_eps: float = 0.03) -> Sampler:
    """Probability-flow ODE with Heun's second-order method (2 NFE per step, Euler on the last)."""
    return Sampler("ode_heun", sample_heun, uniform_times, int(steps), float(t_eps), nfe=2 * int(steps) - 1)


def _dpm(key: str, order: int, steps: int, t_eps: float, final_denoise: bool) -> Sampler:
    return Sampler(key, sample_dpm_multistep, log_snr_times, int(steps), float(t_eps),
                   nfe=int(steps) + (1 if final_denoise else 0),
                   options={"order": order, "final_denoise": bool(final_denoise)})


@SAMPLERS.register("dpm2m")
def dpm_solver_2m(steps: int = 8, t_eps: float = 0.03, final_denoise: bool = False) -> Sampler:
    """Few-step exponential integrator on the data prediction (DPM-Solver++(2M)-style), 1 NFE/step."""
    return _dpm("dpm2m", 2, steps, t_eps, final_denoise)


@SAMPLERS.register("dpm3m")
def dpm_solver_3m(steps: int = 8, t_eps: float = 0.03, final_denoise: bool = False) -> Sampler:
    """Third-order multistep exponential integrator (DPM-Solver++(3M)-style), 1 NFE/step; more
    accurate than ``dpm2m`` from about 16 steps, less stable below 8."""
    return _dpm("dpm3m", 3, steps, t_eps, final_denoise)
