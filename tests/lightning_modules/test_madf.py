"""Tests for lightning_modules/madf.py: the per-decoder supervision schedule (spec §4.2), the loss definitions in
ImageNet-normalised space (§4.1), the paper/code switches, the project <-> paper conversions in generate(), and
3 training steps of every Table II / III row (sweeps/madf_pn.yaml, sweeps/madf_supervision.yaml) at 128 px — the
smallest size the seven stride-2 levels accept."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lightning_modules.losses import LossInputs
from lightning_modules.madf import (
    MADF,
    MADF_LOSS_FUNCTIONS,
    decoder_names,
    madf_hole,
    madf_perceptual,
    madf_style,
    madf_tv,
    madf_valid,
    supervision_plan,
)
from networks.backbones.vgg import IMAGENET_MEAN, IMAGENET_STD

REPO = Path(__file__).resolve().parents[2]
SIZE = 128
FAST = {"vgg_weights": "random"}
L1 = ["valid", "hole"]
PERC = ["valid", "hole", "perceptual"]
FULL = ["valid", "hole", "perceptual", "style", "tv"]
WEIGHTS = {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style": 120.0, "tv": 0.1}




def make_batch(b: int = 1, size: int = SIZE, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, size, size, generator=g) * 2 - 1
    mask = torch.zeros(b, 1, size, size)
    mask[..., size // 4: size // 2 + 8, size // 8: size // 2] = 1
    return {"image": image, "mask": mask}


class TinyData(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict:
        item = {k: v[0] for k, v in make_batch(seed=i).items()}
        return {**item, "index": i, "name": f"tiny_{i}", "mask_type": "box"}


# --- supervision schedule (§4.2) ----------------------------------------------------------------------------------

EXPECTED_PLANS = {
    ("coarse_to_fine", 0): {"recovery": FULL},
    ("coarse_to_fine", 1): {"recovery": L1, "refine1": FULL},
    ("coarse_to_fine", 2): {"recovery": L1, "refine1": PERC, "refine2": FULL},
    ("coarse_to_fine", 3): {"recovery": L1, "refine1": PERC, "refine2": FULL, "refine3": FULL},
    ("same", 2): {"recovery": FULL, "refine1": FULL, "refine2": FULL},
    ("same", 0): {"recovery": FULL},
    ("none", 2): {"recovery": [], "refine1": [], "refine2": FULL},
    ("none", 1): {"recovery": [], "refine1": FULL},
}


@pytest.mark.parametrize("supervision,k", sorted(EXPECTED_PLANS))
def test_supervision_plan_matches_spec_table(supervision, k):
    assert supervision_plan(supervision, k) == EXPECTED_PLANS[(supervision, k)]


def test_official_code_style_index_moves_style_to_the_previous_decoder():
    # Released loss.py with K=2: style from F_1's features, TV (and the rest) on F_2.
    assert supervision_plan("coarse_to_fine", 2, "official_code") == {
        "recovery": L1, "refine1": PERC + ["style"], "refine2": ["valid", "hole", "perceptual", "tv"]}
    # K=3 (same indexing extended): style from F_1 and F_2, TV on F_2 and F_3.
    assert supervision_plan("coarse_to_fine", 3, "official_code") == {
        "recovery": L1, "refine1": PERC + ["style"], "refine2": ["valid", "hole", "perceptual", "tv", "style"],
        "refine3": ["valid", "hole", "perceptual", "tv"]}
    # K <= 1 and the other schemes have no index shift.
    assert supervision_plan("coarse_to_fine", 1, "official_code") == supervision_plan("coarse_to_fine", 1)
    assert supervision_plan("same", 2, "official_code") == supervision_plan("same", 2)


def test_loss_schedule_rows_name_decoder_term_weight_and_steps():
    rows = MADF(**FAST).schedule.rows()
    expected = [(f"{d}/{t}", f"madf_{t}", WEIGHTS[t], d) for d, terms in EXPECTED_PLANS[("coarse_to_fine", 2)].items()
                for t in terms]
    assert [(r["name"], r["fn"], r["weight"], r["on"]) for r in rows] == expected
    assert all(r["optimizer"] == "generator" and r["steps"] == "[0, ∞)" for r in rows)  # no warm-up, no D


def test_schedule_follows_supervision_and_weights_arguments():
    module = MADF(supervision="none", num_refine=1, style_weight=0.0, tv_weight=0.5, **FAST)
    rows = {r["name"]: r["weight"] for r in module.schedule.rows()}
    assert set(rows) == {f"refine1/{t}" for t in FULL}
    assert rows["refine1/tv"] == 0.5 and rows["refine1/style"] == 0.0
    assert [t.name for t in module.schedule.active(0, "generator")] == [f"refine1/{t}" for t in FULL if t != "style"]


def test_follow_presets_and_explicit_switches():
    paper, code = MADF(**FAST), MADF(follow="code", **FAST)
    assert (paper.style_target, paper.tv_region) == ("last", "dilated_hole")
    assert (code.style_target, code.tv_region) == ("official_code", "full")
    assert "refine1/style" in {t.name for t in code.schedule} and "refine2/style" not in {t.name for t in code.schedule}
    mixed = MADF(follow="code", style_target="last", **FAST)
    assert (mixed.style_target, mixed.tv_region) == ("last", "full")
    for bad in ({"follow": "both"}, {"supervision": "all"}, {"tv_region": "hole"}, {"style_target": "first"}):
        with pytest.raises(ValueError):
            MADF(**FAST, **bad)


def test_no_discriminator_and_single_adam_optimizer():
    module = MADF(**FAST)
    assert module.discriminator is None and not module.schedule.uses("discriminator")
    opt = module.configure_optimizers()
    assert isinstance(opt, torch.optim.Adam)
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["weight_decay"], group["eps"]) == (2e-4, (0.9, 0.999), 0, 1e-8)


def test_constructor_exposes_every_sweep_override():
    """Every `model.init_args.<key>` in the MADF sweep files is a constructor argument (LightningCLI / model-info)."""
    import inspect

    params = set(inspect.signature(MADF.__init__).parameters)
    for name in ("madf_pn", "madf_supervision", "madf_flops"):
        for row in yaml.safe_load((REPO / "sweeps" / f"{name}.yaml").read_text())["rows"]:
            keys = {k.removeprefix("model.init_args.") for k in row["overrides"]}
            assert keys <= params, (name, row["label"], keys - params)


# --- generate(): project space <-> paper space -------------------------------------------------------------------


class EchoGenerator(nn.Module):
    """Stands in for MADFGenerator: records its inputs and returns (input image, input image + 1)."""

    def forward(self, image, mask):
        self.seen = (image, mask)
        return [image, image + 1]


def test_generate_feeds_normalised_masked_image_and_valid_mask():
    module = MADF(num_refine=1, **FAST)
    module.generator = EchoGenerator()
    batch = make_batch(b=2, size=16)
    out = module.generate(batch)
    assert set(out) == {"recovery", "refine1", "output"} and out["output"] is out["refine1"]
    image_in, valid = module.generator.seen
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected_in = ((batch["image"] + 1) / 2 - mean) / std * (1 - batch["mask"])
    torch.testing.assert_close(image_in, expected_in)
    torch.testing.assert_close(valid, (1 - batch["mask"]).expand(-1, 3, -1, -1))  # 3 channels, 1 = valid
    # Known pixels round-trip to the image; holes (0 in normalised space) come back as the ImageNet mean colour.
    known = 1 - batch["mask"]
    torch.testing.assert_close(out["recovery"] * known, batch["image"] * known)
    hole_colour = (mean * 2 - 1).expand(2, 3, 16, 16)
    torch.testing.assert_close(out["recovery"] * batch["mask"], hole_colour * batch["mask"])
    # A +1 in normalised space is +2*std in [-1, 1].
    torch.testing.assert_close(out["refine1"] - out["recovery"], (2 * std).expand(2, 3, 16, 16))


def test_generate_real_network_returns_every_decoder():
    module = MADF(num_refine=2, **FAST)
    with torch.no_grad():
        out = module(make_batch())
    assert decoder_names(2) == ["recovery", "refine1", "refine2"]
    assert set(out) == {*decoder_names(2), "output", "composite"}
    assert all(v.shape == (1, 3, SIZE, SIZE) for v in out.values())


# --- loss functions (§4.1) --------------------------------------------------------------------------------------


def _inputs(module, pred, batch) -> LossInputs:
    return LossInputs(pred=pred, outputs={"output": pred}, batch=batch, module=module, cache={})


def _norm(x):
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x + 1) / 2 - mean) / std


def test_l1_terms_are_means_over_all_elements_in_normalised_space():
    module = MADF(**FAST)
    batch = make_batch(b=2, size=16)
    pred = torch.rand(2, 3, 16, 16) * 2 - 1
    diff = (_norm(pred) - _norm(batch["image"])).abs()
    x = _inputs(module, pred, batch)
    torch.testing.assert_close(madf_hole(x), (diff * batch["mask"]).sum() / diff.numel())
    torch.testing.assert_close(madf_valid(x), (diff * (1 - batch["mask"])).sum() / diff.numel())


def test_perceptual_and_style_use_raw_and_composite_on_pool1_to_pool3():
    module = MADF(**FAST)
    batch = make_batch(b=2, size=32)
    pred = torch.rand(2, 3, 32, 32) * 2 - 1
    vgg = module.vgg_features("vgg16", ("pool1", "pool2", "pool3"))
    comp = pred * batch["mask"] + batch["image"] * (1 - batch["mask"])
    f_gt, f_raw, f_comp = vgg(batch["image"]), vgg(pred), vgg(comp)
    assert [f_gt[n].shape[1:] for n in ("pool1", "pool2", "pool3")] == [(64, 16, 16), (128, 8, 8), (256, 4, 4)]

    def gram(f):
        b, c, h, w = f.shape
        f = f.reshape(b, c, h * w)
        return f @ f.transpose(1, 2) / (c * h * w)

    perc = sum((f[n] - f_gt[n]).abs().mean() for f in (f_raw, f_comp) for n in f_gt)
    style = sum((gram(f[n]) - gram(f_gt[n])).abs().mean() for f in (f_raw, f_comp) for n in f_gt)
    x = _inputs(module, pred, batch)
    torch.testing.assert_close(madf_perceptual(x), perc)
    torch.testing.assert_close(madf_style(x), style)


def test_tv_region_switch_changes_value_not_gradient():
    batch = make_batch(b=1, size=16)
    grads, values = {}, {}
    for region in ("dilated_hole", "full"):
        module = MADF(tv_region=region, **FAST)
        pred = (torch.rand(1, 3, 16, 16) * 2 - 1) if not grads else grads["pred"].detach().clone()
        grads["pred"] = pred
        p = pred.clone().requires_grad_(True)
        value = madf_tv(_inputs(module, p, batch))
        value.backward()
        grads[region], values[region] = p.grad, value.detach()
    # comp(O) equals the image outside the 1-px dilated hole, so only the logged value differs (spec §4.1).
    torch.testing.assert_close(grads["dilated_hole"], grads["full"])
    assert values["full"] > values["dilated_hole"]


def test_loss_functions_are_registered():
    fns = MADF(**FAST).loss_functions()
    assert set(MADF_LOSS_FUNCTIONS) <= set(fns)


# --- training ---------------------------------------------------------------------------------------------------


class Recording(MADF):
    """Records, for every generator step, which (decoder/term) losses were evaluated."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.evaluated: list[tuple[int, tuple[str, ...]]] = []

    def compute_losses(self, optimizer, outputs, batch, cache=None):
        total, values = super().compute_losses(optimizer, outputs, batch, cache)
        self.evaluated.append((self.global_step, tuple(values)))
        return total, values


