"""A NaN/Inf loss stops the run with one line naming the step and the term (or skips the step with
``nan_policy=skip``, until ``max_consecutive_skips`` steps in a row were skipped), and the last good checkpoint stays
on disk, loadable."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from faults import NaNTiny
from reliability_utils import error_lines, run_cli, tiny_fit_args
from torch.utils.data import DataLoader

from lightning_modules.nonfinite import NonFiniteLossError
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
    model = NaNTiny(bad_batches=[3], bad_value=value, width=4, vgg_weights="random", perceptual_weight=0.0)
    with pytest.raises(NonFiniteLossError, match=rf"generator step 3: l1={value}"):
        _trainer(tmp_path, 6).fit(model, DataLoader(Items(), batch_size=2))
    assert_finite_checkpoint(tmp_path / "last.ckpt", 3)


def test_nan_in_a_discriminator_term_is_named_too(tmp_path):
    class BadD(TinyInpainter):
        def loss_functions(self):
            fns = super().loss_functions()
            fns["adv_d_hinge"] = lambda x: torch.tensor(math.nan, requires_grad=True)
            return fns

    model = BadD(width=4, vgg_weights="random", perceptual_weight=0.0)
    with pytest.raises(NonFiniteLossError, match=r"discriminator loss at generator step 0: adv_d=nan"):
        _trainer(tmp_path, 2).fit(model, DataLoader(Items(), batch_size=2))


# ------------------------------------------------------------------------------------------------ max_consecutive_skips
def test_cli_skips_stop_after_max_consecutive_skips_naming_values_skips_and_checkpoint(tmp_path, image_folder,
                                                                                        capsys):
    """A model that diverges for good under ``nan_policy=skip``: batches 0-3 are good (generator steps 1-4,
    checkpoints at 2 and 4), every later one is NaN. The run stops after 3 skips, exit code 1 (without the limit it
    would skip until max_epochs, the safety net here), naming the values, the skips and ``last.ckpt``."""
    from inpaint_suite.cli import main

    args = tiny_fit_args(tmp_path, image_folder, 50, extra=[
        "--model.class_path=faults.NaNTiny", "--model.init_args.bad_from=4", "--model.init_args.nan_policy=skip",
        "--model.init_args.max_consecutive_skips=3", "--trainer.max_epochs=20"])
    code = main(args)
    captured = capsys.readouterr()
    assert code == 1, captured.err[-3000:]
    lines = error_lines(captured.err)
    assert len(lines) == 1, captured.err[-3000:]
    line = lines[0]
    last = tmp_path / "ckpt" / "last.ckpt"
    assert line.startswith("inpaint-suite: error: training stopped: 3 consecutive generator steps skipped")
    assert "max_consecutive_skips=3" in line
    assert "generator step 4: l1=nan, total=nan" in line  # the last non-finite term and total
    assert f"last good checkpoint: {last}" in line
    assert captured.out.count("skipping step:") == 3
    assert_finite_checkpoint(last, 4)  # the stopping step did not overwrite it
    assert not list((tmp_path / "ckpt").glob("*step=5*"))


def test_stop_without_any_checkpoint_says_so(tmp_path):
    model = NaNTiny(bad_from=0, width=4, vgg_weights="random", perceptual_weight=0.0,
                    nan_policy="skip", max_consecutive_skips=2)
    with pytest.raises(NonFiniteLossError, match=r"2 consecutive generator steps skipped .*l1=nan.*"
                                                 r"; no checkpoint was written$"):
        _trainer(tmp_path, 5, max_epochs=3).fit(model, DataLoader(Items(), batch_size=2))
    assert model.skipped_steps == 2 and model.global_step == 0


@pytest.mark.parametrize(("bad", "stops"), [([1, 2, 4, 5], False), ([1, 2, 3], True)])
def test_a_finite_step_resets_the_skip_count(tmp_path, bad, stops):
    """Limit 3: two skips, a good step, two skips never stop the run; three in a row do."""
    model = NaNTiny(bad_batches=bad, width=4, vgg_weights="random", perceptual_weight=0.0, nan_policy="skip", max_consecutive_skips=3)
    fit = _trainer(tmp_path, 6, max_epochs=3)
    if stops:
        with pytest.raises(NonFiniteLossError, match="3 consecutive generator steps skipped"):
            fit.fit(model, DataLoader(Items(), batch_size=2))
    else:
        fit.fit(model, DataLoader(Items(), batch_size=2))
        assert model.global_step == 6 and model.skipped_steps == 4


def test_skip_streaks_are_counted_per_optimiser():
    from lightning_modules.nonfinite import SkipStreaks

    streaks = SkipStreaks(3)
    assert not streaks.skipped("discriminator", "d1")
    assert not streaks.skipped("discriminator", "d2")
    streaks.stepped("generator")  # the generator's finite step does not reset the discriminator's streak
    assert not streaks.skipped("generator", "g1")
    assert streaks.skipped("discriminator", "d3")
    message = streaks.stop_message("discriminator", None)
    assert message.startswith("3 consecutive discriminator steps skipped") and "last: d3" in message
    assert "the generator skipped its last 1 steps too, last: g1" in message
    streaks.stepped("discriminator")
    assert streaks.count["discriminator"] == 0 and not streaks.skipped("discriminator", "d4")


def test_a_discriminator_that_keeps_skipping_stops_although_the_generator_steps(tmp_path):
    class BadD(TinyInpainter):
        def loss_functions(self):
            fns = super().loss_functions()
            fns["adv_d_hinge"] = lambda x: torch.tensor(math.inf, requires_grad=True)
            return fns

    model = BadD(width=4, vgg_weights="random", perceptual_weight=0.0,
                 nan_policy="skip", max_consecutive_skips=3)
    with pytest.raises(NonFiniteLossError, match=r"3 consecutive discriminator steps skipped .*adv_d=inf.*"
                                                 r"last good checkpoint: .*last\.ckpt"):
        _trainer(tmp_path, 20, max_epochs=5).fit(model, DataLoader(Items(), batch_size=2))
    assert model.global_step == 2  # G stepped on batches 0 and 1, then batch 2's D skip was the third
    assert_finite_checkpoint(tmp_path / "last.ckpt", 2)
