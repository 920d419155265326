"""model_conf precision: values checked, bf16 autocast around the networks only (outputs, loss and
score in float32), float32 fallback with a warning where the device has no bfloat16."""
import logging

import pytest
import torch

from avdm import precision
from avdm.model import AVDiffusionModel
from avdm.registry import SCORE_MODELS, SDES, VISUAL_ENCODERS, load_all

load_all()


def build(mode="conditional", **conf):
    visual = VISUAL_ENCODERS.build("light_cnn", {"channels": 4, "output_dim": 8})
    score = SCORE_MODELS.build("ncsnpp_lite", {"base_channels": 8, "channel_mults": [1, 2]},
                               conditional=mode == "conditional", visual_dim=visual.output_dim)
    torch.manual_seed(0)
    return AVDiffusionModel(score, visual, SDES.build("ouve"), mode=mode, parameterization="edm", **conf)


def batch(B=2, frames=5):
    g = torch.Generator().manual_seed(0)
    n = frames * 640
    return dict(speech=0.1 * torch.randn(B, n, generator=g), speech_lengths=torch.full((B,), n),
                lip=torch.randint(0, 255, (B, frames, 88, 88), generator=g).float(),
                lip_lengths=torch.full((B,), frames),
                speech_mix=0.1 * torch.randn(B, n, generator=g), speech_mix_lengths=torch.full((B,), n))


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU that has bfloat16 (autocast works on any CPU; only its speed needs the hardware)."""
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(precision, "_warned", set())


def conv_dtypes(model):
    seen = []
    for m in model.net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda mod, i, o: seen.append(o.dtype))
    return seen


def test_unknown_precision_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown precision 'int8'; known: fp32, bf16"):
        build(precision="int8")
    with pytest.raises(ValueError, match="use_amp: true"):
        build(precision="fp16")
    assert build(precision="BF16").precision == "bf16"


def test_bf16_runs_the_networks_in_bfloat16_and_keeps_loss_and_score_in_float32(bf16_cpu):
    model = build(precision="bf16")
    seen = conv_dtypes(model)
    model.train()
    loss, _, _ = model(**batch())
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert seen and set(seen) == {torch.bfloat16}
    loss.backward()
    assert all(p.dtype == torch.float32 and (p.grad is None or p.grad.dtype == torch.float32)
               for p in model.parameters())
    model.eval()
    X = model.stft(0.1 * torch.randn(1, 3200))
    visual = model.encode_visual(model.prepare_lips(torch.randint(0, 255, (5, 96, 96), dtype=torch.uint8)),
                                 X.shape[-1])
    assert visual.dtype == torch.float32
    score = model.score_fn(visual, y=X, guidance=1.5)(X, torch.full((1,), 0.5))
    assert score.dtype == torch.complex64 and score.shape == X.shape and torch.isfinite(score).all()


def test_bf16_loss_is_close_to_float32(bf16_cpu):
    losses = {}
    for p in ("fp32", "bf16"):
        model = build(precision=p)
        torch.manual_seed(1)
        with torch.no_grad():  # the output layer starts at zero: make the network's output count
            model.net["score"].out.weight.normal_(0, 0.1)
        model.train()
        torch.manual_seed(2)  # same t and noise draws
        losses[p] = float(model(**batch())[0].detach())
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)
    assert losses["bf16"] != losses["fp32"]  # it did run in another precision


def test_bf16_without_hardware_support_falls_back_to_float32_with_one_warning(monkeypatch, caplog):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(precision, "_warned", set())
    model = build(precision="bf16")
    seen = conv_dtypes(model)
    with caplog.at_level(logging.WARNING, logger="avdm.precision"):
        model(**batch())
        model(**batch())
    assert set(seen) == {torch.float32}
    warnings = [r.getMessage() for r in caplog.records if r.name == "avdm.precision"]
    assert warnings == ["precision bf16: this CPU has neither AVX512-BF16 nor AMX; running in float32 instead"]


def test_fp32_is_plain_float32(bf16_cpu):
    model = build()
    seen = conv_dtypes(model)
    model(**batch())
    assert model.precision == "fp32" and set(seen) == {torch.float32}


def test_cpu_flags_decide_without_torch_probes(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert precision.cpu_has_bf16()
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert not precision.cpu_has_bf16()
