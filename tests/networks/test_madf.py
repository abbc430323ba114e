"""Tests for networks/madf.py: parameter counts vs. the official definition, the dynamic filter's equation,
PN / PConv / GConv operators, decoder wiring and FLOPs under the torch.utils.flop_counter convention."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from networks.madf import (
    ENCODER_CHANNELS,
    KERNEL_SIZES,
    LIFT_CHANNELS,
    GatedConvBlock,
    MADFGenerator,
    MaskAwareDynamicConv,
    PartialConvBlock,
    PointwiseNorm,
    dynamic_filter,
)
from networks.parameters import count_parameters

# Official MADFNet(layer_size=7) counts (spec §2.3 / §9), which include 1,248 never-applied encoder BN parameters.
OFFICIAL_COUNTS = {0: 40_743_065, 1: 62_942_135, 2: 85_141_214}
UNUSED_BN = 1_248


def _masked_input(batch: int = 1, size: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, size, size, generator=gen)
    mask = (torch.rand(batch, 1, size, size, generator=gen) > 0.3).float()  # 1 = valid
    return image * mask, mask


# --- parameter counts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_refine", [0, 1, 2])
def test_parameter_count_matches_official_definition(num_refine):
    model = MADFGenerator(num_refine=num_refine, official_unused_bn=True)
    assert count_parameters(model) == OFFICIAL_COUNTS[num_refine]


@pytest.mark.parametrize("num_refine", [0, 1, 2])
def test_default_parameter_count_excludes_only_the_unused_bn(num_refine):
    assert count_parameters(MADFGenerator(num_refine=num_refine)) == OFFICIAL_COUNTS[num_refine] - UNUSED_BN


def _conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def _refinement_decoder_params(k: int, norm: str) -> int:
    """Spec §2.3 table, re-derived: deconvs + (PN | affine BN) + level-1 fusion over [up, k RGB outputs, e^0]."""
    total = 0
    for c_in, c_out in zip(LIFT_CHANNELS[:0:-1], LIFT_CHANNELS[-2::-1]):
        total += _conv(c_in, c_out, 4)
        if norm == "pn":
            total += _conv(c_out, 128, 3) + 2 * _conv(128, c_out, 3)
        else:
            total += 2 * c_out
    return total + _conv(64 + 3 * k + 6, 3, 1)


def test_refinement_decoder_formula_reproduces_spec_breakdown():
    # §2.3: the two official refinement decoders have 22,199,070 and 22,199,079 parameters.
    assert _refinement_decoder_params(1, "pn") == 22_199_070
    assert _refinement_decoder_params(2, "pn") == 22_199_079


@pytest.mark.parametrize("num_refine,norm", [(3, "pn"), (1, "bn"), (2, "bn")])
def test_refinement_variant_counts(num_refine, norm):
    base = OFFICIAL_COUNTS[0] - UNUSED_BN
    expected = base + sum(_refinement_decoder_params(k, norm) for k in range(1, num_refine + 1))
    assert count_parameters(MADFGenerator(num_refine=num_refine, refine_norm=norm)) == expected


@pytest.mark.parametrize("block", ["pconv", "gconv"])
def test_encoder_variant_counts(block):
    madf_encoder = 9_404_928  # spec §2.3: kernel generators + mask convs
    if block == "pconv":  # one bias-free conv + separate bias per level; level 1 sees I_in (3 ch)
        in_chs = (3,) + ENCODER_CHANNELS[:-1]
        swapped = sum(_conv(i, o, k) for i, o, k in zip(in_chs, ENCODER_CHANNELS, KERNEL_SIZES))
    else:  # feature + gate conv per level; level 1 sees e^0 (6 ch)
        in_chs = (6,) + ENCODER_CHANNELS[:-1]
        swapped = sum(2 * _conv(i, o, k) for i, o, k in zip(in_chs, ENCODER_CHANNELS, KERNEL_SIZES))
    expected = OFFICIAL_COUNTS[0] - UNUSED_BN - madf_encoder + swapped
    assert count_parameters(MADFGenerator(encoder_block=block, num_refine=0)) == expected


def test_invalid_variants_are_rejected():
    with pytest.raises(ValueError):
        MADFGenerator(encoder_block="conv")
    with pytest.raises(ValueError):
        MADFGenerator(num_refine=4)
    with pytest.raises(ValueError):
        MADFGenerator(refine_norm="in")


# --- dynamic filter -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k,stride", [(3, 2), (5, 2), (7, 2), (3, 1)])
def test_dynamic_filter_matches_direct_per_window_computation(k, stride):
    torch.manual_seed(0)
    c_in, c_out, h, w, pad = 2, 3, 9, 8, (k - 1) // 2
    x = torch.randn(2, c_in, h, w, dtype=torch.float64)
    n_h, n_w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    theta = torch.randn(2, c_in * k * k * c_out, n_h, n_w, dtype=torch.float64)
    out = dynamic_filter(x, theta, k, stride, pad)

    # e[o, n] = sum_{c, ky, kx} x_pad[c, n_h*s + ky, n_w*s + kx] * Theta[((c*k + ky)*k + kx) * C_out + o, n]
    x_pad = F.pad(x, (pad, pad, pad, pad))
    expected = torch.zeros(2, c_out, n_h, n_w, dtype=torch.float64)
    for b in range(2):
        for i in range(n_h):
            for j in range(n_w):
                for o in range(c_out):
                    acc = 0.0
                    for c in range(c_in):
                        for ky in range(k):
                            for kx in range(k):
                                idx = ((c * k + ky) * k + kx) * c_out + o
                                acc += x_pad[b, c, i * stride + ky, j * stride + kx] * theta[b, idx, i, j]
                    expected[b, o, i, j] = acc
    torch.testing.assert_close(out, expected)


def test_dynamic_filter_with_constant_kernels_equals_conv2d():
    torch.manual_seed(1)
    k, c_in, c_out = 3, 4, 5
    x = torch.randn(1, c_in, 12, 12, dtype=torch.float64)
    flat = torch.randn(c_in * k * k * c_out, dtype=torch.float64)
    theta = flat.view(1, -1, 1, 1).expand(1, -1, 6, 6)
    weight = flat.view(c_in, k, k, c_out).permute(3, 0, 1, 2)  # W[o, c, ky, kx] = Theta[((c k + ky) k + kx) C_out + o]
    torch.testing.assert_close(dynamic_filter(x, theta, k, 2, 1), F.conv2d(x, weight, stride=2, padding=1))


def test_madf_operator_generates_kernels_from_the_mask_only():
    torch.manual_seed(2)
    op = MaskAwareDynamicConv(in_ch=6, out_ch=16, mask_in_ch=3, kernel_size=7)
    e, m = torch.randn(1, 6, 16, 16), (torch.rand(1, 3, 16, 16) > 0.5).float()
    e_out, m_out = op(e, m)
    assert e_out.shape == (1, 16, 8, 8) and m_out.shape == (1, 16, 8, 8)
    assert (e_out >= 0).all()  # ReLU after the dynamic conv
    theta, _ = op.generate_kernels(m)
    assert theta.shape == (1, 6 * 49 * 16, 8, 8)
    # Linear in e for a fixed mask (no bias in the dynamic conv): doubling e doubles the pre-activation.
    torch.testing.assert_close(op(2 * e, m)[0], 2 * e_out)


# --- other operators ------------------------------------------------------------------------------------------------


def test_partial_conv_ignores_hole_content_and_zeros_empty_windows():
    torch.manual_seed(3)
    block = PartialConvBlock(3, 4, kernel_size=3)
    mask = torch.ones(1, 3, 16, 16)
    mask[..., :8, :] = 0  # top half is hole: output rows 0..2 see only holes, row 3 sees row 7/8 edge
    x = torch.randn(1, 3, 16, 16)
    out, new_mask = block(x, mask)
    out_noise, _ = block(x + 100 * (1 - mask) * torch.randn_like(x), mask)
    torch.testing.assert_close(out, out_noise)
    assert new_mask.shape == (1, 1, 8, 8)
    assert (new_mask[..., :4, :] == 0).all() and (new_mask[..., 4:, :] == 1).all()
    assert (out[..., :4, :] == 0).all()
    # Fully valid interior window: plain conv + bias.
    plain = F.relu(block.conv(x) + block.bias.view(1, -1, 1, 1))
    torch.testing.assert_close(out[..., 5:7, 1:7], plain[..., 5:7, 1:7])


def test_gated_conv_is_feature_times_sigmoid_gate():
    torch.manual_seed(4)
    block = GatedConvBlock(6, 4, kernel_size=5)
    x, m = torch.randn(1, 6, 16, 16), torch.ones(1, 3, 16, 16)
    out, m_out = block(x, m)
    expected = F.relu(block.feature(x)) * torch.sigmoid(block.gate(x))
    torch.testing.assert_close(out, expected)
    assert m_out is m and out.shape == (1, 4, 8, 8)


def test_pointwise_norm_starts_as_plain_normalisation_and_follows_condition():
    torch.manual_seed(5)
    pn = PointwiseNorm(channels=8, cond_channels=4)
    x, c = torch.randn(2, 8, 6, 6), torch.randn(2, 4, 6, 6)
    for conv in (pn.gamma, pn.beta):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    reference = F.batch_norm(x, None, None, training=True, eps=1e-5)
    torch.testing.assert_close(pn(x, c), reference)
    torch.nn.init.normal_(pn.gamma.weight)
    torch.nn.init.normal_(pn.beta.weight)
    h = F.relu(pn.shared(c))
    torch.testing.assert_close(pn(x, c), reference * (1 + pn.gamma(h)) + pn.beta(h))
    assert not torch.allclose(pn(x, c), pn(x, torch.randn_like(c)))


# --- generator ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [dict(num_refine=2), dict(num_refine=0, encoder_block="pconv"), dict(num_refine=0, encoder_block="gconv"),
     dict(num_refine=1, refine_norm="bn")],
)
def test_forward_returns_one_output_per_decoder(kwargs):
    model = MADFGenerator(**kwargs)
    image, mask = _masked_input(batch=1)
    outputs = model(image, mask)
    assert len(outputs) == 1 + kwargs["num_refine"]
    for out in outputs:
        assert out.shape == (1, 3, 128, 128) and torch.isfinite(out).all()


def test_forward_rejects_sizes_below_the_seven_level_unit():
    with pytest.raises(ValueError):
        MADFGenerator(num_refine=0)(*_masked_input(size=64))


def _grad_reaches(output: torch.Tensor, params) -> bool:
    grads = torch.autograd.grad(output.sum(), list(params), allow_unused=True, retain_graph=True)
    return any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("norm,conditioned", [("pn", True), ("bn", False)])
def test_refinement_sees_recovery_features_only_through_pn(norm, conditioned):
    """With PN, F_1 is conditioned on the recovery decoder's level features; with BN only the final fusion links them.
    Zeroing the fusion's O_R input channels isolates the intermediate path."""
    torch.manual_seed(6)
    model = MADFGenerator(num_refine=1, refine_norm=norm)
    with torch.no_grad():
        model.refinement_heads[0].fuse.weight[:, 64:67] = 0  # O_R channels of [up(64), O_R(3), e^0(6)]
    o_f1 = model(*_masked_input())[1]
    assert _grad_reaches(o_f1, model.recovery[2].parameters()) == conditioned


