"""Native-size evaluation: pad to a size the method accepts, run, crop back (evaluation/padding.py)."""

from __future__ import annotations

import pytest
import torch

from evaluation.padding import forward_padded, next_valid_side, reflect_pad


def multiple_of(k: int, least: int = 1):
    """A method's size rule for one side (``size_error``): None when accepted."""
    return lambda side: None if side % k == 0 and side >= least else f"needs a multiple of {k}"


def native_batch(h: int, w: int, seg_channels: int = 0, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(1, 1, h, w)
    mask[..., h // 4: h // 2, w // 3: 2 * w // 3] = 1
    batch = {"image": torch.rand(1, 3, h, w, generator=g) * 2 - 1, "mask": mask, "index": torch.tensor([0]),
             "name": ["native"], "mask_type": ["box"]}
    if seg_channels:
        labels = torch.randint(0, seg_channels, (1, h, w), generator=g)
        batch["seg"] = torch.nn.functional.one_hot(labels, seg_channels).permute(0, 3, 1, 2).float()
    return batch


class Recorder:
    """A forward that records what it was given and answers ``output = f(image)`` at the padded size."""

    def __init__(self, fn=lambda image: image):
        self.fn, self.seen = fn, []

    def __call__(self, batch):
        self.seen.append({k: v.clone() for k, v in batch.items() if isinstance(v, torch.Tensor)})
        output = self.fn(batch["image"])
        mask = batch["mask"]
        return {"output": output, "composite": output * mask + batch["image"] * (1 - mask),
                "low_res": output[..., ::4, ::4], "scores": torch.zeros(1, 16, 16)}


@pytest.mark.parametrize("multiple", [8, 16, 32])
def test_identity_network_gives_back_the_native_input_exactly(multiple):
    batch = native_batch(250, 333, seg_channels=5)
    forward = Recorder()
    out = forward_padded(forward, batch, multiple_of(multiple))
    ph, pw = -(-250 // multiple) * multiple, -(-333 // multiple) * multiple
    seen = forward.seen[0]
    assert seen["image"].shape[-2:] == (ph, pw) and seen["seg"].shape[-2:] == (ph, pw)
    assert torch.equal(out["output"], batch["image"]) and torch.equal(out["composite"], batch["image"])
    # the native pixels go in unchanged (top-left), the pad is a reflection, padded mask pixels are known
    assert torch.equal(seen["image"][..., :250, :333], batch["image"])
    assert torch.equal(seen["image"][..., 250, :333], batch["image"][..., 248, :])
    assert torch.equal(seen["image"][..., :250, 333], batch["image"][..., :, 331])
    assert torch.equal(seen["mask"][..., :250, :333], batch["mask"])
    assert seen["mask"][..., 250:, :].sum() == 0 and seen["mask"][..., :, 333:].sum() == 0
    assert torch.equal(seen["seg"][..., :250, :333], batch["seg"]) and torch.all(seen["seg"].sum(1) == 1)
    # maps of other sizes are left as computed on the padded input
    assert out["low_res"].shape[-2:] == (ph // 4, pw // 4) and out["scores"].shape == (1, 16, 16)


def test_accepted_sizes_are_passed_through_untouched():
    batch = native_batch(64, 96)
    forward = Recorder()
    out = forward_padded(forward, batch, multiple_of(16))
    assert forward.seen[0]["image"].shape[-2:] == (64, 96) and out["output"] is not None
    assert out["low_res"].shape[-2:] == (16, 24)


def test_padded_pixels_never_enter_the_metrics():
    """The scores of a padded run are those of the native crop of the same network output, and differ from the
    scores the padded output would have had: the pad is cropped before the composite and the metrics."""
    from evaluation import InpaintingEvaluator

    batch = native_batch(61, 45)
    # a network that is wrong everywhere, and most of all in the padded region (bottom right)
    def wrong(image):
        ramp = torch.linspace(0, 1, image.shape[-1]).expand_as(image)
        return (image.flip(-1) * 0.5 + ramp).clamp(-1, 1)

    out = forward_padded(Recorder(wrong), batch, multiple_of(32))
    pad_batch = dict(batch)  # the padded input, rebuilt independently
    pad_batch["image"], pad_batch["mask"] = reflect_pad(batch["image"], 64, 64), torch.nn.functional.pad(
        batch["mask"], (0, 19, 0, 3))
    full = wrong(pad_batch["image"])
    expected = full[..., :61, :45] * batch["mask"] + batch["image"] * (1 - batch["mask"])
    assert torch.equal(out["composite"], expected)

    def scores(pred, target, mask):
        ev = InpaintingEvaluator(metrics=["psnr", "ssim", "l1", "l1_hole"], bootstrap_resamples=10)
        ev.update(pred, target, mask)
        return {k: v["mean"] for k, v in ev.compute()["overall"]["metrics"].items()}

    ours = scores(out["composite"], batch["image"], batch["mask"])
    assert ours == scores(expected, batch["image"], batch["mask"])
    # control: scoring the uncropped padded result (wrong pixels in the pad) would change the numbers
    composite_full = full * pad_batch["mask"] + pad_batch["image"] * (1 - pad_batch["mask"])
    assert scores(composite_full, pad_batch["image"], pad_batch["mask"])["psnr"] != ours["psnr"]


def test_next_valid_side_follows_the_rule_and_reflection_handles_wide_pads():
    assert next_valid_side(250, multiple_of(16)) == 256
    assert next_valid_side(20, multiple_of(4, least=36)) == 36  # AOT-GAN's minimum
    assert next_valid_side(128, multiple_of(128)) == 128
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    wide = reflect_pad(x, 9, 10)  # pads wider than the tensor: mirrored again
    assert wide.shape == (1, 1, 9, 10) and torch.equal(wide[..., :2, :3], x)
    assert torch.equal(reflect_pad(torch.ones(1, 1, 1, 1), 4, 4), torch.ones(1, 1, 4, 4))  # 1 px: replicated
    seg = torch.randint(0, 255, (1, 3, 5, 7), dtype=torch.uint8)  # ade_rgb colours stay uint8
    padded = reflect_pad(seg, 8, 8)
    assert padded.dtype == torch.uint8 and torch.equal(padded[..., :5, :7], seg)
    with pytest.raises(ValueError, match="accepted"):
        next_valid_side(10, lambda side: "never")


def test_native_size_test_loop_pads_each_image_and_scores_it_at_its_own_size(tmp_path):
    """A ``test`` at native resolution (``eval_crop: none``, batch 1) of the tiny method on two photos of different
    sizes, neither a multiple of its 4: the network sees each padded to the next multiple, the report scores both."""
    import lightning as L
    import numpy as np
    from PIL import Image

    from datamodules.datamodule import InpaintDataModule
    from lightning_modules.tiny import TinyInpainter

    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        (tmp_path / "data" / split).mkdir(parents=True)
    for name, (h, w) in {"a": (50, 70), "b": (61, 45)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / "data" / "test" / f"{name}.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "data" / "train" / "t.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "data" / "val" / "v.png")
    data = InpaintDataModule(dataset="folder", data_root=str(tmp_path / "data"), image_size=32, crop="random_crop",
                             batch_size=1, eval_batch_size=1, num_workers=0, masks="aim_box",
                             dataset_options={"eval_crop": "none"})
    torch.manual_seed(0)
    model = TinyInpainter(width=8, perceptual_weight=0.0, vgg_weights="random",
                          test_metrics=["psnr", "l1", "l1_hole"])
    seen = []
    model.generator.register_forward_hook(lambda module, args, out: seen.append(tuple(out.shape[-2:])))
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    trainer.test(model, datamodule=data)
    assert sorted(seen) == [(52, 72), (64, 48)]  # 50x70 and 61x45, each padded to multiples of 4
    report = model.test_report
    assert report["overall"]["n"] == 2 and report["settings"]["image_size"] == "native"
    for value in report["overall"]["metrics"].values():
        assert np.isfinite(value["mean"])
