"""Tests for networks/aotgan.py: official parameter counts, shapes, and the block's equations (spec §2-3)."""

import pytest
import torch

from networks.aotgan import (
    AOTBlock,
    AOTDiscriminator,
    AOTGenerator,
    GateNorm,
    split_channels,
)
from networks.parameters import count_parameters

# Official numbers, spec §2.2 / §9.
G_OFFICIAL = 15_200_835
D_OFFICIAL = 2_763_777
G_IDENTITY = 10_480_195
G_CONV1X1 = 11_530_819
G_GATEDCONV = 15_200_835


def conv_params(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)



# --------------------------------------------------------------------------- parameter counts


def test_default_generator_and_discriminator_match_official_counts():
    g = AOTGenerator()
    assert count_parameters(g) == G_OFFICIAL
    assert count_parameters(g.encoder) == 668_352
    assert count_parameters(g.blocks[0]) == 1_770_240
    assert count_parameters(g.blocks) == 14_161_920
    assert count_parameters(g.decoder) == 370_563
    assert count_parameters(AOTDiscriminator()) == D_OFFICIAL


def test_spectral_norm_vectors_are_buffers_not_parameters():
    d = AOTDiscriminator()
    buffers = sum(b.numel() for b in d.buffers())
    assert buffers > 0  # u and v exist ...
    assert sum(p.numel() for p in d.parameters()) == D_OFFICIAL  # ... and are not counted


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        # Table 4 (all rows use the identity residual): parameter count independent of K.
        (dict(rates=[1], residual="identity"), G_IDENTITY),
        (dict(rates=[2], residual="identity"), G_IDENTITY),
        (dict(rates=[1, 2], residual="identity"), G_IDENTITY),
        (dict(rates=[2, 8], residual="identity"), G_IDENTITY),
        (dict(rates=[1, 2, 8], residual="identity"), G_IDENTITY),
        (dict(rates=[1, 2, 4, 8], residual="identity"), G_IDENTITY),
        # Table 6 fusion alternatives.
        (dict(residual="conv1x1"), G_CONV1X1),
        (dict(residual="gatedconv"), G_GATEDCONV),
        (dict(residual="gated"), G_OFFICIAL),
        # The gate norm has no parameters.
        (dict(gate_norm="none"), G_OFFICIAL),
    ],
)
def test_variant_parameter_counts(kwargs, expected):
    assert count_parameters(AOTGenerator(**kwargs)) == expected


def test_transposed_decoder_parameter_count_follows_layer_table():
    # Paper-text decoder: ConvT 4x4 256->128, ConvT 4x4 128->64, Conv 3x3 64->3.
    decoder = conv_params(256, 128, 4) + conv_params(128, 64, 4) + conv_params(64, 3, 3)
    assert count_parameters(AOTGenerator(upsample="transposed")) == G_OFFICIAL - 370_563 + decoder


def test_residual_block_part_equals_edgeconnect_block_count():
    # Split-transform-merge part (branches + fuse) has the residual block's 1,180,160 parameters for any K.
    for rates in ([2], [1, 2], [1, 2, 8], [1, 2, 4, 8]):
        block = AOTBlock(256, rates, residual="identity")
        assert count_parameters(block) == 1_180_160


# --------------------------------------------------------------------------- shapes


def test_generator_forward_shape_and_range():
    g = AOTGenerator()
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = (torch.rand(1, 1, 64, 64) > 0.5).float()
    with torch.no_grad():
        out = g(image, mask)
    assert out.shape == (1, 3, 64, 64)
    assert out.abs().max() <= 1


@pytest.mark.parametrize(
    "kwargs",
    [dict(upsample="transposed"), dict(residual="conv1x1"), dict(residual="gatedconv"), dict(rates=[1, 2, 8])],
)
def test_variant_forward_shapes(kwargs):
    g = AOTGenerator(num_blocks=2, **kwargs)
    with torch.no_grad():
        out = g(torch.zeros(1, 3, 64, 64), torch.ones(1, 1, 64, 64))
    assert out.shape == (1, 3, 64, 64)


