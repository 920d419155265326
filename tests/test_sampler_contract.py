"""The sampler contract (avdm.sampling.base): every registered sampler, the posterior one included,
is a plain solver function with one signature, its schedule apart, an optional callback, and no
state kept between calls; the decoder calls any of them the same way."""
import dataclasses
import inspect

import numpy as np
import pytest
import torch

import avdm.sampling  # noqa: F401
from avdm.registry import SAMPLERS, SDES
from avdm.sampling.base import Observation, Sampler
from avdm.sampling.schedules import uniform_times
from avdm.stft import AmplitudeCompression

CONTRACT = ["sde", "score_fn", "x", "ts", "y", "observation", "generator", "callback"]


def gaussian_score(sde):
    def fn(x, t):  # x0 ~ CN(0, 1)
        a, s = sde.mean_coeff(t), sde.std(t)
        return -x / (a ** 2 + s ** 2)[:, None, None, None]
    return fn


def call(key, conf, seed=0, callback=None):
    """One call of sampler ``key`` on a small complex problem (with an observation where it needs one)."""
    sde = SDES.build("vp")
    sampler = SAMPLERS.build(key, {"t_eps": 1e-3, **conf})
    g = torch.Generator().manual_seed(seed)
    Y = torch.complex(torch.randn(1, 1, 8, 12, generator=g), torch.randn(1, 1, 8, 12, generator=g))
    x = sde.prior_sample(Y, None, generator=g)
    obs = Observation(Y, AmplitudeCompression(0.5, 0.15)) if sampler.observes else None
    return sampler(sde, gaussian_score(sde), x, None, g, observation=obs, callback=callback)


@pytest.mark.parametrize("key", SAMPLERS.keys())
def test_every_sampler_is_a_solver_function_with_the_one_signature(key):
    sampler = SAMPLERS.build(key, {"steps": 3})
    assert isinstance(sampler, Sampler) and inspect.isfunction(sampler.solve)
    params = inspect.signature(sampler.solve).parameters
    assert list(params)[:len(CONTRACT)] == CONTRACT
    assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in CONTRACT[4:] + list(sampler.options))
    assert sampler.schedule(SDES.build("vp"), 3, 1e-3, None).shape == (4,)


@pytest.mark.parametrize("key", SAMPLERS.keys())
def test_the_callback_sees_every_step_and_changes_nothing(key):
    seen = []
    with_cb, nfe = call(key, {"steps": 4}, callback=seen.append)
    without, nfe2 = call(key, {"steps": 4})
    assert torch.equal(with_cb, without) and nfe == nfe2 == SAMPLERS.build(key, {"steps": 4}).nominal_nfe()
    assert [s["i"] for s in seen] == [0, 1, 2, 3]
    assert all(s["x"].shape == with_cb.shape for s in seen)
    assert seen[0]["t"] == pytest.approx(1.0) and seen[0]["t"] > seen[-1]["t"]


@pytest.mark.parametrize("key", SAMPLERS.keys())
def test_no_state_is_kept_between_calls(key):
    sampler = SAMPLERS.build(key, {"steps": 3})
    before = dataclasses.asdict(sampler)
    first, _ = call(key, {"steps": 3}, seed=1)
    call(key, {"steps": 3}, seed=2)  # another call in between
    again, _ = call(key, {"steps": 3}, seed=1)
    assert torch.equal(first, again) and dataclasses.asdict(sampler) == before
    with pytest.raises(dataclasses.FrozenInstanceError):
        sampler.steps = 5


def test_the_schedule_is_apart_from_the_solver():
    calls = []

    def two_stops(sde, steps, t_eps, device, t_start=None):
        calls.append(steps)
        return torch.tensor([sde.T, 0.5, t_eps], dtype=torch.float64, device=device)

    sampler = dataclasses.replace(SAMPLERS.build("em", {"steps": 2, "t_eps": 1e-3}), schedule=two_stops)
    seen = []
    sde = SDES.build("vp")
    sampler(sde, gaussian_score(sde), torch.zeros(1, 1, 2, 2, dtype=torch.complex64), callback=seen.append)
    assert calls == [2] and [s["t"] for s in seen] == [1.0, 0.5]
    assert SAMPLERS.build("em").schedule is uniform_times


def test_an_observation_goes_only_to_a_sampler_that_observes():
    sde = SDES.build("vp")
    x = torch.zeros(1, 1, 4, 4, dtype=torch.complex64)
    obs = Observation(x, AmplitudeCompression())
    with pytest.raises(ValueError, match="does not condition on an observation"):
        SAMPLERS.build("dpm2m", {"steps": 2})(sde, gaussian_score(sde), x, observation=obs)
    with pytest.raises(ValueError, match="needs the noisy observation"):
        SAMPLERS.build("posterior_nmf", {"steps": 2})(sde, gaussian_score(sde), x)


def test_the_decoder_calls_any_observing_sampler_without_knowing_its_type():
    """A new posterior sampler registered from outside works for enhance_unsup as it is: the
    decoder decides by the contract (``observes``), not by the sampler's class or key."""
    from tests.test_inference_chunking import StubModel

    from avdm.inference.jobs import DecodeConfig, Decoder

    def keep_observation(sde, score_fn, x, ts, *, y=None, observation=None, generator=None, callback=None):
        return observation.compression.compress(observation.stft)  # "enhancement": the noisy input

    SAMPLERS.register("test_keep_observation")(
        lambda steps=1: Sampler("test_keep_observation", keep_observation, uniform_times, steps, 0.03, 0, observes=True))
    try:
        noisy = 0.1 * np.random.default_rng(0).standard_normal(10 * 640).astype(np.float32)
        dec = Decoder(StubModel("prior"), "enhance_unsup", DecodeConfig(sampler="test_keep_observation"))
        out = dec(None, noisy, 10).wav
        assert np.abs(out - noisy).max() < 1e-5
        with pytest.raises(ValueError, match="posterior_nmf is only for enhance_unsup"):
            Decoder(StubModel("prior"), "generate", DecodeConfig(sampler="test_keep_observation"))
    finally:
        SAMPLERS._entries.pop("test_keep_observation")


def test_the_decoder_passes_a_callback_to_the_sampler_of_every_chunk():
    from tests.test_inference_chunking import StubModel

    from avdm.inference.jobs import DecodeConfig, Decoder

    noisy = 0.1 * np.random.default_rng(1).standard_normal(30 * 640).astype(np.float32)
    dec = Decoder(StubModel("prior"), "enhance_unsup", DecodeConfig(sampler="posterior_nmf", sampler_conf={"steps": 2},
                                                                    chunk_frames=20, overlap_frames=4))
    seen = []
    with_cb = dec(None, noisy, 30, seed=2, callback=seen.append).wav
    assert np.array_equal(with_cb, dec(None, noisy, 30, seed=2).wav)
    assert [s["i"] for s in seen] == [0, 1, 0, 1]  # two chunks, two steps each
    W, H = seen[-1]["nmf"]  # the noise model of the last chunk, as the final Wiener filter used it
    assert W.shape[:2] == (1, 256) and H.shape[-1] == 20 * 640 // 128 + 1
