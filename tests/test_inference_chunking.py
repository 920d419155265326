"""Chunked inference: bounded memory on a 60-second input, identical to whole-file on short ones.

The jobs run through :class:`avdm.inference.jobs.Decoder` on a stub model that has the model's
inference API but an analytic (Gaussian) score, so a 60 s file takes about a second.
"""
import numpy as np
import pytest
import torch

from avdm import SAMPLES_PER_FRAME
from avdm.inference.jobs import DecodeConfig, Decoder
from avdm.registry import SDES
from avdm.sde import expand_like
from avdm.stft import CompressedSTFT

VAR = 1e-4  # variance of the stub's compressed "speech" around its mean


class StubModel:
    def __init__(self, mode, var=VAR):
        self.var = var
        self.mode, self.audio_only, self.p_uncond = mode, True, 0.0
        self.sde = SDES.build("vp" if mode == "prior" else "ouve")
        self.stft = CompressedSTFT()
        self.device = torch.device("cpu")

    def input_scale(self, wav):
        return 1.0  # the analytic score is written for the signal as it is

    def encode_visual(self, lips, n_frames, use_ema=True, batch=1):
        return torch.zeros(batch, 1, n_frames)

    def score_fn(self, visual, y=None, guidance=1.0, use_ema=True):
        def fn(x, t):
            a, s = expand_like(self.sde.mean_coeff(t), x), expand_like(self.sde.std(t), x)
            mean = 0 if y is None else y  # clean speech ~ N(y, VAR) for the conditional stub
            return -(x - mean) / (a ** 2 * self.var + s ** 2)
        return fn


def record_segments(monkeypatch, dec):
    sizes = []
    orig = dec._segment

    def seg(lips, noisy, n_frames, g, callback=None):
        sizes.append(n_frames)
        return orig(lips, noisy, n_frames, g, callback)

    monkeypatch.setattr(dec, "_segment", seg)
    return sizes


@pytest.mark.parametrize("job,mode,sampler", [("enhance", "conditional", "dpm2m"),
                                              ("enhance_unsup", "prior", "posterior_nmf"),
                                              ("generate", "prior", "dpm2m")])
def test_sixty_seconds_run_in_bounded_chunks(monkeypatch, job, mode, sampler):
    n_frames = 60 * 25
    noisy = 0.1 * np.random.default_rng(0).standard_normal(n_frames * SAMPLES_PER_FRAME).astype(np.float32)
    dec = Decoder(StubModel(mode), job, DecodeConfig(sampler=sampler, sampler_conf={"steps": 2},
                                                     chunk_frames=250, overlap_frames=25))
    sizes = record_segments(monkeypatch, dec)
    res = dec(None, None if job == "generate" else noisy, n_frames, seed=1)
    assert res.wav.shape == (n_frames * SAMPLES_PER_FRAME,) and np.isfinite(res.wav).all()
    assert max(sizes) == 250 and len(sizes) == 7  # memory is that of one 10 s chunk
    assert res.nfe == 2 and res.rtf > 0


def test_chunked_equals_whole_file_on_short_input(monkeypatch):
    n_frames = 40
    noisy = 0.1 * np.random.default_rng(1).standard_normal(n_frames * SAMPLES_PER_FRAME).astype(np.float32)
    model = StubModel("conditional")
    conf = dict(sampler="pc", sampler_conf={"steps": 3})
    chunked = Decoder(model, "enhance", DecodeConfig(**conf, chunk_frames=40, overlap_frames=5))
    sizes = record_segments(monkeypatch, chunked)
    a = chunked(None, noisy, n_frames, seed=3).wav
    whole = Decoder(model, "enhance", DecodeConfig(**conf))
    g = torch.Generator().manual_seed(3 * 1000003)
    b, _ = whole._segment(None, noisy, n_frames, g)
    assert sizes == [40]
    assert np.array_equal(a, b)


def test_chunk_seams_are_cross_faded_not_cut():
    """Long input through overlapping chunks of a deterministic job: the result stays close to
    the whole-file result everywhere, seams included (an ODE sampler on a per-bin score)."""
    n_frames = 60
    noisy = 0.1 * np.random.default_rng(2).standard_normal(n_frames * SAMPLES_PER_FRAME).astype(np.float32)
    model = StubModel("conditional", var=1e-8)  # nearly deterministic: the output is ~ y
    conf = dict(sampler="dpm2m", sampler_conf={"steps": 4, "final_denoise": True})
    whole = Decoder(model, "enhance", DecodeConfig(**conf, chunk_frames=1000))(None, noisy, n_frames).wav
    chunked = Decoder(model, "enhance", DecodeConfig(**conf, chunk_frames=20, overlap_frames=6))(
        None, noisy, n_frames).wav
    err = np.abs(chunked - whole)
    # what differs: the random x_T of each chunk (tiny here) and the STFT frames at chunk edges,
    # which the cross-fade hides
    assert err.max() < 0.05 * np.abs(whole).max()
    assert np.sqrt(np.mean(err ** 2)) < 0.01 * np.sqrt(np.mean(whole ** 2))
    assert np.abs(whole - noisy).max() < 0.05 * np.abs(noisy).max()  # the stub's job is ~ identity


def test_non_finite_samples_are_an_error_not_a_wav():
    model = StubModel("prior")
    dec = Decoder(model, "generate", DecodeConfig(sampler="em", sampler_conf={"steps": 2}))
    model.score_fn = lambda *a, **k: (lambda x, t: x * float("nan"))
    with pytest.raises(RuntimeError, match="non-finite"):
        dec(None, None, 10)
