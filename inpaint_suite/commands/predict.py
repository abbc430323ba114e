"""``inpaint-suite predict``: inpaint one photo of any size, or (without ``--image``) a dataset via LightningCLI.

    inpaint-suite predict --method hifill --weights ours.ckpt --image BIG.jpg --mask MASK.png --out OUT.png

The mask file is white (255) on the hole unless ``--mask-polarity black``. A photo of exactly the method's base size
goes straight through the generator; any other size goes through Contextual Residual Aggregation
(:class:`networks.cra.ContextualResidualAggregation`): the generator runs at the base size and the high-frequency
residual of the known region is aggregated into the hole at full resolution, streamed in tiles. Known pixels of the
output are the input's, bit for bit.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from inpaint_suite.cli import UsageError

DOWNSAMPLE = ("average", "nearest", "bilinear", "bicubic", "area")
UPSAMPLE = ("nearest", "bilinear", "bicubic")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inpaint-suite predict", description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="photo to inpaint (any size)")
    parser.add_argument("--mask", required=True, help="mask image, same size as the photo")
    parser.add_argument("--out", required=True, help="output PNG")
    parser.add_argument("--method", help="method name (default: read from --config)")
    parser.add_argument("--config", help="packaged config name or YAML (default: the method's)")
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument("--weights", "--ckpt", dest="weights", help="our checkpoint (fit's last.ckpt, or convert's)")
    weights.add_argument("--random-weights", action="store_true",
                         help="untrained networks: checks the pipeline only, the output is not an inpainting")
    parser.add_argument("--mask-polarity", choices=("white", "black"), default="white",
                        help="which colour marks the hole in the mask file (default white = 255)")
    parser.add_argument("--base-size", type=int, help="generator input size (default: the config's data.image_size)")
    parser.add_argument("--downsample", choices=DOWNSAMPLE, default="average", help="CRA down-sampling operator")
    parser.add_argument("--upsample", choices=UPSAMPLE, default="bilinear", help="CRA up-sampling operator")
    parser.add_argument("--attention", choices=("auto", "generator", "image"), default="auto",
                        help="CRA attention: the generator's own scores (HiFill) or computed from the image")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser


def read_mask(path: str, shape: tuple[int, int], polarity: str) -> np.ndarray:
    """``(H, W)`` float32 in {0, 1}, 1 = hole."""
    from datamodules.image_io import read_gray

    gray = read_gray(path)
    if gray.shape != shape:
        raise UsageError(f"mask {path} is {gray.shape[1]}x{gray.shape[0]} but the image is {shape[1]}x{shape[0]}")
    hole = gray >= 128 if polarity == "white" else gray < 128
    return hole.astype(np.float32)


def load_model(method: str | None, config: str | None, weights: str | None):
    from inpaint_suite.config import build_model, load_config
    from lightning_modules import METHODS

    if method is None and config is None:
        raise UsageError("give --method (one of " + ", ".join(sorted(METHODS)) + ") or --config")
    if method is not None and method not in METHODS:
        raise UsageError(f"unknown method {method!r}; choose from {', '.join(sorted(METHODS))}")
    cfg = load_config(config or method)
    overrides = {"vgg_weights": "random"}  # losses are not needed to predict
    state = None
    if weights is not None:
        if not Path(weights).is_file():
            raise UsageError(f"weights file {weights} does not exist")
        from lightning_modules.base import load_weights_file

        state = load_weights_file(weights)  # read once: its metadata shapes the model, then it fills it
        # converted official weights state the model options they need (e.g. HiFill's code-style attention)
        meta = state.get("inpaint_suite", {}) if isinstance(state, dict) else {}
        overrides.update(meta.get("model_init_args") or {})
    model = build_model(cfg.get("model", {}), overrides)
    if weights is not None:
        model.load_generator_weights(weights, state)
    return model.eval(), cfg


def main(argv: list[str], command: str = "predict") -> int:
    if "--image" not in argv and not any(a.startswith("--image=") for a in argv):
        from inpaint_suite.lightning_cli import main as lightning_main

        return lightning_main(argv, command="predict")
    args = build_parser().parse_args(argv)
    from PIL import Image

    from datamodules.image_io import ImageReadError, read_rgb
    from networks.cra import ContextualResidualAggregation

    try:
        photo = read_rgb(args.image)
    except ImageReadError as error:
        raise UsageError(str(error)) from None
    mask = read_mask(args.mask, photo.shape[:2], args.mask_polarity)
    model, cfg = load_model(args.method, args.config, None if args.random_weights else args.weights)
    model.to(args.device)
    base = args.base_size or int(cfg.get("data", {}).get("image_size", 512))
    image = torch.from_numpy(photo.copy()).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(args.device)
    hole = torch.from_numpy(mask)[None, None].to(args.device)

    def generator(image_base: torch.Tensor, mask_base: torch.Tensor):
        batch = model.example_batch(size=image_base.shape[-1], batch_size=1)
        batch = {k: (v.to(args.device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        batch.update(image=image_base, mask=mask_base)
        return model.generate(batch)

    with torch.no_grad():
        if photo.shape[0] == photo.shape[1] == base:
            out = generator(image, hole)["output"]
            out = out * hole + image * (1 - hole)
        else:
            cra = ContextualResidualAggregation(generator, base_size=base, downsample=args.downsample,
                                                upsample=args.upsample, attention=args.attention)
            out = cra(image, hole)
    array = ((out[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    array = np.where(mask[..., None] > 0, array, photo)  # known pixels: the input's, bit for bit
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(args.out)
    print(f"wrote {args.out} ({photo.shape[1]}x{photo.shape[0]}, hole {mask.mean():.1%}, base {base}, "
          f"{'direct' if photo.shape[0] == photo.shape[1] == base else 'CRA'})")
    return 0
