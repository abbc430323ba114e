"""Tests for networks/hifill.py: parameter counts (spec 2.4, 3, Fig. 4), shapes, ACM/ATM against loop references."""
import pytest
import torch
import torch.nn.functional as F

from networks.hifill import (
    HiFillCritic,
    HiFillGenerator,
    LightWeightGatedConv2d,
    attention_scores,
    attention_transfer,
    fuse_scores,
    transfer_geometry,
    valid_key_cells,
)
from networks.parameters import count_parameters


def _weights(module):
    return sum(p.numel() for n, p in module.named_parameters() if n.endswith("weight"))


@pytest.mark.parametrize("gate, expected", [("gc", 9216), ("ds", 1312), ("pw", 1024), ("sc", 288)])
def test_table1_gate_branch_weights(gate, expected):
    layer = LightWeightGatedConv2d(32, 32, 3, gate=gate)
    assert _weights(layer.gate) == expected


def test_none_gate_has_no_gate_branch():
    assert LightWeightGatedConv2d(32, 32, 3, gate="none").gate is None


@pytest.mark.parametrize("coarse, refine, expected", [
    ("gc", "gc", 5_033_804), ("ds", "ds", 2_830_132), ("pw", "pw", 2_799_180), ("sc", "ds", 2_740_395),
    ("sc", "pw", 2_722_791), ("sc", "sc", 2_547_902), ("none", "none", 2_516_902),
])
def test_fig4_generator_counts(coarse, refine, expected):
    assert count_parameters(HiFillGenerator(coarse_gate=coarse, refine_gate=refine)) == expected


def test_default_generator_split_and_paper_topology():
    g = HiFillGenerator()
    assert count_parameters(g.coarse) == 811_489
    assert count_parameters(g.refine) == 1_911_302
    # appendix topology: K5 first refine conv (+2,048), no extra coarse K3S1C32 (-9,537)
    assert count_parameters(HiFillGenerator(topology="paper")) == 2_722_791 + 2_048 - 9_537


def test_final_model_gate_parameters():
    g = HiFillGenerator()
    gates = sum(count_parameters(m.gate) for m in g.modules() if isinstance(m, LightWeightGatedConv2d))
    assert gates == 205_889


@pytest.mark.parametrize("kernel, expected", [(5, 5_961_601), (3, 2_157_441)])
def test_critic_counts(kernel, expected):
    assert count_parameters(HiFillCritic(kernel_size=kernel)) == expected


def _batch(size=64, b=2):
    torch.manual_seed(0)
    image = torch.rand(b, 3, size, size) * 2 - 1
    mask = torch.zeros(b, 1, size, size)
    mask[0, :, 8:20, 10:22] = 1
    mask[b - 1, :, 40:60, 36:50] = 1  # with b = 1, one sample with both holes
    return image, mask


def test_generator_shapes_and_range():
    image, mask = _batch()
    out = HiFillGenerator()(image, mask)
    assert out["coarse"].shape == out["refine"].shape == (2, 3, 64, 64)
    assert out["scores"].shape == (2, 16, 16)
    for key in ("coarse", "refine"):
        assert out[key].min() >= -1 and out[key].max() <= 1
    out["refine"].mean().backward()


def test_generator_ignores_hole_content():
    image, mask = _batch()
    g = HiFillGenerator().eval()
    with torch.no_grad():
        a = g(image, mask)
        b = g(torch.where(mask > 0, torch.randn_like(image), image), mask)
    for key in ("coarse", "refine", "scores"):
        assert torch.equal(a[key], b[key])


@pytest.mark.parametrize("kwargs", [
    dict(attention_mask_mode="code", attention_query_norm=False), dict(attention_type="hard"),
    dict(attention_multiscale=False), dict(attention_share_scores=False), dict(attention_fuse=False),
    dict(coarse_downsample="bilinear"), dict(topology="paper"),
])
def test_generator_switches_run(kwargs):
    image, mask = _batch(b=1)
    out = HiFillGenerator(**kwargs)(image, mask)
    assert out["refine"].shape == (1, 3, 64, 64) and torch.isfinite(out["refine"]).all()


def test_critic_forward():
    d = HiFillCritic(image_size=64)
    assert d(torch.rand(2, 3, 64, 64)).shape == (2, 1)


# --- Attention Computing Module ------------------------------------------------------------------------------
def test_valid_key_cells_dilates_by_one_cell():
    mask = torch.zeros(1, 1, 96, 96)  # grid 6x6 of 16-px cells
    mask[0, 0, 40, 40] = 1  # one pixel in cell (2, 2)
    valid = valid_key_cells(mask, (6, 6)).view(6, 6)
    expected = torch.ones(6, 6)
    expected[1:4, 1:4] = 0
    assert torch.equal(valid, expected)


