"""Unsupervised enhancement: posterior sampling with an NMF noise model fitted by EM.

Speech coefficients ~ CN(0, 1) (exact prior score), noise white CN(0, 0.49): the exact posterior
of each coefficient is CN(Y / 1.49, 0.49 / 1.49), so the samples can be checked against it.
"""
import math

import pytest
import torch

import avdm.sampling  # noqa: F401
from avdm.registry import SAMPLERS, SDES
from avdm.sampling.base import Observation
from avdm.sampling.posterior import init_nmf_from_quiet_frames, nmf_log_likelihood, nmf_update
from avdm.stft import AmplitudeCompression

NOISE = 0.49
B_EXACT, VAR_EXACT = 1 / (1 + NOISE), NOISE / (1 + NOISE)


def cn(g, *shape):
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)) / math.sqrt(2)


def gaussian_case(F=64, T=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    S = cn(g, 1, 1, F, T)
    return S, S + math.sqrt(NOISE) * cn(g, 1, 1, F, T), g


def prior_score(sde):
    def fn(x, t):  # x0 ~ CN(0, 1): x_t ~ CN(0, a^2 + s^2)
        a, s = sde.mean_coeff(t), sde.std(t)
        return -x / (a ** 2 + s ** 2)[:, None, None, None]
    return fn


def sample(Y, g, sde_key="vp", nmf_init=None, **conf):
    sde = SDES.build(sde_key)
    sampler = SAMPLERS.build("posterior_nmf", {"t_eps": 1e-3, "nmf_rank": 1, **conf})
    x = sde.prior_sample(Y, None, generator=g)
    steps = []  # what the sampler shows its callback after each step
    est, nfe = sampler(sde, prior_score(sde), x, None, g, observation=Observation(Y, AmplitudeCompression(1.0, 1.0),
                       nmf_init), callback=steps.append)
    return est, nfe, steps


def regression(est, Y):
    b = ((est * Y.conj()).sum() / (Y.abs() ** 2).sum()).real.item()
    return b, (est - b * Y).abs().pow(2).mean().item()


def known_noise(Y):
    return (torch.full((1, Y.shape[-2], 1), NOISE, dtype=torch.float64),
            torch.ones(1, 1, Y.shape[-1], dtype=torch.float64))


def test_samples_follow_the_exact_posterior_when_the_noise_is_known():
    S, Y, g = gaussian_case()
    est, nfe, _ = sample(Y, g, nmf_init=known_noise(Y), steps=50, em_iters=0, wiener=False)
    b, var = regression(est, Y)
    assert nfe == 50
    assert abs(b - B_EXACT) < 0.03  # measured 0.684 vs 0.671
    assert abs(var - VAR_EXACT) < 0.04  # measured 0.332 vs 0.329


def test_samples_follow_the_posterior_with_the_noise_learnt_by_em():
    S, Y, g = gaussian_case(seed=1)
    est, _, steps = sample(Y, g, steps=30, em_iters=3, wiener=False)
    b, var = regression(est, Y)
    W, H = steps[-1]["nmf"]
    assert abs((W @ H).mean().item() - NOISE) < 0.12  # measured 0.54 (from a 0.745 start)
    assert abs(b - B_EXACT) < 0.05 and abs(var - VAR_EXACT) < 0.06


def test_every_em_update_inside_the_sampler_increases_the_likelihood():
    S, Y, g = gaussian_case(F=32, T=60, seed=2)
    _, _, steps = sample(Y, g, steps=12, em_iters=2, nmf_rank=3)
    em_trace = [s["nmf_log_likelihood"] for s in steps]
    assert len(em_trace) == 12 and [s["i"] for s in steps] == list(range(12))
    for before, after in em_trace:
        assert after >= before - 1e-9 * abs(before)
    assert sum(after - before for before, after in em_trace) > 0


def test_each_multiplicative_half_step_is_monotone():
    """The H update and the W update (and the rescaling) each never decrease log p(V | W H)."""
    g = torch.Generator().manual_seed(3)
    V = torch.rand(40, 30, generator=g, dtype=torch.float64) ** 4 + 1e-4
    W = torch.rand(40, 5, generator=g, dtype=torch.float64) + 0.1
    H = torch.rand(5, 30, generator=g, dtype=torch.float64) + 0.1
    for _ in range(20):
        ll0 = nmf_log_likelihood(V, W, H)
        P = W @ H
        H = H * (W.T @ (V / P ** 2)) / (W.T @ (1 / P))
        ll1 = nmf_log_likelihood(V, W, H)
        W2, H2 = nmf_update(V, W, H, iters=1)
        ll2 = nmf_log_likelihood(V, W2, H2)
        assert ll1 >= ll0 - 1e-9 * abs(ll0) and ll2 >= ll1 - 1e-9 * abs(ll1)
        W, H = W2, H2


def test_enhancement_with_the_wiener_output_beats_the_noisy_input():
    S, Y, g = gaussian_case(F=32, T=80, seed=4)
    est, nfe, _ = sample(Y, g, steps=20, em_iters=3)
    err_in = (Y - S).abs().pow(2).mean().item()
    err_out = (est - S).abs().pow(2).mean().item()
    assert nfe == 20
    assert err_out < 0.9 * err_in  # measured 0.40 vs 0.49 (oracle Wiener 0.33)


def test_wiener_gain_floor_bounds_the_suppression_of_every_bin():
    S, Y, g = gaussian_case(F=32, T=80, seed=4)
    runs = {}
    for floor in (0.0, 0.3, 1.0):
        est, _, _ = sample(Y, torch.Generator().manual_seed(9), steps=20, em_iters=3, gain_floor=floor)
        runs[floor] = est
    ratio = runs[0.3].abs() / Y.abs()
    assert ratio.min() >= 0.3 - 1e-5 and ratio.max() <= 1 + 1e-5
    assert (runs[0.0].abs() / Y.abs()).min() < 0.05  # without a floor some bins are nearly removed
    # the floor only lifts bins the filter pushed below it; the others are untouched
    lifted = runs[0.0].abs() / Y.abs() < 0.3
    assert torch.allclose(runs[0.3][~lifted], runs[0.0][~lifted], atol=1e-5)
    assert torch.allclose(runs[1.0], Y.to(runs[1.0].dtype), atol=1e-5)  # floor 1: the observation
    with pytest.raises(ValueError, match="gain_floor"):
        SAMPLERS.build("posterior_nmf", {"gain_floor": 1.5})
    with pytest.raises(ValueError, match="wiener: true"):
        SAMPLERS.build("posterior_nmf", {"gain_floor": 0.1, "wiener": False})


def test_likelihood_weight_zero_ignores_the_observation():
    S, Y, g = gaussian_case(F=16, T=40, seed=5)
    est, _, _ = sample(Y, g, steps=10, likelihood_weight=0.0, em_iters=0, wiener=False)
    b, _ = regression(est, Y)
    assert abs(b) < 0.1  # a prior sample: uncorrelated with the observation


def test_bad_denoiser_at_high_noise_stays_finite():
    """A noise prediction with a 50% error (as an undertrained network's) makes the denoised
    estimate huge at high noise (divided by a(t) ~ 0.007); through the compression this used to
    blow up a likelihood gradient.  The Tweedie-difference correction stays bounded."""
    sde = SDES.build("vp")
    S, Y, g = gaussian_case(F=32, T=40, seed=6)
    Y = 0.05 * Y
    err = torch.Generator().manual_seed(7)

    def bad(x, t):  # score = -eps_hat / s with eps_hat = eps + 0.5 * error
        return prior_score(sde)(x, t) + 0.5 * cn(err, *x.shape) / sde.std(t)[:, None, None, None]

    sampler = SAMPLERS.build("posterior_nmf", {"steps": 16, "t_eps": 1e-3})
    comp = AmplitudeCompression(0.5, 0.15)
    x = sde.prior_sample(comp.compress(Y), None, generator=g)
    est, _ = sampler(sde, bad, x, None, g, observation=Observation(Y, comp))
    assert torch.isfinite(est).all() and est.abs().max() < 10


def test_posterior_needs_the_observation():
    sampler = SAMPLERS.build("posterior_nmf", {"steps": 2})
    with pytest.raises(ValueError, match="needs the noisy observation"):
        sampler(SDES.build("vp"), lambda x, t: -x, torch.zeros(1, 1, 4, 4, dtype=torch.complex64))
    with pytest.raises(ValueError, match="nmf_rank"):
        SAMPLERS.build("posterior_nmf", {"nmf_rank": 0})


def test_quiet_frames_start_the_noise_model_at_the_noise_power():
    """Speech pauses hold noise alone: initialised from the quietest frames the noise model starts
    at the noise power, and with few steps the Wiener output is closer to the clean speech than
    from the random start."""
    S, Y, g = gaussian_case(F=32, T=100, seed=6)
    S[..., 60:] = 0  # 40% of the frames are a pause
    Y = S + (Y - gaussian_case(F=32, T=100, seed=6)[0])  # the same noise over the pause
    W, H = init_nmf_from_quiet_frames((Y[:, 0].abs() ** 2).double(), rank=3)
    assert (W @ H).mean().item() == pytest.approx(NOISE, rel=0.15)
    err = {}
    for init in ("random", "quiet_frames"):
        est, _, _ = sample(Y, torch.Generator().manual_seed(0), steps=4, em_iters=2, noise_init=init)
        err[init] = (est - S).abs().pow(2).mean().item()
    assert err["quiet_frames"] < 0.97 * err["random"]  # measured 0.331 vs 0.354
    with pytest.raises(ValueError, match="noise_init"):
        SAMPLERS.build("posterior_nmf", {"noise_init": "oracle"})


def test_few_steps_end_on_the_posterior_estimate_not_on_a_blown_up_solver_step():
    # Two steps of the VP reverse process: a last Euler step from the middle of the process to
    # t_eps overshoots (57x the observed power here, the bug that made the unsupervised demo
    # return its input through the final Wiener filter); ending on the posterior estimate does not.
    S, Y, g = gaussian_case(seed=3)
    est, nfe, _ = sample(Y, g, nmf_init=known_noise(Y), steps=2, em_iters=0, wiener=False)
    power = ((est.abs() ** 2).mean() / (Y.abs() ** 2).mean()).item()
    assert nfe == 2
    assert 0.4 < power < 1.0  # measured 0.60 (the exact posterior mean: 0.67)
    assert (est - S).abs().pow(2).mean().item() < 0.7  # measured 0.58 (exact posterior mean 0.33)

    S, Y, g = gaussian_case(seed=3)
    est, _, _ = sample(Y, g, nmf_init=known_noise(Y), steps=2, em_iters=0, wiener=False, final_denoise=False)
    assert ((est.abs() ** 2).mean() / (Y.abs() ** 2).mean()).item() > 10  # measured 57
