"""``hifill``: HiFill (Yi et al., CVPR 2020, arXiv 2005.09704) as an :class:`InpaintingModule`.

Notes, paper tables and paper/code switches: ``lightning_modules/README_hifill.md``. Objective (Eqs. 9-13), every term active from step 0::

    L_G = a1 * [c * L_hole(x1) + L_hole(x2)] + a2 * [c * L_ctx(x1) + L_ctx(x2)] + beta * (-E[D(x~)])
    L_D = E[D(x~)] - E[D(x)] + 10 * E[(||grad D(x^)||_2 - 1)^2]         x~ = x2 * m + x * (1 - m) (pasted fake)

``L_hole`` = mean over all B*3*H*W elements of ``|y - x| * m`` (not divided by the hole area), ``L_ctx`` = mean over
known pixels; both on the raw outputs x1 (coarse) and x2 (refine). c = 1.2 (code; the paper is silent).

``loss_preset``   ``paper`` (default)        ``code`` (``config.yml``)
a1 (in-hole)      1                          1.2
a2 (context)      1.2                        1.2
beta (adv.)       1e-4                       1e-3

n_critic (D steps per G step, the base's ``d_steps_per_g``): 5 (paper Algorithm 1, default) vs 3 (code).
Adam lr 1e-4, betas (0.5, 0.9) for G and D, no decay. D: WGAN critic, 5x5 kernels (checkpoint; 3 = paper).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from datamodules.masks.hifill import HiFillTemplateMaskGenerator
from lightning_modules import losses
from lightning_modules.base import InpaintingModule
from lightning_modules.compile import eager
from lightning_modules.losses import LossInputs
from lightning_modules.network_options import Forward
from lightning_modules.schedule import LossTerm
from networks.cra import ContextualResidualAggregation
from networks.hifill import HiFillCritic, HiFillGenerator

# (hole weight a1, context weight a2, adversarial weight beta)
LOSS_PRESETS: dict[str, tuple[float, float, float]] = {
    "paper": (1.0, 1.2, 1e-4),
    "code": (1.2, 1.2, 1e-3),
}


def critic_loss(critic, real: Tensor, fake: Tensor, gp_weight: float = 10.0, generator=None) -> Tensor:
    """WGAN-GP critic loss ``E[D(fake)] - E[D(real)] + gp_weight * GP`` (GP over the whole image, spec 4.1).

    ``real``, ``fake`` ``(B, 3, H, W)``; ``generator`` seeds the interpolation weights (tests, DDP checks).
    """
    # the penalty's double backward cannot go through a compiled critic: it runs the eager one
    gp = losses.gradient_penalty(eager(critic), real, fake, generator=generator)
    return losses.wgan_d(critic(real), critic(fake)) + gp_weight * gp


def synthetic_template_note(datamodule) -> str | None:
    """A note when the training masks use HiFill's synthetic stand-in templates (no ``template_dir``), else None."""
    pending = [getattr(datamodule, "train_masks", None), *getattr(datamodule, "per_image_masks", [])]
    while pending:
        gen = pending.pop()
        if isinstance(gen, HiFillTemplateMaskGenerator):
            if gen.template_dir is None:
                return ("note: HiFill trains on the synthetic stand-in object templates (no template_dir). For the "
                        "released shapes pass the 100 PNGs of duxingren14/Hifill-tensorflow mask_templates/: "
                        "--data.masks '{name: hifill, template_dir: PATH}' (README_hifill.md, Masks)")
        pending += list(getattr(gen, "generators", []))
    return None


