"""``tiny``: a small method that exercises every feature of the base (G + D, perceptual/style, hinge GAN, optional
WGAN-GP, a late-starting term). It trains in seconds on the CPU: the suite's tests and the template for new methods."""

from __future__ import annotations

from lightning_modules import losses
from lightning_modules.base import InpaintingModule
from lightning_modules.losses import LossInputs, PerceptualLoss, StyleLoss
from lightning_modules.schedule import LossTerm
from networks.tiny import TinyGenerator, TinyPatchDiscriminator


class TinyInpainter(InpaintingModule):
    """Args (besides the base's):
        width: channel width of both networks.
        adversarial: ``hinge`` or ``wgan_gp`` (then ``gp_weight`` applies).
        adv_start_step: the adversarial terms start at this generator step (an L1 warm-up before it).
        perceptual_weight, style_weight: 0 disables the VGG terms (and skips building the VGG).
    """

    SIZE_MULTIPLE, MIN_SIZE = 4, 8
    SIZE_REASON = "two stride-2 convs and two 2x up-samplings; the patch critic's three stride-2 convs need 8 px"

    def __init__(self, width: int = 16, adversarial: str = "hinge", adv_start_step: int = 0, gp_weight: float = 10.0,
                 perceptual_weight: float = 0.1, style_weight: float = 0.0, **base) -> None:
        super().__init__(**base)
        if adversarial not in ("hinge", "wgan_gp"):
            raise ValueError(f"adversarial must be 'hinge' or 'wgan_gp', got {adversarial!r}")
        self.save_hyperparameters()
        self.adversarial, self.adv_start_step, self.gp_weight = adversarial, adv_start_step, gp_weight
        self.perceptual_weight, self.style_weight = perceptual_weight, style_weight
        self.generator = TinyGenerator(4 + self.semantic_channels, width)
        self.discriminator = TinyPatchDiscriminator(3, width)
        if perceptual_weight or style_weight:
            vgg = self.vgg_features("vgg16", ("relu1_2", "relu2_2"))
            self.perceptual, self.style = PerceptualLoss(vgg), StyleLoss(vgg)

    def generate(self, batch):
        return {"output": self.generator(self.network_input(batch))}

    def loss_schedule(self):
        adv_g = "adv_g_wgan" if self.adversarial == "wgan_gp" else "adv_g_hinge"
        adv_d = "adv_d_wgan_gp" if self.adversarial == "wgan_gp" else "adv_d_hinge"
        return [
            LossTerm("l1", "l1", 1.0),
            LossTerm("l1_hole", "l1_hole", 5.0),
            LossTerm("perceptual", "perceptual", self.perceptual_weight),
            LossTerm("style", "style", self.style_weight),
            LossTerm("adv_g", adv_g, 0.01, on="composite", start_step=self.adv_start_step),
            LossTerm("adv_d", adv_d, 1.0, on="composite", optimizer="discriminator", start_step=self.adv_start_step),
        ]

    def loss_functions(self):
        fns = super().loss_functions()
        fns.update(adv_g_hinge=self._adv_g_hinge, adv_d_hinge=self._adv_d_hinge, adv_g_wgan=self._adv_g_wgan,
                   adv_d_wgan_gp=self._adv_d_wgan_gp)
        if self.perceptual_weight or self.style_weight:
            fns.update(perceptual=self.perceptual, style=self.style)
        return fns

    def _adv_g_hinge(self, x: LossInputs):
        return losses.hinge_g(self.discriminator(x.pred))

    def _adv_d_hinge(self, x: LossInputs):
        return losses.hinge_d(self.discriminator(x.target), self.discriminator(x.pred))

    def _adv_g_wgan(self, x: LossInputs):
        return losses.wgan_g(self.discriminator(x.pred))

    def _adv_d_wgan_gp(self, x: LossInputs):
        d = self.discriminator
        gp = losses.gradient_penalty(d, x.target, x.pred)
        return losses.wgan_d(d(x.target), d(x.pred)) + self.gp_weight * gp