def fit(module: MADF, steps: int) -> L.Trainer:
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, DataLoader(TinyData(), batch_size=1))
    return trainer


def _sweep_rows(*names: str) -> list:
    rows = []
    for name in names:
        for row in yaml.safe_load((REPO / "sweeps" / f"{name}.yaml").read_text())["rows"]:
            overrides = {k.removeprefix("model.init_args."): v for k, v in row["overrides"].items()}
            rows.append(pytest.param(overrides, id=f"{name}:{row['label']}"))
    return rows


def test_one_training_step_updates_generator_with_every_decoder_supervised():
    module = Recording(**FAST)
    before = [p.detach().clone() for p in module.generator.parameters()]
    trainer = fit(module, 1)
    assert trainer.global_step == 1
    (step, evaluated), = module.evaluated
    assert evaluated == tuple(f"{d}/{t}" for d, terms in supervision_plan("coarse_to_fine", 2).items()
                              for t in terms)
    changed = sum(not torch.equal(a, b) for a, b in zip(before, module.generator.parameters()))
    assert changed > 0.9 * len(before)  # recovery, both refinements and the encoder all receive gradients


@pytest.mark.slow
@pytest.mark.parametrize("overrides", _sweep_rows("madf_pn", "madf_supervision"))
def test_three_training_steps_of_every_table_row(overrides):
    module = Recording(**FAST, **overrides)
    trainer = fit(module, 3)
    assert trainer.global_step == 3 and [s for s, _ in module.evaluated] == [0, 1, 2]
    plan = supervision_plan(module.supervision, module.num_refine, module.style_target)
    assert module.evaluated[-1][1] == tuple(f"{d}/{t}" for d, terms in plan.items() for t in terms)
    assert all(torch.isfinite(p).all() for p in module.generator.parameters())


