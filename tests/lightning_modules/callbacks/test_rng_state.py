"""RNGStateCheckpoint: the global random states travel in the callback state and come back on a resumed fit only;
checkpoints written before the callback existed (states under ``inpaint_suite.rng``) are restored too."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import torch

from lightning_modules.callbacks.rng_state import RNGStateCheckpoint, rng_states


def _draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def _trainer(fn: str):
    return SimpleNamespace(state=SimpleNamespace(fn=fn))


def test_state_round_trips_through_a_weights_only_file_and_restores_on_fit(tmp_path):
    callback = RNGStateCheckpoint()
    torch.save({"callbacks": {callback.state_key: callback.state_dict()}}, tmp_path / "c.ckpt")
    expected = _draws()
    checkpoint = torch.load(tmp_path / "c.ckpt", weights_only=True)
    callback.on_load_checkpoint(_trainer("fit"), None, checkpoint)
    assert _draws() == expected


def test_legacy_checkpoint_states_are_restored_and_test_never_reseeds():
    legacy = {"inpaint_suite": {"d_step_count": 0, "rng": rng_states()}}
    expected = _draws()
    RNGStateCheckpoint().on_load_checkpoint(_trainer("fit"), None, legacy)
    assert _draws() == expected
    RNGStateCheckpoint().on_load_checkpoint(_trainer("test"), None, legacy)
    assert _draws() != expected
