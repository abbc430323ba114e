"""Named evaluation protocols (evaluation spec §6.2): metric lists and evaluator options that reproduce a paper's
settings. Explicit options override a protocol's.

Not reproduced: LaMa's 10 equal hole-ratio bins and F1 scores, MAT's StyleGAN2-ADA TorchScript detector (``tf1`` +
TF weights is the stated equivalent), HiFill's Inception Score, clean-fid's JPEG handling.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROTOCOLS", "protocol_options"]

PROTOCOLS: dict[str, dict[str, Any]] = {
    # Composite PNG, uint8; TF-Inception FID (tf1 resize, N-1); LPIPS-Alex; SSIM gaussian11; L1 MAE + relative L1.
    "suite": {
        "metrics": ["psnr", "ssim", "l1", "l1_rel", "lpips", "fid"],
        "options": {"ssim_preset": "gaussian11", "lpips_net": "alex", "fid_resize": "tf1",
                    "fid_covariance": "unbiased"},
    },
    # AOT-GAN src/metric/metric.py: relative L1, skimage-default SSIM, PSNR R=255, FID per bucket.
    "aotgan": {
        "metrics": ["l1_rel", "psnr", "ssim", "fid"],
        "options": {"ssim_preset": "skimage_default", "fid_resize": "tf1"},
    },
    # LaMa evaluator: lama SSIM, LPIPS-VGG, pytorch-fid resize and scaling.
    "lama": {
        "metrics": ["ssim", "lpips", "fid"],
        "options": {"ssim_preset": "lama", "lpips_net": "vgg", "fid_resize": "torch_bilinear"},
    },
    # MAT evaluatoin/: FID with 1/N covariance, P-IDS/U-IDS, LPIPS-Alex, PSNR/SSIM/L1 (MAE).
    "mat": {
        "metrics": ["fid", "pids", "uids", "lpips", "psnr", "ssim", "l1"],
        "options": {"ssim_preset": "gaussian11", "lpips_net": "alex", "fid_resize": "tf1",
                    "fid_covariance": "biased"},
    },
    # AIM 2020 (aim2020.md §5.2): whole image, skimage-default SSIM, MAE on [0,1], LPIPS-Alex, pytorch-fid FID.
    "aim2020": {
        "metrics": ["fid", "lpips", "psnr", "ssim", "l1"],
        "options": {"ssim_preset": "skimage_default", "lpips_net": "alex", "fid_resize": "torch_bilinear"},
    },
    # HiFill Table 2: MS-SSIM, L1, FID (IS not implemented).
    "hifill": {
        "metrics": ["l1", "l1_hole", "ms_ssim", "fid"],
        "options": {"fid_resize": "tf1"},
    },
    # clean-fid "clean" resize for FID.
    "clean": {
        "metrics": ["fid", "kid"],
        "options": {"fid_resize": "pil_bicubic"},
    },
}


def protocol_options(name: str) -> tuple[list[str], dict[str, Any]]:
    """``(metrics, evaluator options)`` of a protocol."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
    entry = PROTOCOLS[name]
    return list(entry["metrics"]), dict(entry["options"])
