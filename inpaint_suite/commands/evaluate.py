"""``inpaint-suite evaluate``: metrics of a folder of results against ground truth and masks.

    inpaint-suite evaluate --pred DIR --gt DIR --masks DIR [--json OUT] [--csv OUT] [--metrics psnr ssim ...]
                           [--allow-missing] [--weights-dir DIR] [--fid-backend ours|torch-fidelity]
                           [--mask-hole white|black] [--compose] [--no-polarity-check]

Prints a Rich table (mean [95 % CI] per metric, overall / per hole-ratio bucket / per mask type); writes JSON and
CSV when asked. Errors exit with code 2 and one line on stderr.

Files are decoded by training's reader (``datamodules.image_io``: EXIF orientation, 16-bit, palette, alpha over
white), injected into ``evaluation.folder`` here because ``evaluation/`` may not import ``datamodules/``. Masks that
look inverted for ``--mask-hole`` are refused (exit 2) before any network is built; non-binary masks are scored
thresholded, with one warning line on stderr naming them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from datamodules.image_io import read_gray, read_rgb
from evaluation.folder import FolderError, ImageReader, evaluate_folders
from evaluation.guard import TorchvisionMismatchError
from evaluation.names import ALL_METRICS, DEFAULT_METRICS
from evaluation.protocols import PROTOCOLS, protocol_options
from evaluation.report import print_report, write_csv, write_json
from networks.weights import CheckpointError

PROG = "inpaint-suite evaluate"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage dump
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Evaluate inpainting results in folders (files matched by name).")
    p.add_argument("--pred", required=True, help="folder of results (PNG/JPEG)")
    p.add_argument("--gt", required=True, help="folder of ground-truth images")
    p.add_argument("--masks", required=True, help="folder of masks (white = hole unless --mask-hole black); "
                                                  "manifest.json there is read if present")
    p.add_argument("--json", dest="json_out", help="write the report as JSON here")
    p.add_argument("--csv", dest="csv_out", help="write one row per (group, metric) here")
    p.add_argument("--protocol", default="suite", choices=sorted(PROTOCOLS),
                   help="named settings (evaluation spec §6.2); explicit options below override it")
    p.add_argument("--metrics", nargs="+", default=None, metavar="NAME",
                   help=f"any of {', '.join(ALL_METRICS)} (space or comma separated; default: the protocol's, "
                        f"suite = {' '.join(DEFAULT_METRICS)})")
    p.add_argument("--allow-missing", action="store_true", help="skip names missing from one of the folders")
    p.add_argument("--weights-dir", help="folder holding downloaded weight files (checked before the torch.hub cache)")
    p.add_argument("--fid-backend", choices=("ours", "torch-fidelity"), default="ours",
                   help="torch-fidelity: the reference package (needs a working torchvision)")
    p.add_argument("--lpips-backend", choices=("ours", "lpips"), default="ours",
                   help="lpips: the reference package (needs a working torchvision)")
    p.add_argument("--inception-weights", default="pytorch-fid",
                   help="pytorch-fid | torch-fidelity | random | PATH (random: testing only)")
    p.add_argument("--fid-resize", default=None,
                   choices=("tf1", "torch_bilinear", "torch_bilinear_aa", "pil_bicubic"), help="default tf1")
    p.add_argument("--fid-covariance", default=None, choices=("unbiased", "biased"),
                   help="unbiased (N-1, default) or biased (1/N, MAT)")
    p.add_argument("--lpips-net", choices=("alex", "vgg"), default=None, help="default alex")
    p.add_argument("--lpips-weights", default="imagenet", help="imagenet | random | PATH (LPIPS backbone)")
    p.add_argument("--ssim-preset", default=None, choices=("gaussian11", "skimage_default", "lama"),
                   help="default gaussian11")
    p.add_argument("--psnr-zero-mse", default="cap", choices=("cap", "inf", "skip"))
    p.add_argument("--image", choices=("composite", "output"), default="composite",
                   help="what the files in --pred are (recorded in the report)")
    p.add_argument("--compose", action="store_true",
                   help="--pred holds raw outputs: score the composite pred*mask + gt*(1-mask)")
    p.add_argument("--mask-hole", choices=("white", "black"), default="white",
                   help="mask colour of the hole (masks that look inverted for it are refused)")
    p.add_argument("--no-polarity-check", action="store_true",
                   help="score masks as declared even when the predictions suggest they are inverted")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--kid-subsets", type=int, default=100)
    p.add_argument("--kid-subset-size", type=int, default=1000)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--quiet", action="store_true", help="do not print the table")
    return p


def _fail(message: str) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _fail(str(exc))
    except SystemExit as exc:  # --help
        return int(exc.code or 0)

    protocol_metrics, options = protocol_options(args.protocol)
    metrics = [m for item in args.metrics for m in item.split(",") if m] if args.metrics else protocol_metrics
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        return _fail(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(ALL_METRICS)}")
    if args.batch_size < 1:
        return _fail("--batch-size must be at least 1")

    for key in ("ssim_preset", "lpips_net", "fid_resize", "fid_covariance"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    kwargs = {
        **options,
        "image": args.image, "psnr_zero_mse": args.psnr_zero_mse,
        "lpips_backbone_weights": args.lpips_weights,
        "fid_backend": args.fid_backend, "lpips_backend": args.lpips_backend,
        "inception_weights": args.inception_weights,
        "weights_dir": args.weights_dir, "settings": {"protocol": args.protocol},
        "bootstrap_resamples": args.bootstrap, "bootstrap_seed": args.seed,
        "kid_subsets": args.kid_subsets, "kid_subset_size": args.kid_subset_size,
    }
    try:
        report = evaluate_folders(
            args.pred, args.gt, args.masks, metrics=metrics, allow_missing=args.allow_missing,
            batch_size=args.batch_size, device=args.device, hole_value=args.mask_hole, compose=args.compose,
            check_mask_polarity=not args.no_polarity_check, progress=not args.no_progress, evaluator_kwargs=kwargs,
            reader=ImageReader(read_rgb, read_gray, "datamodules.image_io.read_rgb / read_gray (as training reads)"),
            warn=_warn,
        )
    except (FolderError, CheckpointError, TorchvisionMismatchError, ValueError) as exc:
        return _fail(str(exc))
    except RuntimeError as exc:
        if "torch-fidelity" in str(exc) or "lpips" in str(exc):
            return _fail(str(exc))
        raise

    if not args.quiet:
        print_report(report)
    if args.json_out:
        write_json(report, args.json_out)
    if args.csv_out:
        write_csv(report, args.csv_out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
