"""``kill -9`` during training, then resume from ``last.ckpt``: the final weights equal an uninterrupted run's.

Checkpoints are taken at epoch boundaries (2 generator steps per epoch here): Lightning 2.6 restarts a plain
DataLoader from a fresh shuffle when resuming mid-epoch (it warns "resuming from a checkpoint that ended before
the epoch ended"), so only epoch-boundary checkpoints can give bit-equal runs. The shuffle of the next epoch is
drawn from torch's global generator, which ``RNGStateCheckpoint`` (always installed by the CLI; added by hand to the
in-process Trainers below) saves in ``checkpoint["callbacks"]["RNGStateCheckpoint"]["rng"]`` and restores on
resume (without it the resumed epoch repeats epoch 0's order: see the in-process control test below).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import lightning as L
import pytest
import torch
from reliability_utils import EXE, REPO, child_env, run_cli, tiny_fit_args

from datamodules import InpaintDataModule
from lightning_modules.callbacks.rng_state import RNGStateCheckpoint
from lightning_modules.tiny import TinyInpainter


def assert_same_training_state(a: dict, b: dict) -> None:
    assert a["global_step"] == b["global_step"] and a["epoch"] == b["epoch"]
    assert a["inpaint_suite"]["d_step_count"] == b["inpaint_suite"]["d_step_count"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    differ = [k for k in a["state_dict"] if not torch.equal(a["state_dict"][k], b["state_dict"][k])]
    assert not differ, f"weights differ after resume: {differ[:5]}"
    for opt_a, opt_b in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        for pa, pb in zip(opt_a["state"].values(), opt_b["state"].values(), strict=True):
            assert all(torch.equal(pa[k], pb[k]) for k in pa), "optimizer moments differ after resume"


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, image_folder):
    """Three `inpaint-suite fit` processes: uninterrupted (6 steps), killed with SIGKILL in the middle of epoch 1
    (after the step-2 checkpoint), and the resume of the killed one from its last.ckpt."""
    extra = ["--model.init_args.ema_decay=0.9", "--model.init_args.d_steps_per_g=1", "--data.masks=aim_box"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    marker = tmp_path / "hanging"
    uninterrupted = subprocess.Popen(EXE + tiny_fit_args(whole, image_folder, 6, extra=extra), cwd=REPO,
                                     env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    hang = ["--trainer.callbacks+=faults.HangAfterStep", "--trainer.callbacks.step=3",
            f"--trainer.callbacks.marker={marker}"]
    victim = subprocess.Popen(EXE + tiny_fit_args(killed, image_folder, 6, extra=extra + hang), cwd=REPO,
                              env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 400
        while not marker.exists():
            assert victim.poll() is None, f"the run ended before the fault: {victim.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "the run never reached step 3"
            time.sleep(0.2)
        assert (killed / "ckpt" / "last.ckpt").is_file()
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=60) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
    last = killed / "ckpt" / "last.ckpt"
    assert torch.load(last, weights_only=True, map_location="cpu")["global_step"] == 2  # the epoch-0 checkpoint

    resumed = run_cli(tiny_fit_args(killed, image_folder, 6, extra=extra) + [f"--ckpt_path={last}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert uninterrupted.wait(timeout=600) == 0, uninterrupted.stderr.read()[-3000:]

    a = torch.load(whole / "ckpt" / "last.ckpt", weights_only=True, map_location="cpu")
    b = torch.load(last, weights_only=True, map_location="cpu")
    assert a["global_step"] == 6
    assert "ema.n_averaged" in a["state_dict"] and int(a["state_dict"]["ema.n_averaged"]) == 6
    assert_same_training_state(a, b)


# ------------------------------------------------------------------------------------------------ in process
class Record(L.Callback):
    """Dataset indices of every training batch, in order."""

    def __init__(self) -> None:
        self.indices: list[list[int]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.indices.append(batch["index"].tolist())


def _fit(root, data, max_steps, ckpt_path=None, strip_rng=False, validate=False, random_crops=False, workers=0,
         persistent=True):
    L.seed_everything(0)
    model = TinyInpainter(width=4, vgg_weights="random", perceptual_weight=0.0)
    crop = {"crop": "random_crop"} if random_crops else {"crop": "center_crop", "dataset_options": {"flip": False}}
    dm = InpaintDataModule(dataset="folder", data_root=str(data), image_size=32, batch_size=2, num_workers=workers,
                           persistent_workers=persistent, masks="aim_box", **crop)
    record = Record()
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=root, save_last=True, every_n_train_steps=2, save_top_k=-1)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=max_steps, logger=False,
                        limit_val_batches=1 if validate else 0, check_val_every_n_epoch=1, num_sanity_val_steps=0,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[ckpt, record, RNGStateCheckpoint()], default_root_dir=root)
    if ckpt_path is not None and strip_rng:
        state = torch.load(ckpt_path, weights_only=True)
        del state["callbacks"]["RNGStateCheckpoint"]["rng"]
        torch.save(state, ckpt_path)
    trainer.fit(model, dm, ckpt_path=ckpt_path)
    return model, record.indices


@pytest.mark.parametrize("strip_rng,validate", [(False, False), (False, True), (True, False)],
                         ids=["with_rng_state", "with_validation_each_epoch", "control_without_rng_state"])
def test_resume_at_an_epoch_boundary_repeats_the_shuffle_and_the_weights(tmp_path, image_folder, strip_rng,
                                                                         validate):
    """Validation at the end of each epoch draws from the global generator too (its DataLoader's base seed);
    the resumed run still matches."""
    whole, order = _fit(tmp_path / "a", image_folder, 6, validate=validate)
    _fit(tmp_path / "b", image_folder, 2, validate=validate)
    resumed, rest = _fit(tmp_path / "b", image_folder, 6, ckpt_path=str(tmp_path / "b" / "last.ckpt"),
                         strip_rng=strip_rng, validate=validate)
    same_weights = all(torch.equal(x, y) for x, y in zip(whole.state_dict().values(), resumed.state_dict().values()))
    if strip_rng:  # the control: the test can fail, and the saved RNG state is what makes it pass
        assert rest != order[2:] and not same_weights
    else:
        assert rest == order[2:]
        assert same_weights
        assert resumed.d_step_count == whole.d_step_count == 6


@pytest.mark.parametrize("workers,persistent", [(0, True), (2, False), (2, True)])
def test_resume_at_an_epoch_boundary_repeats_random_crops_and_flips(tmp_path, image_folder, workers, persistent):
    """Training crops and flips are seeded by (seed, index, a draw from torch's generator), so the epochs after a
    resume see the same crops as the uninterrupted run: in the main process, and in workers restarted each epoch.
    Persistent workers draw their base seed once per run, so a resumed run's workers start from other seeds: the
    same distribution, other bits (the control case; a fresh run with workers still repeats exactly, see
    tests/datamodules/test_datasets.py)."""
    kwargs = {"random_crops": True, "workers": workers, "persistent": persistent}
    whole, order = _fit(tmp_path / "a", image_folder, 6, **kwargs)
    _fit(tmp_path / "b", image_folder, 2, **kwargs)
    resumed, rest = _fit(tmp_path / "b", image_folder, 6, ckpt_path=str(tmp_path / "b" / "last.ckpt"), **kwargs)
    same_weights = all(torch.equal(x, y) for x, y in zip(whole.state_dict().values(), resumed.state_dict().values()))
    if workers and persistent:
        assert not same_weights
    else:
        assert rest == order[2:]
        assert same_weights


def test_checkpoints_with_rng_state_load_with_weights_only(tmp_path, image_folder):
    _fit(tmp_path, image_folder, 2)
    state = torch.load(tmp_path / "last.ckpt", weights_only=True, map_location="cpu")
    rng = state["callbacks"]["RNGStateCheckpoint"]["rng"]
    assert set(rng) == {"torch", "cuda", "numpy", "python"}
    assert isinstance(rng["torch"], torch.Tensor)
