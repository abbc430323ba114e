"""Resume keeps each method's step-dependent state: DeepGIN's warm-up -> full-objective switch and its stateless LR
(both functions of ``global_step``), HiFill's WGAN critic counter (``d_steps_per_g`` with the base's
``d_step_count``), and the tiny method with several critic steps per generator step.

In process, on fixed data (no shuffle; 2 items = one epoch per 2 batches), checkpoints at epoch boundaries.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
from helpers import make_batch
from torch.utils.data import DataLoader, Dataset

from lightning_modules.callbacks.rng_state import RNGStateCheckpoint


class Items(Dataset):
    def __init__(self, n: int, size: int) -> None:
        self.batch = make_batch(n, size, seed=3)

    def __len__(self) -> int:
        return self.batch["image"].shape[0]

    def __getitem__(self, i):
        return {"image": self.batch["image"][i], "mask": self.batch["mask"][i], "index": i, "name": f"s{i}"}


class Trace(L.Callback):
    """Per generator step: the active generator terms and the generator's learning rate; and d_step_count."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        active = tuple(t.name for t in module.schedule.active(module.global_step, "generator"))
        self.rows.append((module.global_step, module.d_step_count, active))


def _fit(make, root, items, max_steps, every, ckpt_path=None):
    L.seed_everything(0)
    model = make()
    trace = Trace()
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=root, save_last=True, every_n_train_steps=every, save_top_k=-1)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=max_steps, logger=False, limit_val_batches=0,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[ckpt, trace, RNGStateCheckpoint()],
                        default_root_dir=root, num_sanity_val_steps=0)
    trainer.fit(model, DataLoader(items, batch_size=1, shuffle=False), ckpt_path=ckpt_path)
    return model, trace.rows


def assert_resume_matches(make, tmp_path, items, total, first, every):
    whole, rows = _fit(make, tmp_path / "a", items, total, every)
    _fit(make, tmp_path / "b", items, first, every)
    resumed, rest = _fit(make, tmp_path / "b", items, total, every, ckpt_path=str(tmp_path / "b" / "last.ckpt"))
    assert rest == rows[len(rows) - len(rest):], "schedule phase / critic counter diverged after resume"
    assert resumed.global_step == whole.global_step == total
    assert resumed.d_step_count == whole.d_step_count
    differ = [k for k, v in whole.state_dict().items() if not torch.equal(v, resumed.state_dict()[k])]
    assert not differ, f"weights differ after resume: {differ[:5]}"
    return whole, rows


@pytest.mark.parametrize("generator_batch,items,d_steps", [("shared", 6, 12), ("fresh", 8, 12)])
def test_tiny_with_three_critic_steps_resumes_its_counter(tmp_path, generator_batch, items, d_steps):
    from lightning_modules.tiny import TinyInpainter

    def make():
        return TinyInpainter(width=4, vgg_weights="random", perceptual_weight=0.0,
                             d_steps_per_g=3, adversarial="wgan_gp", ema_decay=0.5, generator_batch=generator_batch)

    # batch 1; one epoch = 2 generator steps: shared = 2 x 3 batches, fresh = 2 x (3 critic + 1 generator) batches
    whole, rows = assert_resume_matches(make, tmp_path, Items(items, 32), total=4, first=2, every=2)
    assert whole.d_step_count == d_steps


@pytest.mark.slow
def test_deepgin_warmup_switch_and_lr_resume(tmp_path):
    from lightning_modules.deepgin import DeepGIN

    def make():
        return DeepGIN(stages="coarse_only", attention="none", resblock="std", back_projection=False,
                       warmup_steps=2, lr_constant_steps=0, lr_decay_steps=4, lr_decay_interval=1,
                       vgg_weights="random", vgg_resize=None)

    # checkpoint at step 2 = the end of the warm-up; the resumed run must start in the full objective with the
    # decayed learning rate
    whole, rows = assert_resume_matches(make, tmp_path, Items(2, 32), total=4, first=2, every=2)
    phases = {step: active for step, _, active in rows}
    assert "adv_g" not in phases[1] and "adv_g" in phases[2]


@pytest.mark.slow
def test_hifill_critic_counter_resumes(tmp_path):
    from lightning_modules.hifill import HiFill

    def make():  # HiFill's config: the generator gets a fresh batch after the critic batches
        return HiFill(image_size=64, d_steps_per_g=2, generator_batch="fresh")

    # 3 items, batch 1: one epoch = 2 critic batches + 1 generator batch = 1 generator step
    whole, rows = assert_resume_matches(make, tmp_path, Items(3, 64), total=2, first=1, every=1)
    assert whole.d_step_count == 4
    assert [d for _, d, _ in rows] == [0, 1, 2, 2, 3, 4]  # critic, critic, generator, critic, critic, generator


def test_random_vgg_is_the_same_however_late_it_is_built():
    """VGG weights are not checkpointed; with ``vgg_weights="random"`` a method that builds its VGG on first use
    (DeepGIN) must get the same one after a resume, and building it must not move the global random stream."""
    from lightning_modules.tiny import TinyInpainter

    torch.manual_seed(0)
    early = TinyInpainter(width=4, vgg_weights="random", perceptual_weight=0.0)
    torch.manual_seed(1)
    torch.rand(100)  # a different global state: as after some training steps
    late = TinyInpainter(width=4, vgg_weights="random", perceptual_weight=0.0)
    before = torch.get_rng_state()
    a = early.vgg_features("vgg16", ("relu1_2", "relu2_2"))
    b = late.vgg_features("vgg16", ("relu1_2", "relu2_2"))
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
