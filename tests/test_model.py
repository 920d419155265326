"""The AV diffusion model: every registry entry builds and trains a step, CFG, audio-only path."""
import math

import numpy as np
import pytest
import torch
import yaml

from avdm.model import AVDiffusionModel
from avdm.registry import SCORE_MODELS, SDES, VISUAL_ENCODERS, load_all
from avdm.stft import CompressedSTFT

load_all()

TINY_SCORERS = {
    "ncsnpp_lite": {"base_channels": 8, "channel_mults": [1, 2]},
    "ncsnpp": {"base_channels": 8, "channel_mults": [1, 1, 2], "num_res_blocks": 1, "attn_levels": [2]},
    "frame_transformer": {"d_model": 32, "num_layers": 2, "heads": 2, "ff_dim": 64},
}
TINY_VISUAL = {"light_cnn": {"channels": 4, "output_dim": 16}, "resnet18_lip": {"output_dim": 16, "width": 8},
               "none": {"output_dim": 16}}


def build(score_key="ncsnpp_lite", visual_key="light_cnn", mode="prior", sde="ouve", **model_conf):
    visual = VISUAL_ENCODERS.build(visual_key, TINY_VISUAL[visual_key])
    score = SCORE_MODELS.build(score_key, TINY_SCORERS[score_key], conditional=mode == "conditional",
                               visual_dim=visual.output_dim)
    return AVDiffusionModel(score, visual, SDES.build(sde), mode=mode, **model_conf)