# --- AIM Track 2: the seg map enters the first mask branch -----------------------------------------------------------

SEG = 52  # AIM one-hot map: 51 classes + other


class SegEchoGenerator(EchoGenerator):
    def forward(self, image, mask, seg=None):
        self.seen_seg = seg
        return super().forward(image, mask)


def _seg_batch(**kwargs) -> dict:
    from helpers import make_batch as helpers_batch  # the shared synthetic batch (this file has its own make_batch)

    return helpers_batch(**kwargs)


def test_semantic_channels_widen_the_first_mask_conv_by_exactly_the_seg_weights():
    from networks.parameters import count_parameters

    module = MADF(num_refine=0, semantic_channels=SEG, **FAST)
    mask_conv = module.generator.encoder[0].op.mask_conv
    assert mask_conv.in_channels == 3 + SEG
    plain = count_parameters(MADF(num_refine=0, **FAST).generator)
    assert plain == 40_741_817  # the S = 0 model is unchanged
    assert count_parameters(module.generator) - plain == SEG * mask_conv.out_channels * 7 * 7 == 40_768


def test_generate_passes_the_seg_map_unmasked_next_to_the_paper_inputs():
    module = MADF(num_refine=1, semantic_channels=SEG, **FAST)
    module.generator = SegEchoGenerator()
    batch = _seg_batch(batch_size=2, size=16, semantic_channels=SEG)
    batch["seg"] = torch.roll(batch["seg"], 3, dims=1)  # class 3 everywhere, holes included
    module.generate(batch)
    image_in, valid = module.generator.seen
    torch.testing.assert_close(valid, (1 - batch["mask"]).expand(-1, 3, -1, -1))
    torch.testing.assert_close(image_in, _norm(batch["image"]) * (1 - batch["mask"]))
    torch.testing.assert_close(module.generator.seen_seg, batch["seg"], rtol=0, atol=0)


