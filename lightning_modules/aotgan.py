"""``aotgan``: AOT-GAN (Zeng et al., TVCG 2022 / arXiv 2104.01431) as an :class:`InpaintingModule`.

Notes, paper tables and paper/code switches: ``lightning_modules/README_aotgan.md``. Objective (paper Eq. 8), every term active from step 0::

    L_G = 1 · L1(y) + 250 · style(y) + 0.1 · perceptual(y) + 0.01 · adv_G(z)       y = raw output, z = composite
    L_D = mean((D↑(z) − fake_target)²) + mean((D↑(x) − real_target)²)             least squares, SM-PatchGAN

Both losses come from the same pre-update D, then both optimisers step (``update_order="simultaneous"``).

Paper-vs-code switches (spec §9). ``follow`` picks the defaults of the switches marked †; every switch can also
be set on its own, which wins over ``follow``.

=====================  =========================  ===========================  ===================================
switch                 ``follow="paper"``         ``follow="code"``            alternative
=====================  =========================  ===========================  ===================================
label_convention †     ``paper`` (real → 1,       ``code`` (real → 0, fake →   –
                       fake → 1 − s, G → 1)       s, G → 1: the inconsistent
                                                  G target of the code)
adv_g_masked †         True (Σ m·err / Σ m)       False (the code's mask is    –
                                                  a no-op: plain mean)
d_grad_from_g_adv †    False (D frozen in G       True (D also receives        –
                       step)                      0.01·∇_D L_G_adv)
betas_g, betas_d †     (0, 0.9)                   (0.5, 0.999)                 any pair
upsample               ``bilinear_conv``          same                         ``transposed`` (paper's text)
gate_norm              ``code``                   same                         ``none`` (paper's text)
gate_orientation       ``code``                   same                         ``paper`` (Eq. 1)
disc_layout            ``code`` (3 s2 + 1 s1)     same                         ``paper`` (4 stride-2 convs)
blur_kernel_size       71 (σ = 10)                same                         70 (paper)
label_resolution       ``image`` (D map           same                         ``disc`` (paper: blurred mask
                       upsampled)                                              down-sampled to D's grid)
percep_on              ``output`` (code)          same                         ``composite`` (paper Eq. 6–7)
=====================  =========================  ===========================  ===================================

``s`` is the "hole-ness" map of the discriminator target (``disc_target``, Table 7): ``patchgan`` 1 everywhere,
``hm`` the hard mask m, ``sm`` (default) the 71×71, σ = 10 zero-padded Gaussian blur of m.
Augmentation (spec §9 item 10) and the metric (item 11) are the data module's and the evaluator's business.

AIM Track 2 (not in the paper): ``semantic_channels`` = S (base option, 52 for the one-hot AIM map) feeds
``batch["seg"]`` to the generator's first conv (4 + S input channels, see ``networks/aotgan.py``); the
discriminator stays RGB-only (the AIM task scores the image alone).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_modules.base import InpaintingModule
from lightning_modules.losses import LossInputs, cached_features, gram_matrix
from lightning_modules.network_options import Forward
from lightning_modules.schedule import LossTerm
from networks.aotgan import AOTDiscriminator, AOTGenerator

FOLLOW = ("paper", "code")
DISC_TARGETS = ("patchgan", "hm", "sm")
LABEL_CONVENTIONS = ("paper", "code")
LABEL_RESOLUTIONS = ("image", "disc")
PERCEP_ON = ("output", "composite")

# Paper Eq. 8 (= the code's `1*L1+250*Style+0.1*Perceptual`, adv_weight 0.01).
L1_WEIGHT, STYLE_WEIGHT, PERCEPTUAL_WEIGHT, ADV_WEIGHT = 1.0, 250.0, 0.1, 0.01
PERCEPTUAL_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE_LAYERS = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")
VGG = ("vgg19", PERCEPTUAL_LAYERS + STYLE_LAYERS)  # the base caches one extractor per (arch, layers)

# Values of the † switches for each `follow`.
FOLLOW_DEFAULTS = {
    "paper": {"label_convention": "paper", "adv_g_masked": True, "d_grad_from_g_adv": False,
              "betas_g": (0.0, 0.9), "betas_d": (0.0, 0.9)},
    "code": {"label_convention": "code", "adv_g_masked": False, "d_grad_from_g_adv": True,
             "betas_g": (0.5, 0.999), "betas_d": (0.5, 0.999)},
}


# --------------------------------------------------------------------------------------------- label maps
def gaussian_kernel1d(size: int, sigma: float) -> Tensor:
    """Normalised 1-D Gaussian of ``size`` taps centred on the kernel's middle (half-pixel offset if even)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return (k / k.sum()).float()


