"""``inpaint-suite predict``: inpaint one photo of any size, or (without ``--image``) a dataset via LightningCLI.

    inpaint-suite predict --method hifill --weights ours.ckpt --image BIG.jpg --mask MASK.png --out OUT.png

The mask file is white (255) on the hole unless ``--mask-polarity black``. A photo of exactly the method's base size
goes straight through the generator; any other size goes through Contextual Residual Aggregation
(:class:`networks.cra.ContextualResidualAggregation`): the generator runs at the base size and the high-frequency
residual of the known region is aggregated into the hole at full resolution, streamed in tiles. Known pixels of the
output are the input's, bit for bit.

A model with a semantic input (AIM Track 2, ``semantic_channels > 0``) needs ``--seg SEG.png``: an ADE20K
full-release ``*_seg.png`` (class = R/10*256 + G) of the photo's size, encoded as the model reads it: one-hot over
the 51 AIM classes + other (the model's ``seg_encoding: labels``, through ``mapFromADE.txt``, ``--ade-map``) or
the raw colours / 255 (``ade_rgb``: converted official DeepGIN Track 2), as the data module decodes them. Through CRA the map is resized to the base size with
nearest neighbour.

``--pipeline official`` replaces all of the above by the authors' own test script around our network (converted
weights then give the official output files; docs/CONVERT.md):

- AOT-GAN (``src/test.py``): the photo at its own size (no CRA), mask ``ToTensor`` (255 = hole), holes filled
  white, ``comp = (1 - m) · x + m · G``, saved by truncation to uint8 (``astype(np.uint8)``, not rounding).
- DeepGIN (``test_ensemble.py``, Track 1): resize to ``max(256, round(side / 256) · 256)`` per side (PIL bicubic,
  image and mask), polyphase tiles of 256 fed *transposed*, mask ``> 0`` = hole, x5 rotation/flip self-ensemble of
  ``I_out`` averaged in uint8, tiles put back, PIL bicubic to the photo's size, then x0.5 and x2 (the blur), and a
  composite with the soft mask ``out · m/255 + in · (255 − m)/255`` truncated to uint8.
- MADF (``test.py``): mask files are white = KNOWN; image PIL-bilinear and mask nearest resized to
  ``--base-size`` (default 512, the released models' training size), ImageNet normalisation, input ``gt · mask``,
  last decoder, ``comp = mask · input + (1 − mask) · out``, saved by ``save_image`` (rounding) at that size.

``--mask-polarity`` defaults to the pipeline's convention (ours and AOT-GAN/DeepGIN official: white = hole; MADF
official: white = known); an explicit value inverts the file where needed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from assembly.config import build_model, converted_model_args, load_config
from assembly.errors import UsageError
from assembly.lightning_cli import main as lightning_main
from datamodules.datamodule import seg_from_colours
from datamodules.datasets.ade20k_labels import NUM_AIM_CLASSES, SegDecoder, one_hot, parse_map_from_ade
from datamodules.datasets.remote_lists import resolve_list_file
from datamodules.image_io import ImageReadError, read_gray, read_rgb
from evaluation.tiling import polyphase_merge, polyphase_split
from lightning_modules import METHODS
from networks.cra import ContextualResidualAggregation
from networks.deepgin import GEOMETRIC_ENSEMBLE
from networks.weights import load_weights_file

DOWNSAMPLE = ("average", "nearest", "bilinear", "bicubic", "area")
PIPELINES = ("ours", "official")
# the colour of the hole in each official test script's mask files (by model class)
OFFICIAL_HOLE_COLOUR = {"AOTGAN": "white", "DeepGIN": "white", "MADF": "black"}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
UPSAMPLE = ("nearest", "bilinear", "bicubic")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inpaint-suite predict", description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="photo to inpaint (any size)")
    parser.add_argument("--mask", required=True, help="mask image, same size as the photo")
    parser.add_argument("--out", required=True, help="output PNG")
    parser.add_argument("--seg", help="semantic map of the photo (ADE20K *_seg.png RGB encoding, same size); "
                                      "required by a model with semantic input (AIM Track 2)")
    parser.add_argument("--ade-map", help="mapFromADE.txt for a one-hot semantic model (default: cached/downloaded)")
    parser.add_argument("--method", help="method name (default: read from --config)")
    parser.add_argument("--config", help="packaged config name or YAML (default: the method's)")
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument("--weights", "--ckpt", dest="weights", help="our checkpoint (fit's last.ckpt, or convert's)")
    weights.add_argument("--random-weights", action="store_true",
                         help="untrained networks: checks the pipeline only, the output is not an inpainting")
    parser.add_argument("--mask-polarity", choices=("white", "black"), default=None,
                        help="which colour marks the hole in the mask file (default: white = 255; with --pipeline "
                             "official the script's own convention: MADF white = known)")
    parser.add_argument("--pipeline", choices=PIPELINES, default="ours",
                        help="ours (any size via CRA) or official: the authors' test script around our network "
                             "(AOT-GAN src/test.py, DeepGIN test_ensemble.py, MADF test.py)")
    parser.add_argument("--base-size", type=int, help="generator input size (default: the config's data.image_size)")
    parser.add_argument("--downsample", choices=DOWNSAMPLE, default="average", help="CRA down-sampling operator")
    parser.add_argument("--upsample", choices=UPSAMPLE, default="bilinear", help="CRA up-sampling operator")
    parser.add_argument("--attention", choices=("auto", "generator", "image"), default="auto",
                        help="CRA attention: the generator's own scores (HiFill) or computed from the image")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser


def read_mask(path: str, shape: tuple[int, int], polarity: str) -> np.ndarray:
    """``(H, W)`` float32 in {0, 1}, 1 = hole."""
    gray = read_gray(path)
    if gray.shape != shape:
        raise UsageError(f"mask {path} is {gray.shape[1]}x{gray.shape[0]} but the image is {shape[1]}x{shape[0]}")
    hole = gray >= 128 if polarity == "white" else gray < 128
    return hole.astype(np.float32)


def read_seg(path: str, shape: tuple[int, int], encoding: str, channels: int,
             ade_map: str | None = None) -> torch.Tensor:
    """``--seg`` as the model reads it, decoded as the data module decodes ``data.seg_encoding``: ``(1, 3, H, W)``
    float raw colours / 255 (``ade_rgb``) or ``(1, C, H, W)`` float one-hot over the AIM classes (``labels``;
    C = 52 with "other", 51 without), the ADE datamodule's mapping."""
    try:
        rgb = read_rgb(path, exif_transpose=False)  # label data: the stored pixel grid, as the datasets read it
    except ImageReadError as error:
        raise UsageError(f"--seg: {error}") from None
    if rgb.shape[:2] != shape:
        raise UsageError(f"--seg {path} is {rgb.shape[1]}x{rgb.shape[0]} but the image is {shape[1]}x{shape[0]}")
    if encoding == "ade_rgb":
        return seg_from_colours(torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].contiguous())

    if channels not in (NUM_AIM_CLASSES, NUM_AIM_CLASSES + 1):
        raise UsageError(f"the model takes {channels} one-hot semantic channels; --seg encodes the "
                         f"{NUM_AIM_CLASSES} AIM classes (+ other): {NUM_AIM_CLASSES + 1} or {NUM_AIM_CLASSES}")
    try:
        map_file = resolve_list_file("mapFromADE.txt", ade_map, option="--ade-map")
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    labels = SegDecoder("ade_full_rgb", parse_map_from_ade(map_file)).labels_from_array(rgb)
    return one_hot(labels, NUM_AIM_CLASSES, other_channel=channels == NUM_AIM_CLASSES + 1)[None]


