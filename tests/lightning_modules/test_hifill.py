"""HiFill Lightning module: schedule table per preset, 3 CPU training steps of every Fig. 4 gate configuration at
64 px, n_critic, loss forms, and the WGAN-GP critic loss under 2-process DDP (gloo) vs one process."""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
import yaml
from torch.utils.data import DataLoader, Dataset

sys.path.append(os.path.dirname(__file__))  # hifill_ddp, imported by its plain name (see that module)

from lightning_modules.base import InpaintingModule
from lightning_modules.hifill import LOSS_PRESETS, HiFill, critic_loss
from lightning_modules.losses import LossInputs
from networks.cra import DOWNSAMPLE_MODES, UPSAMPLE_MODES
from networks.hifill import GATE_TYPES, HiFillCritic

SIZE = 64
FAST = dict(image_size=SIZE)
FIG4 = [("gc", "gc"), ("ds", "ds"), ("pw", "pw"), ("sc", "ds"), ("sc", "pw"), ("sc", "sc"), ("none", "none")]


class TinyData(Dataset):
    def __init__(self, n: int = 16):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        image = torch.rand(3, SIZE, SIZE, generator=g) * 2 - 1
        mask = torch.zeros(1, SIZE, SIZE)
        mask[:, 8:24, 4 + i % 8:20 + i % 8] = 1  # small hole: most attention keys stay valid
        return {"image": image, "mask": mask, "index": i, "name": f"tiny_{i}", "mask_type": "box"}


class Recording(HiFill):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls: list[tuple[int, str, tuple[str, ...]]] = []

    def compute_losses(self, optimizer, outputs, batch, cache=None):
        total, values = super().compute_losses(optimizer, outputs, batch, cache)
        self.calls.append((self.global_step, optimizer, tuple(sorted(values))))
        return total, values


def fit(model, steps: int) -> L.Trainer:
    torch.manual_seed(0)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=0)
    trainer.fit(model, DataLoader(TinyData(), batch_size=2))
    return trainer