def gaussian_blur_mask(mask: Tensor, size: int = 71, sigma: float = 10.0) -> Tensor:
    """Zero-padded Gaussian blur of ``mask`` ``(B, 1, H, W)`` → same shape, values in [0, 1].

    Separable, normalised kernel, zero ("constant") padding so that blur near the image border fades to 0 as in the
    official code (kornia: ``gaussian_blur2d(m, (71, 71), (10, 10), border_type="constant")``). An even ``size`` (the
    paper's 70) pads one pixel less before than after.

    Kept instead of Kornia's: that refuses even sizes (the paper's 70), and for odd ones its float32 kernel differs
    from this float64-normalised one, so results differ by up to 3e-7 (tested to 5e-7): not the same numbers.
    """
    k = gaussian_kernel1d(size, sigma).to(mask)
    before, after = (size - 1) // 2, size // 2
    x = F.pad(mask, (before, after, before, after))
    x = F.conv2d(x, k.view(1, 1, 1, size))
    return F.conv2d(x, k.view(1, 1, size, 1))


# --------------------------------------------------------------------------------------------- module
class AOTGAN(InpaintingModule):
    """AOT-GAN. Args (besides the base's; spec section in brackets):

        follow: ``paper`` (spec defaults) | ``code`` (the official code's behaviour) for the † switches above.
        rates: dilation rate per AOT branch, default [1, 2, 4, 8]; ``len(rates)`` branches (Table 4) [§2.4].
        residual: ``gated`` | ``identity`` | ``conv1x1`` | ``gatedconv`` (Tables 5-6) [§2.4].
        gate_norm, gate_orientation, upsample, num_blocks: generator options [§2.2-2.4].
        channels: generator width (256 in the paper; smaller values only for smoke tests).
        disc_target: ``sm`` (SM-PatchGAN) | ``hm`` (hard mask) | ``patchgan`` (all-fake) (Tables 5, 7) [§3.3].
        disc_layout: ``code`` | ``paper`` [§3.1].
        blur_kernel_size, blur_sigma: the soft-label Gaussian (71, 10 in the code; the paper says 70) [§3.2].
        label_resolution: ``image`` (D map bilinearly up-sampled, code) | ``disc`` (labels down-sampled) [§3.2].
        label_convention, adv_g_masked, d_grad_from_g_adv: the code's label/masking/gradient bugs [§3.2]; None =
            from ``follow``.
        percep_on: which image the perceptual and style losses read: ``output`` (code) | ``composite`` (paper).
        betas_g, betas_d: Adam betas; None = from ``follow``.
        semantic_channels (base option): extra generator input channels of the seg map (AIM Track 2: 52).
    """

    # Network options taken as config keys and forwarded by name (lightning_modules/network_options.py): declared
    # by the networks; the signature below mirrors them (a test holds names, types and defaults equal).
    NETWORKS = (Forward(AOTGenerator, fixed=("semantic_channels", "hole_fill")),
                Forward(AOTDiscriminator, rename={"disc_layout": "layout"}, fixed=("in_channels", "base_channels")))

    SIZE_MULTIPLE = 4
    SIZE_REASON = ("two stride-2 convs, then reflection padding by the largest rate needs S/4 > max(rates); the "
                   "PatchGAN needs S/8 >= 3, S/16 >= 2 with disc_layout: paper")

    @classmethod
    def min_size(cls, options):
        rates = options.get("rates") or inspect.signature(AOTGenerator).parameters["rates"].default
        critic = 32 if options.get("disc_layout") == "paper" else 24
        return max(cls.SIZE_MULTIPLE * (max(int(r) for r in rates) + 1), critic)

    def __init__(
        self,
        follow: str = "paper",
        rates: Sequence[int] = (1, 2, 4, 8),
        residual: str = "gated",
        gate_norm: str = "code",
        gate_orientation: str = "code",
        upsample: str = "bilinear_conv",
        num_blocks: int = 8,
        channels: int = 256,
        disc_target: str = "sm",
        disc_layout: str = "code",
        blur_kernel_size: int = 71,
        blur_sigma: float = 10.0,
        label_resolution: str = "image",
        label_convention: str | None = None,
        adv_g_masked: bool | None = None,
        d_grad_from_g_adv: bool | None = None,
        percep_on: str = "output",
        betas_g: list[float] | None = None,
        betas_d: list[float] | None = None,
        update_order: str = "simultaneous",
        **base,
    ) -> None:
        _check("follow", follow, FOLLOW)
        defaults = FOLLOW_DEFAULTS[follow]
        super().__init__(
            betas_g=tuple(betas_g) if betas_g is not None else defaults["betas_g"],
            betas_d=tuple(betas_d) if betas_d is not None else defaults["betas_d"],
            update_order=update_order,
            **base,
        )
        self.save_hyperparameters()
        self.follow = follow
        self.label_convention = label_convention if label_convention is not None else defaults["label_convention"]
        self.adv_g_masked = adv_g_masked if adv_g_masked is not None else defaults["adv_g_masked"]
        self.d_grad_from_g_adv = d_grad_from_g_adv if d_grad_from_g_adv is not None else defaults["d_grad_from_g_adv"]
        _check("disc_target", disc_target, DISC_TARGETS)
        _check("label_convention", self.label_convention, LABEL_CONVENTIONS)
        _check("label_resolution", label_resolution, LABEL_RESOLUTIONS)
        _check("percep_on", percep_on, PERCEP_ON)
        if blur_kernel_size < 1 or blur_sigma <= 0:
            raise ValueError(f"blur_kernel_size must be >= 1 and blur_sigma > 0, got {blur_kernel_size}, {blur_sigma}")
        self.disc_target, self.label_resolution, self.percep_on = disc_target, label_resolution, percep_on
        self.blur_kernel_size, self.blur_sigma = int(blur_kernel_size), float(blur_sigma)

        generator, discriminator = self.NETWORKS
        self.generator = AOTGenerator(**generator.kwargs(locals()), semantic_channels=self.semantic_channels)
        self.discriminator = AOTDiscriminator(**discriminator.kwargs(locals()))
        # One VGG19 forward per image serves both feature losses; skipped when both weights are overridden to 0.
        w = self.loss_weights
        self._uses_vgg = bool(w.get("perceptual", PERCEPTUAL_WEIGHT) or w.get("style", STYLE_WEIGHT))
        if self._uses_vgg:
            self.vgg_features(*VGG)  # built now so that it moves with the module

    # ------------------------------------------------------------------------------------------ interface
    def generate(self, batch):
        """``{"output": y}``, y ``(B, 3, H, W)`` in [-1, 1]; holes are filled with +1 inside the generator.

        With ``semantic_channels`` = S > 0 the batch's ``seg`` ``(B, S, H, W)`` joins the generator input (a
        missing ``seg`` raises the base's KeyError)."""
        seg = self.semantic_map(batch)
        return {"output": self.generator(batch["image"], batch["mask"], seg)}

    def loss_schedule(self) -> list[LossTerm]:
        terms = [
            LossTerm("l1", "l1", L1_WEIGHT, on="output"),
            LossTerm("style", "aot_style", STYLE_WEIGHT, on=self.percep_on),
            LossTerm("perceptual", "aot_perceptual", PERCEPTUAL_WEIGHT, on=self.percep_on),
            LossTerm("adversarial", "aot_adv_g", ADV_WEIGHT, on="composite"),
            LossTerm("discriminator", "aot_adv_d", 1.0, on="composite", optimizer="discriminator"),
        ]
        if self.d_grad_from_g_adv:
            # The code back-propagates 0.01·L_G_adv into D too (D not frozen, grads not cleared in between).
            # Evaluated on the detached composite it reaches D's parameters only, exactly that leak.
            weight = self.loss_weights.get("adversarial", ADV_WEIGHT)
            terms.append(LossTerm("adversarial_into_d", "aot_adv_g", weight, on="composite",
                                  optimizer="discriminator"))
        return terms

    def loss_functions(self):
        fns = super().loss_functions()
        fns.update(aot_adv_g=self.adversarial_g_loss, aot_adv_d=self.adversarial_d_loss,
                   aot_perceptual=self.perceptual_loss, aot_style=self.style_loss)
        return fns

    # ------------------------------------------------------------------------------------------ feature losses
    def perceptual_loss(self, x: LossInputs) -> Tensor:
        """``Σ_l mean|φ_l(pred) − φ_l(gt)|`` over relu{1..5}_1 of VGG19 (weights 1)."""
        vgg = self.vgg_features(*VGG)
        fp, ft = cached_features(x, vgg, x.pred), cached_features(x, vgg, x.target)
        return sum((fp[n] - ft[n]).abs().mean() for n in PERCEPTUAL_LAYERS)

    def style_loss(self, x: LossInputs) -> Tensor:
        """``Σ_l mean|Gram(φ_l(pred)) − Gram(φ_l(gt))|`` over relu2_2, relu3_4, relu4_4, relu5_2; Gram / (C·H·W)."""
        vgg = self.vgg_features(*VGG)
        fp, ft = cached_features(x, vgg, x.pred), cached_features(x, vgg, x.target)
        return sum((gram_matrix(fp[n]) - gram_matrix(ft[n])).abs().mean() for n in STYLE_LAYERS)

    # ------------------------------------------------------------------------------------------ adversarial
    def hole_map(self, mask: Tensor) -> Tensor:
        """``s``: where the composite counts as fake, ``(B, 1, H, W)`` in [0, 1], by ``disc_target``."""
        if self.disc_target == "patchgan":
            return torch.ones_like(mask)
        if self.disc_target == "hm":
            return mask
        return gaussian_blur_mask(mask, self.blur_kernel_size, self.blur_sigma)

    def targets(self, mask: Tensor) -> tuple[Tensor | float, Tensor, float]:
        """``(real_target, fake_target, g_target)`` at image resolution for ``label_convention``.

        paper: D outputs realness: real → 1, composite → 1 − s, G → 1.
        code: D outputs fakeness: real → 0, composite → s, and G → 1 (asks G to look fake: the code's bug).
        """
        s = self.hole_map(mask)
        if self.label_convention == "paper":
            return 1.0, 1 - s, 1.0
        return 0.0, s, 1.0

    def disc_map(self, image: Tensor) -> Tensor:
        """D's score map; with ``label_resolution="image"`` bilinearly up-sampled (align_corners) to the image."""
        score = self.discriminator(image)
        if self.label_resolution == "image" and score.shape[-2:] != image.shape[-2:]:
            score = F.interpolate(score, size=image.shape[-2:], mode="bilinear", align_corners=True)
        return score

    def _to_score_grid(self, label: Tensor | float, score: Tensor) -> Tensor | float:
        """Labels live at image resolution; with ``label_resolution="disc"`` they are area-down-sampled."""
        if isinstance(label, float) or label.shape[-2:] == score.shape[-2:]:
            return label
        return F.adaptive_avg_pool2d(label, score.shape[-2:])

    def adversarial_d_loss(self, x: LossInputs) -> Tensor:
        """``mean((D↑(z) − fake_t)²) + mean((D↑(x) − real_t)²)``; ``x.pred`` is the (detached) composite."""
        real_t, fake_t, _ = self.targets(x.mask)
        d_fake, d_real = self.disc_map(x.pred.detach()), self.disc_map(x.target)
        fake_t, real_t = self._to_score_grid(fake_t, d_fake), self._to_score_grid(real_t, d_real)
        return (d_fake - fake_t).square().mean() + (d_real - real_t).square().mean()

    def adversarial_g_loss(self, x: LossInputs) -> Tensor:
        """``Σ m ⊙ (D↑(z) − g_t)² / Σ m`` (``adv_g_masked``, hm/sm targets), else the mean over all pixels.

        ``patchgan`` treats the whole composite as fake, so its G term is never masked (spec §3.3).
        """
        _, _, g_t = self.targets(x.mask)
        score = self.disc_map(x.pred)
        err = (score - g_t).square()
        if not self.adv_g_masked or self.disc_target == "patchgan":
            return err.mean()
        m = self._to_score_grid(x.mask, score)
        return (err * m).sum() / m.sum().clamp_min(1e-8)


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