@pytest.mark.parametrize("size, out", [(64, 6), (256, 30)])
def test_discriminator_output_map_size(size, out):
    d = AOTDiscriminator()
    with torch.no_grad():
        assert d(torch.zeros(1, 3, size, size)).shape == (1, 1, out, out)


def test_discriminator_receptive_field_is_70():
    d = AOTDiscriminator().eval()
    image = torch.randn(1, 3, 128, 128, requires_grad=True)
    score = d(image)
    score[0, 0, 7, 7].backward()
    support = image.grad.abs().sum(dim=(0, 1)) > 0
    rows = support.any(dim=1).nonzero()
    cols = support.any(dim=0).nonzero()
    assert rows.max() - rows.min() + 1 == 70
    assert cols.max() - cols.min() + 1 == 70


# --------------------------------------------------------------------------- block equations


def test_split_channels_remainder_to_first_branches():
    assert split_channels(256, 4) == [64, 64, 64, 64]
    assert split_channels(256, 3) == [86, 85, 85]
    assert split_channels(256, 1) == [256]
    block = AOTBlock(256, [1, 2, 8])
    assert [b[1].out_channels for b in block.branches] == [86, 85, 85]
    assert [b[1].dilation[0] for b in block.branches] == [1, 2, 8]
    assert [b[0].padding[0] for b in block.branches] == [1, 2, 8]  # reflect pad = dilation


def test_gate_norm_matches_code_formula():
    a = torch.randn(2, 3, 5, 7) * 4 + 2
    out = GateNorm()(a)
    for b in range(2):
        for c in range(3):
            v = a[b, c].flatten()
            mu = v.sum() / v.numel()
            sd = ((v - mu) ** 2).sum().div(v.numel() - 1).sqrt()  # unbiased
            expected = 5 * (2 * (a[b, c] - mu) / (sd + 1e-9) - 1)
            torch.testing.assert_close(out[b, c], expected, rtol=1e-5, atol=1e-5)


def test_gate_norm_is_per_channel_and_scale_invariant():
    a = torch.randn(1, 4, 8, 8)
    scale = torch.tensor([1.0, 3.0, 0.1, 50.0]).view(1, 4, 1, 1)
    shift = torch.tensor([0.0, -2.0, 7.0, 1.0]).view(1, 4, 1, 1)
    torch.testing.assert_close(GateNorm()(a * scale + shift), GateNorm()(a), rtol=1e-4, atol=1e-4)
    # At the channel mean the logit is -5 (gate ~0.007: keep the input).
    flat = torch.tensor([[[[0.0, 2.0], [4.0, 2.0]]]])
    assert GateNorm()(flat)[0, 0, 0, 1].item() == pytest.approx(-5.0)


def test_gated_residual_merge_code_form():
    block = AOTBlock(16, [1, 2], residual="gated").eval()
    x = torch.randn(1, 16, 12, 12)
    with torch.no_grad():
        x2 = block.fuse(torch.cat([b(x) for b in block.branches], 1))
        logits = block.gate[1](block.gate[0](x))
        mean = logits.mean((2, 3), keepdim=True)
        std = logits.std((2, 3), keepdim=True)
        g = torch.sigmoid(10 * (logits - mean) / std - 5)
        expected = x * (1 - g) + x2 * g  # g weights the residual features (code form)
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


def test_gate_is_hookable_and_gate_norm_none_is_plain_sigmoid():
    block = AOTBlock(16, [1, 2], residual="gated", gate_norm="none").eval()
    seen = {}
    block.gate.register_forward_hook(lambda m, i, o: seen.setdefault("g", o))
    x = torch.randn(1, 16, 10, 10)
    with torch.no_grad():
        block(x)
        plain = torch.sigmoid(block.gate[1](block.gate[0](x)))
    torch.testing.assert_close(seen["g"], plain)
    assert AOTBlock(16, [1], residual="gated").gate[2].__class__ is GateNorm


