"""Per-image pixel metrics: PSNR, SSIM (named presets), MS-SSIM, L1 (MAE, hole MAE, AOT's relative L1).

All functions take uint8 images ``(B, 3, H, W)`` (0..255, as read back from a PNG; see ``images.to_uint8``) and
return float64 ``(B,)`` per-image values. Definitions: evaluation spec §5.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "SSIM_PRESETS",
    "PSNR_ZERO_MSE",
    "psnr",
    "ssim",
    "ms_ssim",
    "l1",
    "l1_hole",
    "l1_rel",
    "hole_ratio",
]

PSNR_ZERO_MSE = ("cap", "inf", "skip")
PSNR_CAP_DB = 100.0

# window, covariance normalisation, border handling, data range (spec §5.2).
SSIM_PRESETS = {
    "gaussian11": "Gaussian sigma 1.5, 11 taps; population covariance; 5 px border cropped; data range 255 "
    "(= skimage gaussian_weights=True, use_sample_covariance=False)",
    "skimage_default": "uniform 7x7; sample covariance (N/(N-1)); 3 px border cropped; data range 255 "
    "(= skimage defaults, AOT-GAN / AIM 2020)",
    "lama": "Gaussian sigma 1.5, 11 taps; population covariance; zero padding, no crop; data range 1 on [0,1] "
    "(LaMa / pytorch-ssim)",
}


def _check(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"pred and target must be (B, C, H, W) of the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")


def psnr(pred: torch.Tensor, target: torch.Tensor, zero_mse: str = "cap") -> torch.Tensor:
    """Per-image PSNR in dB on uint8 values, R = 255. ``zero_mse``: ``cap`` (100 dB), ``inf``, ``skip`` (NaN)."""
    _check(pred, target)
    if zero_mse not in PSNR_ZERO_MSE:
        raise ValueError(f"zero_mse must be one of {PSNR_ZERO_MSE}, got {zero_mse!r}")
    mse = ((pred.double() - target.double()) ** 2).mean(dim=(1, 2, 3))
    with torch.no_grad():
        out = 10.0 * torch.log10(255.0**2 / mse)  # +inf where mse == 0
    zero = mse == 0
    if zero_mse == "cap":
        out = torch.where(zero, torch.full_like(out, PSNR_CAP_DB), out.clamp(max=PSNR_CAP_DB))
    elif zero_mse == "skip":
        out = torch.where(zero, torch.full_like(out, math.nan), out)
    return out


def _gaussian_1d(size: int, sigma: float, device, dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def _filter(x: torch.Tensor, k1d: torch.Tensor, padding: int) -> torch.Tensor:
    """Separable filter as a weighted sum of shifted slices (float64 ``conv2d`` on CPU is ~50x slower).

    ``padding=0`` gives the "valid" region, which equals filter-then-crop for any border mode because the cropped
    pixels' windows never reach the border; ``padding>0`` zero-pads first (the lama preset)."""
    if padding:
        x = F.pad(x, (padding, padding, padding, padding))
    k = k1d.numel()
    weights = k1d.tolist()
    h, w = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    rows = sum(weights[i] * x[..., i:i + h, :] for i in range(k))
    return sum(weights[i] * rows[..., :, i:i + w] for i in range(k))


def ssim(pred: torch.Tensor, target: torch.Tensor, preset: str = "gaussian11") -> torch.Tensor:
    """Per-image SSIM (channels averaged) under a named preset of :data:`SSIM_PRESETS`; uint8 input."""
    _check(pred, target)
    if preset not in SSIM_PRESETS:
        raise ValueError(f"unknown SSIM preset {preset!r}; expected one of {sorted(SSIM_PRESETS)}")
    x, y = pred.double(), target.double()
    if preset == "lama":
        x, y, data_range = x / 255.0, y / 255.0, 1.0
    else:
        data_range = 255.0
    if preset == "skimage_default":
        win = 7
        k1d = torch.full((win,), 1.0 / win, device=x.device, dtype=x.dtype)
        cov_norm = win * win / (win * win - 1.0)
    else:
        win = 11
        k1d = _gaussian_1d(win, 1.5, x.device, x.dtype)
        cov_norm = 1.0
    if min(x.shape[-2:]) < win:
        raise ValueError(f"SSIM preset {preset!r} needs images of at least {win}x{win}, got {tuple(x.shape[-2:])}")
    padding = win // 2 if preset == "lama" else 0
    mu_x, mu_y = _filter(x, k1d, padding), _filter(y, k1d, padding)
    var_x = cov_norm * (_filter(x * x, k1d, padding) - mu_x**2)
    var_y = cov_norm * (_filter(y * y, k1d, padding) - mu_y**2)
    cov_xy = cov_norm * (_filter(x * y, k1d, padding) - mu_x * mu_y)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.mean(dim=(1, 2, 3))


def ms_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image MS-SSIM (5 scales, standard weights, Gaussian 11/1.5, no ``relu`` normalisation, R = 255).

    Needs H, W >= 176 (torchmetrics' check for 5 scales with an 11-tap window).
    """
    # lazy: torchmetrics imports torchvision, which evaluation.collection checks first (evaluation.guard)
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    _check(pred, target)
    if min(pred.shape[-2:]) < 176:
        raise ValueError(f"MS-SSIM needs images of at least 176x176, got {tuple(pred.shape[-2:])}")
    return multiscale_structural_similarity_index_measure(
        pred.double(), target.double(), data_range=255.0, reduction="none", normalize=None
    ).double()


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute error on [0, 1] (MAT's L1; multiply by 100 for "L1 (%)")."""
    _check(pred, target)
    return (pred.double() - target.double()).abs().mean(dim=(1, 2, 3)) / 255.0


def l1_hole(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image MAE on [0, 1] over hole pixels only (mask ``(B, 1, H, W)``, 1 = hole); NaN without a hole."""
    _check(pred, target)
    m = (mask > 0.5).double()
    err = ((pred.double() - target.double()).abs() * m).sum(dim=(1, 2, 3)) / 255.0
    count = m.sum(dim=(1, 2, 3)) * pred.shape[1]
    return torch.where(count > 0, err / count.clamp(min=1), torch.full_like(err, math.nan))


def l1_rel(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """AOT-GAN's relative L1 ``Σ|real − fake| / Σ(real + fake)`` per image on uint8 values (reported ×10⁻²)."""
    _check(pred, target)
    p, t = pred.double(), target.double()
    num = (t - p).abs().sum(dim=(1, 2, 3))
    den = (t + p).sum(dim=(1, 2, 3))
    return torch.where(den > 0, num / den.clamp(min=1e-12), torch.zeros_like(num))


def hole_ratio(mask: torch.Tensor) -> torch.Tensor:
    """Fraction of hole pixels per image, ``(B,)`` float64; mask ``(B, 1, H, W)``, 1 = hole."""
    return (mask > 0.5).double().mean(dim=(1, 2, 3))
