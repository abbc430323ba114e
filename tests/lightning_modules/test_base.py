"""The shared GAN base: step counting, update orders, D steps per G step, EMA, NaN policy, resume, schedule print."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from helpers import make_batch
from torch.utils.data import DataLoader, Dataset

from lightning_modules.base import InpaintingModule
from lightning_modules.nonfinite import NonFiniteLossError
from lightning_modules.schedule import LossTerm
from lightning_modules.tiny import TinyInpainter


class BatchDataset(Dataset):
    """Items in the DataModule's format, with masks already present (as mask-file datasets give them)."""

    def __init__(self, n: int = 8, size: int = 32) -> None:
        self.batch = make_batch(n, size)

    def __len__(self) -> int:
        return self.batch["image"].shape[0]

    def __getitem__(self, i):
        return {"image": self.batch["image"][i], "mask": self.batch["mask"][i], "index": i, "name": f"s{i}"}


def loader(n=8, size=32, batch_size=2):
    return DataLoader(BatchDataset(n, size), batch_size=batch_size, shuffle=False)


def trainer(tmp_path=None, **kw):
    options = dict(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
    if tmp_path is not None:
        options["default_root_dir"] = str(tmp_path)
    options.update(kw)
    return L.Trainer(**options)


def tiny(**kw):
    kw.setdefault("perceptual_weight", 0.0)
    return TinyInpainter(width=4, vgg_weights="random", **kw)


def test_global_step_counts_generator_steps_only():
    model = tiny()
    trainer(max_steps=3).fit(model, loader())
    assert trainer is not None
    assert model.global_step == 3
    assert model.d_step_count == 3


def test_d_steps_per_g_updates_the_generator_every_kth_batch():
    model = tiny(d_steps_per_g=3)
    g0 = [p.detach().clone() for p in model.generator.parameters()]
    t = trainer(max_steps=2, max_epochs=10)
    t.fit(model, loader(n=12))
    assert model.global_step == 2
    assert model.d_step_count == 6  # 3 critic steps per generator step
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))


@pytest.mark.parametrize("order", ["d_then_g", "g_then_d", "simultaneous"])
def test_every_update_order_trains_both_networks(order):
    model = tiny(update_order=order)
    g0 = [p.detach().clone() for p in model.generator.parameters()]
    d0 = [p.detach().clone() for p in model.discriminator.parameters()]
    trainer(max_steps=2).fit(model, loader())
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))


def test_generator_losses_leave_no_gradient_in_the_discriminator():
    model = tiny()
    model.trainer = None
    batch = make_batch(2, 32)
    outputs = model(batch)
    with model._frozen(model.discriminator):
        total, values = model.compute_losses("generator", outputs, batch)
        total.backward()
    assert "adv_g" in values
    assert all(p.grad is None for p in model.discriminator.parameters())
    assert any(p.grad is not None for p in model.generator.parameters())


def test_schedule_start_step_keeps_a_term_off_until_then():
    model = tiny(adv_start_step=5)
    batch = make_batch(2, 32)
    outputs = model(batch)
    _, values = model.compute_losses("generator", outputs, batch)
    assert set(values) == {"l1", "l1_hole"}  # adversarial term not active at step 0
    _, d_values = model.compute_losses("discriminator", {k: v.detach() for k, v in outputs.items()}, batch)
    assert d_values == {}


def test_composite_keeps_known_pixels():
    model = tiny()
    batch = make_batch(2, 32)
    out = model(batch)
    known = batch["mask"] == 0
    assert torch.equal(out["composite"].masked_select(known), batch["image"].masked_select(known))
    hole = batch["mask"].expand_as(batch["image"]) == 1
    assert torch.equal(out["composite"][hole], out["output"][hole])


class NaNAfter(TinyInpainter):
    """Makes the L1 term NaN from generator step ``bad_step`` on."""

    def __init__(self, bad_step: int = 2, **kw):
        super().__init__(**kw)
        self.bad_step = bad_step

    def loss_functions(self):
        fns = super().loss_functions()
        l1 = fns["l1"]
        fns["l1"] = lambda x: l1(x) * (float("nan") if self.global_step >= self.bad_step else 1.0)
        return fns


def test_nan_loss_stops_with_step_and_term_named(tmp_path):
    model = NaNAfter(width=4, vgg_weights="random", perceptual_weight=0.0)
    with pytest.raises(NonFiniteLossError, match=r"generator step 2: l1=nan"):
        trainer(tmp_path, max_steps=5).fit(model, loader())


def test_nan_loss_skip_policy_skips_the_step():
    model = NaNAfter(bad_step=1, width=4, vgg_weights="random", perceptual_weight=0.0,
                     nan_policy="skip")
    trainer(max_steps=5, max_epochs=1, limit_train_batches=4).fit(model, loader())
    assert model.global_step == 1  # steps 2-4 were skipped, not taken
    assert model.skipped_steps == 3


def test_ema_tracks_the_generator():
    model = tiny(ema_decay=0.5)
    trainer(max_steps=3).fit(model, loader())
    assert model.ema is not None and int(model.ema.n_averaged) == 3
    live = torch.cat([p.flatten() for p in model.generator.parameters()])
    ema = torch.cat([p.flatten() for p in model.ema.module.parameters()])
    assert not torch.equal(live, ema)
    with model._eval_generator():
        assert model.generator is model.ema.module