def test_single_branch_identity_block_is_edgeconnect_residual_block():
    block = AOTBlock(16, [2], residual="identity").eval()
    x = torch.randn(1, 16, 10, 10)
    conv_dil, conv = block.branches[0][1], block.fuse[1]
    with torch.no_grad():
        h = torch.relu(conv_dil(torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")))
        expected = x + conv(torch.nn.functional.pad(h, (1, 1, 1, 1), mode="reflect"))
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)
    assert block.gate is None and block.merge is None


def test_conv1x1_and_gatedconv_fusions():
    x = torch.randn(1, 16, 10, 10)
    b1 = AOTBlock(16, [1, 2], residual="conv1x1").eval()
    b2 = AOTBlock(16, [1, 2], residual="gatedconv").eval()
    with torch.no_grad():
        x2 = b1.fuse(torch.cat([b(x) for b in b1.branches], 1))
        torch.testing.assert_close(b1(x), b1.merge(torch.cat([x, x2], 1)))
        c = torch.cat([b(x) for b in b2.branches], 1)
        torch.testing.assert_close(b2(x), x + b2.fuse(c) * torch.sigmoid(b2.fuse_gate(c)))


def test_generator_ignores_image_content_inside_holes():
    g = AOTGenerator(num_blocks=1, channels=32).eval()
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:40, 20:48] = 1
    other = image * (1 - mask) + torch.randn_like(image) * mask
    inp = g.masked_input(image, mask)
    assert inp.shape == (1, 4, 64, 64)
    assert torch.all(inp[:, :3][mask.expand(1, 3, -1, -1) > 0] == 1.0)  # holes filled with white
    with torch.no_grad():
        torch.testing.assert_close(g(image, mask), g(other, mask))
        assert not torch.allclose(g(image, mask), g(image, torch.zeros_like(mask)))


def test_init_is_normal_002_with_zero_bias():
    g = AOTGenerator()
    w = g.blocks[0].gate[1].weight
    assert w.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(g.encoder[1].bias) == 0


def test_invalid_arguments_raise():
    with pytest.raises(ValueError):
        AOTBlock(256, [1, 2], residual="bogus")
    with pytest.raises(ValueError):
        AOTBlock(256, [1, 2], gate_norm="layernorm")
    with pytest.raises(ValueError):
        AOTBlock(256, [])
    with pytest.raises(ValueError):
        AOTGenerator(upsample="nearest")


def test_gate_orientation_paper_swaps_what_the_gate_weights():
    torch.manual_seed(1)
    code = AOTBlock(16, [1, 2], residual="gated").eval()
    paper = AOTBlock(16, [1, 2], residual="gated", gate_orientation="paper").eval()
    paper.load_state_dict(code.state_dict())
    x = torch.randn(1, 16, 10, 10)
    with torch.no_grad():
        g = code.gate(x)
        x2 = code.fuse(torch.cat([b(x) for b in code.branches], 1))
        torch.testing.assert_close(paper(x), x * g + x2 * (1 - g))
        assert not torch.allclose(paper(x), code(x))


def test_discriminator_paper_layout_has_four_stride2_convs_same_parameters():
    d = AOTDiscriminator(layout="paper")
    assert count_parameters(d) == D_OFFICIAL
    with torch.no_grad():
        assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 15, 15)
    with pytest.raises(ValueError):
        AOTDiscriminator(layout="bogus")


def _conv_macs(net, *inputs) -> float:
    """Conv multiply-accumulates of one forward (GMAC), counted with hooks on meta tensors (no compute)."""
    total = [0]

    def hook(m, _inp, out):
        total[0] += out[0].numel() * m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    net(*inputs)
    for h in handles:
        h.remove()
    return total[0] / 1e9


