"""VGG16 / VGG19 feature extractors with torchvision-compatible state-dict keys.

The convolutional trunk is an ``nn.Sequential`` called ``features`` whose indices are exactly torchvision's
(``features.0.weight`` ... ``features.28.bias`` for VGG16, ``... features.34.bias`` for VGG19), so the ImageNet
files ``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth`` load without renaming. The classifier head
(``classifier.{0,3,6}``) is built only with ``with_classifier=True``; without it, ``classifier.*`` keys in a
loaded state dict are dropped by a load hook, so ``load_state_dict(torchvision_sd, strict=True)`` works.

Input convention (torchvision's): ``(B, 3, H, W)`` RGB in [0, 1] normalised with the ImageNet mean/std.
Use :func:`imagenet_normalize` to go from the suite's [-1, 1] images to that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

__all__ = [
    "VGG",
    "VGG_CONFIGS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "imagenet_normalize",
    "vgg16",
    "vgg19",
    "vgg_layer_names",
    "vgg_layer_index",
]

# "M" = 2x2 max-pool; integers = 3x3 conv (padding 1) followed by ReLU. Same tables as torchvision's "D" / "E".
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """Map ``(B, 3, H, W)`` images in [-1, 1] to the ImageNet-normalised input torchvision's VGG expects."""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x + 1.0) * 0.5 - mean) / std


def vgg_layer_names(arch: str) -> list[str]:
    """Names of the ``features`` entries in index order: ``conv1_1, relu1_1, conv1_2, relu1_2, pool1, ...``."""
    names: list[str] = []
    block, conv = 1, 1
    for item in VGG_CONFIGS[arch]:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


def vgg_layer_index(arch: str, name: str) -> int:
    """Index in ``features`` of a named layer, e.g. ``vgg_layer_index("vgg16", "relu3_3") == 15``."""
    names = vgg_layer_names(arch)
    if name not in names:
        raise KeyError(f"unknown {arch} layer {name!r}; known: {', '.join(names)}")
    return names.index(name)


def _make_features(config: Sequence[int | str]) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_channels = int(item)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG trunk (``features``) and, optionally, torchvision's classifier head.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.
        with_classifier: also build ``avgpool`` + ``classifier`` (1000 ImageNet logits).

    ``forward(x)``: ``x`` ``(B, 3, H, W)`` ImageNet-normalised. Returns the last ``features`` map
    ``(B, 512, H/32, W/32)``, or logits ``(B, 1000)`` with the classifier.
    ReLUs are not in-place, so intermediate taps (:meth:`forward_taps`) are never overwritten.
    """

    def __init__(self, arch: str = "vgg16", with_classifier: bool = False) -> None:
        super().__init__()
        if arch not in VGG_CONFIGS:
            raise ValueError(f"unknown VGG arch {arch!r}; expected one of {sorted(VGG_CONFIGS)}")
        self.arch = arch
        self.with_classifier = with_classifier
        self.features = _make_features(VGG_CONFIGS[arch])
        if with_classifier:
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(inplace=False),
                nn.Dropout(),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=False),
                nn.Dropout(),
                nn.Linear(4096, 1000),
            )
        else:
            # Checkpoints from torchvision carry classifier.* keys: drop them so strict loading still works.
            self._register_load_state_dict_pre_hook(_drop_classifier_keys)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation, so "random" weights behave like an untrained torchvision VGG.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if not self.with_classifier:
            return x
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)

    def forward_taps(self, x: torch.Tensor, taps: Iterable[int | str]) -> list[torch.Tensor]:
        """Outputs of ``features`` after the given indices or layer names (e.g. ``"relu2_2"``), in the order given.

        Runs the trunk only as far as the deepest tap.
        """
        indices = [t if isinstance(t, int) else vgg_layer_index(self.arch, t) for t in taps]
        if not indices:
            return []
        wanted = set(indices)
        found: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.features[: max(indices) + 1]):
            x = layer(x)
            if i in wanted:
                found[i] = x
        return [found[i] for i in indices]


def _drop_classifier_keys(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    for key in [k for k in state_dict if k.startswith(prefix + "classifier.")]:
        del state_dict[key]


def vgg16(with_classifier: bool = False) -> VGG:
    """Randomly initialised VGG16 (no I/O). Load weights with ``evaluation.pretrained.pretrained_vgg``."""
    return VGG("vgg16", with_classifier=with_classifier)


def vgg19(with_classifier: bool = False) -> VGG:
    """Randomly initialised VGG19 (no I/O). Load weights with ``evaluation.pretrained.pretrained_vgg``."""
    return VGG("vgg19", with_classifier=with_classifier)
