import math

import pytest
import torch

from avdm.registry import SDES
from avdm.sde import AbsSDE


@pytest.mark.parametrize("key", ["ouve", "vp"])
def test_marginal_std_solves_variance_ode(key):
    """d Var/dt = 2 * (d log a/dt) * Var + g^2 for a linear SDE: integrate it and compare."""
    sde: AbsSDE = SDES.build(key)
    n = 20000
    dt = 1.0 / n
    var = 0.0
    for i in range(n):
        t = torch.tensor([(i + 0.5) * dt], dtype=torch.float64)
        a1, a0 = sde.mean_coeff(t + dt / 2), sde.mean_coeff(t - dt / 2)
        dlog_a = (torch.log(a1) - torch.log(a0)) / dt
        var += (2 * dlog_a.item() * var + sde.diffusion(t).item() ** 2) * dt
    s1 = sde.std(torch.tensor([1.0], dtype=torch.float64)).item()
    assert math.isclose(math.sqrt(var), s1, rel_tol=2e-3)


@pytest.mark.parametrize("key", ["ouve", "vp"])
def test_forward_simulation_matches_marginal(key):
    torch.manual_seed(0)
    sde = SDES.build(key)
    x0 = torch.full((20000,), 0.7, dtype=torch.float64)
    y = torch.full_like(x0, -0.3)
    x = x0.clone()
    n = 400
    for i in range(n):
        t = torch.full_like(x0, i / n)
        x = x + sde.drift(x, t, y) / n + sde.diffusion(t) * math.sqrt(1 / n) * torch.randn_like(x)
    t1 = torch.ones_like(x0)
    mean, std = sde.marginal_prob(x0, t1, y)
    assert abs(x.mean().item() - mean[0].item()) < 0.02
    assert abs(x.std().item() - std[0].item()) / std[0].item() < 0.05


def test_ouve_values_and_prior():
    sde = SDES.build("ouve")
    t = torch.tensor([0.0, 1.0])
    assert torch.allclose(sde.std(t)[:1], torch.zeros(1), atol=1e-7)
    assert torch.allclose(sde.mean_coeff(t), torch.tensor([1.0, math.exp(-1.5)]))
    y = torch.randn(3, 1, 4, 5, dtype=torch.complex64)
    g = torch.Generator().manual_seed(1)
    xT = sde.prior_sample(y, y, generator=g)
    assert xT.shape == y.shape and xT.dtype == torch.complex64
    g = torch.Generator().manual_seed(1)
    assert torch.equal(xT, sde.prior_sample(y, y, generator=g))


def test_reverse_drift_probability_flow_halves_score_term():
    sde = SDES.build("vp")
    x = torch.randn(2, 3)
    t = torch.tensor([0.3, 0.6])
    s = torch.randn(2, 3)
    full = sde.reverse_drift(x, t, None, s)
    ode = sde.reverse_drift(x, t, None, s, probability_flow=True)
    g2 = sde.diffusion(t)[:, None] ** 2
    assert torch.allclose(full - ode, -0.5 * g2 * s, atol=1e-6)


def test_bad_parameters_fail_clearly():
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        SDES.build("ouve", {"sigma_min": 1.0, "sigma_max": 0.5})
    with pytest.raises(TypeError, match="accepted: theta, sigma_min, sigma_max, T"):
        SDES.build("ouve", {"sigma": 1.0})
