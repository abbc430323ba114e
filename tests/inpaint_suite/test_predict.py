"""``inpaint-suite predict --image``: any size through CRA, known pixels untouched, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inpaint_suite.cli import main


def write_pair(tmp_path, h=96, w=160):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[30:60, 40:100] = 255
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return photo, mask


@pytest.mark.parametrize("base", [64, 96])
def test_predict_any_size_keeps_known_pixels(tmp_path, base):
    photo, mask = write_pair(tmp_path)
    out = tmp_path / "out.png"
    code = main(["predict", "--method", "tiny", "--random-weights", "--image", str(tmp_path / "photo.png"),
                 "--mask", str(tmp_path / "mask.png"), "--out", str(out), "--base-size", str(base)])
    assert code == 0
    result = np.asarray(Image.open(out))
    assert result.shape == photo.shape
    known = mask == 0
    assert np.array_equal(result[known], photo[known])
    assert not np.array_equal(result[~known], photo[~known])


def test_predict_on_a_real_aim_validation_photo(tmp_path, fixtures_dir):
    folder = fixtures_dir / "aim2020_validation"
    out = tmp_path / "out.png"
    code = main(["predict", "--method", "tiny", "--random-weights", "--base-size", "64",
                 "--image", str(folder / "AIM_IC_t1_validation_0_with_holes.png"),
                 "--mask", str(folder / "AIM_IC_t1_validation_0_mask.png"), "--out", str(out)])
    assert code == 0 and out.is_file()


def test_predict_bad_inputs_exit_2(tmp_path, capsys):
    write_pair(tmp_path)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small_mask.png")
    args = ["predict", "--method", "tiny", "--random-weights", "--image", str(tmp_path / "photo.png"),
            "--out", str(tmp_path / "o.png")]
    assert main(args + ["--mask", str(tmp_path / "small_mask.png")]) == 2
    assert "small_mask.png" in capsys.readouterr().err
    (tmp_path / "broken.png").write_bytes(b"not a png")
    bad = ["predict", "--method", "tiny", "--random-weights", "--image", str(tmp_path / "broken.png"),
           "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "o.png")]
    assert main(bad) == 2
    assert "broken.png" in capsys.readouterr().err
    assert main(["predict", "--method", "nope", "--random-weights", "--image", str(tmp_path / "photo.png"),
                 "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "o.png")]) == 2


# ------------------------------------------------------------------------------------------------ --pipeline official
def _pipelines():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "convert" / "official_reference" / "pipelines.py"
    spec = importlib.util.spec_from_file_location("official_pipelines", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pattern(h: int, w: int, seed: int = 0):
    import torch

    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


class StandInDeepGIN:
    """A stand-in network for the pipeline around it: position-dependent (not transpose- or rotation-equivariant)
    and reading the image and the mask. ``_run`` is what our pipeline calls; ``official`` the script's model call."""

    semantic_channels = 0

    def __init__(self, reads_input: bool = True):
        self.reads_input = reads_input
        self.pattern = _pattern(256, 256)
        self.calls = 0

    def net(self, image01, mask):
        out = self.pattern.clone()
        if self.reads_input:
            out = 0.6 * out + 0.5 * image01.roll(7, dims=-1) - 0.3 * mask
        return out * 1.2 - 0.1  # some values outside [0, 1]: the uint8 clip matters

    def _run(self, image01, mask, seg):
        self.calls += 1
        return {"output": self.net(image01 * (1 - mask) + mask, mask)}  # DeepGINGenerator fills holes white

    def official(self, masked_img, mask):
        out = self.net(masked_img, mask)
        return out, out, out


