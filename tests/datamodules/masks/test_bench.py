from __future__ import annotations

import mask_oracles

from datamodules.masks.bench import bench_masks, format_rows


def test_bench_rows_with_and_without_oracle():
    rows = bench_masks(
        {"aim_box": "aim_box", "center_box": {"name": "center_box", "size": "{size}"}},
        batch=4, sizes=(64,), oracles={"aim_box": mask_oracles.aim_box}, oracle_masks=4, repeats=1,
    )
    assert [r["generator"] for r in rows] == ["aim_box", "center_box"]
    assert rows[0]["ours_ms_per_mask"] > 0 and rows[0]["oracle_ms_per_mask"] > 0 and rows[0]["speedup"] > 0
    assert rows[1]["oracle_ms_per_mask"] is None and rows[1]["speedup"] is None
    assert "aim_box" in format_rows(rows)


def test_registry_oracles_follow_the_bench_calling_convention():
    m = mask_oracles.ORACLES["lama_train"](64, 80, seed=3)
    assert m.shape == (64, 80) and set(m.ravel().tolist()) <= {0.0, 1.0}
    assert (m == mask_oracles.ORACLES["lama_train"](64, 80, seed=3)).all()


def test_every_bench_oracle_names_a_registered_generator():
    from datamodules.masks import REGISTRY

    assert set(mask_oracles.ORACLES) <= set(REGISTRY)
    assert {"aim_box", "lama_thick", "mat_large", "deepfill_v2", "hifill_template"} <= set(mask_oracles.ORACLES)
