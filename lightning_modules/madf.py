"""MADF as a LightningModule: reconstruction losses only (no discriminator), supervision spread over the cascade.

Notes, paper tables and paper/code switches: ``lightning_modules/README_madf.md``. Project tensors (images in [-1, 1], masks 1 = hole)
are converted here to the paper's space: ImageNet-normalised images and 1 = valid masks (§"Conventions").

Every decoder is a named output of :meth:`MADFModule.generate` (``recovery``, ``refine1`` .. ``refineK``; ``output``
is the last one) and the loss schedule assigns each one its terms — the "incremental coarse-to-fine supervision" is
data, not branches:

==================  ===========  =================  ====================  ==========
``supervision``      recovery     refine1            refine2 (last, K=2)   refine3
==================  ===========  =================  ====================  ==========
coarse_to_fine       L1           L1 + perc          full                  full (K=3)
same                 full         full               full                  full
none                 -            -                  full                  -
==================  ===========  =================  ====================  ==========

with ``L1 = valid + 6 hole``, ``full = L1 + 0.05 perc + 120 style + 0.1 tv`` (Eq. 8); the last decoder always gets
the full loss. ``style_target="official_code"`` reproduces the released ``loss.py`` indexing, which under
coarse-to-fine with K >= 2 reads the style term from the decoder *before* each fully supervised one (K=2: style on
``refine1``, TV on ``refine2``).

AIM Track 2 (not in the paper): ``semantic_channels`` = S (base option; 52 for the one-hot AIM map) feeds
``batch["seg"]`` (unmasked, one-hot, not normalised) into the **mask branch** of the first MADF encoder level, next
to the 1 = valid mask; the image branch and decoders are unchanged. Why there (conditioning of every level's
generated kernels, known inside the hole, 10x cheaper in kernel memory than the image branch): see
``networks/madf.py``. ``encoder_block`` must be ``madf``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from lightning_modules.base import InpaintingModule
from lightning_modules.losses import LossFn, LossInputs, cached_features, gram_matrix, total_variation
from lightning_modules.network_options import Forward
from lightning_modules.schedule import LossTerm
from networks.backbones.vgg import IMAGENET_MEAN, IMAGENET_STD, imagenet_normalize
from networks.madf import ENCODER_CHANNELS, MADFGenerator

SUPERVISIONS = ("coarse_to_fine", "same", "none")
STYLE_TARGETS = ("last", "official_code")
TV_REGIONS = ("dilated_hole", "full")
FOLLOW = ("paper", "code")
VGG_LAYERS = ("pool1", "pool2", "pool3")  # VGG-16 features[:5], [5:10], [10:17]

# Terms of each supervision stage (§4.2): 0 = L1, 1 = L1 + perceptual, 2 = full loss.
STAGE_TERMS = {0: ("valid", "hole"), 1: ("valid", "hole", "perceptual"),
               2: ("valid", "hole", "perceptual", "style", "tv")}
TERM_FUNCTIONS = {"valid": "madf_valid", "hole": "madf_hole", "perceptual": "madf_perceptual",
                  "style": "madf_style", "tv": "madf_tv"}


def decoder_names(num_refine: int) -> list[str]:
    """Output names of the cascade: ``["recovery", "refine1", ..., "refineK"]``."""
    return ["recovery"] + [f"refine{k}" for k in range(1, num_refine + 1)]


def supervision_plan(supervision: str, num_refine: int, style_target: str = "last") -> dict[str, list[str]]:
    """Which loss terms each decoder output receives: ``{decoder: [term, ...]}`` (terms of ``TERM_FUNCTIONS``).

    coarse_to_fine: decoder ``i`` (0 = recovery) gets stage ``min(i, 2)``, the last decoder stage 2 (official rule).
    ``style_target="official_code"`` moves each style term of decoder ``i >= 2`` to decoder ``i - 1`` (coarse_to_fine
    only; the other schemes have no such index shift in the released code).
    """
    if supervision not in SUPERVISIONS:
        raise ValueError(f"supervision must be one of {SUPERVISIONS}, got {supervision!r}")
    if style_target not in STYLE_TARGETS:
        raise ValueError(f"style_target must be one of {STYLE_TARGETS}, got {style_target!r}")
    names = decoder_names(num_refine)
    last = len(names) - 1
    if supervision == "coarse_to_fine":
        stages = [2 if i == last else min(i, 2) for i in range(len(names))]
    elif supervision == "same":
        stages = [2] * len(names)
    else:
        stages = [None] * last + [2]
    plan = {name: list(STAGE_TERMS[s]) if s is not None else [] for name, s in zip(names, stages)}
    if supervision == "coarse_to_fine" and style_target == "official_code":
        style_from = [i for i in range(2, len(names)) if "style" in plan[names[i]]]
        for i in style_from:
            plan[names[i]].remove("style")
        for i in style_from:
            plan[names[i - 1]].append("style")
    return plan


# --------------------------------------------------------------------------------------------- losses (§4.1)
# All pixel-space terms are computed in ImageNet-normalised space, as the paper/code do; VGGFeatures maps [-1, 1]
# to that same space internally, so feeding it project-space tensors is exactly the paper's VGG input.


def _normalized(x: Tensor) -> Tensor:
    """[-1, 1] -> ImageNet-normalised space (linear, so composites commute with it)."""
    return imagenet_normalize(x)


def _composite(x: LossInputs) -> Tensor:
    """``comp(O)`` = known pixels from the image, holes from ``pred``; cached so perceptual and style share it."""
    key = ("madf_composite", id(x.pred))
    if key not in x.cache:
        x.cache[key] = x.pred * x.mask + x.target * (1 - x.mask)
    return x.cache[key]


def madf_valid(x: LossInputs) -> Tensor:
    """``mean(|M ⊙ (O − I_gt)|)`` over all B·3·H·W elements, normalised space (M = valid = 1 − hole)."""
    return ((_normalized(x.pred) - _normalized(x.target)).abs() * (1 - x.mask)).mean()


def madf_hole(x: LossInputs) -> Tensor:
    """``mean(|(1 − M) ⊙ (O − I_gt)|)`` over all elements, normalised space."""
    return ((_normalized(x.pred) - _normalized(x.target)).abs() * x.mask).mean()


def _vgg(x: LossInputs):
    return x.module.vgg_features("vgg16", VGG_LAYERS)


def madf_perceptual(x: LossInputs) -> Tensor:
    """``Σ_p mean|Ψ_p(O) − Ψ_p(gt)| + mean|Ψ_p(comp O) − Ψ_p(gt)|`` over VGG-16 pool1..pool3."""
    vgg = _vgg(x)
    gt = cached_features(x, vgg, x.target)
    total = x.pred.new_zeros(())
    for image in (x.pred, _composite(x)):
        feats = cached_features(x, vgg, image)
        total = total + sum((feats[n] - gt[n]).abs().mean() for n in VGG_LAYERS)
    return total


def madf_style(x: LossInputs) -> Tensor:
    """Same as :func:`madf_perceptual` on Gram matrices ``ΨΨᵀ/(C·H·W)`` (fp32)."""
    vgg = _vgg(x)
    gt = cached_features(x, vgg, x.target)
    total = x.pred.new_zeros((), dtype=torch.float32)
    for image in (x.pred, _composite(x)):
        feats = cached_features(x, vgg, image)
        total = total + sum((gram_matrix(feats[n]) - gram_matrix(gt[n])).abs().mean() for n in VGG_LAYERS)
    return total


def madf_tv(x: LossInputs) -> Tensor:
    """TV (L1) of ``comp(O)`` in normalised space; ``tv_region``: ``dilated_hole`` (paper) or ``full`` (code)."""
    comp = _normalized(_composite(x))
    region = x.mask if x.module.tv_region == "dilated_hole" else None
    return total_variation(comp, "l1", mask=region)


MADF_LOSS_FUNCTIONS: dict[str, LossFn] = {
    "madf_valid": madf_valid,
    "madf_hole": madf_hole,
    "madf_perceptual": madf_perceptual,
    "madf_style": madf_style,
    "madf_tv": madf_tv,
}


# --------------------------------------------------------------------------------------------- module
class MADF(InpaintingModule):
    """MADF (Zhu et al., TIP): MADF encoder, recovery decoder, K refinement decoders; reconstruction losses only.

    Args:
        encoder_block: ``madf`` | ``pconv`` | ``gconv`` (Table II).
        num_refine: K = 0..3 refinement decoders (Table II; default 2).
        refine_norm: ``pn`` | ``bn`` in the refinement decoders (Table II).
        supervision: ``coarse_to_fine`` | ``same`` | ``none`` (Table III; §4.2).
        follow: ``paper`` or ``code``: preset for the two loss switches below when they are left ``None``
            (paper: style on the last decoder, TV over the dilated hole; code: ``official_code`` / ``full``).
        style_target: ``last`` (paper) | ``official_code`` (released ``loss.py`` index bug, §4.2).
        tv_region: ``dilated_hole`` (paper) | ``full`` (code); gradient-equivalent, logged values differ.
        hole_weight, perceptual_weight, style_weight, tv_weight: Eq. 8 weights (6, 0.05, 120, 0.1; valid = 1).
        init: ``default`` (PyTorch, as the code) | ``normal`` (paper: N(0, 0.01)).
        official_unused_bn: build the official code's never-applied encoder BNs (+1,248 params; parity only).
        recompute_levels: gradient checkpointing of the first N MADF encoder levels (memory only; 0 = off).
        semantic_channels (base option): seg-map channels fed to level 1's mask branch (AIM Track 2: 52).
        lr_g, betas_g: Adam (2e-4, (0.9, 0.999)), constant learning rate, no weight decay.
        **kwargs: shared options of :class:`InpaintingModule`.
    """

    # Network options taken as config keys and forwarded by name (lightning_modules/network_options.py): declared
    # by the network; the signature below mirrors them (a test holds names, types and defaults equal).
    NETWORKS = (Forward(MADFGenerator, fixed=("semantic_channels",)),)

    SIZE_MULTIPLE = MIN_SIZE = 2 ** len(ENCODER_CHANNELS)
    SIZE_REASON = f"{len(ENCODER_CHANNELS)} stride-2 encoder levels down to a 1x1 bottleneck"

    def __init__(
        self,
        encoder_block: str = "madf",
        num_refine: int = 2,
        refine_norm: str = "pn",
        supervision: str = "coarse_to_fine",
        follow: str = "paper",
        style_target: str | None = None,
        tv_region: str | None = None,
        hole_weight: float = 6.0,
        perceptual_weight: float = 0.05,
        style_weight: float = 120.0,
        tv_weight: float = 0.1,
        init: str = "default",
        official_unused_bn: bool = False,
        recompute_levels: int = 0,
        lr_g: float = 2e-4,
        betas_g: tuple[float, float] = (0.9, 0.999),
        **kwargs: Any,
    ) -> None:
        super().__init__(lr_g=lr_g, betas_g=betas_g, **kwargs)
        if follow not in FOLLOW:
            raise ValueError(f"follow must be one of {FOLLOW}, got {follow!r}")
        style_target = style_target or ("last" if follow == "paper" else "official_code")
        tv_region = tv_region or ("dilated_hole" if follow == "paper" else "full")
        if tv_region not in TV_REGIONS:
            raise ValueError(f"tv_region must be one of {TV_REGIONS}, got {tv_region!r}")
        self.plan = supervision_plan(supervision, num_refine, style_target)  # validates both switches
        self.save_hyperparameters()
        self.supervision, self.follow, self.style_target, self.tv_region = supervision, follow, style_target, tv_region
        self.num_refine = num_refine
        self.term_weights = {"valid": 1.0, "hole": hole_weight, "perceptual": perceptual_weight,
                             "style": style_weight, "tv": tv_weight}
        (generator,) = self.NETWORKS
        self.generator = MADFGenerator(**generator.kwargs(locals()), semantic_channels=self.semantic_channels)
        self.discriminator = None

    def generate(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """``batch["image"]`` ``(B, 3, H, W)`` in [-1, 1], ``batch["mask"]`` ``(B, 1, H, W)`` 1 = hole (H, W multiples
        of 128) -> ``{recovery, refine1..K, output}``, each ``(B, 3, H, W)`` in project space [-1, 1] (unclamped:
        the network has no output activation); ``output`` is the last decoder. With ``semantic_channels`` = S > 0,
        ``batch["seg"]`` ``(B, S, H, W)`` goes to the generator's mask branch (missing: the base's KeyError)."""
        image, hole = batch["image"], batch["mask"]
        valid = (1 - hole).expand(-1, 3, -1, -1)
        masked = _normalized(image) * valid  # holes = 0 in normalised space (the ImageNet mean colour)
        if self.semantic_channels:
            seg = self.semantic_map(batch)
            outputs = self.generator(masked, valid, seg)
        else:
            outputs = self.generator(masked, valid)
        mean = image.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = image.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        named = {name: (out * std + mean) * 2 - 1 for name, out in zip(decoder_names(self.num_refine), outputs)}
        named["output"] = named[decoder_names(self.num_refine)[-1]]
        return named

    def loss_schedule(self) -> list[LossTerm]:
        """One row per (decoder, term) of :func:`supervision_plan`, named ``<decoder>/<term>``; all from step 0."""
        return [LossTerm(name=f"{decoder}/{term}", fn=TERM_FUNCTIONS[term], weight=self.term_weights[term],
                         on=decoder)
                for decoder, terms in self.plan.items() for term in terms]

    def loss_functions(self) -> dict[str, LossFn]:
        return {**super().loss_functions(), **MADF_LOSS_FUNCTIONS}

    def configure_optimizers(self):
        # Single optimiser, constant learning rate (no scheduler), weight decay 0 (§4.3).
        return torch.optim.Adam(self.generator.parameters(), lr=self.lr_g, betas=self.betas_g, eps=1e-8)
