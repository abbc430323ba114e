"""DeepGIN as an :class:`InpaintingModule`: two-phase schedule (L1 warm-up, then the GAN objective).

Notes, paper tables and paper/code switches: ``lightning_modules/README_deepgin.md`` (losses and schedule, test-time
extras and polyphase tiling, paper vs code).

The network works in [0, 1] with white-filled holes (official code); this module converts from/to the project's
[-1, 1] and evaluates DeepGIN's own losses in [0, 1], where their weights were tuned. Both phases are rows of one
loss schedule: the warm-up is simply the step range ``[0, warmup_steps)`` in which only the L1 rows are active
(``start_step`` of every other row is ``warmup_steps``), so resuming mid-phase needs nothing but the restored
``global_step``. The learning rate is likewise a pure function of ``global_step`` (set at every step).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from evaluation.tiling import polyphase_merge, polyphase_split
from lightning_modules.base import InpaintingModule
from lightning_modules.losses import LossFn, LossInputs, PerceptualLoss, StyleLoss, total_variation
from lightning_modules.network_options import Forward
from lightning_modules.schedule import LossTerm
from networks.deepgin import (
    DeepGINGenerator,
    MultiScaleDiscriminator,
    bicubic_post_blur,
    resize_bilinear,
    self_ensemble,
)

FOLLOW = ("code", "paper")
VGG_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")  # pre-ReLU, torchvision indices 0,5,10,19,28
PIX2PIXHD_LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
PERCEPTUAL_FORMS = ("pix2pixhd", "uniform")
STYLE_FORMS = ("mse_weighted", "l1")
TV_FORMS = ("l2", "l1")
# how test/validate/predict run the network (spec deepgin.md §6, aim2020.md §5); see DeepGIN.protocol_grid
EVAL_PROTOCOLS = ("polyphase1024", "native", "resize256", "direct")

# follow -> (perceptual layer weights, style form, tv form, D-loss weight)
_FOLLOW_DEFAULTS = {
    "code": ("pix2pixhd", "mse_weighted", "l2", 0.5),
    "paper": ("uniform", "l1", "l1", 1.0),
}


def to01(x: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1]."""
    return (x + 1) / 2


def hole_weighted_l1(x: LossInputs, hole_weight: float) -> Tensor:
    """Paper Eq. 1 in [0, 1]: ``λ_hole·mean(|M⊙(P−T)|) + mean(|(1−M)⊙(P−T)|)``, means over all B·3·H·W elements.

    When ``pred`` is smaller than the target (``I_lr`` at H/4) target and mask are resized to it, bilinearly with
    align_corners=True, so the low-resolution mask is soft (official code).
    """
    target, mask = x.target, x.mask
    if x.pred.shape[-2:] != target.shape[-2:]:
        target, mask = resize_bilinear(target, x.pred.shape[-2:]), resize_bilinear(mask, x.pred.shape[-2:])
    diff = (to01(x.pred) - to01(target)).abs()
    return hole_weight * (diff * mask).mean() + (diff * (1 - mask)).mean()


def deepgin_tv(x: LossInputs, form: str) -> Tensor:
    """TV of ``pred`` in [0, 1]. ``"l2"`` = code (``TVLoss``: 2·(mean Δv² + mean Δh²)); ``"l1"`` = paper Eq. 6."""
    if form == "l2":
        return 2 * total_variation(to01(x.pred), "l2")
    return total_variation(to01(x.pred), "l1")


def conditional_d_input(x: LossInputs, image: Tensor) -> Tensor:
    """``concat[I_in, X]`` in [0, 1], ``(B, 6, H, W)``: D is conditioned on the white-filled masked input."""
    return torch.cat([to01(x.outputs["masked_input"]), to01(image)], dim=1)


def adversarial_g(x: LossInputs) -> Tensor:
    """Hinge G loss summed over the D scales: ``−Σ_d mean(D_d(I_in, pred))`` (pred = ``I_compltd``)."""
    return -sum(s.mean() for s in x.module.discriminator(conditional_d_input(x, x.pred)))


