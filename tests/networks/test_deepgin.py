"""DeepGIN networks: parameter counts (spec §2.7, §3, §5.2), shapes at 64 px, and block-level behaviour."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from networks.deepgin import (
    SPD4_RATES,
    SPD8_RATES,
    CoarseGenerator,
    DeepGINGenerator,
    MultiScaleDiscriminator,
    PatchDiscriminator,
    SelfAttention,
    SPDResBlock,
    StdResBlock,
    bicubic_post_blur,
    make_resblock,
    self_ensemble,
)


def n_trainable(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


# Table 1 rows (spec §2.7 / §7.1) with the official measured counts.
TABLE1 = [
    (dict(stages="coarse_only", resblock="std", attention="none", back_projection=False), 8_167_843),
    (dict(resblock="std", attention="none", back_projection=False), 40_849_990),
    (dict(resblock="std", attention="sa", back_projection=False), 41_375_558),
    (dict(resblock="std", attention="mssa", back_projection=False), 42_892_134),
    (dict(resblock="dilated", attention="mssa", back_projection=False), 42_892_134),
    (dict(resblock="spd", attention="mssa", back_projection=False), 42_892_134),
    (dict(resblock="spd", attention="mssa", back_projection=True), 42_930_186),
]


@pytest.mark.parametrize("kwargs,expected", TABLE1, ids=[str(i) for i in range(len(TABLE1))])
def test_table1_parameter_counts(kwargs, expected):
    assert n_trainable(DeepGINGenerator(small_init=False, **kwargs)) == expected


def test_default_generator_and_g1_counts():
    g = DeepGINGenerator(small_init=False)
    assert n_trainable(g) == 42_930_186
    assert n_trainable(g.coarse) == 8_167_843
    assert n_trainable(g.refine) == 34_762_343


def test_track2_counts_official_and_ours():
    # official gin-sg: 3-channel RGB-coded seg map -> input_nc 7
    assert n_trainable(DeepGINGenerator(semantic_channels=3, small_init=False)) == 42_939_594
    # ours: 52-channel one-hot (51 classes + other): only the two first 7x7 convs grow, by 2 * 49 * 32 per channel
    extra = 2 * 7 * 7 * 32 * 52
    assert n_trainable(DeepGINGenerator(semantic_channels=52, small_init=False)) == 42_930_186 + extra == 43_093_258


def test_discriminator_counts_exclude_spectral_norm_vectors():
    d = MultiScaleDiscriminator()
    assert n_trainable(d) == 3_421_568
    assert n_trainable(d.scales[0]) == 1_710_784
    # u/v of the power iteration are state, not parameters (the official print_network counts them: 3,437,504)
    assert n_trainable(d) + sum(b.numel() for b in d.buffers()) == 3_437_504


def test_discriminator_output_shapes_at_256():
    d = MultiScaleDiscriminator()
    with torch.no_grad():
        outs = d(torch.rand(1, 6, 256, 256))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 67, 67), (1, 256, 35, 35)]


def test_discriminator_is_spectrally_normalised():
    d = PatchDiscriminator()
    conv = d.net[0]
    with torch.no_grad():
        for _ in range(30):  # let the power iteration converge
            d(torch.rand(1, 6, 16, 16))
    d.eval()
    sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, rel=0.05)


# structurally distinct rows (Std/Dilated/SPD differ only inside the blocks, covered by the receptive-field test;
# the full row runs SPD-8 rates up to 10 on G1's 8x8 and SPD-4 rates up to 5 on G2's 4x4 bottleneck at 64 px)
FORWARD_ROWS = [TABLE1[0][0], TABLE1[1][0], TABLE1[2][0], TABLE1[6][0]]


@pytest.mark.parametrize("kwargs", FORWARD_ROWS, ids=["coarse_only", "std", "std_sa", "full"])
def test_forward_shapes_64(kwargs):
    torch.manual_seed(0)
    g = DeepGINGenerator(**kwargs)
    img = torch.rand(2, 3, 64, 64)
    mask = (torch.rand(2, 1, 64, 64) > 0.5).float()
    with torch.no_grad():
        out = g(img, mask)
    for key in ("coarse", "output", "composite", "masked_input"):
        assert out[key].shape == (2, 3, 64, 64)
    if kwargs.get("stages") == "coarse_only":
        assert "raw" not in out and torch.equal(out["output"], out["coarse"])
    elif kwargs["back_projection"]:
        assert out["lr"].shape == (2, 3, 16, 16)
        assert out["alpha"].shape == (2, 1, 64, 64)
        assert 0 < out["alpha"].min() and out["alpha"].max() < 1
    else:
        assert "lr" not in out and torch.equal(out["output"], out["raw"])
    assert torch.isfinite(out["output"]).all()


def test_holes_are_white_and_hidden_pixels_are_ignored():
    torch.manual_seed(0)
    g = DeepGINGenerator(resblock="std", attention="sa", back_projection=True)
    img = torch.rand(1, 3, 64, 64)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:40, 20:50] = 1
    other = img.clone()
    other[..., 16:40, 20:50] = torch.rand(1, 3, 24, 30)  # change only hidden pixels
    with torch.no_grad():
        a, b = g(img, mask), g(other, mask)
    assert torch.equal(a["output"], b["output"])
    assert torch.all(a["masked_input"][..., 16:40, 20:50] == 1.0)
    # composite keeps the known pixels exactly
    assert torch.equal(a["composite"] * (1 - mask), img * (1 - mask))


def test_back_projection_equations():
    """I_out = Ĩ_raw + α ⊙ ↑4(I_lr − ↓4(Ĩ_raw)), bilinear align_corners=True (spec §2.1)."""
    torch.manual_seed(0)
    g = DeepGINGenerator(resblock="std", attention="none")
    img = torch.rand(1, 3, 64, 64)
    mask = (torch.rand(1, 1, 64, 64) > 0.6).float()
    with torch.no_grad():
        out = g(img, mask)
    raw_comp = out["raw"] * mask + img * (1 - mask)
    down = F.interpolate(raw_comp, size=(16, 16), mode="bilinear", align_corners=True)
    res = F.interpolate(out["lr"] - down, size=(64, 64), mode="bilinear", align_corners=True)
    torch.testing.assert_close(out["output"], raw_comp + out["alpha"] * res)


def test_gradients_flow_from_refinement_into_coarse():
    torch.manual_seed(0)
    g = DeepGINGenerator(resblock="std", attention="none", back_projection=False)
    mask = (torch.rand(1, 1, 64, 64) > 0.5).float()
    out = g(torch.rand(1, 3, 64, 64), mask)
    out["raw"].sum().backward()  # G2 output only: G1 must still get a gradient (no detach between stages)
    assert g.coarse.encoder[0][1].weight.grad.abs().sum() > 0


def _reach(block: nn.Module, channels: int, size: int = 41) -> int:
    """Largest Chebyshev distance from an impulse at which the residual branch responds."""
    torch.manual_seed(0)
    for p in block.parameters():
        nn.init.uniform_(p, 0.1, 0.2)  # positive weights: no accidental cancellation, ReLUs stay open
    x = torch.zeros(1, channels, size, size)
    c = size // 2
    x[..., c, c] = 1.0
    with torch.no_grad():
        y = block(x) - block(torch.zeros_like(x))
    nz = (y.abs().sum(1)[0] > 1e-6).nonzero()
    return int((nz - c).abs().max())


def test_resblock_receptive_fields():
    assert _reach(StdResBlock(8), 8) == 2
    assert _reach(StdResBlock(8, first_dilation=2), 8) == 3
    assert _reach(SPDResBlock(16, SPD8_RATES), 16) == 11  # max rate 10 + fuse conv
    assert _reach(SPDResBlock(8, SPD4_RATES), 8) == 6  # max rate 5 + fuse conv


def test_resblock_variants_have_equal_parameter_counts():
    for c, rates in ((256, SPD8_RATES), (512, SPD4_RATES)):
        counts = {kind: n_trainable(make_resblock(kind, c, rates)) for kind in ("std", "dilated", "spd")}
        assert len(set(counts.values())) == 1, counts


def test_spd4_has_no_rate_one_and_spd8_has_it():
    assert 1 not in SPD4_RATES and len(SPD4_RATES) == 4
    assert 1 in SPD8_RATES and len(SPD8_RATES) == 8


def test_self_attention_matches_unscaled_softmax_and_is_global():
    torch.manual_seed(0)
    sa = SelfAttention(8)
    nn.init.normal_(sa.w_z.weight)
    x = torch.randn(1, 8, 5, 6)
    with torch.no_grad():
        y = sa(x)
        t = sa.theta(x).flatten(2)[0]  # (4, 30)
        p = sa.phi(x).flatten(2)[0]
        gg = sa.g(x).flatten(2)[0]
        attn = torch.softmax(t.T @ p, dim=-1)  # no 1/sqrt(d)
        expected = x + sa.w_z((gg @ attn.T).reshape(1, 4, 5, 6))
    torch.testing.assert_close(y, expected)
    # one input pixel changes every output pixel
    x2 = x.clone()
    x2[..., 0, 0] += 1.0
    with torch.no_grad():
        diff = (sa(x2) - y).abs().sum(1)[0]
    diff[0, 0] = 1.0
    assert (diff > 0).all()


def test_small_init_overwrites_attention_zero_init():
    g = DeepGINGenerator(resblock="std", attention="sa", back_projection=False)
    w_z = g.refine.attn16.w_z.weight
    assert w_z.abs().sum() > 0  # the official global init overwrites the constructor's zeros
    conv = g.coarse.blocks[0].body[0][1]
    fan_in = conv.weight[0].numel()
    expected_std = 0.1 * math.sqrt(2.0 / fan_in)
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.1)
    assert torch.all(conv.bias == 0)
    # PyTorch default init keeps the zero-init of W_z
    assert DeepGINGenerator(attention="sa", small_init=False).refine.attn16.w_z.weight.abs().sum() == 0


def test_generator_uses_replicate_padding_only():
    g = DeepGINGenerator()
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.padding == (0, 0) for c in convs)
    assert any(isinstance(m, nn.ReplicationPad2d) for m in g.modules())
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in g.modules())


def test_semantic_input_is_required_and_checked():
    torch.manual_seed(0)
    img = torch.rand(1, 3, 64, 64)
    mask = (torch.rand(1, 1, 64, 64) > 0.5).float()
    g = DeepGINGenerator(resblock="std", attention="none", back_projection=False, semantic_channels=3)
    with pytest.raises(ValueError):
        g(img, mask)
    with pytest.raises(ValueError):
        g(img, mask, torch.rand(1, 52, 64, 64))
    with torch.no_grad():
        a = g(img, mask, torch.zeros(1, 3, 64, 64))["output"]
        b = g(img, mask, torch.ones(1, 3, 64, 64))["output"]
    assert not torch.equal(a, b)  # the seg map reaches the output
    with pytest.raises(ValueError):
        DeepGINGenerator()(img, mask, torch.rand(1, 3, 64, 64))


def test_coarse_generator_standalone_shape():
    with torch.no_grad():
        y = CoarseGenerator(4, "spd")(torch.rand(1, 4, 64, 64))
    assert y.shape == (1, 3, 64, 64)


def test_self_ensemble_inverts_each_transform():
    img = torch.rand(1, 3, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    # an equivariant "model" (identity) is unchanged by the ensemble ...
    torch.testing.assert_close(self_ensemble(lambda x, m, s: x, img, mask), img)
    # ... and a position-dependent one is averaged over the five geometric copies
    ramp = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 3, 16, 16)
    avg = self_ensemble(lambda x, m, s: ramp, img, mask)
    assert not torch.allclose(avg, ramp)


def test_bicubic_post_blur_keeps_constants_and_smooths_noise():
    const = torch.full((1, 3, 32, 32), 0.25)
    torch.testing.assert_close(bicubic_post_blur(const), const)
    noise = torch.rand(1, 3, 32, 32)
    blurred = bicubic_post_blur(noise)
    assert blurred.shape == noise.shape
    assert blurred.std() < noise.std()