def test_resume_from_last_checkpoint_continues_at_the_right_step(tmp_path):
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_train_steps=2)
    model = tiny(d_steps_per_g=2, ema_decay=0.9)
    trainer(tmp_path, max_steps=4, callbacks=[ckpt], enable_checkpointing=True).fit(model, loader(n=16))
    assert (tmp_path / "last.ckpt").is_file()
    state = torch.load(tmp_path / "last.ckpt", weights_only=True, map_location="cpu")
    assert state["global_step"] == 4 and state["inpaint_suite"]["d_step_count"] == 8
    assert not any(k.startswith("vgg_") for k in state["state_dict"])
    resumed = tiny(d_steps_per_g=2, ema_decay=0.9)
    t = trainer(tmp_path, max_steps=6, enable_checkpointing=True)
    t.fit(resumed, loader(n=16), ckpt_path=str(tmp_path / "last.ckpt"))
    assert resumed.global_step == 6
    assert resumed.d_step_count == 12


def test_loss_schedule_table_prints_at_fit_start(capsys):
    model = tiny(adv_start_step=7)
    trainer(max_steps=1).fit(model, loader())
    out = capsys.readouterr().out
    assert "loss schedule" in out and "adv_g" in out and "[7, ∞)" in out


def test_missing_loss_function_is_a_clear_error():
    class Broken(TinyInpainter):
        def loss_schedule(self):
            return [LossTerm("x", "does_not_exist", 1.0)]

    with pytest.raises(KeyError, match="does_not_exist"):
        _ = Broken(width=4, vgg_weights="random", perceptual_weight=0.0).schedule


def test_base_rejects_bad_options():
    with pytest.raises(ValueError, match="update_order"):
        InpaintingModule(update_order="sideways")
    with pytest.raises(ValueError, match="nan_policy"):
        InpaintingModule(nan_policy="pray")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=rf"max_consecutive_skips must be an integer >= 1, got {bad}"):
            InpaintingModule(max_consecutive_skips=bad)


def test_semantic_map_takes_the_decoded_map_and_checks_only_its_channel_count():
    """The data module decodes ``seg`` (one-hot, or ADE colours / 255); the model passes the float map on and
    refuses one whose channel count (or a raw uint8 map) does not fit, naming data.seg_encoding."""
    batch = make_batch(2, 16)
    colours = torch.rand(2, 3, 16, 16)  # what data.seg_encoding: ade_rgb delivers
    rgb_model = tiny(semantic_channels=3, seg_encoding="ade_rgb")
    assert torch.equal(rgb_model.semantic_map({**batch, "seg": colours}), colours)
    assert rgb_model.generate({**batch, "seg": colours})["output"].shape == (2, 3, 16, 16)
    example = rgb_model.example_batch(16)["seg"]
    assert example.shape == (1, 3, 16, 16) and example.is_floating_point()
    onehot = make_batch(2, 16, semantic_channels=52)["seg"]
    with pytest.raises(ValueError, match="(?s)semantic_channels=3.*52 float32.*data.seg_encoding"):
        rgb_model.semantic_map({**batch, "seg": onehot})
    onehot_model = tiny(semantic_channels=52)
    assert onehot_model.example_batch(16)["seg"][:, -1].eq(1).all()  # "other" everywhere
    raw = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    with pytest.raises(ValueError, match="(?s)semantic_channels=52.*3 uint8.*data.seg_encoding"):
        onehot_model.semantic_map({**batch, "seg": raw})
    with pytest.raises(ValueError, match="semantic_channels: 3"):
        tiny(semantic_channels=52, seg_encoding="ade_rgb")
    with pytest.raises(ValueError, match="seg_encoding"):
        tiny(semantic_channels=3, seg_encoding="rgb")


