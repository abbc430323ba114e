"""The shared base of every inpainting method: a manual-optimisation LightningModule that executes a loss schedule.

A method subclasses :class:`InpaintingModule`, sets ``self.generator`` / ``self.discriminator`` (or ``None``),
implements :meth:`generate` and :meth:`loss_schedule`, and adds its own loss functions to :meth:`loss_functions`.
Everything else — update order, D steps per G step, gradient clipping, EMA, NaN handling, image logging, resumable
counters, validation and test through the evaluation harness — lives here, once.

Step counting: ``global_step`` counts **generator** updates only (discriminator steps are not counted), so
``trainer.max_steps`` and every schedule boundary are in generator iterations, as GAN papers count them.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from rich.console import Console
from torch import Tensor, nn

from lightning_modules.losses import BASE_LOSS_FUNCTIONS, LossFn, LossInputs, VGGFeatures
from lightning_modules.nonfinite import SkipStreaks, last_checkpoint
from lightning_modules.schedule import LossSchedule, LossTerm

UPDATE_ORDERS = ("d_then_g", "g_then_d", "simultaneous")
VGG_RANDOM_SEED = 0  # vgg_weights="random": the frozen VGG is the same in every run and after every resume
NAN_POLICIES = ("raise", "skip", "ignore")
SEMANTIC_ENCODINGS = ("onehot", "ade_rgb")  # what batch["seg"] holds (see semantic_map)


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or Inf; the message names the step and the term."""


class CheckpointError(ValueError):
    """A weights or checkpoint file that cannot be used: missing, unreadable, refused by ``weights_only=True``
    (it holds pickled code or objects), or whose keys/shapes do not match. The message is one line naming the file."""

    def __str__(self) -> str:  # plain text, also for the KeyError subclass (no quotes)
        return str(self.args[0]) if self.args else ""


class CheckpointKeyError(CheckpointError, KeyError):
    """Keys or shapes of a weights file do not match the model (a KeyError, as callers have long caught)."""

    __str__ = CheckpointError.__str__


def describe_load_error(path: str | Path, error: BaseException) -> str:
    """One line saying why ``torch.load(path, weights_only=True)`` failed (unsafe pickle vs unreadable file).

    A refused pickle is recognised from the file itself (:func:`~lightning_modules.pickle_scan.refused_globals`
    reads its globals without unpickling) and from torch's wording, which names the global in some cases and
    differs between releases and file kinds ("Unsupported global: GLOBAL eval", "Trying to load unsupported GLOBAL
    posix.system whose module posix is blocked", only "Unsupported operand 149" for a plain ``pickle.dump`` file)."""
    import pickle

    from lightning_modules.pickle_scan import refused_globals

    text = str(error)
    if isinstance(error, pickle.UnpicklingError):
        names = refused_globals(path)
        # torch's words, for a path we cannot read back: "... GLOBAL os.system ...", or in older releases
        # "Unsupported class numpy...." / "Trying to call reduce for ..."
        named = re.search(r"GLOBAL (\S+)", text)
        worded = re.search(r"(Unsupported class|Trying to call reduce)[^\n]*?(?=\. |$)", text, re.MULTILINE)
        if names or named or worded:
            detail = ", ".join(names[:5]) if names else named.group(1).rstrip(".,;:") if named else worded.group(0)
            return (f"refusing to load {path}: it is not a plain weights file, it references code or classes that "
                    f"weights_only=True does not allow ({detail}); it was refused and nothing in it was run; only "
                    "load it unrestricted if you trust its source")
        # e.g. an image or a truncated file given as weights
        return f"cannot read {path}: not a file written by torch.save (or it is truncated)"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"cannot read {path} as a PyTorch weights file ({type(error).__name__}: {first})"