def test_conv_macs_match_spec_measurements():
    # Spec §9: generator 72.9 GMAC at 256; discriminator 3.15 GMAC at 256 and 12.85 GMAC at 512.
    with torch.device("meta"):
        g, d = AOTGenerator(), AOTDiscriminator()
        assert _conv_macs(g, torch.zeros(1, 3, 256, 256), torch.zeros(1, 1, 256, 256)) == pytest.approx(72.9, abs=0.05)
        assert _conv_macs(d, torch.zeros(1, 3, 256, 256)) == pytest.approx(3.15, abs=0.01)
        assert _conv_macs(d, torch.zeros(1, 3, 512, 512)) == pytest.approx(12.85, abs=0.01)


# --------------------------------------------------------------------------- semantic input (AIM Track 2)

SEG = 52  # AIM one-hot map: 51 classes + other
SMALLEST = 36  # divisible by 4 and H/4 = 9 > max(rates) = 8 (the rate-8 reflection pad needs > 8 pixels)


def one_hot_seg(size: int, seed: int = 0, channels: int = SEG) -> torch.Tensor:
    labels = torch.randint(0, channels, (1, size, size), generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.one_hot(labels, channels).permute(0, 3, 1, 2).float()


def test_semantic_channels_widen_only_the_first_encoder_conv():
    plain, semantic = AOTGenerator(), AOTGenerator(semantic_channels=SEG)
    assert count_parameters(plain) == G_OFFICIAL  # S = 0 is the official model
    first = semantic.encoder[1]
    assert first.in_channels == 4 + SEG and first.kernel_size == (7, 7)
    assert count_parameters(semantic) - G_OFFICIAL == SEG * first.out_channels * 7 * 7 == 163_072
    shapes = {n: p.shape for n, p in plain.named_parameters()}
    changed = [n for n, p in semantic.named_parameters() if p.shape != shapes[n]]
    assert changed == ["encoder.1.weight"] and len(shapes) == len(list(semantic.parameters()))


def test_semantic_forward_at_the_smallest_size_uses_the_seg_map_inside_holes():
    g = AOTGenerator(semantic_channels=SEG).eval()
    image = torch.rand(1, 3, SMALLEST, SMALLEST) * 2 - 1
    mask = torch.zeros(1, 1, SMALLEST, SMALLEST)
    mask[..., 8:28, 8:28] = 1
    seg = one_hot_seg(SMALLEST)
    inp = g.masked_input(image, mask, seg)
    assert inp.shape == (1, 4 + SEG, SMALLEST, SMALLEST)
    torch.testing.assert_close(inp[:, 4:], seg)  # the map is not masked: the hole keeps its labels
    other_seg = seg * (1 - mask) + one_hot_seg(SMALLEST, seed=1) * mask  # differs only inside the hole
    with torch.no_grad():
        out = g(image, mask, seg)
        assert out.shape == (1, 3, SMALLEST, SMALLEST) and out.abs().max() <= 1
        assert not torch.allclose(out, g(image, mask, other_seg))
    with pytest.raises(RuntimeError):  # one step below: the rate-8 branch cannot pad an 8x8 map
        with torch.no_grad():
            g(image[..., :32, :32], mask[..., :32, :32], seg[..., :32, :32])


def test_seg_is_required_iff_semantic_channels():
    image, mask = torch.zeros(1, 3, 64, 64), torch.ones(1, 1, 64, 64)
    semantic, plain = AOTGenerator(num_blocks=1, semantic_channels=3), AOTGenerator(num_blocks=1)
    with pytest.raises(ValueError, match="seg must be given"):
        semantic(image, mask)
    with pytest.raises(ValueError, match="seg must be given"):
        plain(image, mask, torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"seg must be \(B, 3, 64, 64\)"):
        semantic(image, mask, torch.zeros(1, 4, 64, 64))
    with pytest.raises(ValueError):
        AOTGenerator(semantic_channels=-1)
