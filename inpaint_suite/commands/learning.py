"""``inpaint-suite bench --sections learning``: does each method learn to inpaint, and when does it beat OpenCV?

Each method is trained through its own ``training_step`` (a Lightning ``Trainer``) on random training crops of the
built-in photos with synthetic free-form masks (``comodgan``), and evaluated every K generator steps on fixed crops
of the held-out photos with a fixed mask set that covers every hole-ratio bucket (two masks per bucket, drawn by
rejection from ``comodgan`` with the bucket's ``hole_range``). Metrics of the composite come from the evaluation
harness: hole L1, PSNR, SSIM and LPIPS (AlexNet; ImageNet backbone when its file is in the torch hub cache,
otherwise seeded random backbone weights, labelled as such: then LPIPS only ranks, it is not the published metric).

Baselines on the same images and masks: ``cv2.inpaint`` (Telea, Navier-Stokes), the white-filled input, and each
untrained network (step 0). The report gives, per method, the first evaluated step at which its hole L1 is below
Telea's, or ``not within budget``, prints the tables and writes one figure of the curves with the baselines as
horizontal lines. Every method keeps its own objective, optimiser and schedule (DeepGIN's L1 warm-up, HiFill's
critic loop) from its packaged config; only sizes, batch and the VGG weights of the losses are set here.
"""

from __future__ import annotations

# Lazy imports (inside the functions that train): Lightning, the DataModule, the methods, torchmetrics and
# matplotlib. `bench` imports this module for its options on every run; they load only when this section runs.
import argparse
import logging
import time
from pathlib import Path
from typing import Any

import torch

from assembly.errors import UsageError
from evaluation.baselines import baseline_composite
from evaluation.pretrained import ALEXNET_URL, VGG_URLS, hub_cache_path
from inpaint_suite.commands.bench_common import build_method, print_rows

