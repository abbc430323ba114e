"""Loading pretrained weights for the in-tree backbones (offline-friendly, ``weights_only=True`` always).

Sources, in order:
1. ``path``: a local file.
2. ``weights_dir``: ``<weights_dir>/<basename of url>`` if that file exists (the CLI's ``--weights-dir``).
3. ``url`` through ``torch.hub.load_state_dict_from_url``: a file already in ``torch.hub.get_dir()/checkpoints/``
   (``$TORCH_HOME/hub/checkpoints``) is used without network access; otherwise it is downloaded there.

Every failure raises :class:`networks.weights.CheckpointError` (the suite's one error type for an unusable
weights file, exit code 2 at the console) with one message that names the file or URL and, for URLs, the exact
cache path to copy the file into.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from networks.backbones.alexnet import AlexNet
from networks.backbones.inception import FIDInceptionV3
from networks.backbones.vgg import VGG
from networks.weights import CheckpointError, describe_load_error

__all__ = [
    "CheckpointError",
    "VGG_URLS",
    "hub_cache_path",
    "read_state_dict",
    "load_weights",
    "pretrained_vgg",
    "pretrained_alexnet",
    "pretrained_fid_inception",
    "ALEXNET_URL",
    "INCEPTION_URLS",
    "lpips_head_path",
]

VGG_URLS = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
}

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"

# Two conversions of the same TF graph (inception-2015-12-05); both load into FIDInceptionV3's key layout.
INCEPTION_URLS = {
    "pytorch-fid": "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth",
    "torch-fidelity": "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth",
}

_MAX_LISTED_KEYS = 5


def hub_cache_path(url: str) -> Path:
    """Where ``torch.hub`` keeps (and first looks for) the file of ``url``: ``<hub dir>/checkpoints/<basename>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _unwrap(obj: object, source: str) -> dict[str, torch.Tensor]:
    # Some checkpoints nest the weights ({"state_dict": {...}}); accept that single common wrapper.
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{source} does not hold a state dict (a mapping of names to tensors)")
    return dict(obj)


def read_state_dict(
    *,
    url: str | None = None,
    path: str | os.PathLike | None = None,
    weights_dir: str | os.PathLike | None = None,
    check_hash: bool = False,
) -> tuple[dict[str, torch.Tensor], str]:
    """Read a state dict on the CPU. Returns ``(state_dict, source)`` where ``source`` names the file/URL used."""
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise CheckpointError(f"weights file not found: {file}")
        return _load_file(file), str(file)
    if url is None:
        raise ValueError("load weights from a `path` or a `url`; neither was given")
    basename = os.path.basename(urlparse(url).path)
    if weights_dir is not None:
        candidate = Path(weights_dir) / basename
        if candidate.is_file():
            return _load_file(candidate), str(candidate)
    cache = hub_cache_path(url)
    try:
        obj = torch.hub.load_state_dict_from_url(
            url, map_location="cpu", weights_only=True, check_hash=check_hash, progress=True
        )
    except Exception as exc:  # network errors, hash mismatch, corrupt cache file: one message for all
        where = f" or into {Path(weights_dir) / basename}" if weights_dir is not None else ""
        raise CheckpointError(
            f"could not load weights from {url} ({type(exc).__name__}: {exc}). "
            f"Download that file on a machine with internet access and copy it to {cache}{where}."
        ) from exc
    return _unwrap(obj, str(cache)), str(cache if cache.is_file() else url)


def _load_file(file: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # an unsafe pickle is named as such (describe_load_error), never run
        raise CheckpointError(describe_load_error(file, exc)) from exc
    return _unwrap(obj, str(file))


def _first(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED_KEYS])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _MAX_LISTED_KEYS else "")


