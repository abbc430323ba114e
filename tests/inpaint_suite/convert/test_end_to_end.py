"""Converted (random) official weights in use: ``predict`` on the real example photos, one ``fit`` step from
``init_from``, and each module's ``generate()`` against the official inference pre/post-processing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from inpaint_suite.cli import main
from inpaint_suite.config import build_model, load_config
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


def module_for(method: str, weights=None):
    args = converter(method).model_args(converter(method).VARIANTS[0])
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
