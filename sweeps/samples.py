"""The same few held-out images inpainted by every row: ``<trial>/samples.pt``.

After its test a trial inpaints the first :data:`N_SAMPLES` items of the test split with their evaluation masks (the
masks are seeded by item index, so every row of a sweep sees the same images and the same holes) and saves image,
mask and composite as uint8 tensors (small at any resolution; loadable with ``weights_only=True``). The report draws
them side by side (:func:`sweeps.figures.inpainting_grid`).
"""

from __future__ import annotations

# torch and the data/evaluation packages are imported inside the functions: the trial module (which the sweep worker
# imports for its helpers) imports this one, and must stay light.
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SAMPLES_FILE = "samples.pt"
N_SAMPLES = 4


def _to_uint8(x):
    """``[-1, 1]`` float -> uint8 0..255 (the evaluation harness's rounding)."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to("cpu").byte()


def collect_samples(batches: Iterable[dict[str, Any]], composite: Callable[[dict[str, Any]], Any],
                    n: int = N_SAMPLES) -> dict[str, Any]:
    """Run ``composite(batch)`` (masks already added) on batches until ``n`` items; ``{"index", "name", "image",
    "mask", "composite"}`` with images ``(n, 3, H, W)`` and masks ``(n, 1, H, W)`` uint8 (mask: 255 = hole)."""
    import torch

    parts: dict[str, list] = {"index": [], "name": [], "image": [], "mask": [], "composite": []}
    count = 0
    with torch.no_grad():
        for batch in batches:
            take = min(n - count, batch["image"].shape[0])
            out = composite(batch)
            parts["image"].append(_to_uint8(batch["image"][:take]))
            parts["mask"].append((batch["mask"][:take].detach().float() > 0.5).to("cpu").byte() * 255)
            parts["composite"].append(_to_uint8(out[:take]))
            index = batch.get("index")
            parts["index"] += [int(i) for i in index[:take]] if index is not None else list(range(count, count + take))
            names = batch.get("name")
            parts["name"] += [str(x) for x in names[:take]] if names is not None else [""] * take
            count += take
            if count >= n:
                break
    if not count:
        return {}
    return {k: (torch.cat(v) if k in ("image", "mask", "composite") else v) for k, v in parts.items()}


def save_samples(out: Path, samples: dict[str, Any]) -> Path | None:
    import torch

    if not samples:
        return None
    path = Path(out) / SAMPLES_FILE
    tmp = path.with_name(f".{SAMPLES_FILE}.tmp")
    torch.save(samples, tmp)
    os.replace(tmp, path)
    return path


def model_samples(model, datamodule, n: int = N_SAMPLES) -> dict[str, Any]:
    """The first ``n`` test items inpainted by ``model`` (its evaluation path: ``predict_step``, EMA generator and
    a method's own tiling included), masks from the datamodule's evaluation generator."""
    device = model.device
    was_training = model.training
    model.eval()

    def batches():
        for batch in datamodule.test_dataloader():
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            yield datamodule.add_masks(datamodule.add_semantic_channels(batch), training=False)

    try:
        return collect_samples(batches(), lambda batch: model.predict_step(batch, 0), n)
    finally:
        model.train(was_training)


def masked_input_samples(config: dict[str, Any], baseline: str = "masked_input") -> dict[str, Any]:
    """A training-free baseline's samples (``masked_input``: holes filled white; ``telea``: OpenCV's fill): the first
    test items as it scores them (``sweeps.trial.run_masked_input_baseline``)."""
    from datamodules import InpaintDataModule
    from evaluation.baselines import baseline_composite

    data = InpaintDataModule(**(config.get("data") or {}))
    data.setup("test")
    batches = (data.add_masks(batch, training=False) for batch in data.test_dataloader())
    return collect_samples(batches, lambda b: baseline_composite(baseline, b["image"], b["mask"]))


def save_samples_safely(out: Path, collect: Callable[[], dict[str, Any]]) -> None:
    """:func:`save_samples` of ``collect()``; a failure is printed (into the trial's log), the row's result stands."""
    try:
        save_samples(out, collect())
    except Exception as error:  # noqa: BLE001 - a picture must not fail a trained and tested row
        print(f"could not save the samples for the report: {type(error).__name__}: {error}", flush=True)


def load_samples(trial_dir: Path) -> dict[str, Any] | None:
    path = Path(trial_dir) / SAMPLES_FILE
    if not path.is_file():
        return None
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
