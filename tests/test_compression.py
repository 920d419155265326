"""Amplitude compression written once (avdm.stft.AmplitudeCompression): the model's STFT and the
posterior sampler use it, each with the float rounding it has always had (pinned bit for bit)."""
import torch

from avdm.sampling.posterior import POSTERIOR_ROUNDING
from avdm.stft import AmplitudeCompression, CompressedSTFT


def spectrum(seed=0):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.complex(torch.randn(2, 64, 50, generator=g), torch.randn(2, 64, 50, generator=g))


def test_the_stft_compresses_with_the_shared_compression():
    wav = torch.randn(2, 6400, generator=torch.Generator().manual_seed(1))
    stft = CompressedSTFT()
    spec = stft(wav)
    assert torch.equal(spec, stft.compression.compress(stft.linear(wav)).unsqueeze(1))
    assert (stft.alpha, stft.beta) == (0.5, 0.15)
    assert torch.allclose(stft.inverse(spec, 6400), wav, atol=1e-5)


def test_each_rounding_is_the_formula_its_caller_always_used():
    X = spectrum()
    mag12, mag10 = X.abs().clamp_min(1e-12), X.abs().clamp_min(1e-10)
    model = AmplitudeCompression(0.5, 0.15)
    posterior = model.with_rounding(**POSTERIOR_ROUNDING)
    assert torch.equal(model.compress(X), 0.15 * (mag12 ** 0.5 * (X / mag12)))
    assert torch.equal(posterior.compress(X), 0.15 * mag10 ** 0.5 * (X / mag10))
    c = model.compress(X)
    cm12, cm10 = (c / 0.15).abs().clamp_min(1e-12), (c / 0.15).abs().clamp_min(1e-10)
    assert torch.equal(model.expand(c), cm12 ** 2.0 * ((c / 0.15) / cm12))
    assert torch.equal(posterior.expand(c), cm10 ** 2.0 * ((c / 0.15) / cm10))
    # the same maths: the roundings agree to float precision, and each inverts itself
    assert torch.allclose(model.compress(X), posterior.compress(X), rtol=1e-6)
    for comp in (model, posterior):
        assert torch.allclose(comp.expand(comp.compress(X)), X, rtol=1e-5, atol=1e-6)


def test_alpha_one_is_a_pure_scale_for_the_model_and_computed_for_the_posterior():
    X = spectrum(2)
    model = AmplitudeCompression(1.0, 0.3)
    assert torch.equal(model.compress(X), 0.3 * X) and torch.equal(model.expand(0.3 * X), 0.3 * X / 0.3)
    posterior = model.with_rounding(**POSTERIOR_ROUNDING)
    assert torch.allclose(posterior.compress(X), 0.3 * X, rtol=1e-6)