def resize_seg(seg: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour (centre-aligned) resize of a seg map, keeping its dtype (labels/colours stay exact)."""
    if tuple(seg.shape[-2:]) == tuple(size):
        return seg
    out = torch.nn.functional.interpolate(seg.float(), size=tuple(size), mode="nearest-exact")
    return out.to(seg.dtype)


# ---------------------------------------------------------------------------------------------------- official
def _uint8(x: torch.Tensor, rounding: bool) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8, rounded (``save_image``) or truncated (``astype``)."""
    scaled = x.float().mul(255)
    scaled = scaled.add(0.5).clamp(0, 255).floor() if rounding else scaled.clamp(0, 255).floor()
    return scaled.byte().permute(1, 2, 0).cpu().numpy()


def official_aotgan(model, photo: np.ndarray, hole: np.ndarray, device: str = "cpu") -> np.ndarray:
    """AOT-GAN ``src/test.py`` on ``photo`` ``(H, W, 3)`` uint8 and ``hole`` ``(H, W)`` in [0, 1] (``ToTensor`` of
    the mask, 1 = hole): at the photo's own size; ``comp_imgs`` truncated to uint8."""
    if photo.shape[0] % 4 or photo.shape[1] % 4:
        raise UsageError(f"--pipeline official runs AOT-GAN at the photo's own size, which must be a multiple of 4 "
                         f"(two stride-2 convs); got {photo.shape[1]}x{photo.shape[0]}")
    image = torch.from_numpy(photo.copy()).permute(2, 0, 1)[None].float().div(255).mul(2).sub(1).to(device)
    mask = torch.from_numpy(hole)[None, None].float().to(device)
    pred = model.generate({"image": image, "mask": mask})["output"]  # fills holes white: image*(1-m) + m
    comp = (1 - mask) * image + mask * pred
    return _uint8((comp[0].clamp(-1, 1) + 1) / 2, rounding=False)


def official_madf(model, photo: np.ndarray, known: np.ndarray, size: int, device: str = "cpu") -> np.ndarray:
    """MADF ``test.py``: ``photo`` uint8 ``(H, W, 3)`` and ``known`` uint8 ``(H, W)`` (255 = known, as its mask
    files) resized to ``size`` (PIL bilinear / nearest), ``comp`` in normalised space, ``save_image`` rounding.
    Returns ``(size, size, 3)`` uint8."""
    if size % 128:
        raise UsageError(f"--base-size {size}: MADF needs a multiple of 128 (seven stride-2 levels)")
    gt01 = np.asarray(Image.fromarray(photo).resize((size, size), Image.BILINEAR), np.float32) / 255
    valid = np.asarray(Image.fromarray(known).resize((size, size), Image.NEAREST), np.float32) / 255
    gt01 = torch.from_numpy(gt01).permute(2, 0, 1)[None].to(device)
    m = torch.from_numpy(valid)[None, None].to(device)
    out01 = (model.generate({"image": gt01 * 2 - 1, "mask": 1 - m})["output"] + 1) / 2
    mean = gt01.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    # test.py: comp = mask * (gt_n * mask) + (1 - mask) * out_n, then x * std + mean (exact for soft masks too)
    comp = m * m * (gt01 - mean) + (1 - m) * (out01 - mean) + mean
    return _uint8(comp[0], rounding=True)


def official_deepgin(model, photo: np.ndarray, hole: np.ndarray, tile: int = 256, device: str = "cpu"
                     ) -> np.ndarray:
    """DeepGIN ``test_ensemble.py`` (Track 1) on ``photo`` uint8 ``(H, W, 3)`` (holes white, its ``*_with_holes``
    input) and ``hole`` uint8 ``(H, W)`` (255 = hole). Returns the saved ``(H, W, 3)`` uint8 image."""
    if getattr(model, "semantic_channels", 0):
        raise UsageError("--pipeline official reproduces rlct1/gin test_ensemble.py (Track 1, no semantic input); "
                         "use --pipeline ours for a Track-2 model")
    oh, ow = photo.shape[:2]
    gh, gw = max(tile, int(round(oh / tile)) * tile), max(tile, int(round(ow / tile)) * tile)
    img, msk = Image.fromarray(photo), Image.fromarray(hole)
    if (gh, gw) != (oh, ow):  # __make_power_2: bicubic for the image and the mask
        img, msk = img.resize((gw, gh), Image.BICUBIC), msk.resize((gw, gh), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float().div(255).to(device)
    m = torch.from_numpy(np.asarray(msk).copy())[None, None].to(device)
    rows, cols = gh // tile, gw // tile
    tiles_x = polyphase_split(x, rows, cols, transpose=True).chunk(rows * cols)
    tiles_m = polyphase_split((m > 0).float(), rows, cols, transpose=True).chunk(rows * cols)
    outs = []
    for tx, tm in zip(tiles_x, tiles_m):
        total = torch.zeros_like(tx)
        for forward, inverse in GEOMETRIC_ENSEMBLE:
            out = model._run(forward(tx), forward(tm), None)["output"]
            total += inverse(out.mul(255).clamp(0, 255).floor())  # tensor2im: truncated to uint8 per member
        outs.append(torch.round(total / len(GEOMETRIC_ENSEMBLE)))  # np.round of the float mean
    full = polyphase_merge(torch.cat(outs), rows, cols, transpose=True)[0]
    result = Image.fromarray(full.byte().permute(1, 2, 0).cpu().numpy())
    result = result.resize((ow, oh), Image.BICUBIC)
    result = result.resize((int(ow * 0.5), int(oh * 0.5)), Image.BICUBIC).resize((ow, oh), Image.BICUBIC)
    blurred = np.asarray(result, np.float64)
    soft = hole.astype(np.float64)[..., None]
    composite = blurred * (soft / 255.0) + ((255.0 - soft) / 255.0) * photo
    return composite.astype(np.uint8)  # assignment into the uint8 array truncates


def run_official(args: argparse.Namespace, photo: np.ndarray, model) -> int:
    """``--pipeline official``: the method's own test script around our network; writes ``--out``."""
    kind = type(model).__name__
    if kind not in OFFICIAL_HOLE_COLOUR:
        raise UsageError(f"--pipeline official: {kind} has no official test script here; choose a model of "
                         "aotgan, deepgin, madf, or --pipeline ours")
    if args.seg or getattr(model, "semantic_channels", 0):
        raise UsageError("--pipeline official supports the Track-1 / RGB-only scripts: no --seg, no semantic input")

    try:
        gray = read_gray(args.mask)
    except ImageReadError as error:
        raise UsageError(str(error)) from None
    if gray.shape != photo.shape[:2]:
        raise UsageError(f"mask {args.mask} is {gray.shape[1]}x{gray.shape[0]} but the image is "
                         f"{photo.shape[1]}x{photo.shape[0]}")
    native = OFFICIAL_HOLE_COLOUR[kind]
    if (args.mask_polarity or native) != native:
        gray = 255 - gray  # the script's own convention, from the file's
    model.to(args.device)
    with torch.no_grad():
        if kind == "AOTGAN":
            array = official_aotgan(model, photo, gray.astype(np.float32) / 255, args.device)
        elif kind == "DeepGIN":
            array = official_deepgin(model, photo, gray, device=args.device)
        else:
            array = official_madf(model, photo, gray, args.base_size or 512, args.device)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(args.out)
    print(f"wrote {args.out} ({array.shape[1]}x{array.shape[0]}, official {kind} test pipeline, mask: "
          f"{native} = hole in the script's convention)")
    return 0


def load_model(method: str | None, config: str | None, weights: str | None):
    if method is None and config is None:
        raise UsageError("give --method (one of " + ", ".join(sorted(METHODS)) + ") or --config")
    if method is not None and method not in METHODS:
        raise UsageError(f"unknown method {method!r}; choose from {', '.join(sorted(METHODS))}")
    cfg = load_config(config or method)
    overrides = {"vgg_weights": "random"}  # losses are not needed to predict
    if (cfg.get("data") or {}).get("seg_encoding"):  # as the CLI links data.seg_encoding to the model
        overrides["seg_encoding"] = cfg["data"]["seg_encoding"]
    state = None
    if weights is not None:
        if not Path(weights).is_file():
            raise UsageError(f"weights file {weights} does not exist")

        state = load_weights_file(weights)  # read once: its metadata shapes the model, then it fills it
        # converted official weights state the model options they need (e.g. HiFill's code-style attention)
        meta = state.get("inpaint_suite", {}) if isinstance(state, dict) else {}
        overrides.update(converted_model_args(meta.get("model_init_args") or {}))
    model = build_model(cfg.get("model", {}), overrides)
    if weights is not None:
        model.load_generator_weights(weights, state)
    return model.eval(), cfg


def main(argv: list[str], command: str = "predict") -> int:
    if "--image" not in argv and not any(a.startswith("--image=") for a in argv):
        return lightning_main(argv, command="predict")
    args = build_parser().parse_args(argv)

    try:
        photo = read_rgb(args.image)
    except ImageReadError as error:
        raise UsageError(str(error)) from None
    if args.pipeline == "official":
        model, _ = load_model(args.method, args.config, None if args.random_weights else args.weights)
        return run_official(args, photo, model)
    mask = read_mask(args.mask, photo.shape[:2], args.mask_polarity or "white")
    model, cfg = load_model(args.method, args.config, None if args.random_weights else args.weights)
    channels = int(getattr(model, "semantic_channels", 0) or 0)
    encoding = getattr(model, "seg_encoding", "labels")
    seg = None
    if channels and not args.seg:
        raise UsageError(f"this model has a semantic input (semantic_channels={channels}, seg_encoding="
                         f"{encoding}): give --seg SEG.png, the photo's ADE20K *_seg.png")
    if args.seg and not channels:
        raise UsageError("--seg given but this model has no semantic input (semantic_channels=0)")
    if args.seg:
        seg = read_seg(args.seg, photo.shape[:2], encoding, channels, args.ade_map).to(args.device)
    model.to(args.device)
    base = args.base_size or int(cfg.get("data", {}).get("image_size", 512))
    image = torch.from_numpy(photo.copy()).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(args.device)
    hole = torch.from_numpy(mask)[None, None].to(args.device)

    def generator(image_base: torch.Tensor, mask_base: torch.Tensor):
        batch = {"image": image_base, "mask": mask_base, "name": [Path(args.image).stem], "mask_type": ["file"],
                 "index": torch.zeros(1, dtype=torch.long, device=image_base.device)}
        if seg is not None:  # the photo's own map; CRA runs the generator at the base size: nearest resize
            batch["seg"] = resize_seg(seg, image_base.shape[-2:])
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
