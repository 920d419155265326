"""Solver accuracy on Gaussian data with the exact score, measured without Monte-Carlo noise.

x0 ~ N(MU, S0^2) (real) or CN(MU, S0^2) (complex STFT-like state).  The initial x_T are the exact
marginal's quantiles (stratified, standardised), so for the deterministic solvers the output is an
exact affine image of a standard set and the mean / std error is pure discretisation error.
"""
import math

import pytest
import torch

import avdm.sampling  # noqa: F401
from avdm.registry import SAMPLERS, SDES

MU, S0, N = 1.0, 0.3, 4001


def exact_score(sde, y=None):
    def fn(x, t):
        a, s = sde.mean_coeff(t)[:, None], sde.std(t)[:, None]
        yy = 0 if y is None else y
        return -(x - (yy + a * (MU - yy))) / (a ** 2 * S0 ** 2 + s ** 2)
    return fn


def quantiles(n):
    q = torch.distributions.Normal(0.0, 1.0).icdf((torch.arange(n, dtype=torch.float64) + 0.5) / n)
    return ((q - q.mean()) / q.std())[:, None]


def solve(sde_key, key, steps, complex_data=False, seed=0, **conf):
    sde = SDES.build(sde_key)
    y = None if sde_key == "vp" else torch.full((N, 1), 0.5, dtype=torch.float64)
    t1 = torch.ones(1, dtype=torch.float64)
    a, s = sde.mean_coeff(t1), sde.std(t1)
    yy = 0 if y is None else y
    z = quantiles(N)
    if complex_data:  # E|z|^2 = 1: both parts carry half the variance
        z = torch.complex(z, quantiles(N)[torch.randperm(N, generator=torch.Generator().manual_seed(1))]) / math.sqrt(2)
        y = None if y is None else y.to(torch.complex128)
        yy = 0 if y is None else y
    x = yy + a * (MU - yy) + torch.sqrt(a ** 2 * S0 ** 2 + s ** 2) * z
    sampler = SAMPLERS.build(key, {"steps": steps, "t_eps": 1e-3, **conf})
    out, nfe = sampler(sde, exact_score(sde, y), x, y, torch.Generator().manual_seed(seed))
    mean_err = (out.mean() - MU).abs().item()
    std = math.sqrt(((out - out.mean()).abs() ** 2).mean().item())
    return math.hypot(mean_err, std - S0), nfe


@pytest.mark.parametrize("sde_key", ["vp", "ouve"])
def test_few_step_solver_at_8_nfe_beats_em_and_heun_and_matches_pc_at_60(sde_key):
    dpm, nfe = solve(sde_key, "dpm2m", 8)
    em, nfe_em = solve(sde_key, "em", 8)
    heun, nfe_heun = solve(sde_key, "ode_heun", 4)  # 7 NFE
    pc, nfe_pc = solve(sde_key, "pc", 30)
    assert (nfe, nfe_em, nfe_heun, nfe_pc) == (8, 8, 7, 60)
    # measured: vp dpm 6.4e-3, em 1.2e-1, heun 4.4e-1 (3 NFE) / 1.9e-1, pc 3.9e-2; ouve dpm 6.3e-3,
    # em 3.9e-2, heun 3.5e-2, pc 8e-3
    assert dpm < 0.01
    assert dpm < em / 3 and dpm < heun / 3
    assert dpm < pc * 1.2


@pytest.mark.parametrize("sde_key", ["vp", "ouve"])
def test_deterministic_solvers_converge_with_their_order(sde_key):
    h8, h32 = solve(sde_key, "ode_heun", 8)[0], solve(sde_key, "ode_heun", 32)[0]
    d8, d32 = solve(sde_key, "dpm2m", 8)[0], solve(sde_key, "dpm2m", 32)[0]
    t16, t32 = solve(sde_key, "dpm3m", 16)[0], solve(sde_key, "dpm3m", 32)[0]
    assert h32 < h8 / 3  # Heun: second order in t (slow start on VP's stiff end)
    assert d32 < d8 / 2
    assert t32 < 2e-3 and t16 < 5e-3
    if sde_key == "vp":
        assert t32 < d32 / 3  # third order pays off once steps are small


@pytest.mark.parametrize("key,steps,tol", [("em", 60, 0.03), ("pc", 30, 0.05), ("ode_heun", 30, 0.05),
                                           ("dpm2m", 8, 0.02), ("dpm3m", 16, 0.02)])
def test_complex_state_is_sampled_with_the_right_variance(key, steps, tol):
    """The diffusion state is a complex spectrogram: noise and score conventions must agree."""
    err, _ = solve("ouve", key, steps, complex_data=True)
    assert err < tol


def test_stochastic_samplers_error_shrinks_with_steps():
    assert solve("vp", "em", 64)[0] < solve("vp", "em", 8)[0] / 4
    assert solve("ouve", "pc", 30)[0] < solve("ouve", "pc", 4)[0] / 4


def test_nfe_is_counted_from_the_score_calls():
    calls = []
    sde = SDES.build("vp")

    def score(x, t):
        calls.append(1)
        return -x

    x = torch.randn(4, 3)
    for key, conf, expect in [("pc", {"steps": 5, "corrector_steps": 2}, 15), ("dpm3m", {"steps": 6}, 6),
                              ("ode_heun", {"steps": 6}, 11), ("em", {"steps": 9}, 9)]:
        calls.clear()
        sampler = SAMPLERS.build(key, conf)
        _, nfe = sampler(sde, score, x)
        assert nfe == len(calls) == expect == sampler.nominal_nfe()
