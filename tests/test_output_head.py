"""The U-Net scorers' output heads: ``direct`` and ``gain`` (r + g * y at full resolution)."""
import pytest
import torch

from avdm.model import AVDiffusionModel
from avdm.registry import SCORE_MODELS, SDES, VISUAL_ENCODERS, load_all

load_all()


def lite(output_head, conditional=True, freq_stride=4):
    return SCORE_MODELS.build("ncsnpp_lite", {"base_channels": 8, "channel_mults": [1, 2], "freq_stride": freq_stride,
                                              "output_head": output_head},
                              conditional=conditional, visual_dim=4)


def inputs(seed=0, F=256, T=12):
    g = torch.Generator().manual_seed(seed)
    x = torch.complex(torch.randn(2, 1, F, T, generator=g), torch.randn(2, 1, F, T, generator=g))
    y = torch.complex(torch.randn(2, 1, F, T, generator=g), torch.randn(2, 1, F, T, generator=g))
    return x, torch.rand(2, generator=g), y, torch.randn(2, 4, T, generator=g)


@pytest.mark.parametrize("freq_stride", [1, 2, 4])
def test_gain_head_applies_its_maps_to_y_at_full_resolution(freq_stride):
    net = lite("gain", freq_stride=freq_stride)
    x, t, y, vis = inputs()
    with torch.no_grad():
        net.out.weight.zero_()  # the maps are then the biases alone: r = 0.5 - 0.2j, g = 2 + 1j
        net.out.bias.copy_(torch.tensor([0.5, -0.2, 2.0, 1.0]))
        out = net(x, t, y, vis)
    # every one of the 256 bins of y comes through, however coarse the grid inside the network
    assert torch.allclose(out, torch.complex(torch.tensor(0.5), torch.tensor(-0.2)) + torch.complex(
        torch.tensor(2.0), torch.tensor(1.0)) * y, atol=1e-6)


def test_heads_start_at_zero_and_differ_only_in_the_last_layer():
    direct, gain = lite("direct"), lite("gain")
    x, t, y, vis = inputs()
    assert torch.count_nonzero(gain(x, t, y, vis)) == 0 and torch.count_nonzero(direct(x, t, y, vis)) == 0
    assert direct.out.weight.shape[1] == 2 and gain.out.weight.shape[1] == 4  # ConvTranspose2d: (in, out, ...)
    body = lambda m: sum(p.numel() for n, p in m.named_parameters() if not n.startswith("out."))  # noqa: E731
    assert body(direct) == body(gain)


def test_gain_head_needs_a_conditioning_spectrogram():
    with pytest.raises(ValueError, match="'gain' .*conditional"):
        lite("gain", conditional=False)


def test_unknown_output_head_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown output_head 'mask'; known: direct, gain"):
        lite("mask")


def test_conditional_model_with_gain_head_trains_both_maps():
    torch.manual_seed(0)
    visual = VISUAL_ENCODERS.build("light_cnn", {"channels": 4, "output_dim": 4})
    model = AVDiffusionModel(lite("gain"), visual, SDES.build("ouve"), mode="conditional", parameterization="edm",
                             prior_match_prob=0.5)
    n = 5 * 640
    g = torch.Generator().manual_seed(1)
    b = dict(speech=0.1 * torch.randn(2, n, generator=g), speech_lengths=torch.full((2,), n),
             lip=torch.randint(0, 255, (2, 5, 88, 88), generator=g).float(), lip_lengths=torch.full((2,), 5),
             speech_mix=0.1 * torch.randn(2, n, generator=g), speech_mix_lengths=torch.full((2,), n))
    model.train()
    loss, _, _ = model(**b)
    loss.sum().backward()
    grad = model.net["score"].out.bias.grad
    assert torch.isfinite(loss).all() and grad.shape == (4,) and bool((grad != 0).all())