def load_weights_file(path: str | Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line :class:`CheckpointError` messages:
    a file whose pickle would run code is refused, never executed."""
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError (unsafe), RuntimeError/EOFError (truncated, not a torch file)
        raise CheckpointError(describe_load_error(path, error)) from error


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
        log_images_every_n_steps: log an input/mask/output/composite/target grid every N generator steps (0 = off).
        loss_weights: override schedule weights by term name, e.g. ``{"style": 120}``.
        nan_policy: ``raise`` (stop, naming step and term; the last checkpoint is kept), ``skip`` the step, ``ignore``.
        max_consecutive_skips: with ``nan_policy: skip``, stop (``NonFiniteLossError``, exit code 1) once one optimiser
            has skipped this many steps in a row; the message names the last non-finite values, the number of skips
            and the last checkpoint written. Counted per optimiser; a finite step of that optimiser resets it (>= 1).
        semantic_channels: extra input channels of a semantic map (AIM Track 2: 52); 0 = RGB + mask only.
        semantic_encoding: what ``batch["seg"]`` holds: ``onehot`` (float one-hot, ``data.seg_encoding: labels``) or
            ``ade_rgb`` (the raw ADE20K ``*_seg.png`` colours as uint8, ``data.seg_encoding: ade_rgb``, scaled here to
            [0, 1] like the official DeepGIN Track-2 ``ToTensor``; needs ``semantic_channels: 3``).
        vgg_weights: ``imagenet`` (torchvision URL / hub cache), ``random`` (tests, smoke runs) or a file path.
        test_metrics: metrics of the evaluation harness used by ``test``.
        eval_image: evaluate the ``composite`` (default) or the raw ``output``.
        evaluator_options: extra keyword arguments of ``evaluation.InpaintingEvaluator`` (e.g. ``weights_dir``,
            ``lpips_net``, ``ssim_preset``, ``fid_backend``). ``protocol: NAME`` names a set of settings of
            ``evaluation.protocols.PROTOCOLS`` (``aotgan``, ``aim2020``, ``madf``, ``deepgin``, ``hifill``, ``suite``...;
            the paper's SSIM window, FID resize, LPIPS net); the other keys given here override it.
        init_from: a converted/trained checkpoint whose generator (and discriminator) weights initialise this model
            (``fit``: optimiser state starts fresh; ``test``/``validate``/``predict``: the weights evaluated). A
            ``--ckpt_path`` takes precedence.
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
        log_images_every_n_steps: int = 500,
        loss_weights: dict[str, float] | None = None,
        nan_policy: str = "raise",
        max_consecutive_skips: int = 100,
        semantic_channels: int = 0,
        semantic_encoding: str = "onehot",
        vgg_weights: str = "imagenet",
        test_metrics: list[str] | None = None,
        eval_image: str = "composite",
        evaluator_options: dict[str, Any] | None = None,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        if update_order not in UPDATE_ORDERS:
            raise ValueError(f"update_order must be one of {UPDATE_ORDERS}, got {update_order!r}")
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        if isinstance(max_consecutive_skips, bool) or not isinstance(max_consecutive_skips, int) \
                or max_consecutive_skips < 1:
            raise ValueError(f"max_consecutive_skips must be an integer >= 1, got {max_consecutive_skips!r}")
        if eval_image not in ("composite", "output"):
            raise ValueError(f"eval_image must be 'composite' or 'output', got {eval_image!r}")
        if evaluator_options and "protocol" in evaluator_options:
            from evaluation.protocols import check_protocol

            check_protocol(evaluator_options["protocol"], "model.init_args.evaluator_options.protocol")
        if generator_batch not in ("shared", "fresh"):
            raise ValueError(f"generator_batch must be 'shared' or 'fresh', got {generator_batch!r}")
        if d_steps_per_g < 1:
            raise ValueError(f"d_steps_per_g must be >= 1, got {d_steps_per_g}")
        if semantic_encoding not in SEMANTIC_ENCODINGS:
            raise ValueError(f"semantic_encoding must be one of {SEMANTIC_ENCODINGS}, got {semantic_encoding!r}")
        if semantic_encoding == "ade_rgb" and semantic_channels != 3:
            raise ValueError(f"semantic_encoding ade_rgb feeds the 3 raw seg colour channels: it needs "
                             f"semantic_channels: 3, got {semantic_channels}")
        self.automatic_optimization = False
        self.lr_g, self.lr_d = lr_g, lr_d
        self.betas_g, self.betas_d = tuple(betas_g), tuple(betas_d)
        self.d_steps_per_g = d_steps_per_g
        self.update_order = update_order
        self.generator_batch = generator_batch
        self.grad_clip_g, self.grad_clip_d = grad_clip_g, grad_clip_d
        self.ema_decay = ema_decay
        self.log_images_every_n_steps = log_images_every_n_steps
        self.loss_weights = dict(loss_weights or {})
        self.nan_policy = nan_policy
        self.max_consecutive_skips = max_consecutive_skips
        self._skip_streaks = SkipStreaks(max_consecutive_skips)  # not checkpointed: a resumed run starts afresh
        self.semantic_channels = semantic_channels
        self.semantic_encoding = semantic_encoding
        self.vgg_weights = vgg_weights
        self.test_metric_names = list(test_metrics or ["psnr", "ssim", "l1", "l1_hole"])
        self.eval_image = eval_image
        self.evaluator_options = dict(evaluator_options or {})
        self.init_from = init_from
        self._init_from_loaded = False  # init_from is applied at the first setup only (see setup)
        self.generator: nn.Module | None = None
        self.discriminator: nn.Module | None = None
        self.ema: nn.Module | None = None
        self._vgg: dict[tuple, VGGFeatures] = {}
        self._schedule: LossSchedule | None = None
        self._loss_fns: dict[str, LossFn] | None = None
        self.d_step_count = 0  # discriminator updates taken (resumable, see on_save_checkpoint)
        self.skipped_steps = 0
        self._evaluator: list[nn.Module] = []  # a list, so the harness is not a registered submodule

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
        """The Track-2 map ``(B, S, H, W)`` in the image's dtype, or ``None`` when ``semantic_channels == 0``.

        ``semantic_encoding: onehot``: ``batch["seg"]`` is the float one-hot map, passed on. ``ade_rgb``: it is the
        raw seg colours ``(B, 3, H, W)`` uint8, returned as ``seg / 255`` (the official ``ToTensor`` range [0, 1]).
        A batch made for the other encoding (dtype or channel count) is refused, naming both options.
        """
        if not self.semantic_channels:
            return None
        if "seg" not in batch:
            raise KeyError(f"{type(self).__name__} has semantic_channels={self.semantic_channels} but the batch "
                           "has no 'seg' map: enable `data.semantic: true`")
        seg = batch["seg"]
        name = type(self).__name__
        if self.semantic_encoding == "ade_rgb":
            if seg.dtype != torch.uint8 or seg.shape[1] != 3:
                raise ValueError(
                    f"{name} has model.init_args.semantic_encoding=ade_rgb (raw seg colours, 3 uint8 channels) but "
                    f"the batch's seg has {seg.shape[1]} {str(seg.dtype).replace('torch.', '')} channels: set "
                    "data.seg_encoding: ade_rgb (data.seg_encoding: labels gives the 52-channel one-hot map of "
                    "semantic_encoding: onehot)")
            return seg.to(batch["image"].dtype) / 255
        if seg.dtype == torch.uint8:
            raise ValueError(
                f"{name} has model.init_args.semantic_encoding=onehot but the batch's seg is uint8 raw colours "
                f"({seg.shape[1]} channels, data.seg_encoding: ade_rgb): use data.seg_encoding: labels, or "
                "model.init_args.semantic_encoding: ade_rgb with semantic_channels: 3 (converted DeepGIN Track 2)")
        if seg.shape[1] != self.semantic_channels:
            raise ValueError(f"{type(self).__name__} expects {self.semantic_channels} semantic channels, the batch "
                             f"has {seg.shape[1]} (data.dataset_options.other_channel?)")
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
        if self.semantic_channels and self.semantic_encoding == "ade_rgb":
            batch["seg"] = torch.zeros(batch_size, 3, size, size, dtype=torch.uint8)  # black = unlabelled
        elif self.semantic_channels:
            seg = torch.zeros(batch_size, self.semantic_channels, size, size)
            seg[:, -1] = 1
            batch["seg"] = seg
        return batch

    # ------------------------------------------------------------------------------------------ shared helpers
    def vgg_features(self, arch: str, layers: tuple[str, ...], resize_to: int | None = None) -> VGGFeatures:
        """A frozen VGG feature extractor, shared by all losses that ask for the same one (one forward per image)."""
        key = (arch, tuple(layers), resize_to)
        if key not in self._vgg:
            # VGG weights are not checkpointed (see on_save_checkpoint). With vgg_weights="random" they must come
            # out the same however late a method builds them (DeepGIN: on first use), or a resumed run trains
            # against a different random VGG; a private seed also leaves the global random stream untouched.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(VGG_RANDOM_SEED)
                extractor = VGGFeatures(arch, layers, weights=self.vgg_weights, resize_to=resize_to)
            name = f"vgg_{len(self._vgg)}"
            self.add_module(name, extractor)  # moves with the module; excluded from checkpoints below
            self._vgg[key] = extractor
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

    def _check_finite(self, optimizer: str, opt, total: Tensor, values: dict[str, Tensor]) -> bool:
        """True if ``opt`` may step: its loss and its gradients are finite. Gradients are checked too because a
        finite loss can still give inf/NaN gradients (an overflow inside backward, a sqrt at 0). Under DDP the
        gradients are already all-reduced and the decision is reduced over ranks, so every rank skips or raises
        together. One host sync per optimiser step; the culprit is named only on failure."""
        if self.nan_policy == "ignore":
            return True
        bad = ~torch.isfinite(total.detach())
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            bad = bad | ~torch.isfinite(torch.nn.utils.get_total_norm(grads, error_if_nonfinite=False))
        decision = bool(bad)
        if self._trainer is not None and self.trainer.world_size > 1:
            decision = self.trainer.strategy.reduce_boolean_decision(decision, all=False)
        if not decision:
            self._skip_streaks.stepped(optimizer)
            return True
        culprits = [f"{name}={v.item()}" for name, v in values.items() if not torch.isfinite(v)]
        if not culprits and bool(torch.isfinite(total)):
            culprits = [f"gradients of {name}" for name in self._nonfinite_grad_names(opt)[:3]] \
                or ["another rank's loss or gradients"]
            culprits[0] = f"loss finite (total={total.item():.4g}) but non-finite " + culprits[0]
        message = (f"non-finite {optimizer} loss at generator step {self.global_step}: "
                   f"{', '.join(culprits) or 'total=' + str(total.item())}")
        opt.zero_grad(set_to_none=True)
        if self.nan_policy == "raise":
            raise NonFiniteLossError(message + " (set model.init_args.nan_policy=skip to skip such steps; "
                                     "the last checkpoint is kept)")
        self.skipped_steps += 1
        self.print(f"skipping step: {message}")
        if self._skip_streaks.skipped(optimizer, message):
            # raised before any optimiser step: the weights (and the checkpoint named) are the last finite ones
            raise NonFiniteLossError(self._skip_streaks.stop_message(optimizer, last_checkpoint(self._trainer)))
        return False

    def _nonfinite_grad_names(self, opt) -> list[str]:
        own = {id(p) for group in opt.param_groups for p in group["params"]}
        return [name for name, p in self.named_parameters()
                if id(p) in own and p.grad is not None and not bool(torch.isfinite(p.grad).all())]

    # ------------------------------------------------------------------------------------------ optimisation
    def configure_optimizers(self):
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr_g, betas=self.betas_g)
        if self.discriminator is None:
            return opt_g
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr_d, betas=self.betas_d)
        return [opt_g, opt_d]

    def _optimizers(self):
        opts = self.optimizers()
        if not isinstance(opts, list):
            return opts, None
        opt_g, opt_d = opts[0], opts[1]
        # Discriminator steps must not advance global_step: schedules and max_steps count generator iterations.
        # Lightning's manual optimisation counts every optimizer's step (Lightning-AI/pytorch-lightning#17958) and
        # re-attaches its counting hooks to each LightningOptimizer at the start of every batch, so D's hooks are
        # replaced here, per batch, by profiling-only ones.
        profiler = self.trainer.profiler
        opt_d._on_before_step = lambda: profiler.start("optimizer_step")
        opt_d._on_after_step = lambda: profiler.stop("optimizer_step")
        return opt_g, opt_d

    @contextmanager
    def _frozen(self, module: nn.Module | None) -> Iterator[None]:
        """Freeze ``module``'s parameters (no grads accumulate in them) for the duration."""
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

    def _backward(self, optimizer: str, opt, outputs, batch, cache) -> dict[str, Tensor]:
        """Compute and back-propagate one optimiser's losses; returns the logged values (``total`` included).
        A non-finite loss is back-propagated too (every DDP rank must join the all-reduce); :meth:`_step` decides."""
        frozen = self.discriminator if optimizer == "generator" else None
        with self._frozen(frozen):
            total, values = self.compute_losses(optimizer, outputs, batch, cache)
            opt.zero_grad(set_to_none=True)
            if total.requires_grad:
                self.manual_backward(total)
        values["total"] = total.detach()
        return values

    def _step(self, optimizer: str, opt, values: dict[str, Tensor]) -> bool:
        """Clip and step ``opt`` unless its loss or gradients are non-finite (``nan_policy``). True if stepped."""
        if not self._check_finite(optimizer, opt, values["total"], values):
            return False
        if all(p.grad is None for group in opt.param_groups for p in group["params"]):
            return False  # no active term produced gradients: nothing to step
        clip = self.grad_clip_g if optimizer == "generator" else self.grad_clip_d
        if clip is not None:
            self.clip_gradients(opt, gradient_clip_val=clip, gradient_clip_algorithm="norm")
        opt.step()
        return True

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        opt_g, opt_d = self._optimizers()
        # D takes part only while one of its terms is active (not during a warm-up): no empty D steps are counted
        has_d = opt_d is not None and bool(self.schedule.active(self.global_step, "discriminator"))
        k = self.d_steps_per_g
        do_d = has_d
        if not has_d:
            do_g = True
        elif self.generator_batch == "fresh" and k > 1:
            # cycle of k + 1 batches: k critic-only batches, then one generator-only batch
            do_g = (self.d_step_count + self.global_step) % (k + 1) == k
            do_d = not do_g
        else:
            do_g = (self.d_step_count + 1) % k == 0
        with torch.set_grad_enabled(do_g):
            outputs = self(batch)
        # D sees the generator's outputs without a path back into G.
        d_outputs = {k: v.detach() for k, v in outputs.items()}
        logs: dict[str, Tensor] = {}

        def d_update() -> None:
            values = self._backward("discriminator", opt_d, d_outputs, batch, {})
            if self._step("discriminator", opt_d, values):
                logs.update({f"train/d/{k}": v for k, v in values.items()})
            self.d_step_count += 1

        def g_update() -> None:
            values = self._backward("generator", opt_g, outputs, batch, {})
            if self._step("generator", opt_g, values):
                self._update_ema()
                logs.update({f"train/g/{k}": v for k, v in values.items()})

        if not do_d:
            g_update()
        elif self.update_order == "d_then_g":
            d_update()
            if do_g:
                g_update()
        elif self.update_order == "g_then_d":
            if do_g:
                g_update()
            d_update()
        else:  # simultaneous: both losses from the same (pre-update) D, then both steps
            d_values = self._backward("discriminator", opt_d, d_outputs, batch, {})
            g_values = self._backward("generator", opt_g, outputs, batch, {}) if do_g else None
            if self._step("discriminator", opt_d, d_values):
                logs.update({f"train/d/{k}": v for k, v in d_values.items()})
            self.d_step_count += 1
            if g_values is not None and self._step("generator", opt_g, g_values):
                self._update_ema()
                logs.update({f"train/g/{k}": v for k, v in g_values.items()})
        if logs:
            self.log_dict(logs, prog_bar=False, on_step=True, batch_size=batch["image"].shape[0])
            if "train/g/total" in logs:
                self.log("loss_g", logs["train/g/total"], prog_bar=True, batch_size=batch["image"].shape[0])
        every = self.log_images_every_n_steps
        if do_g and every and self.global_step % every == 0:
            self.log_image_grid("train/images", batch, outputs)

    # ------------------------------------------------------------------------------------------ EMA
    def _ensure_ema(self) -> None:
        if self.ema_decay is not None and self.ema is None:
            self.ema = torch.optim.swa_utils.AveragedModel(
                self.generator, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(self.ema_decay),
                use_buffers=True)

    def _update_ema(self) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.generator)

    @contextmanager
    def _eval_generator(self) -> Iterator[None]:
        """Use the EMA generator for evaluation when there is one."""
        if self.ema is None:
            yield
            return
        live = self.generator
        self.generator = self.ema.module
        try:
            yield
        finally:
            self.generator = live

    # ------------------------------------------------------------------------------------------ hooks
    def on_fit_start(self) -> None:
        if self.trainer.is_global_zero:
            Console().print(self.schedule.render(f"{type(self).__name__}: loss schedule (steps = generator steps)"))

    def setup(self, stage: str) -> None:
        self._ensure_ema()
        # every stage: `test`/`validate`/`predict --model.init_args.init_from W` evaluate W (converted official
        # weights carry no Lightning metadata, so they cannot be a --ckpt_path); a --ckpt_path wins when given.
        # Once per module: `fit` then `test` on the same module (sweeps/trial.py) tests the trained weights.
        if self.init_from and self.trainer.ckpt_path is None and not self._init_from_loaded:
            self.load_generator_weights(self.init_from)
            self._init_from_loaded = True

    def load_generator_weights(self, path: str, state: Any = None) -> None:
        """Initialise G (and D when present) from ``path``: a Lightning checkpoint or a plain state dict,
        loaded with ``weights_only=True`` (or ``state``, when the caller has already read ``path``).
        Mismatched keys raise one error naming the file and the first keys."""
        state = load_weights_file(path) if state is None else state
        if not isinstance(state, dict):
            raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state dict or a checkpoint")
        state = state.get("state_dict", state)
        for prefix, net in (("generator.", self.generator), ("discriminator.", self.discriminator)):
            if net is None:
                continue
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if not sub and prefix == "discriminator.":
                continue  # generator-only files are fine
            own = net.state_dict()
            shapes = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in sub.items()
                      if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)]
            if shapes:  # checked first: load_state_dict would raise a multi-line RuntimeError
                raise CheckpointKeyError(f"{path}: {prefix.rstrip('.')} shapes do not match the model "
                                         f"(wrong method or options?): {'; '.join(shapes[:3])}")
            missing, unexpected = net.load_state_dict(sub, strict=False)
            if missing or unexpected:
                raise CheckpointKeyError(f"{path}: {prefix.rstrip('.')} keys do not match; missing {missing[:5]}, "
                                         f"unexpected {unexpected[:5]}")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["inpaint_suite"] = {"d_step_count": self.d_step_count, "skipped_steps": self.skipped_steps,
                                       "rng": rng_states()}
        # frozen VGG weights are re-created from vgg_weights; keep them out of checkpoints
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("vgg_")}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("inpaint_suite", {})
        self.d_step_count = int(state.get("d_step_count", 0))
        self.skipped_steps = int(state.get("skipped_steps", 0))
        # Resuming a fit continues the global random streams where the checkpoint left them: the train sampler's
        # shuffle order (drawn from torch's global generator at every epoch start) and any noise a method draws.
        # Only when a Trainer resumes a fit, so load_from_checkpoint() in user code never reseeds anything.
        if "rng" in state and self._trainer is not None and self.trainer.state.fn == "fit":
            set_rng_states(state["rng"])
        if any(k.startswith("ema.") for k in checkpoint["state_dict"]):
            self._ensure_ema()
        # re-insert our own VGG weights so strict loading passes
        checkpoint["state_dict"].update({k: v for k, v in self.state_dict().items() if k.startswith("vgg_")})

    # ------------------------------------------------------------------------------------------ eval
    def _eval_outputs(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        from evaluation.padding import forward_padded

        # native-size batches the networks cannot take are padded to the next accepted size and cropped back (the
        # "validate" rule: the batch as it reaches the networks, after any test-time resampling of a method)
        with self._eval_generator():
            return forward_padded(self, batch, lambda side: self.size_error(side, dict(self.hparams), "validate"))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        outputs = self._eval_outputs(batch)
        pred = outputs[self.eval_image]
        target, mask = batch["image"], batch["mask"]
        hole = ((pred - target).abs() * mask).sum() / (mask.sum() * 3).clamp_min(1)
        mse = ((pred - target) / 2).square().flatten(1).mean(1)
        psnr = (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean()
        bs = target.shape[0]
        self.log("val/l1_hole", hole, sync_dist=True, batch_size=bs, prog_bar=True)
        self.log("val/psnr", psnr, sync_dist=True, batch_size=bs)
        if batch_idx == 0:
            self.log_image_grid("val/images", batch, outputs)

    def _build_evaluator(self) -> nn.Module:
        from evaluation import InpaintingEvaluator

        options = evaluator_kwargs(self.evaluator_options)
        # the data side states what was evaluated (dataset, split, mask set and its hash) without us importing it
        describe = getattr(getattr(self.trainer, "datamodule", None), "evaluation_settings", None)
        settings = {**(describe() if callable(describe) else {}), **self.evaluation_settings(),
                    **options.get("settings", {})}
        if settings:
            options["settings"] = settings
        return InpaintingEvaluator(metrics=self.test_metric_names, image=self.eval_image, **options)

    def evaluation_settings(self) -> dict[str, Any]:
        """Facts about how this model was run for the test, copied into the report (a method adds its own)."""
        return {}

    def on_test_start(self) -> None:
        self._evaluator[:] = [self._build_evaluator().to(self.device)]
        self._evaluator[0].reset()

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        outputs = self._eval_outputs(batch)
        # the index lets the harness drop the duplicates a distributed sampler pads the last batch with
        self._evaluator[0].update(outputs[self.eval_image], batch["image"], batch["mask"],
                                  mask_type=batch.get("mask_type"), index=batch.get("index"))

    def on_test_epoch_end(self) -> None:
        report = self._evaluator[0].compute()
        self.test_report = report
        log_dir = self.trainer.log_dir  # a broadcast under DDP: every rank must ask
        if self.trainer.is_global_zero:
            from evaluation.report import print_report, write_json

            print_report(report)
            write_json(report, Path(log_dir or self.trainer.default_root_dir) / "test_report.json")
        for name, stat in report.get("overall", {}).get("metrics", {}).items():
            value = stat.get("mean") if isinstance(stat, dict) else stat
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.log(f"test/{name}", float(value), sync_dist=False, rank_zero_only=True)

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        return self._eval_outputs(batch)["composite"]

    # ------------------------------------------------------------------------------------------ image grids
    @torch.no_grad()
    def log_image_grid(self, key: str, batch: dict[str, Any], outputs: dict[str, Tensor], n: int = 4) -> None:
        """input / mask / output / composite / target, one row per sample, to the loggers and a PNG file."""
        if self.trainer is None:
            return
        log_dir = self.trainer.log_dir  # a broadcast under DDP: every rank must ask, or rank 0 waits forever
        if not self.trainer.is_global_zero:
            return
        image, mask = batch["image"][:n].float(), batch["mask"][:n].float()
        cols = [image * (1 - mask) + mask, mask.expand_as(image) * 2 - 1, outputs["output"][:n].float(),
                outputs["composite"][:n].float(), image]
        grid = torch.cat([torch.cat(list(c), dim=-1) for c in zip(*cols)], dim=-2)  # rows: samples, cols: kinds
        array = ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        array = with_column_labels(array, list(GRID_COLUMNS))
        step = self.global_step
        for logger in self.loggers:
            if hasattr(logger, "log_image"):  # W&B
                logger.log_image(key=key, images=[array], step=step, caption=[" | ".join(GRID_COLUMNS)])
            elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
                logger.experiment.add_image(key, array, step, dataformats="HWC")
        if log_dir:
            from PIL import Image

            out = Path(log_dir) / "images"
            out.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(out / f"{key.replace('/', '_')}_{step:08d}.png")


def evaluator_kwargs(evaluator_options: dict[str, Any] | None) -> dict[str, Any]:
    """``InpaintingEvaluator`` keyword arguments from a module's ``evaluator_options``: a named ``protocol`` is
    expanded from the registry (``evaluation.protocols``), the other keys win, and the report records the name."""
    options = dict(evaluator_options or {})
    name = options.pop("protocol", None)
    if name is None:
        return options
    from evaluation.protocols import protocol_options

    _, settings = protocol_options(name)
    merged = {**settings, **options}
    merged["settings"] = {"protocol": name, **(options.get("settings") or {})}
    return merged


GRID_COLUMNS = ("input", "mask", "output", "composite", "target")


def with_column_labels(array: np.ndarray, labels: list[str], height: int = 14) -> np.ndarray:
    """``array`` (H, W, 3 uint8, equal-width columns side by side) with a white header row naming each column,
    drawn with PIL's default font, so a grid PNG says what it shows without its caption."""
    from PIL import Image, ImageDraw

    width = array.shape[1] // len(labels)
    header = Image.new("RGB", (array.shape[1], height), "white")
    draw = ImageDraw.Draw(header)
    for i, label in enumerate(labels):
        draw.text((i * width + 2, 1), label, fill="black")
    return np.concatenate([np.asarray(header, dtype=np.uint8), array], axis=0)


def rng_states() -> dict[str, Any]:
    """The global random states (torch CPU, every initialised CUDA device, NumPy, Python) as plain tensors and
    tuples, so a checkpoint holding them still loads with ``weights_only=True``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda,
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
            "python": random.getstate()}


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned (CUDA states only when the device count matches)."""
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