class HiFill(InpaintingModule):
    """HiFill. Args (besides the base's; spec section in brackets):

        coarse_gate, refine_gate: ``gc`` | ``ds`` | ``pw`` | ``sc`` | ``none`` (Fig. 4 configurations) [2.4].
        topology: ``code`` (checkpoint: K3 first refine conv, extra coarse K3S1C32) | ``paper`` (appendix) [2.2-2.3].
        coarse_downsample: ``subsample`` (code's TF1 resize) | ``bilinear`` | ``area`` [2.2].
        attention_mask_mode: ``paper`` (softmax over valid keys) | ``code`` (zero logits, then zeroed) [2.5].
        attention_query_norm: cosine on both sides (paper) or keys only (code) [2.5].
        attention_softmax_scale, attention_fuse, attention_type (``soft``|``hard``), attention_multiscale,
            attention_share_scores: ACM/ATM switches [2.5-2.6, 7].
        discriminator_kernel: 5 (code/checkpoint) | 3 (paper) [3].
        padding: ``symmetric`` (PyTorch, default) | ``tf_same`` (TF ``SAME``: asymmetric for stride 2) for every
            conv of the generator and the critic [pitfall 9; converted official weights need ``tf_same``].
        resize: ``half_pixel`` (PyTorch bilinear, default) | ``tf1_legacy`` (TF1 ``resize_bilinear``, no half-pixel
            centres) for every bilinear resampling of the generator [pitfall 9; converted weights: ``tf1_legacy``].
        image_size: training crop size; sets the critic's linear layer (512 in the paper).
        loss_preset: ``paper`` | ``code`` weights (table above) [4.2].
        coarse_weight: c, the multiplier of the coarse reconstruction terms (1.2 in both presets) [4.2].
        gp_weight: gradient-penalty weight (10, code) [4.1].
        d_steps_per_g: n_critic, 5 (paper) | 3 (code) [4.3].
        eval_resolution: test/predict size N (Table 2: 512 ... 4096, + 8192): images are resized bilinearly and
            masks by nearest to N x N, and sizes above ``image_size`` go through Contextual Residual Aggregation
            (``k = N / image_size``) with hard paste [2.7, 6]. 0 = the batch's own size, plain generator.
        cra_downsample, cra_upsample: CRA resampling operators (Fig. 3): ``average`` + ``bilinear`` chosen.
    """

    # Network options taken as config keys and forwarded by name (lightning_modules/network_options.py): declared
    # by the networks; the signature below mirrors them (a test holds names, types and defaults equal). ``padding``
    # goes to both networks.
    NETWORKS = (Forward(HiFillGenerator, fixed=("semantic_channels", "init_std")),
                Forward(HiFillCritic, rename={"discriminator_kernel": "kernel_size"}, fixed=("init_std",)))

    SIZE_MULTIPLE = MIN_SIZE = 64
    SIZE_REASON = "a 16-px attention grid on the refine net and a coarse net at half size"

    @classmethod
    def size_error(cls, size, options=None, stage="fit"):
        options = dict(options or {})
        trained = int(options.get("image_size", 512))
        if stage == "fit" and size != trained:
            # the critic's linear layer is sized for model.init_args.image_size
            return (f"HiFill trains at model.init_args.image_size ({trained}: it sizes the critic's linear layer); "
                    f"set data.image_size and model.init_args.image_size to the same multiple of {cls.SIZE_MULTIPLE}")
        if stage in ("test", "predict") and options.get("eval_resolution"):
            return None  # test/predict resample every batch to eval_resolution first
        if stage != "fit" and size > trained:
            return None  # evaluated through Contextual Residual Aggregation, which resamples any size
        return super().size_error(size, options, stage)

    def __init__(
        self,
        coarse_gate: str = "sc",
        refine_gate: str = "pw",
        topology: str = "code",
        coarse_downsample: str = "subsample",
        attention_mask_mode: str = "paper",
        attention_query_norm: bool = True,
        attention_softmax_scale: float = 10.0,
        attention_fuse: bool = True,
        attention_type: str = "soft",
        attention_multiscale: bool = True,
        attention_share_scores: bool = True,
        discriminator_kernel: int = 5,
        padding: str = "symmetric",
        resize: str = "half_pixel",
        image_size: int = 512,
        loss_preset: str = "paper",
        coarse_weight: float = 1.2,
        gp_weight: float = 10.0,
        lr_g: float = 1e-4,
        lr_d: float = 1e-4,
        betas_g: tuple[float, float] = (0.5, 0.9),
        betas_d: tuple[float, float] = (0.5, 0.9),
        d_steps_per_g: int = 5,
        eval_resolution: int = 0,
        cra_downsample: str = "average",
        cra_upsample: str = "bilinear",
        **base,
    ) -> None:
        super().__init__(lr_g=lr_g, lr_d=lr_d, betas_g=betas_g, betas_d=betas_d, d_steps_per_g=d_steps_per_g,
                         **base)
        if loss_preset not in LOSS_PRESETS:
            raise ValueError(f"loss_preset must be one of {sorted(LOSS_PRESETS)}, got {loss_preset!r}")
        self.save_hyperparameters()
        self.loss_preset, self.coarse_weight, self.gp_weight = loss_preset, coarse_weight, gp_weight
        generator, critic = self.NETWORKS
        self.generator = HiFillGenerator(**generator.kwargs(locals()), semantic_channels=self.semantic_channels)
        self.discriminator = HiFillCritic(**critic.kwargs(locals()))
        self.image_size, self.eval_resolution = image_size, eval_resolution
        self.cra_downsample, self.cra_upsample = cra_downsample, cra_upsample

    def generate(self, batch):
        """``output`` = x2 (refine), ``coarse`` = x1, both raw ``(B, 3, H, W)`` in [-1, 1]; ``scores`` ``(B, N, N)``."""
        out = self.generator(batch["image"], batch["mask"], self.semantic_map(batch))
        return {"output": out["refine"], "coarse": out["coarse"], "scores": out["scores"]}

    def loss_schedule(self) -> list[LossTerm]:
        hole, context, adversarial = LOSS_PRESETS[self.loss_preset]
        c = self.coarse_weight
        return [
            LossTerm("hole_coarse", "l1_hole", hole * c, on="coarse"),
            LossTerm("hole_refine", "l1_hole", hole, on="output"),
            LossTerm("context_coarse", "l1_valid_normalized", context * c, on="coarse"),
            LossTerm("context_refine", "l1_valid_normalized", context, on="output"),
            LossTerm("adv_g", "wgan_g", adversarial, on="composite"),
            LossTerm("adv_d", "wgan_gp_d", 1.0, on="composite", optimizer="discriminator"),
        ]

    def loss_functions(self):
        fns = super().loss_functions()
        fns.update(wgan_g=self._adv_g, wgan_gp_d=self._adv_d)
        return fns

    def _adv_g(self, x: LossInputs) -> Tensor:
        return losses.wgan_g(self.discriminator(x.pred))

    def _adv_d(self, x: LossInputs) -> Tensor:
        return critic_loss(self.discriminator, x.target, x.pred, self.gp_weight)

    # ------------------------------------------------------------------------------------ high-resolution eval
    def _at_eval_resolution(self, batch):
        """``batch`` with image (bilinear) and mask (nearest) resized to ``eval_resolution`` (spec 6)."""
        n = self.eval_resolution
        if not n or batch["image"].shape[-2:] == (n, n):
            return batch
        out = dict(batch)
        out["image"] = F.interpolate(batch["image"], size=(n, n), mode="bilinear", align_corners=False)
        out["mask"] = F.interpolate(batch["mask"], size=(n, n), mode="nearest")
        return out

    def _eval_outputs(self, batch):
        if max(batch["image"].shape[-2:]) <= self.image_size:  # at most the trained size: one (padded) pass
            return super()._eval_outputs(batch)
        seg = self.semantic_map(batch)
        with self._eval_generator(), torch.no_grad():
            generator = self.generator
            if seg is None:
                cra = ContextualResidualAggregation(generator, base_size=self.image_size,
                                                    downsample=self.cra_downsample, upsample=self.cra_upsample)
                out = cra(batch["image"], batch["mask"])
            else:  # Track 2: the seg map goes to the generator at the base size (nearest), one photo at a time
                outs = []
                for b in range(seg.shape[0]):
                    def run(image, mask, seg_b=seg[b:b + 1]):
                        return generator(image, mask, F.interpolate(seg_b, size=image.shape[-2:],
                                                                    mode="nearest-exact").to(image))
                    cra = ContextualResidualAggregation(run, base_size=self.image_size,
                                                        downsample=self.cra_downsample, upsample=self.cra_upsample)
                    outs.append(cra(batch["image"][b:b + 1], batch["mask"][b:b + 1]))
                out = torch.cat(outs)
        return {"output": out, "composite": out}

    def test_step(self, batch, batch_idx):
        return super().test_step(self._at_eval_resolution(batch), batch_idx)

    def on_fit_start(self) -> None:
        super().on_fit_start()
        note = synthetic_template_note(getattr(self.trainer, "datamodule", None))
        if note and self.trainer.is_global_zero:
            self.print(note)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return super().predict_step(self._at_eval_resolution(batch), batch_idx, dataloader_idx)
