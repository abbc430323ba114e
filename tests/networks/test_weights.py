"""networks.weights: the one error type for unusable weights files, shared by init_from and the backbones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from networks.weights import CheckpointError, CheckpointKeyError, load_weights_file


def test_missing_and_non_torch_files_raise_one_line_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_weights_file(tmp_path / "none.ckpt")
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError) as info:
        load_weights_file(tmp_path / "text.ckpt")
    assert "\n" not in str(info.value) and "text.ckpt" in str(info.value)


def test_exit_codes_are_class_attributes():
    from lightning_modules.nonfinite import NonFiniteLossError

    assert CheckpointError.exit_code == CheckpointKeyError.exit_code == 2
    assert NonFiniteLossError.exit_code == 1
    assert issubclass(CheckpointKeyError, KeyError)


def test_backbone_weights_raise_the_same_error_type(tmp_path):
    from evaluation.pretrained import load_weights

    torch.save({"weight": torch.zeros(2, 2)}, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_weights(nn.Linear(3, 3), path=tmp_path / "w.pth")
