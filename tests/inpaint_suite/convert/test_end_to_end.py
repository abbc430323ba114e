"""Converted (random) official weights in use: ``predict`` on the real example photos, one ``fit`` step from
``init_from``, and each module's ``generate()`` against the official inference pre/post-processing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from assembly.config import build_model, load_config
from inpaint_suite.cli import main
from inpaint_suite.convert import converter


@pytest.fixture(scope="module")
def converted(tmp_path_factory, official_files):
    """``{method: path}`` of converted checkpoints (random official values)."""
    root = tmp_path_factory.mktemp("converted")
    out = {}
    for method, g, d in (("aotgan", "aotgan_generator", "aotgan_discriminator"), ("madf", "madf_generator", None),
                         ("deepgin", "deepgin_generator", "deepgin_discriminator")):
        args = ["convert", method, str(official_files[g][0]), "--out", str(root / f"{method}.ckpt")]
        if d:
            args += ["--discriminator", str(official_files[d][0])]
        assert main(args) == 0
        out[method] = root / f"{method}.ckpt"
    return out


@pytest.fixture(scope="module")
def converted_track2(tmp_path_factory, official_files):
    """The converted (random) official DeepGIN Track 2 G (7 input channels) with the (unchanged) D."""
    out = tmp_path_factory.mktemp("converted_track2") / "gin_sg.ckpt"
    assert main(["convert", "deepgin", str(official_files["deepgin_generator_track2"][0]), "--discriminator",
                 str(official_files["deepgin_discriminator"][0]), "--variant", "track2", "--out", str(out)]) == 0
    return out


def module_for(method: str, weights=None, variant: str | None = None):
    args = converter(method).model_args(variant or converter(method).VARIANTS[0])
    module = build_model(load_config(method)["model"], {"vgg_weights": "random", **args})
    if weights is not None:
        module.load_generator_weights(str(weights))
    return module.eval()


# ------------------------------------------------------------------------------------------------ predict
def test_predict_aotgan_examples_with_converted_weights(tmp_path, fixtures_dir, converted):
    for name in ("face", "object"):
        folder = fixtures_dir / "aotgan_examples" / name
        image = sorted((folder / "image").iterdir())[0]
        mask = folder / "mask" / image.name
        out = tmp_path / f"{name}.png"
        code = main(["predict", "--method", "aotgan", "--weights", str(converted["aotgan"]), "--image", str(image),
                     "--mask", str(mask), "--out", str(out), "--base-size", "64"])
        assert code == 0
        photo = np.asarray(Image.open(image).convert("RGB"))
        hole = np.asarray(Image.open(mask).convert("L")) >= 128
        result = np.asarray(Image.open(out))
        assert result.shape == photo.shape
        assert np.array_equal(result[~hole], photo[~hole])
        assert not np.array_equal(result[hole], photo[hole])


@pytest.mark.slow  # the 85 M-parameter MADF generator
def test_predict_madf_examples_with_converted_weights(tmp_path, fixtures_dir, converted):
    folder = fixtures_dir / "madf_examples" / "places2"
    out = tmp_path / "case1.png"
    # MADF example masks are white where the pixel is KNOWN (the official polarity): --mask-polarity black
    code = main(["predict", "--method", "madf", "--weights", str(converted["madf"]), "--image",
                 str(folder / "case1.png"), "--mask", str(folder / "case1_mask.png"), "--mask-polarity", "black",
                 "--out", str(out), "--base-size", "128"])
    assert code == 0
    photo = np.asarray(Image.open(folder / "case1.png").convert("RGB"))
    hole = np.asarray(Image.open(folder / "case1_mask.png").convert("L")) < 128
    result = np.asarray(Image.open(out))
    assert np.array_equal(result[~hole], photo[~hole]) and hole.any()


# ------------------------------------------------------------------------------------------------ fine-tuning
@pytest.mark.slow  # one full-size AOT-GAN step on 64 px (VGG19 + G + D)
def test_fit_one_step_starts_from_converted_weights(tmp_path, converted):
    ckpt_dir = tmp_path / "ck"
    code = main(["fit", "--config", "aotgan_smoke", "--model.init_args.init_from", str(converted["aotgan"]),
                 "--trainer.max_steps", "1", "--trainer.default_root_dir", str(tmp_path),
                 "--trainer.enable_checkpointing", "true", "--trainer.callbacks+=ModelCheckpoint",
                 f"--trainer.callbacks.dirpath={ckpt_dir}", "--trainer.callbacks.every_n_train_steps=1"])
    assert code == 0
    after = torch.load(next(ckpt_dir.glob("*.ckpt")), map_location="cpu", weights_only=False)["state_dict"]
    start = torch.load(converted["aotgan"], weights_only=True)["state_dict"]
    moved = 0.0
    for key, value in start.items():
        if key.endswith(("._u", "._v")):
            continue  # power-iteration vectors advance on every D forward
        diff = (after[key] - value).abs().max().item()
        assert diff < 1e-3, key  # one Adam step at lr 1e-4 moves a weight by ~1e-4; a fresh init differs by ~1e-2
        moved = max(moved, diff)
    assert moved > 0  # and it did train


# ------------------------------------------------------------------------------------------------ preprocessing
def _image_and_mask(size: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, size, size, generator=gen) * 2 - 1
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4: size // 2, size // 8: 3 * size // 4] = 1
    return image, mask


def test_aotgan_generate_matches_the_official_inference(converted):
    """src/test.py: RGB in [-1, 1]; image_masked = image * (1 - mask) + mask (holes white); G(cat[x, mask])."""
    module = module_for("aotgan", converted["aotgan"])
    image, mask = _image_and_mask(64)
    g = module.generator
    with torch.no_grad():
        x = torch.cat([image * (1 - mask) + mask, mask], dim=1)
        official = torch.tanh(g.decoder(g.blocks(g.encoder(x))))
        ours = module.generate({"image": image, "mask": mask})["output"]
    assert torch.allclose(ours, official, atol=1e-6)


@pytest.mark.slow
def test_madf_generate_matches_the_official_inference(converted):
    """test.py: RGB, ToTensor + Normalize(ImageNet mean/std); mask 1 = KNOWN (3 channels); input = gt * mask;
    output outputs[-1] in normalised space (unnormalize for saving)."""
    module = module_for("madf", converted["madf"])
    image, hole = _image_and_mask(128)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        gt = ((image + 1) / 2 - mean) / std
        valid = (1 - hole).expand(-1, 3, -1, -1)
        official = module.generator(gt * valid, valid)[-1] * std + mean
        ours = module.generate({"image": image, "mask": hole})["output"]
    assert torch.allclose(ours, official * 2 - 1, atol=1e-5)


def test_deepgin_generate_matches_the_official_inference(converted):
    """test_ensemble.py: RGB ToTensor in [0, 1]; the AIM input has white holes, mask 1 = hole; ImageTinker2.forward
    with real_img=None: coarse on [masked, mask], G2 on the composited coarse, back-projection; saves reconst_img."""
    module = module_for("deepgin", converted["deepgin"])
    image, mask = _image_and_mask(64)
    g = module.generator
    with torch.no_grad():
        rimg = (image + 1) / 2 * (1 - mask) + mask  # "*_with_holes.png": holes white
        lr_x = g.coarse(torch.cat([rimg, mask], 1))
        hr_x = lr_x * mask + rimg * (1 - mask)
        d5, alpha, lr_img = g.refine(torch.cat([hr_x, mask], 1))
        d5 = d5 * mask + rimg * (1 - mask)
        down = F.interpolate(d5, scale_factor=0.25, mode="bilinear", align_corners=True)
        official = d5 + F.interpolate(lr_img - down, scale_factor=4, mode="bilinear", align_corners=True) * alpha
        ours = module.generate({"image": image, "mask": mask})["output"]
    assert torch.allclose(ours, official * 2 - 1, atol=1e-5)


# ------------------------------------------------------------------------------------------------ DeepGIN Track 2
def test_deepgin_track2_generate_matches_the_official_inference(converted_track2):
    """gin-sg ImageTinker2.forward(real_img=None): G1 on cat[rimg (white holes), mask, seg], G2 on cat[coarse
    composited, mask, seg]; seg = the *_seg.png read as RGB by ToTensor (uint8 / 255, all three channels)."""
    module = module_for("deepgin", converted_track2, variant="track2")
    assert (module.semantic_channels, module.seg_encoding) == (3, "ade_rgb")
    image, mask = _image_and_mask(64)
    colours = torch.randint(0, 256, (1, 3, 64, 64), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    g = module.generator
    with torch.no_grad():
        seg = colours.float() / 255  # transforms.ToTensor
        rimg = (image + 1) / 2 * (1 - mask) + mask
        lr_x = g.coarse(torch.cat([rimg, mask, seg], 1))
        hr_x = lr_x * mask + rimg * (1 - mask)
        d5, alpha, lr_img = g.refine(torch.cat([hr_x, mask, seg], 1))
        d5 = d5 * mask + rimg * (1 - mask)
        down = F.interpolate(d5, scale_factor=0.25, mode="bilinear", align_corners=True)
        official = d5 + F.interpolate(lr_img - down, scale_factor=4, mode="bilinear", align_corners=True) * alpha
        # what data.seg_encoding: ade_rgb delivers (datamodules.datamodule.seg_from_colours)
        ours = module.generate({"image": image, "mask": mask, "seg": seg})["output"]
        other = module.generate({"image": image, "mask": mask, "seg": seg.flip(1)})["output"]
    assert torch.allclose(ours, official * 2 - 1, atol=1e-5)
    assert not torch.allclose(ours, other, atol=1e-3)  # the map is really read


def _ade_photo(fixtures_dir, name="ADE_train_00000976"):
    root = fixtures_dir / "ade20k_full"
    if not root.is_dir():
        pytest.skip(f"ADE20K fixture not found at {root}")
    image = next(root.rglob(f"{name}.jpg"))
    return image, image.with_name(f"{name}_seg.png")


def _box_mask(path, h, w):
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4: h // 2, w // 5: 3 * w // 5] = 255
    Image.fromarray(mask).save(path)
    return mask >= 128


def test_predict_track2_with_seg_on_a_real_ade_photo(tmp_path, fixtures_dir, converted_track2):
    """``predict --seg`` with the converted Track-2 weights: any size through CRA (seg resized nearest), known
    pixels kept; at the base size the output is ``generate()`` on the seg colours / 255."""
    image, seg = _ade_photo(fixtures_dir)
    photo = np.asarray(Image.open(image).convert("RGB"))
    hole = _box_mask(tmp_path / "mask.png", *photo.shape[:2])
    args = ["predict", "--config", "deepgin_track2_official", "--weights", str(converted_track2),
            "--mask", str(tmp_path / "mask.png"), "--base-size", "64"]
    out = tmp_path / "out.png"
    assert main(args + ["--image", str(image), "--seg", str(seg), "--out", str(out)]) == 0
    result = np.asarray(Image.open(out))
    assert result.shape == photo.shape
    assert np.array_equal(result[~hole], photo[~hole]) and not np.array_equal(result[hole], photo[hole])

    # direct path (a 64x64 cut of the photo and its map): exactly the module on [image, mask, seg colours]
    colours = np.asarray(Image.open(seg).convert("RGB"))
    Image.fromarray(photo[:64, :64].copy()).save(tmp_path / "cut.png")
    Image.fromarray(colours[:64, :64].copy()).save(tmp_path / "cut_seg.png")
    cut_hole = _box_mask(tmp_path / "cut_mask.png", 64, 64)
    direct = ["predict", "--config", "deepgin_track2_official", "--weights", str(converted_track2),
              "--base-size", "64", "--image", str(tmp_path / "cut.png"), "--mask", str(tmp_path / "cut_mask.png"),
              "--out", str(tmp_path / "cut_out.png")]
    assert main(direct + ["--seg", str(tmp_path / "cut_seg.png")]) == 0
    module = build_model(load_config("deepgin_track2_official")["model"],
                         {"vgg_weights": "random", **converter("deepgin").model_args("track2")})
    module.load_generator_weights(str(converted_track2))
    module.eval()
    x = torch.from_numpy(photo[:64, :64].copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    m = torch.from_numpy(cut_hole.astype(np.float32))[None, None]
    with torch.no_grad():
        ref = module.generate({"image": x, "mask": m, "seg": torch.from_numpy(colours[:64, :64].copy())
                               .permute(2, 0, 1)[None].float() / 255})["output"]  # as the data module decodes
    ref = ((ref * m + x * (1 - m))[0].clamp(-1, 1) + 1) * 127.5
    expected = ref.round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "cut_out.png")), expected)


def test_predict_track2_without_seg_or_with_a_wrong_seg_exits_2(tmp_path, fixtures_dir, converted_track2, capsys):
    image, seg = _ade_photo(fixtures_dir)
    photo = np.asarray(Image.open(image).convert("RGB"))
    _box_mask(tmp_path / "mask.png", *photo.shape[:2])
    args = ["predict", "--config", "deepgin_track2_official", "--weights", str(converted_track2), "--image",
            str(image), "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "o.png"), "--base-size", "64"]
    assert main(args) == 2
    assert "--seg" in capsys.readouterr().err
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "small_seg.png")
    assert main(args + ["--seg", str(tmp_path / "small_seg.png")]) == 2
    assert "small_seg.png" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_predict_seg_for_a_model_without_semantic_input_exits_2(tmp_path, fixtures_dir, capsys):
    image, seg = _ade_photo(fixtures_dir)
    photo = np.asarray(Image.open(image).convert("RGB"))
    _box_mask(tmp_path / "mask.png", *photo.shape[:2])
    assert main(["predict", "--method", "tiny", "--random-weights", "--image", str(image), "--seg", str(seg),
                 "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "o.png"), "--base-size", "64"]) == 2
    assert "--seg" in capsys.readouterr().err


def test_predict_seg_for_a_one_hot_model_uses_the_datamodule_mapping(fixtures_dir, tmp_path):
    """``seg_encoding: labels``: --seg goes through the ADE datamodule's decoding (mapFromADE → 51 + other)."""
    from datamodules.datasets.ade20k_labels import SegDecoder, one_hot, parse_map_from_ade
    from inpaint_suite.commands.predict import read_seg

    image, seg = _ade_photo(fixtures_dir)
    (tmp_path / "map.txt").write_text("1\t2978\n2\t312\n3\t2420\n5\t2855\n10\t1125\n")
    shape = np.asarray(Image.open(seg)).shape[:2]
    got = read_seg(str(seg), shape, "labels", 52, str(tmp_path / "map.txt"))
    labels = SegDecoder("ade_full_rgb", parse_map_from_ade(tmp_path / "map.txt"))(seg)
    assert torch.equal(got[0], one_hot(labels)) and got.shape == (1, 52, *shape)
    assert read_seg(str(seg), shape, "labels", 51, str(tmp_path / "map.txt")).shape == (1, 51, *shape)
    raw = read_seg(str(seg), shape, "ade_rgb", 3)
    # decoded as the data module decodes ade_rgb: the colours / 255
    assert raw.dtype == torch.float32 and np.array_equal((raw[0] * 255).round().byte().permute(1, 2, 0).numpy(),
                                                         np.asarray(Image.open(seg).convert("RGB")))


