"""InpaintDataModule: masks drawn on the batch's device after transfer, seeded by index; Track-2 expansion."""

from __future__ import annotations

import pytest
import torch

from datamodules import InpaintDataModule


class FakeTrainer:
    def __init__(self, training: bool, epoch: int = 0) -> None:
        self.training, self.current_epoch = training, epoch


def batch_of(indices, size=64):
    return {"image": torch.zeros(len(indices), 3, size, size), "index": torch.tensor(indices),
            "name": [str(i) for i in indices]}


def with_trainer(dm, trainer):
    dm.trainer = trainer  # LightningDataModule.trainer is a plain attribute
    return dm


def test_masks_depend_on_seed_and_index_not_on_the_batch():
    dm = InpaintDataModule(masks="aim_box", image_size=64)
    with_trainer(dm, FakeTrainer(training=True))
    a = dm.on_after_batch_transfer(batch_of([3, 5, 7]), 0)
    b = dm.on_after_batch_transfer(batch_of([7, 3]), 0)
    assert a["mask"].shape == (3, 1, 64, 64) and set(a["mask"].unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a["mask"][0], b["mask"][1]) and torch.equal(a["mask"][2], b["mask"][0])
    assert a["mask_type"] == ["aim_box"] * 3


def test_training_masks_change_with_the_epoch_eval_masks_never_do():
    dm = InpaintDataModule(masks="aim_box", image_size=64)
    e0 = with_trainer(dm, FakeTrainer(True, 0)).on_after_batch_transfer(batch_of([1, 2]), 0)["mask"]
    e1 = with_trainer(dm, FakeTrainer(True, 1)).on_after_batch_transfer(batch_of([1, 2]), 0)["mask"]
    assert not torch.equal(e0, e1)
    v0 = with_trainer(dm, FakeTrainer(False, 0)).on_after_batch_transfer(batch_of([1, 2]), 0)["mask"]
    v1 = with_trainer(dm, FakeTrainer(False, 5)).on_after_batch_transfer(batch_of([1, 2]), 0)["mask"]
    assert torch.equal(v0, v1) and not torch.equal(v0, e0)


def test_mixture_reports_the_type_of_each_mask():
    dm = InpaintDataModule(masks="aim_mixed", image_size=64)
    out = with_trainer(dm, FakeTrainer(False)).on_after_batch_transfer(batch_of(list(range(12))), 0)
    assert set(out["mask_type"]) <= {"aim_box", "aim_cellular_automata", "aim_free_form"}
    assert len(set(out["mask_type"])) > 1


def test_masks_already_present_are_kept():
    dm = InpaintDataModule(masks="aim_box", image_size=64)
    batch = batch_of([0, 1])
    batch["mask"] = torch.ones(2, 1, 64, 64)
    out = with_trainer(dm, FakeTrainer(True)).on_after_batch_transfer(batch, 0)
    assert torch.equal(out["mask"], torch.ones(2, 1, 64, 64)) and out["mask_type"] == ["file", "file"]


@pytest.mark.parametrize("other_channel, channels", [(True, 52), (False, 51)])
def test_semantic_labels_expand_to_one_hot_on_the_device(other_channel, channels):
    dm = InpaintDataModule(masks="aim_box", image_size=8, dataset_options={"other_channel": other_channel})
    batch = batch_of([0], size=8)
    labels = torch.randint(0, 52, (1, 8, 8), dtype=torch.uint8)
    batch["seg_labels"] = labels
    out = with_trainer(dm, FakeTrainer(True)).on_after_batch_transfer(batch, 0)
    assert "seg_labels" not in out and out["seg"].shape == (1, channels, 8, 8)
    if other_channel:
        assert torch.equal(out["seg"].argmax(1), labels.long())
    else:
        assert torch.equal(out["seg"].sum(1), (labels > 0).float())


def test_raw_seg_colours_reach_the_model_as_float_colours_over_255():
    """``data.seg_encoding: ade_rgb``: the dataset's ``seg_rgb`` becomes ``seg`` = colours / 255 in the image's dtype
    (the official ``ToTensor``): the data module decodes, the model only checks the channel count."""
    dm = InpaintDataModule(masks="aim_box", image_size=8)
    batch = batch_of([0, 1], size=8)
    colours = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    batch["seg_rgb"] = colours
    out = with_trainer(dm, FakeTrainer(True)).on_after_batch_transfer(batch, 0)
    assert "seg_rgb" not in out and out["seg"].dtype == out["image"].dtype
    assert torch.equal(out["seg"], colours.float() / 255)