METHODS = ("aotgan", "madf", "deepgin", "hifill")
CHOICES = METHODS + ("tiny",)  # tiny: the suite's template method, seconds per run (tests)
METRICS = ("l1_hole", "psnr", "ssim", "lpips")
BASELINE_NAMES = ("telea", "navier_stokes", "masked_input")
TRAIN_MASKS = "comodgan"
# (lo, hi) hole ratios, one range per bucket of evaluation.buckets (strict inequalities: see RandomMaskGenerator)
BUCKET_RANGES = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (0.6, 0.9))
EVAL_MASK_SEED = 2_000_003
# Per device: image side per method (MADF's seven stride-2 levels need 128; HiFill's attention keys need an 8x8 grid
# of 16-px cells: at 64 px a 20 % hole leaves no usable key), generator steps per method, batch, eval period K.
DEFAULTS: dict[str, dict[str, Any]] = {
    "cpu": {"size": {"aotgan": 64, "madf": 128, "deepgin": 64, "hifill": 128, "tiny": 64},
            "steps": {"aotgan": 40, "madf": 8, "deepgin": 40, "hifill": 10, "tiny": 300},
            "batch": 2, "evals": 5, "eval_images": 14},
    "cuda": {"size": {"aotgan": 256, "madf": 256, "deepgin": 256, "hifill": 256, "tiny": 256},
             "steps": {"aotgan": 5000, "madf": 5000, "deepgin": 5000, "hifill": 5000, "tiny": 5000},
             "batch": 8, "evals": 20, "eval_images": 70},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The learning section's options (``--learn-*``) on the bench parser."""
    group = parser.add_argument_group("learning section")
    group.add_argument("--learn-methods", nargs="+", default=list(METHODS), choices=CHOICES)
    group.add_argument("--learn-steps", nargs="+", default=None, metavar="[METHOD=]N",
                       help="generator steps: N for every method or METHOD=N (CPU: aotgan/deepgin 40, madf 8, "
                            "hifill 10, sized for a shared 2-core machine; CUDA: 5000)")
    group.add_argument("--learn-size", nargs="+", default=None, metavar="[METHOD=]S",
                       help="square crop side (raised to the method's minimum; CPU: 64, madf/hifill 128; CUDA: 256)")
    group.add_argument("--learn-batch", type=int, default=None, help="training batch (CPU 2, CUDA 8)")
    group.add_argument("--learn-eval-every", type=int, default=None,
                       help="evaluate every K generator steps (default: steps / 5 on CPU, / 20 on CUDA)")
    group.add_argument("--learn-eval-images", type=int, default=None,
                       help="held-out images, spread over the 7 hole buckets (CPU 14, CUDA 70)")
    group.add_argument("--learn-figure", default="results/learning.png", help="where the figure is written")
    group.add_argument("--learn-vgg", default="auto", choices=("auto", "imagenet", "random"),
                       help="VGG weights of the perceptual/style losses: auto = imagenet if cached, else random")


def _per_method(values: list[str] | None, default: dict[str, int], option: str) -> dict[str, int]:
    """``N`` (every method) or ``METHOD=N`` items over ``default``; a bad item is a usage error (exit 2)."""
    out = dict(default)
    for value in values or []:
        name, _, number = value.rpartition("=")
        if name and name not in CHOICES:
            raise UsageError(f"{option}: unknown method {name!r}; choose from {', '.join(CHOICES)}")
        try:
            n = int(number)
        except ValueError:
            raise UsageError(f"{option}: {value!r} is not N or METHOD=N") from None
        if n < 1:
            raise UsageError(f"{option}: {value!r} must be at least 1")
        out.update({name: n} if name else dict.fromkeys(CHOICES, n))
    return out


def _cached(url: str) -> bool:
    return hub_cache_path(url).is_file()


# ------------------------------------------------------------------------------------------------ data
def eval_set(size: int, n_images: int, device: torch.device) -> list[dict[str, Any]]:
    """Fixed held-out crops ``(B, 3, S, S)`` with one fixed mask each, masks spread evenly over the hole buckets."""
    from datamodules.datasets.sample import SampleDataset
    from datamodules.masks import build_mask_generator

    photos = SampleDataset("test", image_size=size, length=n_images)
    images = torch.stack([photos[i]["image"] for i in range(n_images)])
    masks = torch.zeros(n_images, 1, size, size)
    for k, (lo, hi) in enumerate(BUCKET_RANGES):
        idx = list(range(k, n_images, len(BUCKET_RANGES)))
        if idx:
            gen = build_mask_generator({"name": "comodgan", "hole_range": [lo, hi]})
            masks[idx] = gen(idx, size, size, seed=EVAL_MASK_SEED)
    batches = []
    for start in range(0, n_images, 8):
        sl = slice(start, start + 8)
        batches.append({"image": images[sl].to(device), "mask": masks[sl].to(device),
                        "index": torch.arange(start, min(start + 8, n_images), device=device),
                        "mask_type": [TRAIN_MASKS] * len(images[sl])})
    return batches


def make_evaluator(device: torch.device, lpips_weights: str) -> torch.nn.Module:
    from evaluation import InpaintingEvaluator

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # random LPIPS backbone weights are the same in every run
        evaluator = InpaintingEvaluator(list(METRICS), lpips_backbone_weights=lpips_weights, bootstrap_resamples=200)
    return evaluator.to(device).eval()


def score(evaluator, batches: list[dict[str, Any]], fill) -> dict[str, float]:
    """Overall means of :data:`METRICS` of ``fill(batch) -> composite`` over the evaluation batches (and hole L1
    per bucket as ``l1_hole@<bucket>``)."""
    evaluator.reset()
    with torch.no_grad():
        for batch in batches:
            evaluator.update(fill(batch), batch["image"], batch["mask"], index=batch["index"])
    report = evaluator.compute()
    out = {}
    for name, stat in report["overall"]["metrics"].items():
        key = "lpips" if name.startswith("lpips") else name
        out[key] = float(stat["mean"] if isinstance(stat, dict) else stat)
    for bucket, entry in (report.get("buckets") or {}).items():
        stat = (entry.get("metrics") or {}).get("l1_hole")
        if stat is not None:
            out[f"l1_hole@{bucket}"] = float(stat["mean"] if isinstance(stat, dict) else stat)
    return out


def baseline_scores(evaluator, batches) -> dict[str, dict[str, float]]:
    return {name: score(evaluator, batches, lambda b, n=name: baseline_composite(n, b["image"], b["mask"]))
            for name in BASELINE_NAMES}


# ------------------------------------------------------------------------------------------------ training
def build(name: str, size: int, vgg: str):
    overrides: dict[str, Any] = {"vgg_weights": vgg}
    if name == "hifill":
        overrides["image_size"] = size  # the critic's linear layer is sized for the crop
    return build_method(name, overrides)


class _Evaluate:
    """A Lightning callback (built lazily, so this module imports without Lightning): scores the model at step 0
    and every ``every`` generator steps; the last step is always scored."""

    def __new__(cls, evaluator, batches, every: int, last: int, rows: list, method: str):
        import lightning as L

        class Evaluate(L.Callback):
            def __init__(self) -> None:
                self.next, self.t0, self.train_s = 0, None, 0.0

            def _run(self, module, step: int) -> None:
                was = module.training
                module.eval()
                values = score(evaluator, batches, lambda b: module._eval_outputs(b)["composite"])
                module.train(was)
                rows.append({"method": method, "step": step, **values, "train_s": round(self.train_s, 1)})
                self.next = step + every

            def on_train_start(self, trainer, module) -> None:
                self._run(module, 0)
                self.t0 = time.perf_counter()

            def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
                step = trainer.global_step
                if step >= self.next or (step >= last and rows[-1]["step"] < step):
                    self.train_s += time.perf_counter() - self.t0
                    self._run(module, step)
                    self.t0 = time.perf_counter()

        return Evaluate()


def train_and_track(name: str, size: int, steps: int, batch: int, every: int, vgg: str, evaluator,
                    batches, device: torch.device) -> list[dict[str, Any]]:
    import lightning as L

    from datamodules import InpaintDataModule

    L.seed_everything(0, verbose=False)
    model = build(name, size, vgg)
    data = InpaintDataModule(dataset="sample", image_size=size, batch_size=batch, num_workers=0,
                             masks=TRAIN_MASKS, train_length=max(64, batch * 8))
    rows: list[dict[str, Any]] = []
    trainer = L.Trainer(max_steps=steps, accelerator=device.type, devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, limit_val_batches=0,
                        callbacks=[_Evaluate(evaluator, batches, every, steps, rows, name)])
    quiet = logging.getLogger("lightning.pytorch")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        trainer.fit(model, datamodule=data)
    finally:
        quiet.setLevel(level)
    for row in rows:
        row["size"] = size
    return rows


def first_beating(rows: list[dict[str, Any]], telea: float) -> int | str:
    """The first evaluated step > 0 whose hole L1 is below Telea's, or ``not within budget``."""
    for row in rows:
        if row["step"] > 0 and row["l1_hole"] < telea:
            return row["step"]
    return "not within budget"


# ------------------------------------------------------------------------------------------------ report
def plot(curves: dict[str, list[dict]], baselines: dict[int, dict[str, dict[str, float]]], sizes: dict[str, int],
         path: Path, lpips_label: str) -> None:
    """One figure: a panel per metric, a curve per method (step 0 = untrained), baselines as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.6))
    colours = dict(zip(CHOICES, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")))
    styles = {"telea": ":", "navier_stokes": "-.", "masked_input": "--"}
    multi = len(set(sizes.values())) > 1
    titles = {"l1_hole": "hole L1 (lower is better)", "psnr": "PSNR dB", "ssim": "SSIM",
              "lpips": f"LPIPS ({lpips_label})"}
    for ax, metric in zip(axes, METRICS):
        for name, rows in curves.items():
            label = f"{name} @{sizes[name]}px" if multi else name
            ax.plot([r["step"] for r in rows], [r[metric] for r in rows], "o-", ms=3, color=colours[name],
                    label=label)
        for size, scores in sorted(baselines.items()):
            for base, values in scores.items():
                if base == "masked_input" and metric == "l1_hole":
                    continue  # white fill is far above every curve: it would flatten the panel
                ax.axhline(values[metric], color="0.35" if size == min(baselines) else "0.65", ls=styles[base],
                           lw=1, label=f"{base} @{size}px" if multi else base)
        ax.set_title(titles[metric], fontsize=9)
        ax.set_xlabel("generator step", fontsize=8)
        ax.tick_params(labelsize=7)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Train, track and report every method of ``--learn-methods``; returns the JSON-able results."""
    defaults = DEFAULTS["cuda" if device.type == "cuda" else "cpu"]
    steps = _per_method(args.learn_steps, defaults["steps"], "--learn-steps")
    from lightning_modules.hifill import HiFill
    from lightning_modules.madf import MADF

    minimum = {"madf": MADF.MIN_SIZE, "hifill": HiFill.MIN_SIZE}
    sizes = {name: max(size, minimum.get(name, 1))
             for name, size in _per_method(args.learn_size, defaults["size"], "--learn-size").items()}
    batch = args.learn_batch or defaults["batch"]
    n_images = args.learn_eval_images or defaults["eval_images"]
    lpips_weights = "imagenet" if _cached(ALEXNET_URL) else "random"
    lpips_label = "ImageNet AlexNet" if lpips_weights == "imagenet" else "random AlexNet, seed 0: ranks only"
    vgg = args.learn_vgg if args.learn_vgg != "auto" else (
        "imagenet" if all(_cached(u) for u in VGG_URLS.values()) else "random")
    evaluator = make_evaluator(device, lpips_weights)
    methods = list(dict.fromkeys(args.learn_methods))
    sets = {size: eval_set(size, n_images, device) for size in sorted({sizes[m] for m in methods})}
    baselines = {size: baseline_scores(evaluator, b) for size, b in sets.items()}
    curves, summary = {}, []
    for name in methods:
        size, budget = sizes[name], steps[name]
        every = args.learn_eval_every or max(1, budget // defaults["evals"])
        print(f"learning: {name} at {size}px, batch {batch}, {budget} generator steps, evaluated every {every}",
              flush=True)
        rows = train_and_track(name, size, budget, batch, every, vgg, evaluator, sets[size], device)
        curves[name] = rows
        telea = baselines[size]["telea"]["l1_hole"]
        last = rows[-1]
        trained = [r for r in rows if r["step"] > 0]
        per_step = last["train_s"] / last["step"] if last["step"] else None
        summary.append({"method": name, "size": size, "steps": last["step"],
                        "s_per_step": round(per_step, 2) if per_step else None,
                        "untrained_l1_hole": rows[0]["l1_hole"], "final_l1_hole": last["l1_hole"],
                        "best_l1_hole": min(r["l1_hole"] for r in trained) if trained else None,
                        "telea_l1_hole": telea, "final_psnr": last["psnr"], "final_lpips": last["lpips"],
                        "first_step_beating_telea": first_beating(rows, telea)})
        print_rows(f"learning: {name} (composite on {n_images} held-out crops, all hole buckets)",
                   [{k: v for k, v in r.items() if "@" not in k} for r in rows])
    base_rows = [{"baseline": base, "size": size, **{m: v[m] for m in METRICS}}
                 for size, scores in baselines.items() for base, v in scores.items()]
    print_rows("learning: training-free baselines on the same images and masks", base_rows)
    print_rows("learning: first evaluated step whose hole L1 beats Telea", summary)
    figure = Path(args.learn_figure)
    plot(curves, baselines, sizes, figure, lpips_label)
    print(f"wrote {figure}")
    return {"settings": {"sizes": {m: sizes[m] for m in methods}, "steps": {m: steps[m] for m in methods},
                         "batch": batch, "eval_images": n_images, "train_masks": TRAIN_MASKS,
                         "eval_masks": f"comodgan, hole_range per bucket {BUCKET_RANGES}, seed {EVAL_MASK_SEED}",
                         "lpips": lpips_label, "loss_vgg_weights": vgg},
            "baselines": {str(k): v for k, v in baselines.items()}, "curves": curves, "summary": summary,
            "figure": str(figure)}