def _fuse_reference(s, gh, gw):
    """Loop version of the two fusion passes (row-major then column-major diagonal sums)."""
    n = gh * gw

    def row(q):
        return q

    def col(q):  # row-major index -> column-major index
        return (q % gw) * gh + q // gw

    def diag(mat, order):
        inv = {order(q): q for q in range(n)}
        out = torch.zeros_like(mat)
        for q in range(n):
            for k in range(n):
                total = 0.0
                for d in (-1, 0, 1):
                    qq, kk = order(q) + d, order(k) + d
                    if 0 <= qq < n and 0 <= kk < n:
                        total += mat[inv[qq], inv[kk]]
                out[q, k] = total
        return out

    return diag(diag(s, row), col)


def test_fuse_matches_loop_reference():
    torch.manual_seed(1)
    s = torch.randn(1, 6, 6)  # grid 2x3
    assert torch.allclose(fuse_scores(s, (2, 3))[0], _fuse_reference(s[0], 2, 3), atol=1e-6)


def test_attention_paper_mode_softmax_over_valid_keys():
    torch.manual_seed(0)
    cells = torch.randn(1, 8, 6, 6)
    mask = torch.zeros(1, 1, 96, 96)
    mask[..., 32:48, 32:48] = 1  # cell (2, 2) -> keys (1..3, 1..3) invalid
    s = attention_scores(cells, mask)
    valid = valid_key_cells(mask, (6, 6))[0]
    assert torch.allclose(s[0].sum(-1), torch.ones(36), atol=1e-5)
    assert (s[0][:, valid == 0] == 0).all()
    # code mode: invalid keys take part in the denominator with logit 0, rows sum to < 1
    s_code = attention_scores(0.01 * cells, mask, mask_mode="code", query_norm=False)  # small logits
    assert (s_code[0][:, valid == 0] == 0).all()
    assert (s_code[0].sum(-1) < 1).all()
    assert not torch.allclose(s, s_code)


def test_attention_cosine_matches_direct_formula_without_fuse():
    torch.manual_seed(0)
    cells = torch.randn(1, 4, 4, 4)
    mask = torch.zeros(1, 1, 64, 64)
    s = attention_scores(cells, mask, fuse=False, softmax_scale=3.0)
    patches = F.unfold(cells, 3, padding=1)[0].T  # (16, 36)
    unit = patches / patches.norm(dim=1, keepdim=True)
    assert torch.allclose(s[0], torch.softmax(3.0 * unit @ unit.T, -1), atol=1e-6)
    s_keys_only = attention_scores(cells, mask, fuse=False, softmax_scale=3.0, query_norm=False)
    assert torch.allclose(s_keys_only[0], torch.softmax(3.0 * patches @ unit.T, -1), atol=1e-5)


def test_attention_all_invalid_gives_zero_not_nan():
    cells = torch.randn(1, 4, 4, 4)
    mask = torch.ones(1, 1, 64, 64)
    for mode in ("paper", "code"):
        s = attention_scores(cells, mask, mask_mode=mode)
        assert torch.equal(s, torch.zeros_like(s))


def test_hard_attention_is_one_hot_on_valid_keys():
    torch.manual_seed(0)
    cells = torch.randn(1, 4, 4, 4)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :8, :8] = 1
    s = attention_scores(cells, mask, attention_type="hard")
    assert torch.equal(s.sum(-1), torch.ones(1, 16))
    assert (s[0][:, valid_key_cells(mask, (4, 4))[0] == 0] == 0).all()


# --- Attention Transfer Module ---------------------------------------------------------------------------
def _transfer_reference(feat, scores, k, stride, pad):
    """Loop version of Eq. 3: every query cell gets the score-weighted sum of key patches, overlaps summed."""
    left, right, top, bottom = pad
    padded = F.pad(feat, pad)
    _, c, hp, wp = padded.shape
    gw = (wp - k) // stride + 1
    out = torch.zeros_like(padded)
    n = scores.shape[-1]
    for j in range(n):
        jy, jx = divmod(j, gw)
        acc = torch.zeros(c, k, k)
        for i in range(n):
            iy, ix = divmod(i, gw)
            acc += scores[0, j, i] * padded[0, :, iy * stride:iy * stride + k, ix * stride:ix * stride + k]
        out[0, :, jy * stride:jy * stride + k, jx * stride:jx * stride + k] += acc
    return out[:, :, top:hp - bottom, left:wp - right]


@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_attention_transfer_matches_loop_reference(ratio):
    torch.manual_seed(ratio)
    grid = 3
    feat = torch.randn(1, 2, grid * ratio, grid * ratio)
    scores = torch.softmax(torch.randn(1, grid * grid, grid * grid), -1)
    geometry = transfer_geometry(ratio)
    assert geometry[0] == (3 if ratio == 2 else 2 * ratio)
    out = attention_transfer(feat, scores, *geometry)
    assert out.shape == feat.shape
    assert torch.allclose(out, _transfer_reference(feat, scores, *geometry), atol=1e-5)