def test_missing_seg_raises_the_base_key_error():
    module = MADF(num_refine=1, semantic_channels=SEG, **FAST)
    module.generator = SegEchoGenerator()
    with pytest.raises(KeyError, match="data.semantic: true"):
        module.generate(_seg_batch(batch_size=1, size=16))


class SegBatches(Dataset):
    """Ready-made seg batches (``DataLoader(batch_size=None)`` hands them over as they are)."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> dict:
        return _seg_batch(batch_size=1, size=SIZE, seed=i, semantic_channels=SEG)


def test_one_training_step_with_a_seg_batch():
    module = Recording(num_refine=1, semantic_channels=SEG, **FAST)
    weight = module.generator.encoder[0].op.mask_conv.weight
    before = weight.detach().clone()
    trainer = L.Trainer(max_steps=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, DataLoader(SegBatches(), batch_size=None))
    assert trainer.global_step == 1 and len(module.evaluated) == 1
    assert all(torch.isfinite(p).all() for p in module.generator.parameters())
    # helpers.make_batch's seg is class 0 everywhere: that slice (mask-branch input channel 3) learns, the rest not.
    assert not torch.equal(before[:, 3], weight.detach()[:, 3])
    torch.testing.assert_close(before[:, 4:], weight.detach()[:, 4:], rtol=0, atol=0)


def test_aim_track2_sweep_row_builds_madf_with_52_seg_channels():
    sweep = yaml.safe_load((REPO / "sweeps" / "aim_track2.yaml").read_text())
    (row,) = [r for r in sweep["rows"] if r.get("method") == "madf"]
    args = {k.removeprefix("model.init_args."): v for k, v in row["overrides"].items()}
    assert args == {"semantic_channels": SEG}
    module = MADF(**FAST, **args)
    assert module.generator.encoder[0].op.mask_conv.in_channels == 3 + SEG and module.num_refine == 2