def test_second_refinement_is_conditioned_on_the_first():
    torch.manual_seed(7)
    model = MADFGenerator(num_refine=2)
    with torch.no_grad():  # cut the fusion path [up, O_R, O_F1, e^0]: only PN conditioning remains
        model.refinement_heads[1].fuse.weight[:, 64:70] = 0
    o_f2 = model(*_masked_input())[2]
    assert _grad_reaches(o_f2, model.refinements[0][1].parameters())
    assert _grad_reaches(o_f2, model.recovery[1].parameters())  # via F_1's conditioning


def test_recompute_levels_gives_identical_outputs_and_gradients():
    torch.manual_seed(8)
    plain = MADFGenerator(num_refine=0)
    recomputed = MADFGenerator(num_refine=0, recompute_levels=4)
    recomputed.load_state_dict(plain.state_dict())
    image, mask = _masked_input()
    results = []
    for model in (plain, recomputed):
        out = model(image, mask)[0]
        out.square().mean().backward()
        results.append((out.detach(), model.encoder[0].op.kernel_gen.weight.grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


def test_normal_init_option():
    model = MADFGenerator(num_refine=0, init="normal")
    weight = model.encoder[3].op.kernel_gen.weight
    assert abs(weight.std().item() - 0.01) < 1e-3 and model.encoder[3].op.kernel_gen.bias.abs().sum() == 0


# --- FLOPs (Table IV convention) --------------------------------------------------------------------------------


def test_flop_counter_reproduces_official_definition():
    """Spec §9: torch.utils.flop_counter on the official K=0 model gives 20.87 GFLOPs at 256x256. Every op here is
    convolution-like, so FLOPs scale with the pixel count: count at 128x128 and multiply by 4."""
    model = MADFGenerator(num_refine=0).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*_masked_input())
    assert counter.get_total_flops() * 4 / 1e9 == pytest.approx(20.87, abs=0.01)


# --- semantic input (AIM Track 2): the seg map joins level 1's mask branch -----------------------------------------

SEG = 52  # AIM one-hot map: 51 classes + other


def _one_hot_seg(size: int = 128, seed: int = 0) -> torch.Tensor:
    labels = torch.randint(0, SEG, (1, size, size), generator=torch.Generator().manual_seed(seed))
    return F.one_hot(labels, SEG).permute(0, 3, 1, 2).float()


@pytest.mark.parametrize("num_refine", [0, 1, 2])
def test_semantic_channels_widen_only_the_first_mask_conv(num_refine):
    model = MADFGenerator(num_refine=num_refine, semantic_channels=SEG)
    mask_conv = model.encoder[0].op.mask_conv
    assert mask_conv.in_channels == 3 + SEG and mask_conv.kernel_size == (7, 7)
    delta = count_parameters(model) - (OFFICIAL_COUNTS[num_refine] - UNUSED_BN)  # S = 0 counts: tests above
    assert delta == SEG * mask_conv.out_channels * 7 * 7 == 40_768
    # The image branch (e^0 = [I_in, M], 6 ch) and its generated kernels keep their size.
    assert model.encoder[0].op.in_ch == 6 and model.encoder[0].op.kernel_gen.out_channels == 6 * 49 * 16


def test_semantic_forward_at_128_uses_the_seg_map_inside_holes():
    model = MADFGenerator(num_refine=0, semantic_channels=SEG).eval()
    image, mask = _masked_input(batch=1)
    seg = _one_hot_seg()
    hole = 1 - mask
    other = seg * mask + _one_hot_seg(seed=1) * hole  # differs only inside the holes
    with torch.no_grad():
        outputs = model(image, mask, seg)
        assert len(outputs) == 1 and all(o.shape == (1, 3, 128, 128) and torch.isfinite(o).all() for o in outputs)
        assert not torch.allclose(outputs[-1], model(image, mask, other)[-1])
    with pytest.raises(ValueError, match="multiples of 128"):
        model(image[..., :64, :64], mask[..., :64, :64], seg[..., :64, :64])


def test_seg_is_required_iff_semantic_channels_and_needs_the_madf_encoder():
    image, mask = _masked_input(batch=1)
    semantic, plain = MADFGenerator(num_refine=0, semantic_channels=3), MADFGenerator(num_refine=0)
    with pytest.raises(ValueError, match="seg must be given"):
        semantic(image, mask)
    with pytest.raises(ValueError, match="seg must be given"):
        plain(image, mask, torch.zeros(1, 3, 128, 128))
    with pytest.raises(ValueError, match=r"seg must be \(B, 3, 128, 128\)"):
        semantic(image, mask, torch.zeros(1, 5, 128, 128))
    for block in ("pconv", "gconv"):  # no mask branch to take the map
        with pytest.raises(ValueError, match="encoder_block='madf'"):
            MADFGenerator(encoder_block=block, num_refine=0, semantic_channels=SEG)
