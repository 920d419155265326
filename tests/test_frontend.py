"""The lip front-end: envelope targets, pretraining that learns, the probe, loading into a diffusion model."""
import numpy as np
import pytest
import torch

from avdm import SAMPLES_PER_FRAME
from avdm.frontend.envelope import broadband, log_mel_envelope
from avdm.frontend.pretrain import Example, pretrain, probe
from avdm.visual.lip_envelope import LipEnvelopeEncoder


def test_envelope_frame_k_covers_video_frame_k():
    wav = np.zeros(10 * SAMPLES_PER_FRAME, np.float32)
    rng = np.random.default_rng(0)
    wav[4 * SAMPLES_PER_FRAME:5 * SAMPLES_PER_FRAME] = rng.standard_normal(SAMPLES_PER_FRAME)
    env = log_mel_envelope(wav, n_bands=8)
    assert env.shape == (1, 10, 8)
    loud = broadband(env[0])
    assert int(loud.argmax()) == 4
    assert loud[4] > loud[2] + 10 and loud[4] > loud[7] + 10  # the neighbours' neighbours hear nothing


def _synthetic(n_utts, rng, frames=30, size=24, walk=True):
    """Lips whose mouth opening (a dark bar's height) follows the speech's loudness (a random walk, or
    independent from frame to frame)."""
    out = []
    for i in range(n_utts):
        level = np.clip(np.cumsum(rng.standard_normal(frames)) * 0.3, -1.5, 1.5) if walk else rng.random(frames)
        level = (level - level.min()) / (np.ptp(level) + 1e-9)
        lips = np.full((frames, size, size), 200, np.uint8)
        for t, a in enumerate(level):
            h = int(round(a * (size // 2 - 1)))
            lips[t, size // 2 - h:size // 2 + h + 1, 4:-4] = 30
        wav = np.concatenate([10 ** (2 * a - 2) * rng.standard_normal(SAMPLES_PER_FRAME) for a in level])
        out.append(Example(f"u{i}", lips, log_mel_envelope(wav.astype(np.float32), 4)[0]))
    return out


def test_pretraining_learns_the_envelope_from_the_lips_of_unseen_utterances():
    rng = np.random.default_rng(0)
    train, held_out = _synthetic(12, rng), _synthetic(4, rng)
    enc = LipEnvelopeEncoder(channels=4, hidden_dim=8, n_bands=4, freeze=False)
    before = probe(enc, held_out, 128.0, 64.0, lip_crop=24)
    log = pretrain(enc, train, 128.0, 64.0, steps=120, batch_size=4, segment_frames=10, lr=5e-3, lip_crop=20,
                   flip_prob=0.5, log_every=40)
    after = probe(enc, held_out, 128.0, 64.0, lip_crop=24)
    assert log[-1]["loss"] < 0.5 * log[0]["loss"]
    assert after["broadband_r"] > 0.9 and after["broadband_r"] > before["broadband_r"] + 0.3
    assert after["band_r"] > 0.8 and after["utterances"] == 4


def test_a_missing_or_mismatched_front_end_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth not found"):
        LipEnvelopeEncoder(pretrained=str(tmp_path / "nope.pth")).load_pretrained()
    with pytest.raises(ValueError, match="freeze: true without pretrained"):
        LipEnvelopeEncoder(freeze=True).load_pretrained()
    torch.save({"state_dict": LipEnvelopeEncoder(channels=4, hidden_dim=8, n_bands=4).state_dict()}, tmp_path / "f.pth")
    with pytest.raises(ValueError, match="does not match visual_encoder_conf"):
        LipEnvelopeEncoder(channels=8, pretrained=str(tmp_path / "f.pth")).load_pretrained()


def test_diffusion_model_starts_from_the_front_end_frozen_in_weights_and_ema(tmp_path):
    from avdm.model_builder import build_av_model

    src = LipEnvelopeEncoder(channels=4, hidden_dim=8, n_bands=4, freeze=False)
    torch.nn.init.normal_(src.head.weight)
    torch.save({"state_dict": src.state_dict()}, tmp_path / "frontend.pth")
    conf = {"visual_encoder": "lip_envelope",
            "visual_encoder_conf": {"channels": 4, "hidden_dim": 8, "n_bands": 4,
                                    "pretrained": str(tmp_path / "frontend.pth"), "freeze": True},
            "score_model": "ncsnpp_lite", "score_model_conf": {"base_channels": 8, "channel_mults": [1, 2],
                                                               "visual_map": True},
            "sde": "ouve", "model_conf": {"mode": "conditional"}}
    model = build_av_model(conf)
    assert not torch.equal(model.net["visual"].head.weight, src.head.weight)  # built, not yet loaded
    model.load_pretrained()
    for net in (model.net, model.ema):
        assert torch.equal(net["visual"].head.weight, src.head.weight)
    assert not any(p.requires_grad for p in model.net["visual"].parameters())
    # a trained model is rebuilt for inference without the file: its state holds the front-end
    (tmp_path / "frontend.pth").unlink()
    rebuilt = build_av_model(conf)
    rebuilt.load_state_dict(model.state_dict())
    assert torch.equal(rebuilt.net["visual"].head.weight, src.head.weight)


def test_visual_map_is_an_input_the_scorer_learns_to_use():
    from avdm.score.unet import NCSNppLite

    net = NCSNppLite(conditional=True, visual_dim=6, base_channels=8, channel_mults=(1, 2), visual_map=True,
                     n_freqs=16)
    assert net.in_ch == 5 and net.vmap.weight.abs().sum() == 0  # zero-initialised: starts as no input
    x = torch.randn(2, 1, 16, 12, dtype=torch.cfloat)
    with torch.no_grad():
        net.out.weight.normal_()  # zero-initialised too: no layer gets a gradient until it moves
    out = net(x, torch.rand(2), torch.randn_like(x), torch.randn(2, 6, 12))
    out.abs().pow(2).mean().backward()
    assert net.vmap.weight.grad.abs().sum() > 0
    with torch.no_grad():
        net.vmap.weight.normal_()
        v = torch.randn(2, 6, 12)
        a = net(x, torch.full((2,), 0.5), torch.zeros_like(x), v)
        b = net(x, torch.full((2,), 0.5), torch.zeros_like(x), v.flip(-1))
    assert not torch.allclose(a, b)
    assert NCSNppLite(conditional=True, visual_dim=0, visual_map=True).vmap is None  # the audio-only twin


def test_the_same_config_pretrains_the_same_front_end(tmp_path, monkeypatch):
    """Run twice on a tiny dump dir (whatever the global RNG state): identical weights."""
    import json

    import kaldiio
    import soundfile as sf

    from avdm.frontend.run import run

    rng = np.random.default_rng(0)
    d = tmp_path / "dump"
    d.mkdir()
    exs = _synthetic(4, rng)
    with kaldiio.WriteHelper(f"ark,scp:{d / 'lip.ark'},{d / 'lip.scp'}", write_function="numpy") as w:
        for e in exs:
            w(e.utt, e.lips)
    wav = {}
    for e in exs:
        p = tmp_path / f"{e.utt}.wav"
        sf.write(p, rng.standard_normal(len(e.lips) * SAMPLES_PER_FRAME).astype(np.float32) * 0.1, 16000)
        wav[e.utt] = str(p)
    (d / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in wav.items()))
    (d / "lip_shape").write_text("".join(f"{e.utt} {len(e.lips)},24,24\n" for e in exs))
    (d / "lip_stats.json").write_text(json.dumps({"mean": 128.0, "std": 64.0}))
    conf = {"visual_encoder": "lip_envelope", "visual_encoder_conf": {"channels": 4, "hidden_dim": 8, "n_bands": 4},
            "steps": 3, "batch_size": 2, "segment_frames": 10, "lip_crop": 20, "seed": 3}
    states = []
    for k in range(2):
        torch.manual_seed(100 + k)  # a different global state each time
        run(conf, d, {}, tmp_path / f"exp{k}")
        states.append(torch.load(tmp_path / f"exp{k}" / "frontend.pth", weights_only=True)["state_dict"])
    assert all(torch.equal(states[0][n], states[1][n]) for n in states[0])


def _lagged(examples, lag):
    """The same lips with the speech ``lag`` frames later (the envelope at t follows the lips at t - lag)."""
    return [Example(e.utt, e.lips[:-lag], e.envelope[lag:]) for e in examples]  # no speech: no rendering probe


def test_temporal_context_reaches_an_envelope_beyond_the_trunks_receptive_field():
    # the trunk sees +-3 frames; with the speech 6 frames after the lips, only the dilated context
    # (1, 2, 4: +-7 more) can tell the envelope from the lips
    rng = np.random.default_rng(1)
    train = _lagged(_synthetic(12, rng, frames=40, walk=False), 6)
    held_out = _lagged(_synthetic(4, rng, frames=40, walk=False), 6)
    r = {}
    for dilations in ((), (1, 2, 4)):
        torch.manual_seed(0)
        enc = LipEnvelopeEncoder(channels=4, hidden_dim=8, n_bands=4, context_dilations=dilations, freeze=False)
        pretrain(enc, train, 128.0, 64.0, steps=150, batch_size=4, segment_frames=30, lr=5e-3, lip_crop=20,
                 flip_prob=0.0, log_every=150)
        r[dilations] = probe(enc, held_out, 128.0, 64.0, lip_crop=24)["broadband_r"]
    assert r[(1, 2, 4)] > 0.8 and r[(1, 2, 4)] > r[()] + 0.3, r


def test_an_encoder_without_context_has_the_old_state_dict():
    keys = set(LipEnvelopeEncoder(channels=4, hidden_dim=8, n_bands=4, freeze=False).state_dict())
    assert not any(k.startswith("context.") for k in keys)
    with_context = LipEnvelopeEncoder(channels=4, hidden_dim=8, n_bands=4, context_dilations=(1, 2), freeze=False)
    assert {k for k in with_context.state_dict() if k.startswith("context.")} and \
        keys < set(with_context.state_dict())
    with pytest.raises(ValueError, match="dilations must be >= 1"):
        LipEnvelopeEncoder(context_dilations=(0,), freeze=False)


class _TableEncoder(torch.nn.Module):
    """A stand-in front-end: utterance i's lips are frames filled with the value i, its envelope row i."""

    def __init__(self, envelopes):
        super().__init__()
        self.table, self.band_mean, self.band_std = envelopes, torch.zeros(20), torch.ones(20)

    def log_mel(self, lips):
        return self.table[int(lips[0, 0, 0, 0])][None]


def test_the_probe_renders_the_predicted_envelope_and_scores_its_estoi():
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(0)
    examples = []
    for i in range(3):  # noise in two spectral halves, each with its own smooth loudness
        n = 100 * SAMPLES_PER_FRAME
        loud = [np.interp(np.arange(n), np.arange(n // 160) * 160,
                          np.exp(2 * gaussian_filter1d(rng.standard_normal(n // 160), 3))) for _ in range(2)]
        w = rng.standard_normal(n)
        low = np.convolve(w, np.ones(8) / 8, "same")
        wav = (low * loud[0] + 0.3 * (w - low) * loud[1]).astype(np.float32)
        examples.append(Example(f"u{i}", np.full((100, 8, 8), i, np.uint8), log_mel_envelope(wav, 20)[0], wav))
    true = probe(_TableEncoder([e.envelope for e in examples]), examples, 0.0, 1.0, lip_crop=8)
    flat = probe(_TableEncoder([e.envelope.mean(0, keepdim=True).expand_as(e.envelope) for e in examples]),
                 examples, 0.0, 1.0, lip_crop=8)
    assert true["render_estoi"] > 0.3 and abs(flat["render_estoi"]) < 0.05, (true, flat)
    assert true["band_r"] == pytest.approx(1.0)
    no_speech = [Example(e.utt, e.lips, e.envelope) for e in examples]
    assert "render_estoi" not in probe(_TableEncoder([e.envelope for e in examples]), no_speech, 0.0, 1.0, lip_crop=8)