def _ade_run_args(tmp_path, fixtures_dir) -> list[str]:
    """A full-layout ADE20K tree (symlinks to the 4 fixture photos + seg maps, also as the validation split) and the
    data options of a small run of ``deepgin_track2_official`` on it (64 px, no downloads)."""
    src = fixtures_dir / "ade20k_full" / "ADE20K_2016_07_26" / "images" / "training"
    if not src.is_dir():
        pytest.skip(f"ADE20K fixture not found at {src}")
    root = tmp_path / "ade" / "ADE20K_2016_07_26" / "images"
    for part in ("training", "validation"):
        for image in sorted(src.glob("*/*/*.jpg")):
            scene = root / part / image.parent.parent.name / image.parent.name
            scene.mkdir(parents=True, exist_ok=True)
            stem = image.stem if part == "training" else image.stem.replace("train", "val")
            (scene / f"{stem}.jpg").symlink_to(image)
            (scene / f"{stem}_seg.png").symlink_to(image.with_name(image.stem + "_seg.png"))
    options = {"subset": "aim2020", "aim_list": str(fixtures_dir / "aim2020_lists" / "new_image_names.txt"),
               "eval_filter": False}
    return ["--config", "deepgin_track2_official", "--model.init_args.vgg_weights", "random",
            "--data.data_root", str(tmp_path / "ade"), "--data.image_size", "64", "--data.num_workers", "0",
            f"--data.dataset_options={options}", "--trainer.logger", "false", "--trainer.accelerator", "cpu",
            "--trainer.default_root_dir", str(tmp_path)]


