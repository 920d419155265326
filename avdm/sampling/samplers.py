"""The reverse-time samplers: Euler-Maruyama, predictor-corrector, probability-flow Heun and a
few-step exponential integrators (DPM-Solver++(2M)/(3M)-style)."""
from __future__ import annotations

import math

import torch

from avdm.registry import SAMPLERS
from avdm.sampling.base import AbsSampler, bt, denoise, reverse_step, time_grid
from avdm.sde import expand_like, noise_like


@SAMPLERS.register("em")
class EulerMaruyama(AbsSampler):
    """Euler-Maruyama on the reverse SDE (1 NFE per step; the last step is noise-free)."""

    def sample(self, sde, score_fn, x, y, generator):
        ts = time_grid(sde, self.steps, self.t_eps, x.device)
        for i in range(self.steps):
            x, mean = reverse_step(sde, score_fn, x, ts[i], ts[i + 1], y, generator, noise=i < self.steps - 1)
        return x


@SAMPLERS.register("pc")
class PredictorCorrector(AbsSampler):
    """Reverse-diffusion predictor + annealed Langevin corrector (SGMSE+: 30 steps, snr 0.5 = 60 NFE)."""

    def __init__(self, steps: int = 30, t_eps: float = 0.03, snr: float = 0.5, corrector_steps: int = 1):
        super().__init__(steps, t_eps)
        self.snr = float(snr)
        self.corrector_steps = int(corrector_steps)

    def nominal_nfe(self) -> int:
        return self.steps * (1 + self.corrector_steps)

    def sample(self, sde, score_fn, x, y, generator):
        ts = time_grid(sde, self.steps, self.t_eps, x.device)
        mean = x
        for i in range(self.steps):
            t = ts[i]
            tt = bt(t, x)
            for _ in range(self.corrector_steps):
                grad = score_fn(x, tt)
                step = expand_like(2 * (self.snr * sde.std(tt)) ** 2, x)
                mean = x + step * grad
                x = mean + torch.sqrt(2 * step) * noise_like(x, generator)
            x, mean = reverse_step(sde, score_fn, x, t, ts[i + 1], y, generator)
        return mean


@SAMPLERS.register("ode_heun")
class HeunODE(AbsSampler):
    """Probability-flow ODE with Heun's second-order method (2 NFE per step, Euler on the last)."""

    def nominal_nfe(self) -> int:
        return 2 * self.steps - 1

    def sample(self, sde, score_fn, x, y, generator):
        ts = time_grid(sde, self.steps, self.t_eps, x.device)

        def f(x_, t_):
            tt = bt(t_, x_)
            return sde.reverse_drift(x_, tt, y, score_fn(x_, tt), probability_flow=True)

        for i in range(self.steps):
            dt = float(ts[i + 1] - ts[i])
            d1 = f(x, ts[i])
            x_euler = x + d1 * dt
            if i == self.steps - 1:
                x = x_euler
            else:
                x = x + 0.5 * (d1 + f(x_euler, ts[i + 1])) * dt
        return x


def _lambda(sde, t: torch.Tensor) -> torch.Tensor:
    """Half log signal-to-noise ratio: log(a(t) / s(t))."""
    return torch.log(sde.mean_coeff(t)) - torch.log(sde.std(t))


def lambda_grid(sde, steps: int, t_eps: float) -> torch.Tensor:
    """Times from T to t_eps evenly spaced in log-SNR (found by bisection: lambda(t) decreases)."""
    T = torch.tensor([sde.T], dtype=torch.float64)
    e = torch.tensor([t_eps], dtype=torch.float64)
    lam = torch.linspace(float(_lambda(sde, T)), float(_lambda(sde, e)), steps + 1, dtype=torch.float64)
    lo = torch.full_like(lam, t_eps)
    hi = torch.full_like(lam, sde.T)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = _lambda(sde, mid) > lam  # too little noise: the answer is later
        lo = torch.where(above, mid, lo)
        hi = torch.where(above, hi, mid)
    ts = 0.5 * (lo + hi)
    ts[0], ts[-1] = sde.T, t_eps
    return ts


class DPMSolverMultistep(AbsSampler):
    """Exponential integrator of the probability-flow ODE in the data prediction (DPM-Solver++
    multistep), 1 NFE per step on a grid uniform in log-SNR.

    With ``u = x - y`` and ``lambda = log(a / s)`` the ODE solves exactly as
    ``u_t = (s_t / s_r) u_r + a_t * integral_0^h exp(tau - h) D(lambda_r + tau) dtau`` (``h =
    lambda_t - lambda_r``, ``D`` the denoised ``x0 - y``); ``D`` is extrapolated from the last
    ``order`` denoiser outputs (lower orders for the first steps).
    """

    order = 2

    def __init__(self, steps: int = 8, t_eps: float = 0.03, final_denoise: bool = False):
        super().__init__(steps, t_eps)
        self.final_denoise = bool(final_denoise)

    def nominal_nfe(self) -> int:
        return self.steps + (1 if self.final_denoise else 0)

    def sample(self, sde, score_fn, x, y, generator):
        ts = lambda_grid(sde, self.steps, self.t_eps).to(x.device)
        yy = 0 if y is None else y
        hist = []  # (lambda, D) of previous steps, newest last
        for i in range(self.steps):
            t, t_next = ts[i], ts[i + 1]
            d = denoise(sde, score_fn, x, t, y) - yy  # data prediction, relative to the mean y
            lam, lam_next = float(_lambda(sde, t.view(1))), float(_lambda(sde, t_next.view(1)))
            h = lam_next - lam
            s, s_next = float(sde.std(t.view(1))), float(sde.std(t_next.view(1)))
            a_next = float(sde.mean_coeff(t_next.view(1)))
            order = min(self.order, len(hist) + 1)
            i0 = -math.expm1(-h)  # integral of exp(tau - h) over [0, h]
            if order == 1:
                dd = i0 * d
            elif order == 2:
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
        if self.final_denoise:
            x = denoise(sde, score_fn, x, ts[-1], y)
        return x


@SAMPLERS.register("dpm2m")
class DPMSolver2M(DPMSolverMultistep):
    """Few-step exponential integrator on the data prediction (DPM-Solver++(2M)-style), 1 NFE/step."""

    order = 2


@SAMPLERS.register("dpm3m")
class DPMSolver3M(DPMSolverMultistep):
    """Third-order multistep exponential integrator (DPM-Solver++(3M)-style), 1 NFE/step; more
    accurate than ``dpm2m`` from about 16 steps, less stable below 8."""

    order = 3
