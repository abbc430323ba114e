"""A NaN/Inf loss stops the run with one line naming the step and the term (or skips the step with
``nan_policy=skip``), and the last good checkpoint stays on disk, loadable."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from faults import NaNTiny
from reliability_utils import error_lines, run_cli, tiny_fit_args
from torch.utils.data import DataLoader

from lightning_modules.base import NonFiniteLossError
from lightning_modules.tiny import TinyInpainter


def nan_args(root, data, max_steps, bad_batches, *extra):
    return tiny_fit_args(root, data, max_steps, extra=["--model.class_path=faults.NaNTiny",
                                                       f"--model.init_args.bad_batches={bad_batches}", *extra])


def assert_finite_checkpoint(path, step):
    state = torch.load(path, weights_only=True, map_location="cpu")
    assert state["global_step"] == step
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
    model = TinyInpainter(width=4, vgg_weights="random", perceptual_weight=0.0)
    model.load_generator_weights(str(path))  # weights_only=True, keys match
    return state


@pytest.mark.slow
def test_cli_nan_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path, image_folder):
    # batches 0-3 are good (generator steps 1-4, checkpoints at 2 and 4); batch 4 is the 5th step: l1 = NaN
    result = run_cli(nan_args(tmp_path, image_folder, 6, "[4]"))
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr[-3000:]
    assert "generator step 4" in lines[0] and "l1=nan" in lines[0] and "nan_policy=skip" in lines[0]
    assert_finite_checkpoint(tmp_path / "ckpt" / "last.ckpt", 4)
    assert not (tmp_path / "ckpt" / "epoch=2-step=5.ckpt").exists()


@pytest.mark.slow
def test_cli_nan_policy_skip_skips_the_step_and_finishes(tmp_path, image_folder):
    result = run_cli(nan_args(tmp_path, image_folder, 4, "[2]", "--model.init_args.nan_policy=skip"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skipping step: non-finite generator loss at generator step 2: l1=nan" in result.stdout
    state = assert_finite_checkpoint(tmp_path / "ckpt" / "last.ckpt", 4)
    assert state["inpaint_suite"]["skipped_steps"] == 1
    assert state["inpaint_suite"]["d_step_count"] == 5  # D still stepped on the batch whose G step was skipped


# ------------------------------------------------------------------------------------------------ in process
class Items(torch.utils.data.Dataset):
    def __init__(self, n=8, size=32):
        from helpers import make_batch

        self.batch = make_batch(n, size)

    def __len__(self):
        return self.batch["image"].shape[0]

    def __getitem__(self, i):
        return {"image": self.batch["image"][i], "mask": self.batch["mask"][i], "index": i, "name": f"s{i}"}


def _trainer(tmp_path, max_steps, **kw):
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_train_steps=1)
    return L.Trainer(accelerator="cpu", devices=1, max_steps=max_steps, logger=False, limit_val_batches=0,
                     enable_progress_bar=False, enable_model_summary=False, callbacks=[ckpt],
                     default_root_dir=tmp_path, **kw)


@pytest.mark.parametrize("value", ["inf", "-inf"])
def test_inf_loss_is_named_and_the_previous_step_checkpoint_survives(tmp_path, value):
    model = NaNTiny(bad_batches=[3], bad_value=value, width=4, vgg_weights="random", perceptual_weight=0.0,
                    log_images_every_n_steps=0)
    with pytest.raises(NonFiniteLossError, match=rf"generator step 3: l1={value}"):
        _trainer(tmp_path, 6).fit(model, DataLoader(Items(), batch_size=2))
    assert_finite_checkpoint(tmp_path / "last.ckpt", 3)


def test_nan_in_a_discriminator_term_is_named_too(tmp_path):
    class BadD(TinyInpainter):
        def loss_functions(self):
            fns = super().loss_functions()
            fns["adv_d_hinge"] = lambda x: torch.tensor(math.nan, requires_grad=True)
            return fns

    model = BadD(width=4, vgg_weights="random", perceptual_weight=0.0, log_images_every_n_steps=0)
    with pytest.raises(NonFiniteLossError, match=r"discriminator loss at generator step 0: adv_d=nan"):
        _trainer(tmp_path, 2).fit(model, DataLoader(Items(), batch_size=2))
