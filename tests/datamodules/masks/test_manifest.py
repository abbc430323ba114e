from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from datamodules.masks import build_mask_generator
from datamodules.masks.manifest import (
    content_hash,
    dir_stats,
    export_masks,
    parse_size,
    ratio_stats,
    read_mask_png,
    verify_export,
)


def test_export_writes_pngs_manifest_and_a_reproducible_hash(tmp_path):
    spec = {"name": "lama_train"}
    m1 = export_masks(spec, 64, 12, seed=5, out_dir=tmp_path / "a", batch=5)
    m2 = export_masks(spec, 64, 12, seed=5, out_dir=tmp_path / "b", batch=12)
    m3 = export_masks(spec, 64, 12, seed=6, out_dir=tmp_path / "c")
    assert m1["content_sha256"] == m2["content_sha256"] != m3["content_sha256"]
    assert (tmp_path / "a" / "manifest.json").read_text() == (tmp_path / "b" / "manifest.json").read_text()
    names = sorted(p.name for p in (tmp_path / "a").glob("*.png"))
    assert names == [f"{i:05d}.png" for i in range(12)]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["generator"] == "lama_train" and manifest["seed"] == 5 and manifest["params"]["max_len"] == 200
    # the PNGs are the generator's masks (255 = hole) and the recorded ratios are theirs
    masks = build_mask_generator(spec)(torch.arange(12), 64, 64, seed=5)[:, 0].numpy()
    for f, m in zip(manifest["files"], masks):
        png = read_mask_png(tmp_path / "a" / f["name"])
        assert np.array_equal(png, m) and abs(f["hole_ratio"] - m.mean()) < 1e-6
    assert verify_export(tmp_path / "a")
    assert content_hash(tmp_path / "a") == m1["content_sha256"]
    stats = dir_stats(tmp_path / "a")
    assert stats["n"] == 12 and abs(stats["hole_ratio_mean"] - manifest["stats"]["hole_ratio_mean"]) < 1e-6


def test_tampering_is_detected_and_folders_are_not_mixed(tmp_path):
    export_masks("aim_box", 32, 3, seed=0, out_dir=tmp_path)
    (tmp_path / "00001.png").write_bytes((tmp_path / "00000.png").read_bytes())
    assert not verify_export(tmp_path)
    with pytest.raises(FileExistsError):
        export_masks("aim_box", 32, 3, seed=0, out_dir=tmp_path)


def test_ratio_stats_layout():
    s = ratio_stats([0.05, 0.15, 0.15, 1.0])
    assert s["n"] == 4 and s["histogram"][0] == 0.25 and s["histogram"][1] == 0.5 and s["histogram"][9] == 0.25
    assert abs(s["hole_ratio_mean"] - 0.3375) < 1e-9 and len(s["histogram"]) == 10


def test_parse_size():
    assert parse_size(512) == (512, 512) and parse_size("256x341") == (256, 341) and parse_size([3, 4]) == (3, 4)
    with pytest.raises(ValueError):
        parse_size("0")
