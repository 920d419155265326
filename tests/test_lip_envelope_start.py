"""Lip-to-speech started from the lips' envelope: the rendering of an envelope, schedules that
start below T, the decode options and their errors, and a generated waveform that follows the
front-end's envelope when started from it."""
import numpy as np
import pytest
import torch

from avdm import SAMPLES_PER_FRAME
from avdm.frontend.envelope import log_mel_envelope
from avdm.frontend.render import render_envelope


def pearson(a, b):
    a, b = np.ravel(a) - np.mean(a), np.ravel(b) - np.mean(b)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_the_rendering_has_the_envelope_it_was_given():
    rng = np.random.default_rng(0)
    # a level (40 dB of swing) and a spectral tilt per 160 ms, smooth across bands as speech is
    level, tilt = rng.uniform(-9, 0, (10, 1)), rng.uniform(-3, 3, (10, 1))
    env = np.repeat(level + tilt * np.linspace(-1, 1, 8)[None], 4, axis=0).astype(np.float32)
    wav = render_envelope(torch.from_numpy(env), 40 * SAMPLES_PER_FRAME, torch.Generator().manual_seed(0))
    got = log_mel_envelope(wav, 8)[0].numpy()
    inner = slice(2, -2)  # the first and last frames see the zero padding
    assert pearson(got[inner], env[inner]) > 0.95
    again = render_envelope(torch.from_numpy(env), 40 * SAMPLES_PER_FRAME, torch.Generator().manual_seed(0))
    assert torch.equal(wav, again) and wav.shape == (40 * SAMPLES_PER_FRAME,)
    with pytest.raises(ValueError, match=r"must be \(frames, bands\)"):
        render_envelope(torch.zeros(8), 640)


@pytest.mark.parametrize("schedule", ["uniform_times", "log_snr_times"])
def test_a_schedule_starts_at_t_start(schedule):
    from avdm.registry import SDES
    from avdm.sampling import schedules

    sde, fn = SDES.build("vp"), getattr(schedules, schedule)
    ts = fn(sde, 5, 1e-3, t_start=0.3)
    assert len(ts) == 6 and float(ts[0]) == pytest.approx(0.3) and float(ts[-1]) == pytest.approx(1e-3)
    assert bool((ts[1:] < ts[:-1]).all())
    assert float(fn(sde, 5, 1e-3)[0]) == sde.T
    for bad in (1e-3, 1.5):
        with pytest.raises(ValueError, match=r"t_start must lie in \(t_eps, T\]"):
            fn(sde, 5, 1e-3, t_start=bad)


def test_decode_options_of_the_start():
    from avdm.inference.jobs import DecodeConfig

    assert DecodeConfig.from_dict({"start": "lip_envelope", "t_start": 0.2}).t_start == 0.2
    with pytest.raises(ValueError, match="start: lip_envelope needs t_start"):
        DecodeConfig.from_dict({"start": "lip_envelope"})
    with pytest.raises(ValueError, match="'lips' is not one of noise, lip_envelope"):
        DecodeConfig.from_dict({"start": "lips"})
    with pytest.raises(ValueError, match="t_start is for start: lip_envelope"):
        DecodeConfig.from_dict({"t_start": 0.2})


def tiny_prior(visual="lip_envelope"):
    from avdm.model_builder import build_av_model

    torch.manual_seed(0)
    conf = {"visual_encoder": visual, "score_model": "ncsnpp_lite", "sde": "vp", "model_conf": {"mode": "prior"},
            "visual_encoder_conf": {"channels": 4, "hidden_dim": 8, "n_bands": 8, "freeze": False}
            if visual == "lip_envelope" else {},
            "score_model_conf": {"base_channels": 8, "channel_mults": [1, 2]}}
    model = build_av_model(conf).eval()
    if visual == "lip_envelope":
        with torch.no_grad():  # an envelope that moves with the lips, as a pretrained front-end's does
            torch.nn.init.normal_(model.net["visual"].head.weight, std=2.0)
            model.net["visual"].band_std.fill_(3.0)  # tens of dB of swing, as speech has
            model.ema.load_state_dict(model.net.state_dict())
    return model


def test_generation_started_from_the_lip_envelope_follows_it():
    from avdm.inference.jobs import DecodeConfig, Decoder

    model = tiny_prior()
    lips = np.random.default_rng(1).integers(0, 255, (30, 96, 96), dtype=np.uint8)
    envelope = model.lip_envelope(model.prepare_lips(lips), use_ema=True).numpy()  # (30, 8)
    near = DecodeConfig(sampler="dpm2m", sampler_conf={"steps": 1, "t_eps": 1e-3}, start="lip_envelope", t_start=0.002)
    res = Decoder(model, "generate", near)(lips, None, 30, seed=0)
    assert res.nfe == 1
    got = log_mel_envelope(res.wav, 8)[0].numpy()
    assert pearson(got[2:-2], envelope[2:-2]) > 0.9  # near 0 the sampler keeps what it started from
    noise = DecodeConfig(sampler="dpm2m", sampler_conf={"steps": 1, "t_eps": 1e-3})
    other = log_mel_envelope(Decoder(model, "generate", noise)(lips, None, 30, seed=0).wav, 8)[0].numpy()
    assert pearson(other[2:-2], envelope[2:-2]) < 0.5  # from the prior's noise it does not


def test_the_lip_envelope_start_is_refused_where_it_cannot_work(caplog):
    from avdm.inference.jobs import DecodeConfig, Decoder

    cfg = DecodeConfig(sampler="dpm2m", sampler_conf={"steps": 2, "t_eps": 1e-3}, start="lip_envelope", t_start=0.2)
    noise = DecodeConfig(sampler="dpm2m", sampler_conf={"steps": 2, "t_eps": 1e-3})
    lips = np.random.default_rng(1).integers(0, 255, (10, 96, 96), dtype=np.uint8)
    for visual, why in (("none", "audio-only"), ("light_cnn", "not lip_envelope")):
        # the audio-only twin (the baseline of lip-to-speech) decodes from noise, as start: noise does, and says so
        model = tiny_prior(visual)
        caplog.clear()
        dec = Decoder(model, "generate", cfg)
        assert f"predicts no envelope ({why}); starting from noise at T" in caplog.text
        assert np.array_equal(dec(lips, None, 10, seed=3).wav, Decoder(model, "generate", noise)(lips, None, 10, seed=3).wav)
    with pytest.raises(ValueError, match="is for lip-to-speech \\(job generate\\), not enhance_unsup"):
        Decoder(tiny_prior(), "enhance_unsup", DecodeConfig(sampler="posterior_nmf", start="lip_envelope", t_start=0.2))
    late = DecodeConfig(sampler="dpm2m", sampler_conf={"steps": 2, "t_eps": 1e-3}, start="lip_envelope", t_start=2.0)
    with pytest.raises(ValueError, match=r"t_start must lie in \(t_eps, T\] = \(0.001, 1\], got 2.0"):
        Decoder(tiny_prior(), "generate", late)