def adversarial_d(x: LossInputs) -> Tensor:
    """Hinge D loss summed over scales (Eq. 3; the code's ½ is the term's weight). D runs separately on fake and
    real, as the official code does, so the spectral-norm power iteration advances once per pass."""
    fake = x.module.discriminator(conditional_d_input(x, x.pred.detach()))
    real = x.module.discriminator(conditional_d_input(x, x.target))
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake))


def feature_matching(x: LossInputs) -> Tensor:
    """pix2pixHD discriminator feature matching: ``Σ_d Σ_l (4/(n_layers+1))/num_D · mean|D_d^l(fake) − D_d^l(real)|``
    over the intermediate activations. Official DeepGIN declares it (λ 0.01) but leaves it off (weight 0 here)."""
    d = x.module.discriminator
    fake = d.features(conditional_d_input(x, x.pred))
    with torch.no_grad():
        real = d.features(conditional_d_input(x, x.target))
    n_layers = len(fake[0])
    w = 4.0 / (n_layers + 1) / len(fake)
    return sum(w * (f - r).abs().mean() for fs, rs in zip(fake, real) for f, r in zip(fs, rs))


class DeepGIN(InpaintingModule):
    """DeepGIN (Li et al. 2020) with its two-phase schedule.

    Architecture (Table 1 rows): ``stages`` (two_stage | coarse_only), ``resblock`` (std | dilated | spd),
    ``attention`` (none | sa | mssa), ``back_projection``. ``semantic_channels`` (base option) feeds a seg map to
    G1 and G2 (AIM Track 2; project: 52 one-hot channels; official ``rlct1/gin-sg``: the 3 raw ``*_seg.png``
    colours in [0, 1], with ``semantic_channels: 3`` and ``data.seg_encoding: ade_rgb`` (decoded by the data module),
    config ``deepgin_track2_official``).

    Schedule (generator steps): ``[0, warmup_steps)`` L1 only, generators only; then the full objective with D.
    LR: constant through the warm-up and ``lr_constant_steps`` more, then linear decay to 0 over ``lr_decay_steps``
    in stairs of ``lr_decay_interval`` steps (one epoch in the official code).

    Paper vs code (spec §4.7, §9): ``follow="code"`` (default) uses pix2pixHD layer weights for the perceptual
    loss, the weighted MSE Gram style loss, the squared TV loss and the ½ on the D loss; ``follow="paper"`` the
    unweighted L1 perceptual, L1 Gram (Eq. 5), L1 TV (Eq. 6) and no ½. ``perceptual_layer_weights``,
    ``style_form``, ``tv_form`` and ``d_loss_weight`` override single items. ``grad_clip_g=3`` as the Track-1 code.

    Test-time (official challenge script, off by default): ``self_ensemble`` (x5 geometric: id, rot90/180/270,
    h-flip, averaging ``I_out``), ``post_blur`` (bicubic x0.5 then x2 of ``I_out`` before compositing).

    ``eval_protocol`` (test and predict steps; ``generate``/``forward`` stay one direct pass):

    - ``polyphase1024`` (default; Table 1, spec §6/§10): the batch is resized to 1024² (bicubic; mask bilinear,
      then > 0 = hole), split into the 16 polyphase tiles of 256² (:mod:`evaluation.tiling`), each tile inpainted,
      reassembled and resized back to the batch's size. Table 1 needs 1024² test data (``data.test_image_size: 1024``).
    - ``native`` (Table 2 "OS", AIM 2020 at native resolution, aim2020.md §5): the same tiling on a grid of
      ``max(256, round(side / 256) · 256)`` per side, as ``test_ensemble.py`` does (one tile for a 256² image).
    - ``resize256`` (Table 2 "(256)"): one pass at 256², resized back to the batch's size.
    - ``direct``: one pass at the batch's own size (smoke runs; other sizes are padded to a multiple of 16 and
      cropped back, :mod:`evaluation.padding`).

    ``val_protocol`` (validation steps, in ``fit`` and ``validate``; the same choices, default ``direct``): the
    validation curves track the network during training, cheaply: one pass per image, never the test-time extras
    (``self_ensemble``, ``post_blur``: the challenge script's, applied in test and predict only). ``polyphase1024``
    here would cost 16 passes per validation image.

    ``tile_transpose`` (default True, ``test_ensemble.py``): each polyphase tile is fed transposed and transposed
    back, as the official script stores it (the network is not transpose-equivariant: ~1e-3 in the output).
    ``self_ensemble`` runs per tile; ``post_blur`` on the reassembled image at the batch's size.

    ``fresh_optimizer_at_gan_stage`` (default True): the GAN stage starts with fresh Adam states (moments and step
    counts) for G and D, as the official main-stage ``train.py`` builds new optimisers after loading the warm-up
    weights; False carries the warm-up's G moments over.

    ``d_spectral_norm``: ``"pytorch"`` (default: PyTorch's spectral-norm parametrization, power iteration
    ``u = Wv`` then ``v = W^T u``, in training mode only) or ``"official"`` (the released wrapper: ``v = W^T u``
    then ``u = Wv``, in eval mode too). Same weights and state-dict keys; ``inpaint-suite convert deepgin`` sets
    ``"official"`` so that converted weights score exactly as the official D (from the same stored u/v the two
    orders give different sigmas until u/v have converged).
    """

    SIZE_MULTIPLE = MIN_SIZE = 16
    SIZE_REASON = "the second-stage generator G2 down-samples four times"
    # Network options taken as config keys and forwarded by name (lightning_modules/network_options.py): declared
    # by the networks; the signature below mirrors them (a test holds names, types and defaults equal).
    NETWORKS = (Forward(DeepGINGenerator, fixed=("semantic_channels",)),
                Forward(MultiScaleDiscriminator, rename={"d_spectral_norm": "spectral_norm"},
                        fixed=("in_channels", "ndf", "num_scales")))

    def __init__(
        self,
        *,
        stages: str = "two_stage",
        resblock: str = "spd",
        attention: str = "mssa",
        back_projection: bool = True,
        small_init: bool = True,
        adversarial: bool = True,
        follow: str = "code",
        perceptual_layer_weights: str | None = None,
        style_form: str | None = None,
        tv_form: str | None = None,
        d_loss_weight: float | None = None,
        hole_weight: float = 5.0,
        l1_weight: float = 1.0,
        adversarial_weight: float = 0.001,
        perceptual_weight: float = 0.05,
        style_weight: float = 80.0,
        tv_weight: float = 0.1,
        feature_matching_weight: float = 0.0,
        vgg_resize: int | None = 224,
        warmup_steps: int = 67_500,
        lr_constant_steps: int = 67_500,
        lr_decay_steps: int = 607_500,
        lr_decay_interval: int = 6_750,
        self_ensemble: bool = False,
        post_blur: bool = False,
        d_spectral_norm: str = "pytorch",
        eval_protocol: str = "polyphase1024",
        val_protocol: str = "direct",
        tile_size: int = 256,
        tile_transpose: bool = True,
        fresh_optimizer_at_gan_stage: bool = True,
        lr_g: float = 1e-4,
        lr_d: float = 4e-4,
        betas_g: tuple[float, float] = (0.5, 0.999),
        betas_d: tuple[float, float] = (0.5, 0.999),
        update_order: str = "simultaneous",
        grad_clip_g: float | None = 3.0,
        grad_clip_d: float | None = None,
        **base_kwargs: Any,
    ) -> None:
        super().__init__(lr_g=lr_g, lr_d=lr_d, betas_g=betas_g, betas_d=betas_d, update_order=update_order,
                         grad_clip_g=grad_clip_g, grad_clip_d=grad_clip_d, **base_kwargs)
        if follow not in FOLLOW:
            raise ValueError(f"follow must be one of {FOLLOW}, got {follow!r}")
        perc, style, tv, d_w = _FOLLOW_DEFAULTS[follow]
        self.perceptual_layer_weights = perceptual_layer_weights or perc
        self.style_form = style_form or style
        self.tv_form = tv_form or tv
        self.d_loss_weight = d_w if d_loss_weight is None else d_loss_weight
        for value, allowed, name in ((self.perceptual_layer_weights, PERCEPTUAL_FORMS, "perceptual_layer_weights"),
                                     (self.style_form, STYLE_FORMS, "style_form"), (self.tv_form, TV_FORMS, "tv_form")):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        for name, value in (("eval_protocol", eval_protocol), ("val_protocol", val_protocol)):
            if value not in EVAL_PROTOCOLS:
                raise ValueError(f"{name} must be one of {EVAL_PROTOCOLS}, got {value!r}")
        if tile_size < 16 or tile_size % 16:
            raise ValueError(f"tile_size must be a multiple of 16 (G2 down-samples four times), got {tile_size}")
        if warmup_steps < 0 or lr_constant_steps < 0 or lr_decay_steps < 0 or lr_decay_interval < 1:
            raise ValueError("warmup_steps, lr_constant_steps, lr_decay_steps must be >= 0 and lr_decay_interval >= 1")
        self.save_hyperparameters()
        self.follow = follow
        self.stages, self.back_projection, self.adversarial = stages, back_projection, adversarial
        self.term_weights = dict(l1=l1_weight, adversarial=adversarial_weight, perceptual=perceptual_weight,
                            style=style_weight, tv=tv_weight, feature_matching=feature_matching_weight)
        self.hole_weight = hole_weight
        self.vgg_resize = vgg_resize
        self.warmup_steps = warmup_steps
        self.lr_constant_steps, self.lr_decay_steps, self.lr_decay_interval = (
            lr_constant_steps, lr_decay_steps, lr_decay_interval)
        self.use_self_ensemble, self.use_post_blur = self_ensemble, post_blur
        self.eval_protocol, self.tile_size, self.tile_transpose = eval_protocol, tile_size, tile_transpose
        self.val_protocol = val_protocol
        self.fresh_optimizer_at_gan_stage = fresh_optimizer_at_gan_stage
        generator, discriminator = self.NETWORKS
        self.generator = DeepGINGenerator(**generator.kwargs(locals()), semantic_channels=self.semantic_channels)
        # D is conditioned on the masked input: concat[I_in, X], 6 channels (conditional_d_input)
        self.discriminator = (MultiScaleDiscriminator(**discriminator.kwargs(locals()), in_channels=6)
                              if adversarial else None)

    # ------------------------------------------------------------------------------------------ generator
    def _run(self, image01: Tensor, mask: Tensor, seg: Tensor | None) -> dict[str, Tensor]:
        return self.generator(image01, mask, seg)

    def _ensembled(self, image01: Tensor, mask: Tensor, seg: Tensor | None, out: dict[str, Tensor] | None = None
                   ) -> Tensor:
        """``I_out`` in [0, 1] of one pass, or in eval mode with ``self_ensemble`` the x5 geometric average."""
        if self.training or not self.use_self_ensemble:
            return (out or self._run(image01, mask, seg))["output"]
        if mask.shape[-1] != mask.shape[-2]:
            raise ValueError("self_ensemble needs square inputs (90-degree rotations)")
        return self_ensemble(lambda i, m, s: self._run(i, m, s)["output"], image01, mask, seg)

    def generate(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Outputs in [-1, 1]: ``output`` (I_out), ``coarse``, ``masked_input`` (white holes), and when present
        ``raw``, ``lr`` ((B, 3, H/4, W/4)); ``alpha`` stays in (0, 1). One pass at the batch's size (the
        ``eval_protocol`` acts in the evaluation steps, see :meth:`protocol_output`)."""
        mask = batch["mask"]
        # one-hot (project) or the official seg colours / 255 (data.seg_encoding: ade_rgb), decoded by the data module
        seg = self.semantic_map(batch)
        image01 = to01(batch["image"])
        out = self._run(image01, mask, seg)
        output = self._ensembled(image01, mask, seg, out)
        if not self.training and self.use_post_blur:
            output = bicubic_post_blur(output)
        result = {k: v * 2 - 1 for k, v in out.items() if k not in ("alpha", "composite", "output")}
        result["output"] = output * 2 - 1
        if "alpha" in out:
            result["alpha"] = out["alpha"]
        return result

    # ------------------------------------------------------------------------------------------ evaluation protocol
    def protocol_grid(self, height: int, width: int) -> tuple[int, int, int, int]:
        """``(H', W', rows, cols)`` for a ``height x width`` batch under ``eval_protocol``: the network-side size
        and its polyphase tiles (``H' = rows · tile_size``; ``direct``: the batch's own size, one tile)."""
        t = self.tile_size
        if self.eval_protocol == "direct":
            return height, width, 1, 1
        if self.eval_protocol == "resize256":
            return t, t, 1, 1
        if self.eval_protocol == "polyphase1024":
            return 4 * t, 4 * t, 4, 4
        # native: test_ensemble.py's __make_power_2 (Python's round, at least one tile per side)
        gh, gw = max(t, int(round(height / t)) * t), max(t, int(round(width / t)) * t)
        return gh, gw, gh // t, gw // t

    def protocol_output(self, batch: dict[str, Any]) -> Tensor:
        """``I_out`` ``(B, 3, H, W)`` in [-1, 1] at the batch's size, computed as ``eval_protocol`` says.

        Resizing to the grid: image bicubic (antialiased, like PIL) clamped to [0, 1], mask bilinear then ``> 0`` =
        hole, seg nearest. Every tile goes through :meth:`_ensembled` (one pass or the x5 ensemble); the tiles are
        reassembled, resized back (bicubic) and, with ``post_blur``, blurred at the batch's size.
        """
        image01, mask, seg = to01(batch["image"]), batch["mask"], self.semantic_map(batch)
        h, w = image01.shape[-2:]
        gh, gw, rows, cols = self.protocol_grid(h, w)
        if (gh, gw) != (h, w):
            image01 = F.interpolate(image01, size=(gh, gw), mode="bicubic", align_corners=False,
                                    antialias=True).clamp(0, 1)
            mask = (F.interpolate(mask, size=(gh, gw), mode="bilinear", align_corners=False, antialias=True) > 0
                    ).to(image01.dtype)
            if seg is not None:
                seg = F.interpolate(seg, size=(gh, gw), mode="nearest-exact")
        transpose = self.tile_transpose and self.eval_protocol in ("polyphase1024", "native")
        n = rows * cols
        tiles = [polyphase_split(x, rows, cols, transpose).chunk(n) if x is not None else [None] * n
                 for x in (image01, mask, seg)]
        # one tile phase at a time: the memory of a single pass at tile size
        outs = [self._ensembled(i, m, s) for i, m, s in zip(*tiles)]
        output = polyphase_merge(torch.cat(outs), rows, cols, transpose)
        if (gh, gw) != (h, w):
            output = F.interpolate(output, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
        if self.use_post_blur:
            output = bicubic_post_blur(output)
        return output * 2 - 1

    def evaluation_settings(self) -> dict[str, Any]:
        # how the network saw the test images (Table 1 vs Table 2 "OS"/"(256)" vs a fast direct pass) is a fact of
        # the report: numbers from different eval_protocols are not comparable
        return {"eval_protocol": self.eval_protocol, "self_ensemble": self.use_self_ensemble,
                "post_blur": self.use_post_blur}

    @contextmanager
    def _validating(self) -> Iterator[None]:
        """``val_protocol`` in place of ``eval_protocol``, without the test-time extras, for the duration."""
        saved = self.eval_protocol, self.use_self_ensemble, self.use_post_blur
        self.eval_protocol, self.use_self_ensemble, self.use_post_blur = self.val_protocol, False, False
        try:
            yield
        finally:
            self.eval_protocol, self.use_self_ensemble, self.use_post_blur = saved

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        # val/* curves watch the network, not the paper's test pipeline (16 polyphase passes, x5 ensemble)
        with self._validating():
            return super().validation_step(batch, batch_idx)

    def _eval_outputs(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Validation/test/predict: ``output`` and ``composite`` by the ``eval_protocol`` (validation: by the
        ``val_protocol``, see :meth:`validation_step`); ``direct`` pads native sizes (base module)."""
        if self.eval_protocol == "direct":
            return super()._eval_outputs(batch)
        with self._eval_generator():
            output = self.protocol_output(batch)
        mask = batch["mask"]
        return {"output": output, "composite": output * mask + batch["image"] * (1 - mask)}

    # ------------------------------------------------------------------------------------------ losses
    def loss_functions(self) -> dict[str, LossFn]:
        fns = super().loss_functions()
        vgg = self.vgg_features("vgg19", VGG_LAYERS, resize_to=self.vgg_resize)
        layer_w = PIX2PIXHD_LAYER_WEIGHTS if self.perceptual_layer_weights == "pix2pixhd" else None
        if self.style_form == "mse_weighted":
            style = StyleLoss(vgg, PIX2PIXHD_LAYER_WEIGHTS, criterion="mse")
        else:
            style = StyleLoss(vgg, None, criterion="l1")
        hole_weight, tv_form = self.hole_weight, self.tv_form
        fns.update(
            hole_weighted_l1=lambda x: hole_weighted_l1(x, hole_weight),
            deepgin_perceptual=PerceptualLoss(vgg, layer_w, criterion="l1"),
            deepgin_style=style,
            deepgin_tv=lambda x: deepgin_tv(x, tv_form),
            hinge_g_multiscale=adversarial_g,
            hinge_d_multiscale=adversarial_d,
            d_feature_matching=feature_matching,
        )
        return fns

    def loss_schedule(self) -> list[LossTerm]:
        """Spec §4.7: ``L_G = L_coarse + L_out + L_lr + 0.001·L_adv + 0.05·L_perc + 80·L_style + 0.1·L_tv``;
        D: ``½·hinge`` (code). Rows without ``start_step`` form the warm-up; all others start at ``warmup_steps``."""
        w, start = self.term_weights, self.warmup_steps
        terms = []
        if self.stages == "two_stage":  # coarse-only: output is the coarse image, one L1 row (no double count)
            terms.append(LossTerm("l1_coarse", "hole_weighted_l1", w["l1"], on="coarse"))
        terms.append(LossTerm("l1_out", "hole_weighted_l1", w["l1"], on="output"))
        if self.stages == "two_stage" and self.back_projection:
            terms.append(LossTerm("l1_lr", "hole_weighted_l1", w["l1"], on="lr"))
        if self.adversarial:
            terms.append(LossTerm("adv_g", "hinge_g_multiscale", w["adversarial"], on="composite", start_step=start))
        terms += [
            LossTerm("perceptual_out", "deepgin_perceptual", w["perceptual"], on="output", start_step=start),
            LossTerm("perceptual_comp", "deepgin_perceptual", w["perceptual"], on="composite", start_step=start),
            LossTerm("style_out", "deepgin_style", w["style"], on="output", start_step=start),
            LossTerm("style_comp", "deepgin_style", w["style"], on="composite", start_step=start),
            LossTerm("tv", "deepgin_tv", w["tv"], on="composite", start_step=start),
        ]
        if self.adversarial:
            terms += [
                LossTerm("feature_matching", "d_feature_matching", w["feature_matching"], on="composite",
                         start_step=start),
                LossTerm("adv_d", "hinge_d_multiscale", self.d_loss_weight, on="composite",
                         optimizer="discriminator", start_step=start),
            ]
        return terms

    # ------------------------------------------------------------------------------------------ learning rate
    def lr_factor(self, step: int) -> float:
        """Multiplier of ``lr_g``/``lr_d`` at generator step ``step``: 1 through the warm-up and the constant
        stretch, then ``1 − k·interval/decay_steps`` after ``k`` completed intervals (the official per-epoch
        ``lr −= lr0/niter_decay``), floored at 0."""
        main = step - self.warmup_steps - self.lr_constant_steps
        if main < 0 or self.lr_decay_steps == 0:
            return 1.0
        k = main // self.lr_decay_interval
        return max(0.0, 1.0 - k * self.lr_decay_interval / self.lr_decay_steps)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        factor = self.lr_factor(self.global_step)  # stateless: correct after a resume without scheduler state
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        if self.fresh_optimizer_at_gan_stage and self.warmup_steps > 0 and self.global_step == self.warmup_steps:
            # first GAN step: fresh Adam moments and step counts (idempotent until G has stepped once more)
            for opt in opts:
                inner = getattr(opt, "optimizer", opt)
                inner.state.clear()
        for opt, base_lr in zip(opts, (self.lr_g, self.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base_lr * factor
        return super().training_step(batch, batch_idx)  # the step's outputs, for callbacks (image grids)

    # ------------------------------------------------------------------------------------------ helpers
    def phase(self, step: int | None = None) -> str:
        """``"warmup"`` or ``"gan"`` at generator step ``step`` (default: now)."""
        step = self.global_step if step is None else step
        return "warmup" if step < self.warmup_steps else "gan"
