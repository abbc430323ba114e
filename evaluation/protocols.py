"""Named evaluation protocols (evaluation spec §6.2): metric lists and evaluator options that reproduce a paper's
settings. The one registry behind ``inpaint-suite evaluate --protocol``, a config's
``model.init_args.evaluator_options: {protocol: NAME}`` and a sweep file's ``evaluation_protocol: NAME``.

Every protocol fixes all of :data:`PROTOCOL_KEYS` (missing ones take the suite's value), so naming one never leaves a
setting of another protocol behind. Explicit options override a protocol's.

Not reproduced: LaMa's 10 equal hole-ratio bins and F1 scores, MAT's StyleGAN2-ADA TorchScript detector (``tf1`` +
TF weights is the stated equivalent), HiFill's Inception Score, clean-fid's JPEG handling.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROTOCOLS", "DEFAULT_PROTOCOL", "PROTOCOL_KEYS", "protocol_options", "describe_protocol",
           "check_protocol"]

DEFAULT_PROTOCOL = "suite"

# The evaluator options a protocol owns, with the suite's values (= InpaintingEvaluator's defaults).
PROTOCOL_KEYS: dict[str, Any] = {"ssim_preset": "gaussian11", "lpips_net": "alex", "fid_resize": "tf1",
                                 "fid_covariance": "unbiased"}

PROTOCOLS: dict[str, dict[str, Any]] = {
    "suite": {
        "about": "suite default: SSIM gaussian11 (11x11 Gaussian, population covariance), FID tf1 resize, "
                 "LPIPS-Alex, L1 = MAE on [0,1]",
        "metrics": ["psnr", "ssim", "l1", "l1_rel", "lpips", "fid"],
        "options": {},
    },
    # AOT-GAN src/metric/metric.py (aotgan.md §6): relative L1, skimage-default SSIM, PSNR R=255, FID per bucket.
    "aotgan": {
        "about": "AOT-GAN src/metric/metric.py: SSIM skimage defaults (7x7 uniform window, sample covariance), "
                 "relative L1, PSNR R=255",
        "metrics": ["l1_rel", "psnr", "ssim", "fid"],
        "options": {"ssim_preset": "skimage_default"},
    },
    # LaMa evaluator: lama SSIM, LPIPS-VGG, pytorch-fid resize and scaling.
    "lama": {
        "about": "LaMa evaluator: SSIM lama (zero padding, [0,1]), LPIPS-VGG, FID pytorch-fid resize",
        "metrics": ["ssim", "lpips", "fid"],
        "options": {"ssim_preset": "lama", "lpips_net": "vgg", "fid_resize": "torch_bilinear"},
    },
    # MAT evaluatoin/: FID with 1/N covariance, P-IDS/U-IDS, LPIPS-Alex, PSNR/SSIM/L1 (MAE).
    "mat": {
        "about": "MAT: FID 1/N covariance, P-/U-IDS, LPIPS-Alex, SSIM gaussian11, L1 = MAE",
        "metrics": ["fid", "pids", "uids", "lpips", "psnr", "ssim", "l1"],
        "options": {"fid_covariance": "biased"},
    },
    # AIM 2020 (aim2020.md §5.2): whole image, skimage-default SSIM, MAE on [0,1], LPIPS-Alex, pytorch-fid FID.
    "aim2020": {
        "about": "AIM 2020 (aim2020.md §5.2): SSIM skimage defaults (7x7 uniform window, sample covariance), "
                 "MAE on [0,1], LPIPS-Alex, FID pytorch-fid resize",
        "metrics": ["fid", "lpips", "psnr", "ssim", "l1"],
        "options": {"ssim_preset": "skimage_default", "fid_resize": "torch_bilinear"},
    },
    # MADF (madf.md §6): settings unstated; the spec's choice: SSIM Gaussian 11 / σ 1.5, PSNR R=255, pytorch-fid FID.
    "madf": {
        "about": "MADF (madf.md §6): SSIM gaussian11, PSNR R=255, FID pytorch-fid resize",
        "metrics": ["psnr", "ssim", "fid"],
        "options": {"fid_resize": "torch_bilinear"},
    },
    # DeepGIN (deepgin.md §6): no settings in the paper; the spec's: SSIM Gaussian 11, L1 = MAE on [0,1] (printed
    # x100), pytorch-fid FID, LPIPS-Alex.
    "deepgin": {
        "about": "DeepGIN (deepgin.md §6): SSIM gaussian11, L1 = MAE on [0,1], LPIPS-Alex, FID pytorch-fid resize",
        "metrics": ["psnr", "ssim", "l1", "fid", "lpips"],
        "options": {"fid_resize": "torch_bilinear"},
    },
    # HiFill Table 2 (hifill.md §6): MS-SSIM, L1, FID (IS not implemented).
    "hifill": {
        "about": "HiFill (hifill.md §6): MS-SSIM 5 scales, L1, FID tf1 resize (IS not implemented)",
        "metrics": ["l1", "l1_hole", "ms_ssim", "fid"],
        "options": {},
    },
    # clean-fid "clean" resize for FID.
    "clean": {
        "about": "clean-fid: FID/KID with PIL bicubic resize",
        "metrics": ["fid", "kid"],
        "options": {"fid_resize": "pil_bicubic"},
    },
}


def check_protocol(name: Any, what: str = "protocol") -> str:
    """``name`` if it is a protocol, else a ValueError naming ``what``, the value and the choices."""
    if not isinstance(name, str) or name not in PROTOCOLS:
        raise ValueError(f"{what}: unknown evaluation protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
    return name


def protocol_options(name: str) -> tuple[list[str], dict[str, Any]]:
    """``(metrics, evaluator options)`` of a protocol; the options hold every key of :data:`PROTOCOL_KEYS`."""
    check_protocol(name)
    entry = PROTOCOLS[name]
    return list(entry["metrics"]), {**PROTOCOL_KEYS, **entry["options"]}


def describe_protocol(name: str) -> str:
    """One line for reports and tables: ``name: what it is``."""
    check_protocol(name)
    return f"{name} — {PROTOCOLS[name]['about']}"