def batch(B=2, frames=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = frames * 640
    return dict(speech=0.1 * torch.randn(B, n, generator=g), speech_lengths=torch.full((B,), n),
                lip=torch.randint(0, 255, (B, frames, 88, 88), generator=g).float(),
                lip_lengths=torch.full((B,), frames),
                speech_mix=0.1 * torch.randn(B, n, generator=g), speech_mix_lengths=torch.full((B,), n))


def test_stft_round_trip_and_shape():
    stft = CompressedSTFT()
    x = torch.randn(2, 3200)
    X = stft(x)
    assert X.shape == (2, 1, 256, 26) and X.dtype == torch.complex64
    assert torch.allclose(stft.inverse(X, 3200), x, atol=1e-4)


@pytest.mark.parametrize("score_key", sorted(TINY_SCORERS))
@pytest.mark.parametrize("visual_key", sorted(TINY_VISUAL))
@pytest.mark.parametrize("mode", ["prior", "conditional"])
def test_every_component_builds_and_trains_a_step(score_key, visual_key, mode):
    model = build(score_key, visual_key, mode)
    model.train()
    loss, stats, weight = model(**batch())
    assert loss.numel() == 1 and torch.isfinite(loss).all() and int(weight) == 2
    loss.sum().backward()
    grads = [p.grad for p in model.net["score"].parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # the score function has the state's shape
    model.eval()
    X = model.stft(batch()["speech"])
    vis = model.encode_visual(model._normalise(batch()["lip"]), X.shape[-1])
    s = model.score_fn(vis, y=X if mode == "conditional" else None)(X, torch.full((2,), 0.5))
    assert s.shape == X.shape and torch.isfinite(s).all()


def test_full_size_scorer_is_sgmse_sized():
    n = sum(p.numel() for p in SCORE_MODELS.build("ncsnpp", {}, conditional=True, visual_dim=256).parameters())
    assert 55e6 < n < 75e6


def test_lite_scorer_fits_the_cpu_budget():
    n = sum(p.numel() for p in SCORE_MODELS.build("ncsnpp_lite", {}, conditional=True, visual_dim=64).parameters())
    assert n <= 5e6


def test_visual_frames_reach_stft_frames_without_duplication_on_disk():
    class FrameIndex(torch.nn.Module):  # feature = index of the video frame
        output_dim = 16

        def forward(self, lips):
            B, T = lips.shape[:2]
            return torch.arange(T, dtype=torch.float32)[None, None].expand(B, 16, T)

    model = build()
    model.net["visual"] = FrameIndex()
    feats = model.encode_visual(torch.zeros(1, 3, 88, 88), model.stft.n_frames(3 * 640))
    # STFT frame j (hop 128) lies in video frame floor(j * 128 / 640); the last one is clamped
    expected = torch.tensor([min(j * 128 // 640, 2) for j in range(16)], dtype=torch.float32)
    assert torch.equal(feats[0, 0], expected)


def test_classifier_free_guidance_null_path():
    model = build(p_uncond=1.0)
    lips = model._normalise(batch()["lip"])
    drop = torch.tensor([True, False])
    feats = model.encode_visual(lips, 26, drop=drop)
    assert torch.equal(feats[0], model.null_visual[:, None].expand(-1, 26))
    assert not torch.equal(feats[1], feats[0])
    # guidance w: s_null + w (s_cond - s_null); w = 0 gives the unconditional score
    model.eval()
    with torch.no_grad():
        model.null_visual.fill_(0.3)
        X = model.stft(batch()["speech"])
        vis = model.encode_visual(lips, X.shape[-1])
        t = torch.full((2,), 0.4)
        s0 = model.score_fn(vis, guidance=0.0, use_ema=False)(X, t)
        s_null = model.score_fn(model.encode_visual(None, X.shape[-1], batch=2), use_ema=False)(X, t)
        s1 = model.score_fn(vis, guidance=1.0, use_ema=False)(X, t)
        s2 = model.score_fn(vis, guidance=2.0, use_ema=False)(X, t)
    assert torch.allclose(s0, s_null, atol=1e-5)
    assert torch.allclose(s2, s_null + 2 * (s1 - s_null), atol=1e-4)


def test_none_encoder_is_the_audio_only_model():
    torch.manual_seed(0)
    model = build(visual_key="none")
    assert model.audio_only
    b1, b2 = batch(seed=1), batch(seed=1)
    b2["lip"] = torch.rand_like(b2["lip"]) * 255  # other lips: nothing may change
    model.eval()
    X = model.stft(b1["speech"])
    f1 = model.encode_visual(model._normalise(b1["lip"]), X.shape[-1])
    f2 = model.encode_visual(model._normalise(b2["lip"]), X.shape[-1])
    f_none = model.encode_visual(None, X.shape[-1], batch=2)
    assert torch.equal(f1, f2) and torch.equal(f1, f_none)


@pytest.mark.parametrize("parameterization", ["eps", "edm"])
def test_tiny_model_overfits_one_utterance(parameterization):
    torch.manual_seed(0)
    b = batch(B=1, frames=5)
    # a voiced "utterance": four harmonics of 150 Hz (white noise would be a Gaussian the
    # untrained edm denoiser already models optimally, leaving nothing to learn in 150 steps)
    t = torch.arange(b["speech"].shape[1]) / 16000
    b["speech"] = 0.3 * sum(torch.sin(2 * math.pi * 150 * k * t) / k for k in range(1, 5))[None]
    x = b["speech"] / b["speech"].abs().max()
    sd = float(CompressedSTFT()(x).abs().pow(2).mean().sqrt())  # sigma_data: the data's own scale
    model = build(sde="vp", t_eps=0.05, p_uncond=0.0, parameterization=parameterization, sigma_data=sd)
    b = {k: v.repeat(4, *([1] * (v.dim() - 1))) for k, v in b.items()}
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for step in range(150):
        loss, _, _ = model(**b)
        loss = loss.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    start, end = np.mean(losses[:10]), np.mean(losses[-10:])
    assert end < 0.5 * start, (start, end)


def test_ema_follows_the_weights_with_warmup():
    model = build(ema_decay=0.999)
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)
    model.update_ema()  # first update: decay (1 + 0) / 10 = 0.1
    p_net = next(model.net.parameters())
    p_ema = next(model.ema.parameters())
    assert torch.allclose(p_ema, p_net, atol=0.2)


def test_unknown_key_in_config_lists_valid_keys(tmp_path):
    from avdm.task import AVDMTask

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"score_model": "ncsnpp_lit"}))
    with pytest.raises(BaseException) as e:
        parser = AVDMTask.get_parser()
        args = parser.parse_args(["--config", str(cfg), "--output_dir", str(tmp_path)])
        AVDMTask.build_model(args)
    assert "ncsnpp_lite" in str(e.value) or "ncsnpp_lit" in str(e.value)


@pytest.mark.parametrize("sde", ["vp", "ouve"])
def test_untrained_edm_model_has_the_exact_score_of_gaussian_data(sde):
    # the scorer's last layer starts at zero, so D = c_skip u / a: the optimal denoiser of
    # x_0 - m ~ CN(0, sigma_data^2), whose marginal score is -(x_t - m) / (a^2 sd^2 + s^2)
    model = build(sde=sde, mode="conditional" if sde == "ouve" else "prior", parameterization="edm",
                  sigma_data=0.3).eval()
    g = torch.Generator().manual_seed(1)
    shape = (2, 1, model.stft.n_freqs, 9)
    x = torch.randn(shape, dtype=torch.complex64, generator=g)
    y = torch.randn(shape, dtype=torch.complex64, generator=g) if sde == "ouve" else None
    visual = model.encode_visual(None, 9, batch=2)
    fn = model.score_fn(visual, y=y, use_ema=False)
    for t in (0.05, 0.4, 0.9):
        tt = torch.full((2,), t)
        a, s = model.sde.mean_coeff(tt)[0], model.sde.std(tt)[0]
        expected = -(x - (0 if y is None else y)) / (a ** 2 * 0.3 ** 2 + s ** 2)
        torch.testing.assert_close(fn(x, tt), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("normalize", ["peak", "rms"])
def test_training_loss_does_not_depend_on_the_input_level(normalize):
    # level normalisation: a recording 20 dB quieter is the same training example
    model = build(mode="conditional", parameterization="edm", normalize=normalize).train()
    b = batch()
    quiet = dict(b, speech=0.1 * b["speech"], speech_mix=0.1 * b["speech_mix"])
    torch.manual_seed(3)
    loud_loss = model(**b)[0]
    torch.manual_seed(3)
    quiet_loss = model(**quiet)[0]
    torch.testing.assert_close(loud_loss, quiet_loss, rtol=1e-4, atol=1e-6)
    expected = 0.25 if normalize == "peak" else 6.0 * 0.25  # the RMS of a constant is its magnitude
    assert model.input_scale(np.full(10, -0.25, np.float32)) == pytest.approx(expected)
    assert model.input_scale(np.zeros(10, np.float32)) == pytest.approx(1e-4)  # silence is not blown up


def test_rms_level_ignores_padding_and_barely_moves_for_a_click():
    from avdm.model import RMS_TO_PEAK

    model = build(mode="conditional", normalize="rms")
    t = torch.arange(16000) / 16000
    tone = 0.1 * torch.sin(2 * math.pi * 200 * t)  # RMS 0.1 / sqrt(2)
    padded = torch.stack([tone, torch.cat([tone[:8000], torch.zeros(8000)])])
    level = model._level(padded, torch.tensor([16000, 8000]))
    torch.testing.assert_close(level, torch.full((2, 1), RMS_TO_PEAK * 0.1 / math.sqrt(2)), rtol=1e-3, atol=0)
    clicked = tone.clone()
    clicked[5000:5016] += 1.0  # 1 ms impulse ten times the tone's peak
    peak = build(mode="conditional", normalize="peak")
    assert peak.input_scale(clicked) / peak.input_scale(tone) > 9  # the click sets the peak level
    assert 1.0 < model.input_scale(clicked) / model.input_scale(tone) < 1.2  # and barely moves the RMS one
    # inference divides a whole utterance by the level training computes for it
    assert model.input_scale(tone.numpy()) == pytest.approx(float(level[0]), rel=1e-5)
    assert model.input_scale(np.zeros(10, np.float32)) == pytest.approx(1e-4)  # silence is not blown up
    with pytest.raises(ValueError, match="unknown normalize 'loudness'; known: peak, rms, none"):
        build(normalize="loudness")


def test_bad_parameterization_is_named():
    with pytest.raises(ValueError, match="unknown parameterization 'v'"):
        build(parameterization="v")


def test_edm_scorer_sees_y_in_units_of_sigma_data():
    model = build(mode="conditional", parameterization="edm", sigma_data=0.2)
    seen = {}

    def spy(module, args):
        seen["y"] = args[2]

    model.net["score"].register_forward_pre_hook(spy)
    model.train()
    b = batch()
    model(**b)
    scale = b["speech_mix"].abs().amax(dim=-1, keepdim=True)
    expected = model.stft(b["speech_mix"] / scale) / 0.2
    torch.testing.assert_close(seen["y"], expected)


@pytest.mark.parametrize("parameterization", ["eps", "edm"])
def test_prior_matched_examples_are_drawn_where_the_sampler_starts(parameterization):
    # prior_match_prob: a training example at t = T comes from N(y, s(T)^2), the prior every
    # sampler starts from, not from the forward marginal, which still holds a(T) (x_0 - y): the
    # scorer's input must then not depend on the clean speech at all
    seen = []

    def spy(module, args):
        seen.append((args[0].clone(), args[1].clone()))

    def scorer_inputs(prob, clean_seed):
        model = build(mode="conditional", parameterization=parameterization, prior_match_prob=prob)
        model.net["score"].register_forward_pre_hook(spy)
        b = dict(batch(seed=0), speech=batch(seed=clean_seed)["speech"])
        torch.manual_seed(3)
        model.train()(**b)
        return seen[-1]

    x1, t1 = scorer_inputs(1.0, clean_seed=1)
    x2, t2 = scorer_inputs(1.0, clean_seed=2)
    torch.testing.assert_close(t1, torch.ones(2))  # every example at T
    torch.testing.assert_close(x1, x2)  # the clean speech is not in the input
    x1, _ = scorer_inputs(0.0, clean_seed=1)
    x2, _ = scorer_inputs(0.0, clean_seed=2)
    assert (x1 - x2).abs().max() > 1e-3  # the forward marginal does carry it


def test_prior_matched_loss_is_minimised_by_the_prior_s_own_target():
    # eps: the target of a prior-matched example is the noise relative to the forward mean,
    # (x_T - mean) / s(T), so a scorer that outputs exactly that has zero loss
    model = build(mode="conditional", parameterization="eps", prior_match_prob=1.0, ema_decay=0.0).train()
    b = batch()
    scale = b["speech_mix"].abs().amax(dim=-1, keepdim=True)
    X, Y = model.stft(b["speech"] / scale), model.stft(b["speech_mix"] / scale)
    T = torch.ones(2)
    mean, std = model.sde.marginal_prob(X, T, Y)

    class Oracle(torch.nn.Module):
        def forward(self, x, t, y, visual):
            torch.testing.assert_close(t, T)
            return (x - mean) / std

    model.net["score"] = Oracle()
    loss = model(**b)[0]
    assert float(loss) < 1e-10


def test_prior_match_prob_is_a_probability():
    with pytest.raises(ValueError, match="prior_match_prob must be in"):
        build(prior_match_prob=1.5)
