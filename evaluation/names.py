"""Metric names (no heavy imports, so the CLI's ``--help`` stays fast)."""

PER_IMAGE_METRICS = ("psnr", "ssim", "ms_ssim", "l1", "l1_hole", "l1_rel", "lpips", "lpips_alex", "lpips_vgg")
SET_METRICS = ("fid", "kid", "pids", "uids")
ALL_METRICS = PER_IMAGE_METRICS + SET_METRICS
DEFAULT_METRICS = ("psnr", "ssim", "l1", "l1_rel", "lpips", "fid")


def check_metric_names(names) -> None:
    """Raise ValueError naming the unknown metrics and the valid choices (cheap: no metric is built)."""
    unknown = [m for m in names if m not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(ALL_METRICS)}")