def _flat(module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


@pytest.mark.parametrize("coarse, refine", FIG4)
def test_three_training_steps_of_every_gate_configuration(coarse, refine):
    model = Recording(coarse_gate=coarse, refine_gate=refine, d_steps_per_g=1, **FAST)
    g0, d0 = _flat(model.generator), _flat(model.discriminator)
    trainer = fit(model, 3)
    assert trainer.global_step == 3
    g_steps = [c for c in model.calls if c[1] == "generator"]
    assert len(g_steps) == 3
    assert g_steps[0][2] == ("adv_g", "context_coarse", "context_refine", "hole_coarse", "hole_refine")
    assert not torch.equal(g0, _flat(model.generator)) and not torch.equal(d0, _flat(model.discriminator))
    assert torch.isfinite(_flat(model.generator)).all()


def test_default_n_critic_is_five_d_steps_per_g_step():
    model = Recording(**FAST)
    assert model.d_steps_per_g == 5
    fit(model, 2)
    kinds = [c[1] for c in model.calls]
    assert kinds.count("discriminator") == 10 and kinds.count("generator") == 2


@pytest.mark.parametrize("preset", ["paper", "code"])
def test_loss_schedule_table(preset):
    rows = HiFill(loss_preset=preset, **FAST).schedule.rows()
    hole, ctx, adv = {"paper": (1.0, 1.2, 1e-4), "code": (1.2, 1.2, 1e-3)}[preset]
    expected = [
        ("hole_coarse", "l1_hole", hole * 1.2, "coarse", "generator"),
        ("hole_refine", "l1_hole", hole, "output", "generator"),
        ("context_coarse", "l1_valid_normalized", ctx * 1.2, "coarse", "generator"),
        ("context_refine", "l1_valid_normalized", ctx, "output", "generator"),
        ("adv_g", "wgan_g", adv, "composite", "generator"),
        ("adv_d", "wgan_gp_d", 1.0, "composite", "discriminator"),
    ]
    got = [(r["name"], r["fn"], r["weight"], r["on"], r["optimizer"]) for r in rows]
    assert [g[:2] + g[3:] for g in got] == [e[:2] + e[3:] for e in expected]
    assert [g[2] for g in got] == pytest.approx([e[2] for e in expected])
    assert all(r["steps"] == "[0, ∞)" for r in rows)


def test_preset_switch_changes_only_the_weights():
    paper, code = HiFill(**FAST), HiFill(loss_preset="code", **FAST)
    changed = {r["name"] for r, s in zip(paper.schedule.rows(), code.schedule.rows()) if r["weight"] != s["weight"]}
    assert changed == {"hole_coarse", "hole_refine", "adv_g"}
    assert [(r["fn"], r["on"]) for r in paper.schedule.rows()] == [(r["fn"], r["on"]) for r in code.schedule.rows()]
    assert set(LOSS_PRESETS) == {"paper", "code"}
    with pytest.raises(ValueError):
        HiFill(loss_preset="other", **FAST)


def test_optimiser_defaults():
    model = HiFill(**FAST)
    assert (model.lr_g, model.lr_d, model.betas_g, model.betas_d) == (1e-4, 1e-4, (0.5, 0.9), (0.5, 0.9))


def test_reconstruction_loss_forms():
    """L_hole: mean over all elements (scales with hole area); L_ctx: true mean over known pixels (spec 4.1)."""
    model = HiFill(**FAST)
    fns = model.loss_functions()
    target = torch.zeros(1, 3, 4, 4)
    pred = torch.ones(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :1, :] = 1  # a quarter of the image is a hole
    x = LossInputs(pred=pred, outputs={}, batch={"image": target, "mask": mask}, module=model)
    assert fns["l1_hole"](x).item() == pytest.approx(0.25)
    assert fns["l1_valid_normalized"](x).item() == pytest.approx(1.0)


def test_generate_returns_coarse_refine_and_scores():
    model = HiFill(**FAST)
    batch = next(iter(DataLoader(TinyData(), batch_size=2)))
    out = model(batch)
    assert set(out) == {"output", "coarse", "scores", "composite"}
    assert out["scores"].shape == (2, 16, 16)
    assert torch.equal(out["composite"] * (1 - batch["mask"]), batch["image"] * (1 - batch["mask"]))


def test_critic_loss_matches_hand_computation():
    torch.manual_seed(0)
    critic = HiFillCritic(kernel_size=3, image_size=SIZE)
    real, fake = torch.rand(2, 3, SIZE, SIZE) * 2 - 1, torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    got = critic_loss(critic, real, fake, 10.0, generator=torch.Generator().manual_seed(3))
    alpha = torch.rand((2, 1, 1, 1), generator=torch.Generator().manual_seed(3))
    penalties = []
    for i in range(2):  # one sample at a time: no batch coupling in the penalty
        x = (alpha[i] * real[i] + (1 - alpha[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x)
        penalties.append((grad.norm() - 1) ** 2)
    expected = critic(fake).mean() - critic(real).mean() + 10.0 * torch.stack(penalties).mean()
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


# ---------------------------------------------------------------------------------------- DDP (2 processes, gloo)
@pytest.mark.ddp
def test_gradient_penalty_under_ddp_matches_single_process(tmp_path):
    from hifill_ddp import CriticObjective, critic, data, ddp_worker

    mp.spawn(ddp_worker, args=(2, str(tmp_path / "store"), str(tmp_path / "grads.pt")), nprocs=2, join=True)
    ddp_grads = torch.load(tmp_path / "grads.pt")
    # single process: the same two half-batches with the same interpolation draws, gradients averaged
    objective = CriticObjective(critic())
    real, fake = data()
    losses_ = [objective(real[2 * r:2 * r + 2], fake[2 * r:2 * r + 2], seed=r) for r in range(2)]
    (sum(losses_) / 2).backward()
    reference = [p.grad for p in objective.parameters()]
    assert len(ddp_grads) == len(reference)
    for got, want in zip(ddp_grads, reference):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)
    # and the penalty is live: the second-order term changes the gradient
    objective.zero_grad()
    torch.manual_seed(0)
    no_gp = sum(critic_loss(objective.critic, real[2 * r:2 * r + 2], fake[2 * r:2 * r + 2], 0.0) for r in range(2))
    (no_gp / 2).backward()
    assert not all(torch.allclose(p.grad, w, atol=1e-6) for p, w in zip(objective.parameters(), reference))



# ---------------------------------------------------------------------------------------- high-resolution eval
def test_eval_resolution_runs_cra_and_keeps_known_pixels():
    model = HiFill(eval_resolution=128, **FAST).eval()
    batch = next(iter(DataLoader(TinyData(), batch_size=1)))
    out = model.predict_step(batch, 0)
    assert out.shape == (1, 3, 128, 128)
    image = F.interpolate(batch["image"], size=(128, 128), mode="bilinear", align_corners=False)
    known = F.interpolate(batch["mask"], size=(128, 128), mode="nearest").expand_as(image) == 0
    assert torch.equal(out[known], image[known])


# ---------------------------------------------------------------------------------------- configs and sweeps
REPO = Path(__file__).resolve().parents[2]


def _init_args():
    return set(inspect.signature(HiFill.__init__).parameters) | set(
        inspect.signature(InpaintingModule.__init__).parameters)


@pytest.mark.parametrize("name", ["hifill", "hifill_smoke", "hifill_celebahq"])
def test_configs_use_existing_arguments(name):
    from assembly.config import load_config

    config = load_config(name)
    assert config["model"]["class_path"] == "lightning_modules.hifill.HiFill"
    assert set(config["model"]["init_args"]) <= _init_args()


@pytest.mark.parametrize("name", ["hifill_gates", "hifill_cra_resampling", "hifill_resolution"])
def test_sweep_overrides_exist(name):
    sweep = yaml.safe_load((REPO / "sweeps" / f"{name}.yaml").read_text())
    assert sweep["method"] == "hifill" and sweep["rows"]
    keys = set(sweep.get("evaluation", {}))
    for row in sweep["rows"]:
        keys |= set(row["overrides"])
    model_keys = {k.split(".", 2)[2] for k in keys if k.startswith("model.init_args.")}
    assert model_keys <= _init_args()
    for row in sweep["rows"]:
        o = row["overrides"]
        assert o.get("model.init_args.coarse_gate", "sc") in GATE_TYPES
        assert o.get("model.init_args.refine_gate", "pw") in GATE_TYPES
        assert o.get("model.init_args.cra_downsample", "average") in DOWNSAMPLE_MODES
        assert o.get("model.init_args.cra_upsample", "bilinear") in UPSAMPLE_MODES


def test_resampling_sweep_is_the_fig3_grid():
    rows = yaml.safe_load((REPO / "sweeps" / "hifill_cra_resampling.yaml").read_text())["rows"]
    pairs = {(r["overrides"]["model.init_args.cra_downsample"], r["overrides"]["model.init_args.cra_upsample"])
             for r in rows}
    assert pairs == {(d, u) for d in ("nearest", "bilinear", "bicubic", "average")
                     for u in ("nearest", "bilinear", "bicubic")}


def test_resolution_sweep_copies_table2():
    rows = yaml.safe_load((REPO / "sweeps" / "hifill_resolution.yaml").read_text())["rows"]
    sizes = [r["overrides"]["model.init_args.eval_resolution"] for r in rows]
    assert sizes == [512, 1024, 2048, 4096, 8192]
    assert [r["paper"]["l1"] if r["paper"] else None for r in rows] == [5.439, 5.439, 5.492, 5.503, None]


def test_semantic_input_widens_only_the_first_coarse_conv():
    """AIM Track 2: the map enters the coarse stage; the parameter delta is that conv's extra input weights."""
    from helpers import make_batch

    from lightning_modules.hifill import HiFill

    plain = HiFill(vgg_weights="random", image_size=64)
    track2 = HiFill(vgg_weights="random", image_size=64, semantic_channels=52)
    delta = sum(p.numel() for p in track2.generator.parameters()) - sum(
        p.numel() for p in plain.generator.parameters())
    first = track2.generator.coarse.body[0]
    per_input = sum(p[:, :1].numel() for n, p in first.named_parameters() if p.dim() == 4 and p.shape[1] == 56)
    assert delta == 52 * per_input > 0
    batch = make_batch(1, 64, semantic_channels=52)
    assert track2.generate(batch)["output"].shape == (1, 3, 64, 64)
    batch["seg"][..., 16:48, 16:48] = 0
    batch["seg"][:, 5, 16:48, 16:48] = 1  # a different class inside the hole only
    # randomly initialised, the deep coarse body shrinks activations towards 0: compare its first layer's response
    first_layer = track2.generator.coarse.body[0]
    x = track2.network_input(batch)[:, :, ::2, ::2]
    x_ref = track2.network_input(make_batch(1, 64, semantic_channels=52))[:, :, ::2, ::2]
    assert not torch.equal(first_layer(x), first_layer(x_ref))
    with pytest.raises(KeyError, match="seg"):
        track2.generate(make_batch(1, 64))


def test_native_sizes_pad_up_to_the_trained_size_and_go_through_cra_above_it_with_the_seg_map():
    """Native-size evaluation: a 40x50 photo runs once, padded to 64x64 and cropped back; a 96x50 photo (longer side
    above image_size, so CRA, which the width alone did not catch) gets its Track-2 seg map at the base size."""
    torch.manual_seed(0)
    model = HiFill(vgg_weights="random", semantic_channels=3, **FAST).eval()
    seen = []
    model.generator.register_forward_pre_hook(lambda module, args: seen.append(
        (tuple(args[0].shape[-2:]), None if len(args) < 3 or args[2] is None else tuple(args[2].shape[-2:]))))
    for h, w, expected in ((40, 50, (64, 64)), (96, 50, (64, 64))):
        seen.clear()
        image = torch.rand(1, 3, h, w) * 2 - 1
        mask = torch.zeros(1, 1, h, w)
        mask[..., 10:30, 10:30] = 1
        seg = torch.zeros(1, 3, h, w)
        seg[:, 1] = 1
        with torch.no_grad():
            out = model._eval_outputs({"image": image, "mask": mask, "seg": seg})
        assert seen == [(expected, expected)]
        assert out["output"].shape == (1, 3, h, w)
        torch.testing.assert_close(out["composite"] * (1 - mask), image * (1 - mask))


def test_fit_start_note_names_the_synthetic_templates_and_how_to_supply_the_released_ones(tmp_path):
    from types import SimpleNamespace

    from PIL import Image

    from datamodules.masks import build_mask_generator
    from lightning_modules.hifill import synthetic_template_note

    note = synthetic_template_note(SimpleNamespace(train_masks=build_mask_generator("hifill")))
    assert "synthetic" in note and "template_dir" in note and "mask_templates" in note
    for k in range(3):
        Image.fromarray(((np.arange(256 * 256).reshape(256, 256) % (k + 2)) * 255).astype(np.uint8)).save(
            tmp_path / f"{k}.png")
    given = build_mask_generator({"name": "hifill", "template_dir": str(tmp_path)})
    assert synthetic_template_note(SimpleNamespace(train_masks=given)) is None
    assert synthetic_template_note(SimpleNamespace(train_masks=build_mask_generator("aim_box"))) is None
