"""The shared base of every inpainting method: a manual-optimisation LightningModule that executes a loss schedule.

A method subclasses :class:`InpaintingModule`, sets ``self.generator`` / ``self.discriminator`` (or ``None``),
implements :meth:`generate` and :meth:`loss_schedule`, and adds its own loss functions to :meth:`loss_functions`.
This module is the GAN step: options, the method interface, forward and composite, schedule and losses, optimisers,
and the training / validation / test / predict steps. The rest has its own home:

- EMA of the generator: :mod:`lightning_modules.ema`; the non-finite guard (``nan_policy``):
  :mod:`lightning_modules.nonfinite`; generator-only step counting: :mod:`lightning_modules.step_counting`;
- frozen networks kept out of checkpoints (VGG, the evaluation harness): :mod:`lightning_modules.frozen`;
- ``init_from``: :mod:`lightning_modules.weights` (reading files: :mod:`networks.weights`);
- the evaluation harness, ``val/`` metrics and the test report: :mod:`lightning_modules.evaluator`;
- image grids and the RNG state of a resumed fit: Lightning callbacks in :mod:`lightning_modules.callbacks`;
- decoding the Track-2 semantic map: the data module (``batch["seg"]`` arrives as float).

Step counting: ``global_step`` counts **generator** updates only (discriminator steps are not counted), so
``trainer.max_steps`` and every schedule boundary are in generator iterations, as GAN papers count them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import lightning as L
import torch
from rich.console import Console
from torch import Tensor, nn

from evaluation.padding import forward_padded
from evaluation.protocols import check_protocol
from lightning_modules.ema import GeneratorEMA
from lightning_modules.evaluator import VAL_METRICS, build_evaluator, finite_mean, validation_scores, write_test_report
from lightning_modules.frozen import FrozenSubmodules
from lightning_modules.losses import BASE_LOSS_FUNCTIONS, LossFn, LossInputs, VGGFeatures
from lightning_modules.nonfinite import NonFiniteGuard
from lightning_modules.schedule import LossSchedule, LossTerm
from lightning_modules.step_counting import count_generator_steps_only
from lightning_modules.weights import load_networks

UPDATE_ORDERS = ("d_then_g", "g_then_d", "simultaneous")
VGG_RANDOM_SEED = 0  # vgg_weights="random": the frozen VGG is the same in every run and after every resume
# what batch["seg"] was decoded from: the values of data.seg_encoding, which the CLI links to model seg_encoding
SEG_ENCODINGS = ("labels", "ade_rgb")


class InpaintingModule(L.LightningModule):
    """Base LightningModule for inpainting generators, with or without a discriminator.

    Args:
        lr_g, lr_d: Adam learning rates of the generator and the discriminator.
        betas_g, betas_d: Adam betas.
        d_steps_per_g: discriminator updates per generator update (WGAN critics use 5). Each batch updates D once;
            G is updated on every ``d_steps_per_g``-th batch.
        update_order: ``d_then_g`` (D step, then G against the updated D), ``g_then_d`` (G first; D on the
            pre-update fake), ``simultaneous`` (both losses from the same pre-update D, then both steps).
        generator_batch: with ``d_steps_per_g`` = k > 1, ``shared`` updates G on the batch of the k-th critic step
            (k batches per cycle); ``fresh`` gives G a batch of its own after k critic-only batches (k + 1 batches per
            cycle, as WGAN-GP's Algorithm 1 and HiFill's code do).
        grad_clip_g, grad_clip_d: max gradient norm per optimiser (``None`` = off).
        ema_decay: keep an exponential moving average of the generator (used for validation/test/predict).
        loss_weights: override schedule weights by term name, e.g. ``{"style": 120}``.
        nan_policy: ``raise`` (stop, naming step and term; the last checkpoint is kept), ``skip`` the step, ``ignore``.
        max_consecutive_skips: with ``nan_policy: skip``, stop (``NonFiniteLossError``, exit code 1) once one optimiser
            has skipped this many steps in a row; the message names the last non-finite values, the number of skips
            and the last checkpoint written. Counted per optimiser; a finite step of that optimiser resets it (>= 1).
        semantic_channels: extra input channels of a semantic map (AIM Track 2: 52); 0 = RGB + mask only.
        seg_encoding: what ``batch["seg"]`` was decoded from, **set by the CLI from** ``data.seg_encoding`` (not a
            config key of its own): ``labels`` (one-hot float) or ``ade_rgb`` (the raw ADE20K ``*_seg.png``
            colours / 255, as the official DeepGIN Track-2 ``ToTensor``; needs ``semantic_channels: 3``). Recorded
            so that ``predict --seg`` reads a map the way the model was trained.
        vgg_weights: ``imagenet`` (torchvision URL / hub cache), ``random`` (tests, smoke runs) or a file path.
        test_metrics: metrics of the evaluation harness used by ``test``.
        eval_image: evaluate the ``composite`` (default) or the raw ``output``.
        evaluator_options: extra keyword arguments of ``evaluation.InpaintingEvaluator`` (e.g. ``weights_dir``,
            ``lpips_net``, ``ssim_preset``, ``fid_backend``). ``protocol: NAME`` names a set of settings of
            ``evaluation.protocols.PROTOCOLS`` (``aotgan``, ``aim2020``, ``madf``, ``deepgin``, ``hifill``, ``suite``...;
            the paper's SSIM window, FID resize, LPIPS net); the other keys given here override it. ``val/l1_hole``
            and ``val/psnr`` follow them too (see :mod:`lightning_modules.evaluator`).
        init_from: a converted/trained checkpoint whose generator (and discriminator) weights initialise this model
            (``fit``: optimiser state starts fresh; ``test``/``validate``/``predict``: the weights evaluated). A
            ``--ckpt_path`` takes precedence.

    Image grids are a callback (``image_grids:`` in a config, :mod:`lightning_modules.callbacks.image_grids`).
    """

    # Square input sides S the networks accept: a multiple of SIZE_MULTIPLE, at least min_size(options). Declared on
    # the class so that the CLI can refuse a bad data.image_size before any model is built (see size_error).
    SIZE_MULTIPLE: int = 1
    MIN_SIZE: int = 1
    SIZE_REASON: str = ""

    @classmethod
    def min_size(cls, options: dict[str, Any]) -> int:
        """The smallest side the networks accept with these constructor options (``init_args``)."""
        return cls.MIN_SIZE

    @classmethod
    def size_error(cls, size: int, options: dict[str, Any] | None = None, stage: str = "fit") -> str | None:
        """Why square inputs of side ``size`` cannot be used for ``stage`` (fit/validate/test/predict) with the
        constructor ``options``, naming the valid sizes; ``None`` when they can. Needs no instance."""
        multiple, least = cls.SIZE_MULTIPLE, cls.min_size(dict(options or {}))
        if size % multiple == 0 and size >= least:
            return None
        first = -(-least // multiple) * multiple
        near = sorted({max(first, size // multiple * multiple), max(first, -(-size // multiple) * multiple)})
        why = f" ({cls.SIZE_REASON})" if cls.SIZE_REASON else ""
        needs = f"a multiple of {multiple}" + (f" that is at least {least}" if least > multiple else "")
        return f"{cls.__name__} needs {needs}{why}, e.g. {' or '.join(map(str, near))}"

    def __init__(
        self,
        *,
        lr_g: float = 1e-4,
        lr_d: float = 1e-4,
        betas_g: tuple[float, float] = (0.5, 0.999),
        betas_d: tuple[float, float] = (0.5, 0.999),
        d_steps_per_g: int = 1,
        update_order: str = "d_then_g",
        generator_batch: str = "shared",
        grad_clip_g: float | None = None,
        grad_clip_d: float | None = None,
        ema_decay: float | None = None,
        loss_weights: dict[str, float] | None = None,
        nan_policy: str = "raise",
        max_consecutive_skips: int = 100,
        semantic_channels: int = 0,
        seg_encoding: str = "labels",
        vgg_weights: str = "imagenet",
        test_metrics: list[str] | None = None,
        eval_image: str = "composite",
        evaluator_options: dict[str, Any] | None = None,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        if update_order not in UPDATE_ORDERS:
            raise ValueError(f"update_order must be one of {UPDATE_ORDERS}, got {update_order!r}")
        if eval_image not in ("composite", "output"):
            raise ValueError(f"eval_image must be 'composite' or 'output', got {eval_image!r}")
        if evaluator_options and "protocol" in evaluator_options:
            check_protocol(evaluator_options["protocol"], "model.init_args.evaluator_options.protocol")
        if generator_batch not in ("shared", "fresh"):
            raise ValueError(f"generator_batch must be 'shared' or 'fresh', got {generator_batch!r}")
        if d_steps_per_g < 1:
            raise ValueError(f"d_steps_per_g must be >= 1, got {d_steps_per_g}")
        if seg_encoding not in SEG_ENCODINGS:
            raise ValueError(f"data.seg_encoding must be one of {SEG_ENCODINGS}, got {seg_encoding!r}")
        if seg_encoding == "ade_rgb" and semantic_channels != 3:
            raise ValueError(f"data.seg_encoding ade_rgb feeds the 3 raw seg colour channels: it needs "
                             f"model.init_args.semantic_channels: 3, got {semantic_channels}")
        self.automatic_optimization = False
        self.lr_g, self.lr_d = lr_g, lr_d
        self.betas_g, self.betas_d = tuple(betas_g), tuple(betas_d)
        self.d_steps_per_g = d_steps_per_g
        self.update_order = update_order
        self.generator_batch = generator_batch
        self.grad_clip_g, self.grad_clip_d = grad_clip_g, grad_clip_d
        self.ema_decay = ema_decay
        self.loss_weights = dict(loss_weights or {})
        self.nan_policy = nan_policy
        self.max_consecutive_skips = max_consecutive_skips
        self.nonfinite = NonFiniteGuard(nan_policy, max_consecutive_skips)
        self.semantic_channels = semantic_channels
        self.seg_encoding = seg_encoding
        self.vgg_weights = vgg_weights
        self.test_metric_names = list(test_metrics or ["psnr", "ssim", "l1", "l1_hole"])
        self.eval_image = eval_image
        self.evaluator_options = dict(evaluator_options or {})
        self.init_from = init_from
        self._init_from_loaded = False  # init_from is applied at the first setup only (see setup)
        self.generator: nn.Module | None = None
        self.discriminator: nn.Module | None = None
        self.ema: GeneratorEMA | None = None
        self.frozen = FrozenSubmodules(self)  # VGG extractors and the evaluation harness: never checkpointed
        self._vgg: dict[tuple, VGGFeatures] = {}
        self._schedule: LossSchedule | None = None
        self._loss_fns: dict[str, LossFn] | None = None
        self.d_step_count = 0  # discriminator updates taken (resumable, see on_save_checkpoint)

    @property
    def skipped_steps(self) -> int:
        """Optimiser steps skipped under ``nan_policy: skip`` (checkpointed)."""
        return self.nonfinite.skipped

    # ------------------------------------------------------------------------------------------ method interface
    def generate(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Run the generator. Returns every named output; ``"output"`` ``(B, 3, H, W)`` in [-1, 1] is required."""
        raise NotImplementedError

    def loss_schedule(self) -> list[LossTerm]:
        """The method's objective as data."""
        raise NotImplementedError

    def loss_functions(self) -> dict[str, LossFn]:
        """Loss functions by name; a method extends this table with its own."""
        return dict(BASE_LOSS_FUNCTIONS)

    def semantic_map(self, batch: dict[str, Any]) -> Tensor | None:
        """The Track-2 map ``(B, S, H, W)`` float in the image's dtype, or ``None`` when ``semantic_channels == 0``.

        The data module decodes it (one-hot, or ADE colours / 255); here only its channel count is checked."""
        if not self.semantic_channels:
            return None
        if "seg" not in batch:
            raise KeyError(f"{type(self).__name__} has semantic_channels={self.semantic_channels} but the batch "
                           "has no 'seg' map: enable `data.semantic: true`")
        seg = batch["seg"]
        if not seg.is_floating_point() or seg.shape[1] != self.semantic_channels:
            raise ValueError(
                f"{type(self).__name__} has model.init_args.semantic_channels={self.semantic_channels} but the "
                f"batch's seg has {seg.shape[1]} {str(seg.dtype).replace('torch.', '')} channels: data.seg_encoding "
                "labels gives 52 one-hot channels (51 with data.dataset_options.other_channel: false), ade_rgb the "
                "3 colour channels")
        return seg.to(batch["image"].dtype)

    def network_input(self, batch: dict[str, Any], fill: float = 0.0) -> Tensor:
        """``cat([image ⊙ (1 − m) + fill · m, m(, seg)])``: the usual generator input; methods pick ``fill``."""
        image, mask = batch["image"], batch["mask"]
        parts = [image * (1 - mask) + fill * mask, mask]
        seg = self.semantic_map(batch)
        if seg is not None:
            parts.append(seg)
        return torch.cat(parts, dim=1)

    def example_batch(self, size: int = 256, batch_size: int = 1) -> dict[str, Any]:
        """A synthetic batch (centre hole) for model-info, FLOP counting and smoke tests."""
        image = torch.rand(batch_size, 3, size, size) * 2 - 1
        mask = torch.zeros(batch_size, 1, size, size)
        mask[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
        batch = {"image": image, "mask": mask, "index": torch.arange(batch_size),
                 "name": [f"example_{i}" for i in range(batch_size)], "mask_type": ["center_box"] * batch_size}
        if self.semantic_channels:
            seg = torch.zeros(batch_size, self.semantic_channels, size, size)  # ade_rgb: black = unlabelled
            if self.seg_encoding == "labels":
                seg[:, -1] = 1
            batch["seg"] = seg
        return batch

    # ------------------------------------------------------------------------------------------ shared helpers
    def vgg_features(self, arch: str, layers: tuple[str, ...], resize_to: int | None = None) -> VGGFeatures:
        """A frozen VGG feature extractor, shared by all losses that ask for the same one (one forward per image)."""
        key = (arch, tuple(layers), resize_to)
        if key not in self._vgg:
            # VGG weights are not checkpointed (lightning_modules.frozen). With vgg_weights="random" they must come
            # out the same however late a method builds them (DeepGIN: on first use), or a resumed run trains
            # against a different random VGG; a private seed also leaves the global random stream untouched.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(VGG_RANDOM_SEED)
                extractor = VGGFeatures(arch, layers, weights=self.vgg_weights, resize_to=resize_to)
            self._vgg[key] = self.frozen.add(self, f"vgg_{len(self._vgg)}", extractor)
        return self._vgg[key]

    @property
    def schedule(self) -> LossSchedule:
        if self._schedule is None:
            self._schedule = LossSchedule(self.loss_schedule(), self.loss_weights)
            fns = self.loss_functions()
            missing = sorted({t.fn for t in self._schedule if t.weight != 0} - set(fns))
            if missing:
                raise KeyError(f"{type(self).__name__}: loss functions {missing} are not in loss_functions(): "
                               f"{sorted(fns)}")
            self._loss_fns = fns
            if self._schedule.uses("discriminator") and self.discriminator is None:
                raise ValueError(f"{type(self).__name__} schedules discriminator losses but has no discriminator")
        return self._schedule

    def forward(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Generator outputs plus ``composite`` = ``output ⊙ m + image ⊙ (1 − m)``."""
        outputs = dict(self.generate(batch))
        if "output" not in outputs:
            raise KeyError(f"{type(self).__name__}.generate() must return an 'output' entry; got {sorted(outputs)}")
        mask = batch["mask"]
        outputs["composite"] = outputs["output"] * mask + batch["image"] * (1 - mask)
        return outputs

    def compute_losses(self, optimizer: str, outputs: dict[str, Tensor], batch: dict[str, Any],
                       cache: dict | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Weighted sum of the schedule's active terms for ``optimizer`` at the current generator step."""
        schedule, fns = self.schedule, self._loss_fns
        cache = {} if cache is None else cache
        total: Tensor | None = None
        values: dict[str, Tensor] = {}
        for term in schedule.active(self.global_step, optimizer):
            if term.on not in outputs:
                raise KeyError(f"loss term {term.name!r} reads output {term.on!r}; generate() gave {sorted(outputs)}")
            inputs = LossInputs(pred=outputs[term.on], outputs=outputs, batch=batch, module=self, cache=cache)
            value = fns[term.fn](inputs)
            values[term.name] = value.detach()
            weighted = term.weight * value
            total = weighted if total is None else total + weighted
        if total is None:
            total = outputs["output"].sum() * 0.0
        return total, values

    # ------------------------------------------------------------------------------------------ optimisation
    def configure_optimizers(self):
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr_g, betas=self.betas_g)
        if self.discriminator is None:
            return opt_g
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr_d, betas=self.betas_d)
        return [opt_g, opt_d]

    def _optimizers(self):
        opts = self.optimizers()
        return (opts, None) if not isinstance(opts, list) else (opts[0], opts[1])

    @contextmanager
    def _frozen(self, module: nn.Module | None) -> Iterator[None]:
        """Freeze ``module``'s parameters (no grads accumulate in them) for the duration: the no-trainer form of
        :meth:`_only_updating` (``bench``, ``gpu-check`` and tests step the module without a Trainer)."""
        if module is None:
            yield
            return
        flags = [p.requires_grad for p in module.parameters()]
        module.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in zip(module.parameters(), flags):
                p.requires_grad_(flag)

    def _only_updating(self, optimizer: str, opt) -> Any:
        """Only ``opt``'s parameters collect gradients: Lightning's ``toggled_optimizer`` in a fit, else the other
        network frozen by hand."""
        if self._trainer is not None and self.trainer.optimizers:
            return self.toggled_optimizer(opt)
        return self._frozen(self.discriminator if optimizer == "generator" else self.generator)

    def _backward(self, optimizer: str, opt, outputs, batch) -> dict[str, Tensor]:
        """Compute and back-propagate one optimiser's losses; returns the logged values (``total`` included).
        A non-finite loss is back-propagated too (every DDP rank must join the all-reduce); :meth:`_step` decides."""
        with self._only_updating(optimizer, opt):
            total, values = self.compute_losses(optimizer, outputs, batch, {})
            opt.zero_grad(set_to_none=True)
            if total.requires_grad:
                self.manual_backward(total)
        values["total"] = total.detach()
        return values

    def _step(self, optimizer: str, opt, values: dict[str, Tensor]) -> bool:
        """Clip and step ``opt`` unless its loss or gradients are non-finite (``nan_policy``). True if stepped."""
        if not self.nonfinite.may_step(self, optimizer, opt, values["total"], values):
            return False
        if all(p.grad is None for group in opt.param_groups for p in group["params"]):
            return False  # no active term produced gradients: nothing to step
        clip = self.grad_clip_g if optimizer == "generator" else self.grad_clip_d
        if clip is not None:
            self.clip_gradients(opt, gradient_clip_val=clip, gradient_clip_algorithm="norm")
        opt.step()
        return True

    def _plan(self, has_d: bool) -> tuple[bool, bool]:
        """``(do_g, do_d)`` for this batch from ``d_steps_per_g`` and ``generator_batch`` (resumable counters)."""
        k = self.d_steps_per_g
        if not has_d:
            return True, False
        if self.generator_batch == "fresh" and k > 1:
            # cycle of k + 1 batches: k critic-only batches, then one generator-only batch
            do_g = (self.d_step_count + self.global_step) % (k + 1) == k
            return do_g, not do_g
        return (self.d_step_count + 1) % k == 0, True

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """One batch: D and/or G updates in ``update_order``. Returns the detached generator outputs and whether
        G was updated (read by callbacks such as the image grids)."""
        opt_g, opt_d = self._optimizers()
        # D takes part only while one of its terms is active (not during a warm-up): no empty D steps are counted
        do_g, do_d = self._plan(opt_d is not None and bool(self.schedule.active(self.global_step, "discriminator")))
        with torch.set_grad_enabled(do_g):
            outputs = self(batch)
        detached = {k: v.detach() for k, v in outputs.items()}  # D sees G's outputs without a path back into G
        updates = ([("discriminator", opt_d, detached)] if do_d else []) + \
                  ([("generator", opt_g, outputs)] if do_g else [])
        if self.update_order == "g_then_d":
            updates.reverse()
        # sequential orders back-propagate and step one optimiser at a time; "simultaneous" computes both losses
        # against the same (pre-update) D, then steps both
        rounds = [updates] if self.update_order == "simultaneous" else [[u] for u in updates]
        logs: dict[str, Tensor] = {}
        for updates_now in rounds:
            values = [self._backward(name, opt, out, batch) for name, opt, out in updates_now]
            for (name, opt, _), vals in zip(updates_now, values):
                stepped = self._step(name, opt, vals)
                if name == "discriminator":
                    self.d_step_count += 1
                elif stepped and self.ema is not None:
                    self.ema.update(self.generator)
                if stepped:
                    logs.update({f"train/{name[0]}/{k}": v for k, v in vals.items()})
        if logs:
            size = batch["image"].shape[0]
            self.log_dict(logs, prog_bar=False, on_step=True, batch_size=size)
            if "train/g/total" in logs:
                self.log("loss_g", logs["train/g/total"], prog_bar=True, batch_size=size)
        return {"outputs": detached, "generator_step": do_g}

    # ------------------------------------------------------------------------------------------ EMA
    def _ensure_ema(self) -> None:
        if self.ema_decay is not None and self.ema is None:
            self.ema = GeneratorEMA(self.generator, self.ema_decay)

    def _eval_generator(self) -> Any:
        """Use the EMA generator for evaluation when there is one."""
        return self.ema.swapped_in(self) if self.ema is not None else nullcontext()

    # ------------------------------------------------------------------------------------------ hooks
    def on_fit_start(self) -> None:
        if self.trainer.is_global_zero:
            Console().print(self.schedule.render(f"{type(self).__name__}: loss schedule (steps = generator steps)"))

    def on_train_start(self) -> None:
        opts = self.optimizers()
        if isinstance(opts, list) and len(opts) > 1:
            count_generator_steps_only(opts[1])  # D steps leave global_step alone (see step_counting)

    def setup(self, stage: str) -> None:
        self._ensure_ema()
        # every stage: `test`/`validate`/`predict --model.init_args.init_from W` evaluate W (converted official
        # weights carry no Lightning metadata, so they cannot be a --ckpt_path); a --ckpt_path wins when given.
        # Once per module: `fit` then `test` on the same module (sweeps/trial.py) tests the trained weights.
        if self.init_from and self.trainer.ckpt_path is None and not self._init_from_loaded:
            self.load_generator_weights(self.init_from)
            self._init_from_loaded = True

    def load_generator_weights(self, path: str, state: Any = None) -> None:
        """Initialise G (and D when present) from ``path`` (see :func:`lightning_modules.weights.load_networks`)."""
        load_networks(path, {"generator": self.generator, "discriminator": self.discriminator}, state)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["inpaint_suite"] = {"d_step_count": self.d_step_count, "skipped_steps": self.skipped_steps}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("inpaint_suite", {})
        self.d_step_count = int(state.get("d_step_count", 0))
        self.nonfinite.skipped = int(state.get("skipped_steps", 0))
        if any(k.startswith("ema.") for k in checkpoint["state_dict"]):
            self._ensure_ema()

    # ------------------------------------------------------------------------------------------ eval
    def _eval_outputs(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        # native-size batches the networks cannot take are padded to the next accepted size and cropped back (the
        # "validate" rule: the batch as it reaches the networks, after any test-time resampling of a method)
        with self._eval_generator():
            return forward_padded(self, batch, lambda side: self.size_error(side, dict(self.hparams), "validate"))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        """``val/l1_hole`` and ``val/psnr``, per image as ``test`` computes them; returns the outputs (callbacks)."""
        outputs = self._eval_outputs(batch)
        scores = validation_scores(outputs[self.eval_image], batch["image"], batch["mask"], self.evaluator_options)
        for name in VAL_METRICS:
            value, count = finite_mean(scores[name])
            if count:  # weighted by the images that have a value: the epoch mean is the mean over images
                self.log(f"val/{name}", value.float(), sync_dist=True, batch_size=count,
                         prog_bar=name == "l1_hole")
        return outputs

    def evaluation_settings(self) -> dict[str, Any]:
        """Facts about how this model was run for the test, copied into the report (a method adds its own)."""
        return {}

    def on_test_start(self) -> None:
        self.frozen.add(self, "evaluator", build_evaluator(self).to(self.device))
        self.evaluator.reset()

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        outputs = self._eval_outputs(batch)
        # the index lets the harness drop the duplicates a distributed sampler pads the last batch with
        self.evaluator.update(outputs[self.eval_image], batch["image"], batch["mask"],
                              mask_type=batch.get("mask_type"), index=batch.get("index"))

    def on_test_epoch_end(self) -> None:
        self.test_report = self.evaluator.compute()
        write_test_report(self, self.test_report)

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        return self._eval_outputs(batch)["composite"]