def test_init_from_loads_generator_and_discriminator(tmp_path):
    source = tiny()
    torch.save({"state_dict": source.state_dict()}, tmp_path / "w.ckpt")
    target = tiny()
    target.load_generator_weights(str(tmp_path / "w.ckpt"))
    for a, b in zip(source.generator.state_dict().values(), target.generator.state_dict().values()):
        assert torch.equal(a, b)
    torch.save({"generator.bogus": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(KeyError, match="bad.pth"):
        target.load_generator_weights(str(tmp_path / "bad.pth"))


def test_init_from_also_sets_the_weights_that_validate_and_test_evaluate(tmp_path):
    """Converted official checkpoints have no Lightning metadata (no --ckpt_path): ``init_from`` is how ``test``
    evaluates them, so it must apply outside ``fit`` too."""
    source = tiny()
    torch.save({"state_dict": source.state_dict()}, tmp_path / "w.ckpt")
    target = tiny(init_from=str(tmp_path / "w.ckpt"))
    trainer(tmp_path, limit_val_batches=1).validate(target, loader(n=2), verbose=False)
    for a, b in zip(source.generator.state_dict().values(), target.generator.state_dict().values()):
        assert torch.equal(a, b)
    # fit then evaluate the same module (sweeps/trial.py): the trained weights are evaluated, not init_from again
    t = trainer(tmp_path, max_steps=1, limit_val_batches=1)
    t.fit(target, loader(n=2))
    trained = {k: v.clone() for k, v in target.generator.state_dict().items()}
    assert any(not torch.equal(trained[k], v) for k, v in source.generator.state_dict().items())
    t.validate(target, loader(n=2), verbose=False)
    assert all(torch.equal(trained[k], v) for k, v in target.generator.state_dict().items())


def test_fresh_generator_batches_take_k_plus_one_batches_per_cycle():
    model = tiny(d_steps_per_g=3, generator_batch="fresh", adversarial="wgan_gp")
    seen = []
    original = model.training_step

    def spy(batch, batch_idx):
        d0, g0 = model.d_step_count, model.global_step
        original(batch, batch_idx)
        seen.append(("d" if model.d_step_count > d0 else "") + ("g" if model.global_step > g0 else ""))

    model.training_step = spy
    trainer(max_steps=2, max_epochs=10).fit(model, loader(n=16))
    assert seen == ["d", "d", "d", "g", "d", "d", "d", "g"]
    assert model.d_step_count == 6 and model.global_step == 2


def test_no_discriminator_steps_are_counted_during_a_warm_up():
    """With k = 3 critic steps per G step and D inactive until step 2, G trains on every batch of the warm-up."""
    model = tiny(d_steps_per_g=3, adv_start_step=2)
    trainer(max_steps=3, max_epochs=10).fit(model, loader(n=16))
    assert model.global_step == 3
    assert model.d_step_count == 3  # none during steps 0-1, then 3 critic steps for step 2


class SqrtAtZero(TinyInpainter):
    """A finite loss whose gradient is not: d/dx sqrt(x) at x = 0 is inf (from generator step 1 on)."""

    def loss_functions(self):
        fns = super().loss_functions()
        l1 = fns["l1"]

        def l1_then_sqrt(x):
            value = l1(x)
            if self.global_step >= 1:
                value = value + torch.sqrt((x.pred * 0).sum())
            return value

        fns["l1"] = l1_then_sqrt
        return fns


def test_finite_loss_with_non_finite_gradients_is_caught():
    model = SqrtAtZero(width=4, vgg_weights="random", perceptual_weight=0.0)
    with pytest.raises(NonFiniteLossError, match=r"generator step 1: loss finite .* non-finite gradients of generator"):
        trainer(max_steps=3).fit(model, loader())
    assert all(torch.isfinite(p).all() for p in model.generator.parameters())


def test_finite_loss_with_non_finite_gradients_is_skipped_under_skip():
    model = SqrtAtZero(width=4, vgg_weights="random", perceptual_weight=0.0,
                       nan_policy="skip")
    trainer(max_steps=3, max_epochs=1, limit_train_batches=3).fit(model, loader())
    assert model.global_step == 1 and model.skipped_steps == 2
    assert all(torch.isfinite(p).all() for p in model.generator.parameters())


def test_val_and_test_metrics_of_the_same_images_agree(tmp_path):
    """``val/l1_hole`` and ``val/psnr`` are the harness's per-image values ([0, 1], PNG round trip), averaged over
    images, so ``validate`` and ``test`` on the same batches report the same numbers."""
    model = tiny(test_metrics=["psnr", "l1_hole"])
    data = loader(n=6, size=32, batch_size=4)  # batches of 4 and 2: a per-batch mean would weigh them wrongly
    t = trainer(tmp_path, limit_val_batches=None, limit_test_batches=None)
    val = t.validate(model, data, verbose=False)[0]
    test = t.test(model, data, verbose=False)[0]
    assert val["val/psnr"] == pytest.approx(test["test/psnr"], rel=1e-5)
    assert val["val/l1_hole"] == pytest.approx(test["test/l1_hole"], rel=1e-5)
    assert 0 < val["val/l1_hole"] < 1  # [0, 1], not [-1, 1]


def test_frozen_networks_stay_out_of_checkpoints_and_strict_loading_passes():
    model = tiny(perceptual_weight=0.1)
    state = model.state_dict()
    assert any(k.startswith("generator.") for k in state)
    assert not any(k.startswith("vgg_") for k in state)
    fresh = tiny(perceptual_weight=0.1)
    fresh.load_state_dict(state, strict=True)  # the VGG keys are filled from the live extractor


def test_discriminator_steps_are_not_counted_on_any_batch():
    """The generator-only step counting is installed once (on_train_start) and survives Lightning's per-batch
    re-assignment of the optimiser hooks: 5 batches of d_steps_per_g=1 give global_step 5, D steps 5."""
    from lightning_modules.step_counting import _ProfiledOnly

    class Check(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            opt_g, opt_d = module.optimizers()
            assert isinstance(opt_d, _ProfiledOnly) and not isinstance(opt_g, _ProfiledOnly)

    model = tiny()
    t = trainer(max_steps=5, callbacks=[Check()])
    t.fit(model, loader(n=10))
    assert model.global_step == 5 and model.d_step_count == 5