@pytest.mark.slow  # the 43 M-parameter G with the x5 self-ensemble on 2 images
def test_test_evaluates_converted_track2_weights_given_by_init_from(tmp_path, fixtures_dir, converted_track2):
    """``test --config deepgin_track2_official --model.init_args.init_from W``: the evaluation harness on the ADE
    fixture with the raw seg colours (a converted file has no Lightning metadata, so it is not a --ckpt_path)."""
    import json

    code = main(["test", *_ade_run_args(tmp_path, fixtures_dir), "--model.init_args.init_from", str(converted_track2),
                 "--model.init_args.test_metrics", "[psnr, l1]", "--data.eval_batch_size", "2"])
    assert code == 0
    report = json.loads(next(tmp_path.rglob("test_report.json")).read_text())
    assert report["settings"]["num_images"] == 2 and report["overall"]["metrics"]["psnr"]["mean"] > 0


@pytest.mark.slow  # one GAN step of the 43 M-parameter G + D + VGG19 on 3 samples of 64 px
def test_fit_one_step_of_the_official_track2_config_from_converted_weights(tmp_path, fixtures_dir, converted_track2):
    """``fit --config deepgin_track2_official`` on the real ADE fixture (raw seg colours, 3 masks per image) starts
    from the converted Track-2 G and D and takes one step."""
    ckpt_dir = tmp_path / "ck"
    code = main(["fit", *_ade_run_args(tmp_path, fixtures_dir), "--model.init_args.init_from", str(converted_track2),
                 "--model.init_args.vgg_resize", "null", "--data.batch_size", "1", "--data.val_length", "1",
                 "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0",
                 "--trainer.callbacks+=ModelCheckpoint", f"--trainer.callbacks.dirpath={ckpt_dir}",
                 "--trainer.callbacks.every_n_train_steps=1"])
    assert code == 0
    after = torch.load(next(ckpt_dir.glob("*.ckpt")), map_location="cpu", weights_only=False)["state_dict"]
    start = torch.load(converted_track2, weights_only=True)["state_dict"]
    moved = 0.0
    for key, value in start.items():
        if key.endswith(("._u", "._v")):
            continue
        diff = (after[key] - value).abs().max().item()
        assert diff < 1e-3, key
        moved = max(moved, diff)
    assert moved > 0
    assert after["generator.coarse.encoder.0.1.weight"].shape[1] == 7  # [image, mask, seg colours]