def load_weights(
    module: nn.Module,
    *,
    url: str | None = None,
    path: str | os.PathLike | None = None,
    key_filter: Callable[[str], bool] | None = None,
    strict: bool = True,
    weights_dir: str | os.PathLike | None = None,
    check_hash: bool = False,
) -> nn.Module:
    """Load weights into ``module`` (in place) and return it.

    Args:
        module: the target; its own load hooks apply (e.g. :class:`VGG` without classifier drops
            ``classifier.*``).
        url / path / weights_dir: see the module docstring (``path`` wins over ``url``).
        key_filter: keep only the file's keys for which it returns True.
        strict: fail on missing or unexpected keys (``*.num_batches_tracked`` may always be missing).
            Shape mismatches always fail.
        check_hash: verify the ``-<sha256 prefix>`` in the URL's file name when downloading.

    Raises:
        CheckpointError: file missing / download failed (names the URL and the cache path), or keys do not match
            (names the file and the first mismatched keys).
    """
    state, source = read_state_dict(url=url, path=path, weights_dir=weights_dir, check_hash=check_hash)
    if key_filter is not None:
        state = {k: v for k, v in state.items() if key_filter(k)}

    own = module.state_dict()
    bad_shapes = [
        f"{k}: file {tuple(v.shape)} vs module {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if bad_shapes:
        raise CheckpointError(f"shape mismatch loading {source} into {type(module).__name__}: {_first(bad_shapes)}")

    result = module.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    unexpected = list(result.unexpected_keys)
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"missing keys: {_first(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_first(unexpected)}")
        raise CheckpointError(
            f"weights in {source} do not match {type(module).__name__} ({'; '.join(parts)})"
        )
    return module


def pretrained_vgg(
    arch: str = "vgg16",
    weights: str | os.PathLike = "imagenet",
    *,
    with_classifier: bool = False,
    weights_dir: str | os.PathLike | None = None,
) -> VGG:
    """VGG16/VGG19 with torchvision's ImageNet weights (``weights="imagenet"``), random weights (``"random"``),
    or a local state-dict file (any other value). Returned in eval mode with ``requires_grad`` unchanged.

    Input convention: see :class:`networks.backbones.vgg.VGG` (ImageNet-normalised; use ``imagenet_normalize``).
    """
    if arch not in VGG_URLS:
        raise ValueError(f"unknown VGG arch {arch!r}; expected one of {sorted(VGG_URLS)}")
    model = VGG(arch, with_classifier=with_classifier)
    if weights == "random":
        return model.eval()
    if weights == "imagenet":
        load_weights(model, url=VGG_URLS[arch], weights_dir=weights_dir, check_hash=True)
    else:
        load_weights(model, path=weights)
    return model.eval()


def pretrained_alexnet(
    weights: str | os.PathLike = "imagenet", *, weights_dir: str | os.PathLike | None = None
) -> AlexNet:
    """AlexNet ``features`` with torchvision's ImageNet weights, ``"random"`` weights, or a local file; eval mode."""
    model = AlexNet(with_classifier=False)
    if weights == "imagenet":
        load_weights(model, url=ALEXNET_URL, weights_dir=weights_dir, check_hash=True)
    elif weights != "random":
        load_weights(model, path=weights)
    return model.eval()


def pretrained_fid_inception(
    weights: str | os.PathLike = "pytorch-fid", *, weights_dir: str | os.PathLike | None = None
) -> FIDInceptionV3:
    """The FID Inception-v3 with the TF ``inception-2015-12-05`` weights.

    ``weights``: ``"pytorch-fid"`` (default) or ``"torch-fidelity"`` (same graph, two hosted copies), ``"random"``,
    or a local file. Loaded strictly except ``*.num_batches_tracked``. The hash in the file name is not checked
    (its SHA-256 could not be verified when this was written); eval mode.
    """
    model = FIDInceptionV3()
    if weights in INCEPTION_URLS:
        load_weights(model, url=INCEPTION_URLS[str(weights)], weights_dir=weights_dir)
    elif weights != "random":
        load_weights(model, path=weights)
    return model.eval()


def lpips_head_path(net: str) -> Path:
    """Path of the LPIPS v0.1 linear-head file (``alex``/``vgg``/``squeeze``) shipped inside the torchmetrics wheel.

    Found through ``importlib.util.find_spec`` without importing torchmetrics.
    """
    spec = importlib.util.find_spec("torchmetrics")
    if spec is None or spec.origin is None:
        raise CheckpointError("torchmetrics is not installed: it ships the LPIPS linear heads (lpips_models/*.pth)")
    file = Path(spec.origin).parent / "functional" / "image" / "lpips_models" / f"{net}.pth"
    if not file.is_file():
        raise CheckpointError(f"LPIPS head file not found: {file} (expected inside the torchmetrics package)")
    return file