def test_official_deepgin_pipeline_is_test_ensemble_on_the_real_aim_photos(fixtures_dir):
    """256 px photo: one transposed tile x 5 ensemble members, exactly as the script (input read by the network);
    600x400 photo: resized to 512x512, 4 tiles, back, blur, soft composite (a network that ignores its input, since
    the script feeds the bicubic soft mask where ours feeds mask > 0)."""
    import numpy as np
    from PIL import Image

    from inpaint_suite.commands.predict import official_deepgin

    ref = _pipelines()
    folder = fixtures_dir / "aim2020_validation"
    for index, reads_input, tiles in ((0, True, 1), (18, False, 4)):
        image, mask = (folder / f"AIM_IC_t1_validation_{index}_with_holes.png",
                       folder / f"AIM_IC_t1_validation_{index}_mask.png")
        net = StandInDeepGIN(reads_input)
        expected = ref.deepgin_test_ensemble(net.official, image, mask)
        photo = np.asarray(Image.open(image).convert("RGB"))
        hole = np.asarray(Image.open(mask).convert("L"))
        ours = official_deepgin(net, photo, hole)
        assert net.calls == 5 * tiles
        assert ours.shape == photo.shape and np.array_equal(ours, expected), (index, np.abs(
            ours.astype(int) - expected).max())
        assert np.array_equal(ours[hole == 0], photo[hole == 0])  # the soft composite keeps known pixels
    # the transposed tile matters: a 256 px photo fed untransposed comes out different
    net = StandInDeepGIN()
    files = folder / "AIM_IC_t1_validation_0_with_holes.png", folder / "AIM_IC_t1_validation_0_mask.png"
    untransposed = ref.deepgin_test_ensemble(lambda x, m: net.official(x.transpose(-2, -1), m.transpose(-2, -1)),
                                             *files)
    assert not np.array_equal(untransposed, ref.deepgin_test_ensemble(net.official, *files))


class StandInAOT:
    def __init__(self):
        self.pattern = _pattern(256, 256, seed=1) * 2 - 1

    def net(self, image_masked, mask):
        return (0.7 * image_masked.flip(-2) + 0.5 * self.pattern[..., : mask.shape[-2], : mask.shape[-1]]
                - 0.4 * mask).clamp(-1.1, 1.1)

    def generate(self, batch):  # AOTGAN.generate: the generator fills the holes with +1 itself
        m = batch["mask"]
        return {"output": self.net(batch["image"] * (1 - m) + m, m)}


def test_official_aotgan_pipeline_runs_at_the_photo_size_and_truncates(fixtures_dir):
    import numpy as np
    from PIL import Image

    from inpaint_suite.commands.predict import official_aotgan

    ref = _pipelines()
    folder = fixtures_dir / "aim2020_validation"
    image, mask = folder / "AIM_IC_t1_validation_0_with_holes.png", folder / "AIM_IC_t1_validation_0_mask.png"
    net = StandInAOT()
    expected = ref.aotgan_test(net.net, image, mask)
    photo = np.asarray(Image.open(image).convert("RGB"))
    hole = np.asarray(Image.open(mask).convert("L")).astype(np.float32) / 255
    ours = official_aotgan(net, photo, hole)
    assert ours.shape == (256, 256, 3) and np.array_equal(ours, expected)


class StandInMADF:
    def net(self, image, mask):  # official: normalised input * mask, 3-channel mask (1 = known)
        return [image * 0.1, (image.flip(-1) * 0.8 + (1 - mask) * 0.7).tanh() * 2]

    def generate(self, batch):  # MADF.generate: [-1, 1] in/out around the normalised network
        import torch

        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        valid = (1 - batch["mask"]).expand(-1, 3, -1, -1)
        out = self.net(((batch["image"] + 1) / 2 - mean) / std * valid, valid)[-1]
        return {"output": (out * std + mean) * 2 - 1}


def test_official_madf_pipeline_reads_white_as_known_and_resizes(fixtures_dir):
    import numpy as np
    from PIL import Image

    from inpaint_suite.commands.predict import official_madf

    ref = _pipelines()
    folder = fixtures_dir / "madf_examples" / "places2"
    image, mask = folder / "case1.png", folder / "case1_mask.png"
    net = StandInMADF()
    photo = np.asarray(Image.open(image).convert("RGB"))
    known = np.asarray(Image.open(mask).convert("L"))
    for size in (512, 256):
        expected = ref.madf_test(net.net, image, mask, size)
        ours = official_madf(net, photo, known, size)
        assert ours.shape == (size, size, 3) and np.array_equal(ours, expected), size
