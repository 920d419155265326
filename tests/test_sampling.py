"""Samplers on Gaussian data whose score is known exactly: x0 ~ N(mu, s0^2)."""
import math

import pytest
import torch

import avdm.sampling  # noqa: F401
from avdm.inference.chunking import chunk_bounds, process_chunked
from avdm.registry import SAMPLERS, SDES
from avdm.sampling.posterior import is_divergence, nmf_log_likelihood, nmf_update

MU, S0, N = 1.0, 0.3, 20000


def exact_score(sde, y=None):
    def fn(x, t):
        a, s = sde.mean_coeff(t)[:, None], sde.std(t)[:, None]
        yy = 0 if y is None else y
        m = yy + a * (MU - yy)
        return -(x - m) / (a ** 2 * S0 ** 2 + s ** 2)
    return fn


def run(sde_key, key, conf, seed=0):
    sde = SDES.build(sde_key)
    g = torch.Generator().manual_seed(seed)
    y = None if sde_key == "vp" else torch.full((N, 1), 0.5, dtype=torch.float64)
    t1 = torch.ones(1, dtype=torch.float64)
    a, s = sde.mean_coeff(t1), sde.std(t1)
    yy = 0 if y is None else y
    # start from the exact marginal at T, so only the solver's error remains
    x = yy + a * (MU - yy) + torch.sqrt(a ** 2 * S0 ** 2 + s ** 2) * torch.randn(N, 1, generator=g, dtype=torch.float64)
    sampler = SAMPLERS.build(key, {"t_eps": 1e-3, **conf})
    out, nfe = sampler(sde, exact_score(sde, y), x, y, g)
    return out, nfe, sampler


def w2(out):
    """2-Wasserstein distance between N(mean, std) of the samples and the target N(MU, S0)."""
    return math.sqrt((out.mean().item() - MU) ** 2 + (out.std().item() - S0) ** 2)


@pytest.mark.parametrize("sde_key", ["vp", "ouve"])
@pytest.mark.parametrize("key,conf,tol", [("pc", {"steps": 30}, 0.05), ("em", {"steps": 60}, 0.03),
                                          ("ode_heun", {"steps": 30}, 0.03), ("dpm2m", {"steps": 8}, 0.03)])
def test_sampler_recovers_gaussian(sde_key, key, conf, tol):
    out, nfe, sampler = run(sde_key, key, conf)
    assert abs(out.mean().item() - MU) < tol
    assert abs(out.std().item() - S0) < tol
    assert nfe == sampler.nominal_nfe()


def test_nfe_accounting():
    assert run("vp", "pc", {"steps": 30})[1] == 60
    assert run("vp", "em", {"steps": 7})[1] == 7
    assert run("vp", "ode_heun", {"steps": 4})[1] == 7
    assert run("vp", "dpm2m", {"steps": 5})[1] == 5
    assert run("vp", "dpm2m", {"steps": 5, "final_denoise": True})[1] == 6


@pytest.mark.parametrize("sde_key", ["vp", "ouve"])
def test_few_step_solver_beats_euler_maruyama_at_equal_nfe(sde_key):
    em = w2(run(sde_key, "em", {"steps": 8})[0])
    dpm = w2(run(sde_key, "dpm2m", {"steps": 8})[0])
    assert dpm < em
    assert dpm < 0.03


def test_samplers_are_deterministic_with_a_generator():
    a = run("ouve", "pc", {"steps": 5}, seed=3)[0]
    b = run("ouve", "pc", {"steps": 5}, seed=3)[0]
    assert torch.equal(a, b)


def test_unknown_sampler_lists_keys():
    with pytest.raises(ValueError, match="known keys: .*dpm2m.*Did you mean 'pc'"):
        SAMPLERS.build("pcc")


def test_nmf_em_never_decreases_likelihood():
    g = torch.Generator().manual_seed(0)
    V = torch.rand(64, 40, generator=g, dtype=torch.float64) ** 3 + 1e-3
    W = torch.rand(64, 4, generator=g, dtype=torch.float64) + 0.1
    H = torch.rand(4, 40, generator=g, dtype=torch.float64) + 0.1
    lls = [nmf_log_likelihood(V, W, H).item()]
    for _ in range(25):
        W, H = nmf_update(V, W, H, iters=1)
        lls.append(nmf_log_likelihood(V, W, H).item())
    assert all(b >= a - 1e-6 * abs(a) for a, b in zip(lls, lls[1:]))
    assert lls[-1] > lls[0] + 1.0
    assert is_divergence(V, W @ H) < is_divergence(V, torch.ones_like(V) * V.mean())


def test_nmf_recovers_low_rank_power():
    g = torch.Generator().manual_seed(1)
    W0 = torch.rand(32, 2, generator=g, dtype=torch.float64)
    H0 = torch.rand(2, 50, generator=g, dtype=torch.float64)
    V = W0 @ H0
    W = torch.rand(32, 2, generator=g, dtype=torch.float64) + 0.1
    H = torch.rand(2, 50, generator=g, dtype=torch.float64) + 0.1
    W, H = nmf_update(V, W, H, iters=500)
    assert ((W @ H - V).abs() / V).median() < 0.02


def test_chunk_bounds_cover_and_overlap():
    b = chunk_bounds(100, 30, 5)
    assert b[0] == (0, 30) and b[-1][1] == 100
    assert all(b[i + 1][0] < b[i][1] for i in range(len(b) - 1))
    assert chunk_bounds(20, 30, 5) == [(0, 20)]
    with pytest.raises(ValueError):
        chunk_bounds(100, 5, 5)


def test_chunked_equals_whole_on_short_and_identity_on_long():
    import numpy as np

    rng = np.random.default_rng(0)
    sig = rng.standard_normal(40 * 640).astype(np.float32)
    fn = lambda s, e: sig[s * 640:e * 640]  # noqa: E731
    assert np.array_equal(process_chunked(40, fn, 50, 5), sig)  # short: processed whole
    out = process_chunked(40, fn, 12, 4)  # long: overlap-add of an identity process
    assert np.allclose(out, sig, atol=1e-6)
