"""``inpaint-suite evaluate`` on tmp folders, including the error cases (exit 2, one line)."""

import csv
import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules.image_io import read_gray, read_rgb
from evaluation.folder import FolderError, ImageReader, match_folders, read_manifest, read_mask
from inpaint_suite.commands.evaluate import main

READER = ImageReader(read_rgb, read_gray)


def _write(root, n=4, size=(20, 24), manifest=None):
    rng = np.random.default_rng(0)
    for d in ("pred", "gt", "masks"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        gt = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        pred = np.clip(gt.astype(int) + rng.integers(-15, 16, gt.shape), 0, 255).astype(np.uint8)
        mask = np.zeros(size, np.uint8)
        mask[: 2 + 3 * i, :10] = 255
        Image.fromarray(gt).save(root / "gt" / f"im{i}.png")
        Image.fromarray(pred).save(root / "pred" / f"im{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"im{i}.png")
    if manifest is not None:
        (root / "masks" / "manifest.json").write_text(json.dumps(manifest))
    return root


def _args(root, *extra):
    return ["--pred", str(root / "pred"), "--gt", str(root / "gt"), "--masks", str(root / "masks"),
            "--no-progress", "--bootstrap", "50", *extra]


def test_cli_writes_json_csv_and_table(tmp_path, capsys):
    root = _write(tmp_path, manifest={"hash": "abc123", "name": "test-masks",
                                      "mask_types": {"im0.png": "box", "im1.png": "box", "im2": "brush",
                                                     "im3": "brush"}})
    code = main(_args(root, "--metrics", "psnr,ssim", "l1", "l1_hole", "l1_rel", "--json", str(tmp_path / "r.json"),
                      "--csv", str(tmp_path / "r.csv")))
    assert code == 0
    out = capsys.readouterr().out
    assert "psnr" in out and "abc123" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["settings"]["mask_set_hash"] == "abc123"
    assert report["settings"]["num_images"] == 4 and report["settings"]["image_size"] == [20, 24]
    assert set(report["mask_types"]) == {"box", "brush"}
    assert report["mask_types"]["box"]["n"] == 2
    # the folder numbers equal a direct computation on the files
    from evaluation.metrics import psnr

    def read(p):
        return torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()).permute(2, 0, 1)

    expected = torch.stack([psnr(read(root / "pred" / f"im{i}.png")[None], read(root / "gt" / f"im{i}.png")[None])
                            for i in range(4)]).mean()
    assert report["overall"]["metrics"]["psnr"]["mean"] == pytest.approx(float(expected))
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert {r["metric"] for r in rows} == {"psnr", "ssim", "l1", "l1_hole", "l1_rel"}
    assert any(r["section"] == "bucket" for r in rows) and any(r["section"] == "mask_type" for r in rows)


def test_cli_fid_and_lpips_with_stand_in_networks(tmp_path, monkeypatch, capsys):
    from torch import nn

    import evaluation.collection as collection_module

    class Tiny(nn.Module):
        num_features = 3

        def forward(self, x):
            return x.float().mean(dim=(2, 3)) + torch.arange(3.0) * x.float().std(dim=(2, 3))

    monkeypatch.setattr(collection_module, "build_feature_extractor", lambda *a, **k: Tiny())
    root = _write(tmp_path, n=5, size=(64, 64))  # AlexNet needs more than ~32 px
    assert main(_args(root, "--metrics", "lpips", "fid", "--lpips-weights", "random", "--json",
                      str(tmp_path / "r.json"), "--quiet")) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["overall"]["metrics"]["fid"]["mean"] >= 0
    assert report["overall"]["metrics"]["lpips"]["mean"] > 0


def test_missing_and_extra_files(tmp_path, capsys):
    root = _write(tmp_path, n=4)
    (root / "pred" / "im3.png").unlink()
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(root / "gt" / "extra.png")
    assert main(_args(root, "--metrics", "psnr")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "im3" in err and "extra" in err and "--allow-missing" in err
    assert main(_args(root, "--metrics", "psnr", "--allow-missing", "--json", str(tmp_path / "r.json"))) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["settings"]["num_images"] == 3
    assert report["settings"]["skipped_unmatched"] == {"pred": 0, "gt": 2, "masks": 1}


def test_size_mismatch_names_the_file(tmp_path, capsys):
    root = _write(tmp_path, n=3)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "pred" / "im1.png")
    assert main(_args(root, "--metrics", "psnr")) == 2
    err = capsys.readouterr().err
    assert "im1" in err and "size mismatch" in err


def test_fid_needs_two_images(tmp_path, capsys):
    root = _write(tmp_path, n=1)
    assert main(_args(root, "--metrics", "fid")) == 2
    assert "at least 2 images" in capsys.readouterr().err


def test_missing_weights_names_url_and_cache_path(tmp_path, monkeypatch, capsys):
    import urllib.error

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    root = _write(tmp_path, n=2)
    assert main(_args(root, "--metrics", "lpips")) == 2
    err = capsys.readouterr().err
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in err
    assert str(tmp_path / "th" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in err


def test_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["--pred", "x"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    root = _write(tmp_path, n=2)
    assert main(_args(root, "--metrics", "psnr,fdi")) == 2
    assert "fdi" in capsys.readouterr().err
    assert main(["--pred", str(tmp_path / "nope"), "--gt", str(root / "gt"), "--masks", str(root / "masks")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_mask_polarity_manifest_layouts_and_stem_matching(tmp_path):
    Image.fromarray(np.array([[0, 255], [200, 100]], np.uint8)).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png", READER)[0].flatten().tolist() == [0, 1, 1, 0]
    assert read_mask(tmp_path / "m.png", READER, "black")[0].flatten().tolist() == [1, 0, 0, 1]
    (tmp_path / "manifest.json").write_text(json.dumps({"masks": [{"file": "a.png", "type": "box"}]}))
    info = read_manifest(tmp_path)
    assert info["mask_types"] == {"a": "box"} and info["hash"].startswith("sha256:")
    root = _write(tmp_path / "set", n=2)
    Image.open(root / "gt" / "im0.png").save(root / "gt" / "im0.jpg")
    (root / "gt" / "im0.png").unlink()
    pairs, _ = match_folders(root / "pred", root / "gt", root / "masks")
    assert [p.gt.name for p in pairs] == ["im0.jpg", "im1.png"]
    Image.open(root / "gt" / "im1.png").save(root / "gt" / "im0.png")
    with pytest.raises(FolderError, match="two images named 'im0'"):
        match_folders(root / "pred", root / "gt", root / "masks")


def test_protocol_sets_metrics_and_options_explicit_flags_win(tmp_path):
    root = _write(tmp_path, n=3)
    assert main(_args(root, "--protocol", "aotgan", "--metrics", "l1_rel", "ssim", "--json",
                      str(tmp_path / "a.json"), "--quiet")) == 0
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["settings"]["protocol"] == "aotgan"
    assert report["settings"]["ssim"]["preset"] == "skimage_default"
    assert main(_args(root, "--protocol", "aotgan", "--metrics", "ssim", "--ssim-preset", "lama", "--json",
                      str(tmp_path / "b.json"), "--quiet")) == 0
    assert json.loads((tmp_path / "b.json").read_text())["settings"]["ssim"]["preset"] == "lama"


def test_evaluator_from_protocol():
    from evaluation import InpaintingEvaluator

    ev = InpaintingEvaluator.from_protocol("aotgan", metrics=["psnr", "ssim"])
    assert ev.ssim_preset == "skimage_default" and ev.metric_names == ["psnr", "ssim"]


def test_torch_fidelity_backend_unavailable_is_a_clean_error(tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m.split(".")[0] == "torch_fidelity"] + ["torch_fidelity"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if absent (None makes its import fail)
    root = _write(tmp_path, n=2)
    assert main(_args(root, "--metrics", "fid", "--fid-backend", "torch-fidelity")) == 2
    assert "torch-fidelity" in capsys.readouterr().err


def test_groups_of_one_image_show_no_interval(tmp_path, capsys):
    root = _write(tmp_path, n=4)  # hole ratios 4 %, 10.4 %, 16.7 %, 22.9 %: buckets of 1, 2 and 1 images
    assert main(_args(root, "--metrics", "psnr", "--json", str(tmp_path / "r.json"))) == 0
    rows = {line.split("│")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.count("│") >= 3}
    assert "±" not in rows["0-10%"] and "±" not in rows["20-30%"]
    assert "±" in rows["10-20%"] and "±" in rows["all"]
    buckets = json.loads((tmp_path / "r.json").read_text())["buckets"]
    assert buckets["0-10%"]["n"] == 1 and buckets["0-10%"]["metrics"]["psnr"]["ci95"] is None
    lo, hi = buckets["10-20%"]["metrics"]["psnr"]["ci95"]
    assert lo < hi
    rows_csv = (tmp_path / "r.csv")
    assert main(_args(root, "--metrics", "psnr", "--quiet", "--csv", str(rows_csv))) == 0
    one = next(r for r in csv.DictReader(rows_csv.open()) if r["group"] == "0-10%")
    assert one["ci95_low"] == one["ci95_high"] == "" and one["std"] == ""
