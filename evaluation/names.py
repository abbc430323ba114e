"""Metric names (no heavy imports, so the CLI's ``--help`` stays fast)."""

PER_IMAGE_METRICS = ("psnr", "ssim", "ms_ssim", "l1", "l1_hole", "l1_rel", "lpips", "lpips_alex", "lpips_vgg")
SET_METRICS = ("fid", "kid", "pids", "uids")
ALL_METRICS = PER_IMAGE_METRICS + SET_METRICS
DEFAULT_METRICS = ("psnr", "ssim", "l1", "l1_rel", "lpips", "fid")
