"""Loss functions shared by the methods.

Every schedule entry calls a function ``fn(inputs: LossInputs) -> scalar``. The generic ones live here; a method adds
its own (e.g. SM-PatchGAN targets) in its module file. Conventions: images ``(B, 3, H, W)`` in [-1, 1]; masks
``(B, 1, H, W)``, 1 = hole. "Mean over all elements" means over B·C·H·W, the PConv/DeepGIN convention, *not*
normalised by the hole area; the hole-normalised form is a separate function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evaluation.pretrained import pretrained_vgg
from networks.backbones.vgg import imagenet_normalize, vgg_layer_names


@dataclass
class LossInputs:
    """What a loss function sees.

    ``pred`` is the output named by the term's ``on``; ``outputs`` all generator outputs (incl. ``composite``);
    ``cache`` lives for one optimiser step, so feature maps are computed once per tensor (perceptual + style).
    """

    pred: Tensor
    outputs: dict[str, Tensor]
    batch: dict[str, Any]
    module: nn.Module
    cache: dict = field(default_factory=dict)

    @property
    def target(self) -> Tensor:
        return self.batch["image"]

    @property
    def mask(self) -> Tensor:
        return self.batch["mask"]


LossFn = Callable[[LossInputs], Tensor]


# --------------------------------------------------------------------------------------------- pixel losses
def l1(x: LossInputs) -> Tensor:
    """Mean absolute error over the whole image."""
    return (x.pred - x.target).abs().mean()


def l1_hole(x: LossInputs) -> Tensor:
    """``mean(|m ⊙ (pred − gt)|)`` over all B·3·H·W elements (PConv / MADF / DeepGIN convention)."""
    return ((x.pred - x.target).abs() * x.mask).mean()


def l1_valid(x: LossInputs) -> Tensor:
    """``mean(|(1 − m) ⊙ (pred − gt)|)`` over all elements."""
    return ((x.pred - x.target).abs() * (1 - x.mask)).mean()


def l1_hole_normalized(x: LossInputs) -> Tensor:
    """Mean absolute error over hole pixels only (sum over the hole / number of hole values)."""
    m = x.mask.expand_as(x.pred)
    return ((x.pred - x.target).abs() * m).sum() / m.sum().clamp_min(1.0)


def l1_valid_normalized(x: LossInputs) -> Tensor:
    """Mean absolute error over known pixels only."""
    m = (1 - x.mask).expand_as(x.pred)
    return ((x.pred - x.target).abs() * m).sum() / m.sum().clamp_min(1.0)


def total_variation(image: Tensor, form: str = "l1", mask: Tensor | None = None) -> Tensor:
    """Total variation of ``image`` ``(B, C, H, W)``.

    ``form="l1"``: mean |Δv| + mean |Δh|; ``form="l2"``: mean Δv² + mean Δh². With ``mask`` ``(B, 1, H, W)``, only
    differences whose both pixels touch the (1-pixel dilated) hole count, as PConv defines it.
    """
    dv = image[:, :, 1:, :] - image[:, :, :-1, :]
    dh = image[:, :, :, 1:] - image[:, :, :, :-1]
    if form == "l1":
        dv, dh = dv.abs(), dh.abs()
    elif form == "l2":
        dv, dh = dv.square(), dh.square()
    else:
        raise ValueError(f"total_variation form must be 'l1' or 'l2', got {form!r}")
    if mask is None:
        return dv.mean() + dh.mean()
    # the 1-pixel dilation of the hole: = kornia.morphology.dilation(mask, ones(3, 3)) (tested), which unfolds 9 copies
    # and was 3x slower on the CPU; PyTorch's max pool is the same operation
    region = F.max_pool2d(mask, 3, stride=1, padding=1)
    mv = region[:, :, 1:, :] * region[:, :, :-1, :]
    mh = region[:, :, :, 1:] * region[:, :, :, :-1]
    return (dv * mv).mean() + (dh * mh).mean()


def tv(x: LossInputs) -> Tensor:
    return total_variation(x.pred, "l1")


# --------------------------------------------------------------------------------------------- VGG feature losses
class VGGFeatures(nn.Module):
    """A frozen VGG truncated after the deepest requested layer, returning named feature maps.

    Input ``(B, 3, H, W)`` in [-1, 1]; it is mapped to [0, 1], optionally resized (``resize_to``, bilinear,
    ``align_corners=True`` as DeepGIN's code does) and ImageNet-normalised. Gradients flow to the input, never to the
    VGG weights.
    """

    def __init__(self, arch: str = "vgg19", layers: Sequence[str] = ("relu1_1",), weights: str = "imagenet",
                 resize_to: int | None = None) -> None:
        super().__init__()

        index = {name: i for i, name in enumerate(vgg_layer_names(arch))}
        unknown = [name for name in layers if name not in index]
        if unknown:
            raise ValueError(f"unknown {arch} layers {unknown}; valid: {list(index)}")
        self.arch, self.layers, self.resize_to = arch, tuple(layers), resize_to
        self._index = {name: index[name] for name in layers}
        vgg = pretrained_vgg(arch, weights)
        depth = max(self._index.values()) + 1
        self.features = nn.Sequential(*list(vgg.features.children())[:depth])
        self.features.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> VGGFeatures:  # the backbone is always in eval mode
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        x = image
        if self.resize_to is not None:
            x = F.interpolate(x, size=(self.resize_to, self.resize_to), mode="bilinear", align_corners=True)
        x = imagenet_normalize(x)
        wanted = {i: n for n, i in self._index.items()}
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
        return out


def cached_features(x: LossInputs, extractor: VGGFeatures, image: Tensor) -> dict[str, Tensor]:
    """Features of ``image``, computed once per optimiser step (perceptual and style share them)."""
    key = (id(extractor), id(image))
    if key not in x.cache:
        if image is x.target:  # the target needs no graph
            with torch.no_grad():
                x.cache[key] = extractor(image)
        else:
            x.cache[key] = extractor(image)
    return x.cache[key]


def gram_matrix(f: Tensor) -> Tensor:
    """``F Fᵀ / (C·H·W)`` for ``f`` ``(B, C, H, W)`` → ``(B, C, C)``; computed in fp32 (it overflows in half)."""
    b, c, h, w = f.shape
    f = f.float().reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def _distance(a: Tensor, b: Tensor, criterion: str) -> Tensor:
    if criterion == "l1":
        return (a - b).abs().mean()
    if criterion == "mse":
        return (a - b).square().mean()
    raise ValueError(f"criterion must be 'l1' or 'mse', got {criterion!r}")


class _LayerwiseFeatureLoss:
    """``Σ_l w_l · dist(f(φ_l(pred)), f(φ_l(gt)))`` over the extractor's layers; ``f`` is set by the subclass."""

    def __init__(self, extractor: VGGFeatures, layer_weights: Sequence[float] | None = None,
                 criterion: str = "l1") -> None:
        self.extractor, self.criterion = extractor, criterion
        self.weights = list(layer_weights) if layer_weights is not None else [1.0] * len(extractor.layers)
        if len(self.weights) != len(extractor.layers):
            raise ValueError(f"{len(self.weights)} layer weights for {len(extractor.layers)} layers")

    @staticmethod
    def transform(features: Tensor) -> Tensor:
        return features

    def __call__(self, x: LossInputs) -> Tensor:
        fp, ft = cached_features(x, self.extractor, x.pred), cached_features(x, self.extractor, x.target)
        return sum(w * _distance(self.transform(fp[n]), self.transform(ft[n]), self.criterion)
                   for n, w in zip(self.extractor.layers, self.weights))


class PerceptualLoss(_LayerwiseFeatureLoss):
    """``Σ_l w_l · dist(φ_l(pred), φ_l(gt))``."""


class StyleLoss(_LayerwiseFeatureLoss):
    """``Σ_l w_l · dist(Gram(φ_l(pred)), Gram(φ_l(gt)))``."""

    transform = staticmethod(gram_matrix)


# --------------------------------------------------------------------------------------------- adversarial
def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_g(fake: Tensor) -> Tensor:
    return -fake.mean()


def nonsaturating_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def nonsaturating_g(fake: Tensor) -> Tensor:
    return F.softplus(-fake).mean()


def wgan_d(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean() - real.mean()


def wgan_g(fake: Tensor) -> Tensor:
    return -fake.mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     mask: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP: ``mean((‖∇_x̂ D(x̂)‖₂ − 1)²)`` at random interpolates ``x̂`` of ``real`` and ``fake``.

    With ``mask`` ``(B, 1, H, W)`` the gradient is restricted to the hole before the norm (HiFill / DeepFill's
    local GP). ``create_graph=True`` with gradients taken w.r.t. the *inputs* only, so under DDP the parameter
    gradients are produced once, by the caller's single backward of the total discriminator loss.
    """
    b = real.shape[0]
    alpha = torch.rand((b, 1, 1, 1), device=real.device, dtype=real.dtype, generator=generator)
    interp = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    score = critic(interp)
    (grad,) = torch.autograd.grad(score.sum(), interp, create_graph=True)
    if mask is not None:
        grad = grad * mask
    norm = grad.flatten(1).norm(2, dim=1)
    return (norm - 1).square().mean()


BASE_LOSS_FUNCTIONS: dict[str, LossFn] = {
    "l1": l1,
    "l1_hole": l1_hole,
    "l1_valid": l1_valid,
    "l1_hole_normalized": l1_hole_normalized,
    "l1_valid_normalized": l1_valid_normalized,
    "tv": tv,
}
