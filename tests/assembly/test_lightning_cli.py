"""The CLI's wiring of moved responsibilities: converted weights' options (seg encoding as a data option, old
``semantic_encoding`` files too), the linked seg encoding, and the always-installed RNG state callback."""

from __future__ import annotations

import torch

from assembly.config import converted_model_args, data_options_for
from assembly.lightning_cli import build_cli, with_weights_options


def _converted(path, model_init_args):
    torch.save({"state_dict": {}, "inpaint_suite": {"model_init_args": model_init_args}}, path)
    return str(path)


def test_converted_seg_encoding_becomes_data_flags_also_for_files_from_before_the_move(tmp_path):
    for args in ({"semantic_channels": 3, "seg_encoding": "ade_rgb"},
                 {"semantic_channels": 3, "semantic_encoding": "ade_rgb"}):  # written before the data module decoded
        weights = _converted(tmp_path / "w.ckpt", args)
        out = with_weights_options(["fit", "--config", "x.yaml", "--model.init_args.init_from", weights])
        assert out[3:6] == ["--model.init_args.semantic_channels=3", "--data.seg_encoding=ade_rgb",
                            "--data.semantic=true"]
    assert converted_model_args({"semantic_encoding": "onehot"}) == {"seg_encoding": "labels"}
    assert data_options_for({"semantic_channels": 0}) == {}


def test_data_seg_encoding_is_linked_to_the_model_and_rng_state_is_always_installed(tmp_path):
    from lightning_modules.callbacks import ImageGridLogger, RNGStateCheckpoint

    cli = build_cli(["--config", "tiny", "--trainer.max_steps=1", "--trainer.logger=false",
                     f"--trainer.default_root_dir={tmp_path}", "--image_grids.every_n_steps=7"], run=False)
    assert cli.model.seg_encoding == cli.datamodule.seg_encoding == "labels"
    grids = [cb for cb in cli.trainer.callbacks if isinstance(cb, ImageGridLogger)]
    assert len(grids) == 1 and grids[0].every_n_steps == 7
    assert sum(isinstance(cb, RNGStateCheckpoint) for cb in cli.trainer.callbacks) == 1
