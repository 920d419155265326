"""The reverse-time samplers: Euler-Maruyama, predictor-corrector, probability-flow Heun and a
few-step exponential integrator (DPM-Solver++(2M)-style)."""
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


@SAMPLERS.register("dpm2m")
class DPMSolver2M(AbsSampler):
    """Few-step exponential integrator on the data prediction (DPM-Solver++(2M)-style), 1 NFE/step."""

    def __init__(self, steps: int = 8, t_eps: float = 0.03, final_denoise: bool = False):
        super().__init__(steps, t_eps)
        self.final_denoise = bool(final_denoise)

    def nominal_nfe(self) -> int:
        return self.steps + (1 if self.final_denoise else 0)

    def sample(self, sde, score_fn, x, y, generator):
        ts = lambda_grid(sde, self.steps, self.t_eps).to(x.device)
        yy = 0 if y is None else y
        prev_d, prev_h = None, None
        for i in range(self.steps):
            t, t_next = ts[i], ts[i + 1]
            d = denoise(sde, score_fn, x, t, y) - yy  # data prediction, relative to the mean y
            lam, lam_next = _lambda(sde, t.view(1)), _lambda(sde, t_next.view(1))
            h = float(lam_next - lam)
            s, s_next = float(sde.std(t.view(1))), float(sde.std(t_next.view(1)))
            a_next = float(sde.mean_coeff(t_next.view(1)))
            if prev_d is None:
                dd = d
            else:
                r = prev_h / h
                dd = (1 + 1 / (2 * r)) * d - (1 / (2 * r)) * prev_d
            x = yy + (s_next / s) * (x - yy) - a_next * math.expm1(-h) * dd
            prev_d, prev_h = d, h
        if self.final_denoise:
            x = denoise(sde, score_fn, x, ts[-1], y)
        return x
