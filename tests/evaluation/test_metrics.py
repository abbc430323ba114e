"""Pixel metrics against hand computations on tiny images (spec §5, §7.7)."""

import math

import numpy as np
import pytest
import torch

from evaluation.metrics import hole_ratio, l1, l1_hole, l1_rel, ms_ssim, psnr, ssim


def _u8(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.uint8)


def test_psnr_hand_value_and_zero_mse_policies():
    target = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    pred = target.clone()
    pred[0] = 10  # MSE 100
    values = psnr(pred, target)
    assert values[0].item() == pytest.approx(10 * math.log10(255**2 / 100))
    assert values[1].item() == 100.0  # capped
    assert math.isinf(psnr(pred, target, zero_mse="inf")[1].item())
    assert math.isnan(psnr(pred, target, zero_mse="skip")[1].item())


def _ssim_reference(x, y, weights, cov_norm, data_range, pad=None):
    """Loop over windows (numpy); `pad` = zero-pad width (lama preset), otherwise valid windows only."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    if pad:
        x, y = np.pad(x, ((0, 0), (pad, pad), (pad, pad))), np.pad(y, ((0, 0), (pad, pad), (pad, pad)))
    k = weights.shape[0]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - k + 1):
            for j in range(x.shape[2] - k + 1):
                a, b = x[c, i:i + k, j:j + k], y[c, i:i + k, j:j + k]
                ma, mb = (weights * a).sum(), (weights * b).sum()
                va = cov_norm * ((weights * a * a).sum() - ma**2)
                vb = cov_norm * ((weights * b * b).sum() - mb**2)
                cab = cov_norm * ((weights * a * b).sum() - ma * mb)
                vals.append((2 * ma * mb + c1) * (2 * cab + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def _gauss_window():
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    g /= g.sum()
    return np.outer(g, g)


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 14, 16))
    y = np.clip(x + rng.integers(-40, 41, x.shape), 0, 255)
    return x, y


def test_ssim_gaussian11_matches_window_loop(pair):
    x, y = pair
    ours = ssim(_u8(x)[None], _u8(y)[None], "gaussian11").item()
    assert ours == pytest.approx(_ssim_reference(x, y, _gauss_window(), 1.0, 255.0), abs=1e-10)


def test_ssim_skimage_default_matches_window_loop(pair):
    x, y = pair
    ours = ssim(_u8(x)[None], _u8(y)[None], "skimage_default").item()
    ref = _ssim_reference(x, y, np.full((7, 7), 1 / 49), 49 / 48, 255.0)
    assert ours == pytest.approx(ref, abs=1e-10)


def test_ssim_lama_zero_padding_matches_window_loop(pair):
    x, y = pair
    ours = ssim(_u8(x)[None], _u8(y)[None], "lama").item()
    ref = _ssim_reference(x / 255.0, y / 255.0, _gauss_window(), 1.0, 1.0, pad=5)
    assert ours == pytest.approx(ref, abs=1e-10)


def test_ssim_presets_identity_and_differ_on_noise():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (2, 3, 24, 24), generator=g, dtype=torch.uint8)
    b = torch.randint(0, 256, (2, 3, 24, 24), generator=g, dtype=torch.uint8)
    for preset in ("gaussian11", "skimage_default", "lama"):
        assert torch.allclose(ssim(a, a, preset), torch.ones(2, dtype=torch.float64))
    assert not torch.allclose(ssim(a, b, "gaussian11"), ssim(a, b, "skimage_default"), atol=1e-3)
    with pytest.raises(ValueError, match="preset"):
        ssim(a, b, "gaussian7")
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(a[..., :8, :8], b[..., :8, :8])


def test_ssim_gaussian11_equals_skimage_when_installed(pair):
    metrics = pytest.importorskip("skimage.metrics", reason="scikit-image is not installed here")
    x, y = pair
    ref = metrics.structural_similarity(x.transpose(1, 2, 0).astype(np.uint8), y.transpose(1, 2, 0).astype(np.uint8),
                                        gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                        data_range=255, channel_axis=-1)
    assert ssim(_u8(x)[None], _u8(y)[None]).item() == pytest.approx(ref, abs=1e-6)
    # AOT-GAN's call: skimage defaults on uint8 (7x7 uniform, sample covariance, data range 255)
    ref_default = metrics.structural_similarity(x.transpose(1, 2, 0).astype(np.uint8),
                                                y.transpose(1, 2, 0).astype(np.uint8), channel_axis=-1)
    assert ssim(_u8(x)[None], _u8(y)[None], "skimage_default").item() == pytest.approx(ref_default, abs=1e-6)


def test_ms_ssim_identity_and_size_check():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (1, 3, 176, 176), generator=g, dtype=torch.uint8)
    assert ms_ssim(a, a).item() == pytest.approx(1.0, abs=1e-6)
    b = (a.int() + 30).clamp(0, 255).to(torch.uint8)
    assert ms_ssim(a, b).item() < 1.0
    with pytest.raises(ValueError, match="176"):
        ms_ssim(a[..., :64, :64], a[..., :64, :64])


def test_l1_variants_by_hand():
    target = _u8([[[[10, 20], [30, 40]]] * 3])  # (1, 3, 2, 2)
    pred = _u8([[[[12, 20], [30, 30]]] * 3])
    assert l1(pred, target).item() == pytest.approx((2 + 10) / 4 / 255)
    assert l1_rel(pred, target).item() == pytest.approx(12 / (22 + 40 + 60 + 70))
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert l1_hole(pred, target, mask).item() == pytest.approx(2 / 255)
    assert math.isnan(l1_hole(pred, target, torch.zeros_like(mask)).item())
    assert hole_ratio(mask).item() == 0.25
    zeros = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    assert l1_rel(zeros, zeros).item() == 0.0