def test_raw_seg_colours_need_semantic_and_real_seg_files():
    with pytest.raises(ValueError, match="data.semantic: true"):
        InpaintDataModule(dataset="ade20k", seg_encoding="ade_rgb")
    with pytest.raises(ValueError, match="sample dataset"):
        InpaintDataModule(dataset="sample", semantic=True, seg_encoding="ade_rgb")
    with pytest.raises(ValueError, match="seg_encoding"):
        InpaintDataModule(semantic=True, seg_encoding="rgb")


def test_bad_mask_spec_fails_at_construction():
    with pytest.raises((ValueError, KeyError), match="aim_box"):
        InpaintDataModule(masks="no_such_generator")


def test_sample_data_loads_and_batches():
    dm = InpaintDataModule(dataset="sample", image_size=32, batch_size=2, num_workers=0, masks="aim_box",
                           val_length=3)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (2, 3, 32, 32) and batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert len(dm.val_dataloader().dataset) == 3


def test_sample_data_gives_track2_maps_aligned_with_the_crop():
    dm = InpaintDataModule(dataset="sample", image_size=32, batch_size=2, num_workers=0, masks="aim_box",
                           semantic=True)
    dm.setup("fit")
    batch = with_trainer(dm, FakeTrainer(True)).on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert batch["seg"].shape == (2, 52, 32, 32) and torch.equal(batch["seg"].sum(1), torch.ones(2, 32, 32))
    from datamodules.datasets.sample import stand_in_labels

    assert torch.equal(batch["seg"][0].argmax(0), stand_in_labels(batch["image"][0]).long())


def test_test_image_size_sizes_the_test_split_only():
    dm = InpaintDataModule(dataset="sample", image_size=32, test_image_size=48, eval_batch_size=1, num_workers=0,
                           test_length=1, val_length=1)
    dm.setup("fit")
    dm.setup("test")
    assert dm._datasets["val"][0]["image"].shape == (3, 32, 32)
    assert dm._datasets["test"][0]["image"].shape == (3, 48, 48)
    assert dm.evaluation_settings()["image_size"] == 48
    assert InpaintDataModule(image_size=32).test_image_size == 32  # default: image_size
    with pytest.raises(ValueError, match=r"data\.test_image_size must be an integer >= 1.*got 0"):
        InpaintDataModule(image_size=32, test_image_size=0)


@pytest.mark.parametrize("stage", ["fit", "test"])
def test_test_image_size_is_checked_early_against_the_method(stage, tmp_path):
    """One line naming the option, the value and the sizes the method accepts, in every stage (a sweep trial fits
    and then tests in one run); with native-size evaluation (eval_crop none) it is unused and not checked."""
    from assembly.checks import check_config
    from assembly.errors import UsageError

    config = {"model": {"class_path": "lightning_modules.deepgin.DeepGIN", "init_args": {}},
              "data": {"dataset": "sample", "image_size": 64, "test_image_size": 1000, "batch_size": 2,
                       "num_workers": 0, "masks": "aim_box"}}
    with pytest.raises(UsageError, match=r"^data\.test_image_size = 1000: DeepGIN needs a multiple of 16 .*"
                                         r"e\.g\. 992 or 1008$"):
        check_config(config, stage, [])
    config["data"]["test_image_size"] = 1024
    check_config(config, stage, [])
    config["data"]["test_image_size"] = 0
    with pytest.raises(UsageError, match=r"data\.test_image_size = 0: must be an integer >= 1 \(or null\)"):
        check_config(config, stage, [])
    from PIL import Image

    for split in ("train", "val", "test"):
        (tmp_path / split).mkdir()
        Image.new("RGB", (40, 30)).save(tmp_path / split / "x.png")
    config["data"].update(test_image_size=1000, dataset="folder", data_root=str(tmp_path))
    with pytest.raises(UsageError, match=r"^data\.test_image_size = 1000"):
        check_config(config, stage, [])
    config["data"]["dataset_options"] = {"eval_crop": "none"}  # native size: unused, so not refused
    check_config(config, stage, [])
