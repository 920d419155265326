"""Time grids (schedules) from ``T`` (or ``t_start`` < T, for a sampler started from a partly
noised estimate) down to ``t_eps``, apart from the solvers that walk them:
``schedule(sde, steps, t_eps, device, t_start=None) -> steps + 1`` float64 times."""
from __future__ import annotations

import torch

from avdm.sde import AbsSDE


def start_time(sde: AbsSDE, t_eps: float, t_start=None) -> float:
    """``t_start`` (checked to lie in (t_eps, T]), or ``T`` when None."""
    if t_start is None:
        return float(sde.T)
    if not t_eps < float(t_start) <= sde.T:
        raise ValueError(f"t_start must lie in (t_eps, T] = ({t_eps:g}, {sde.T:g}], got {t_start}")
    return float(t_start)


def uniform_times(sde: AbsSDE, steps: int, t_eps: float, device=None, t_start=None) -> torch.Tensor:
    """Evenly spaced in ``t``."""
    return torch.linspace(start_time(sde, t_eps, t_start), t_eps, steps + 1, device=device, dtype=torch.float64)


def half_log_snr(sde: AbsSDE, t: torch.Tensor) -> torch.Tensor:
    """``lambda(t) = log(a(t) / s(t))``, half the log signal-to-noise ratio."""
    return torch.log(sde.mean_coeff(t)) - torch.log(sde.std(t))


def log_snr_times(sde: AbsSDE, steps: int, t_eps: float, device=None, t_start=None) -> torch.Tensor:
    """Evenly spaced in log-SNR (found by bisection: lambda(t) decreases)."""
    t0 = start_time(sde, t_eps, t_start)
    T = torch.tensor([t0], dtype=torch.float64)
    e = torch.tensor([t_eps], dtype=torch.float64)
    lam = torch.linspace(float(half_log_snr(sde, T)), float(half_log_snr(sde, e)), steps + 1, dtype=torch.float64)
    lo = torch.full_like(lam, t_eps)
    hi = torch.full_like(lam, t0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = half_log_snr(sde, mid) > lam  # too little noise: the answer is later
        lo = torch.where(above, mid, lo)
        hi = torch.where(above, hi, mid)
    ts = 0.5 * (lo + hi)
    ts[0], ts[-1] = t0, t_eps
    return ts if device is None else ts.to(device)
