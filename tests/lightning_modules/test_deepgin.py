"""DeepGIN Lightning module: schedule table, two-phase switch (also across a resume), loss forms, every Table 1 row
and Track 2 for 3 CPU steps at 64 px."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from lightning_modules.deepgin import PIX2PIXHD_LAYER_WEIGHTS, DeepGIN, deepgin_tv, hole_weighted_l1
from lightning_modules.losses import LossInputs

SIZE = 64
FAST = dict(vgg_weights="random", vgg_resize=None)  # tiny, no 224 resize


class TinyData(Dataset):
    """Deterministic random images in [-1, 1] with a box hole (and a one-hot seg map if asked)."""

    def __init__(self, n: int = 8, seg_channels: int = 0):
        self.n, self.seg_channels = n, seg_channels

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        image = torch.rand(3, SIZE, SIZE, generator=g) * 2 - 1
        mask = torch.zeros(1, SIZE, SIZE)
        mask[:, 16:48, 8 + i % 8: 40 + i % 8] = 1
        item = {"image": image, "mask": mask, "index": i, "name": f"tiny_{i}", "mask_type": "box"}
        if self.seg_channels:
            labels = torch.randint(0, self.seg_channels, (SIZE, SIZE), generator=g)
            item["seg"] = torch.nn.functional.one_hot(labels, self.seg_channels).permute(2, 0, 1).float()
        return item


class Recording(DeepGIN):
    """Records, per optimiser call, the generator step and the loss terms that were evaluated, and the LRs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls: list[tuple[int, str, tuple[str, ...]]] = []
        self.lrs: list[tuple[int, float, float | None]] = []
        self.d_snapshots: list[tuple[int, torch.Tensor]] = []

    def compute_losses(self, optimizer, outputs, batch, cache=None):
        total, values = super().compute_losses(optimizer, outputs, batch, cache)
        self.calls.append((self.global_step, optimizer, tuple(sorted(values))))
        return total, values

    def training_step(self, batch, batch_idx):
        step = self.global_step
        super().training_step(batch, batch_idx)
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        self.lrs.append((step, opts[0].param_groups[0]["lr"], opts[1].param_groups[0]["lr"] if len(opts) > 1 else None))
        if self.discriminator is not None:
            self.d_snapshots.append((step, torch.cat([p.detach().flatten() for p in self.discriminator.parameters()])))


def trainer(max_steps: int, **kwargs) -> L.Trainer:
    return L.Trainer(max_steps=max_steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, **kwargs)


def fit(model, steps: int, seg_channels: int = 0, ckpt_path=None, **trainer_kwargs) -> L.Trainer:
    torch.manual_seed(0)
    t = trainer(steps, **trainer_kwargs)
    t.fit(model, DataLoader(TinyData(seg_channels=seg_channels), batch_size=2), ckpt_path=ckpt_path)
    return t


TABLE1_ROWS = {
    "coarse_only": dict(stages="coarse_only", resblock="std", attention="none", back_projection=False),
    "std": dict(resblock="std", attention="none", back_projection=False),
    "std_sa": dict(resblock="std", attention="sa", back_projection=False),
    "std_mssa": dict(resblock="std", attention="mssa", back_projection=False),
    "dilated_mssa": dict(resblock="dilated", attention="mssa", back_projection=False),
    "spd_mssa": dict(resblock="spd", attention="mssa", back_projection=False),
    "spd_mssa_bp": dict(resblock="spd", attention="mssa", back_projection=True),
}


L1_TERMS = ("l1_coarse", "l1_lr", "l1_out")
FULL_G_TERMS = tuple(sorted(L1_TERMS + ("adv_g", "perceptual_out", "perceptual_comp", "style_out", "style_comp", "tv")))


# ---------------------------------------------------------------------------------------------- schedule table
def test_schedule_table_matches_spec():
    m = DeepGIN(warmup_steps=100, **FAST)
    rows = {(r.name, r.fn, r.weight, r.on, r.optimizer, r.start_step, r.stop_step) for r in m.schedule}
    assert rows == {
        ("l1_coarse", "hole_weighted_l1", 1.0, "coarse", "generator", 0, None),
        ("l1_out", "hole_weighted_l1", 1.0, "output", "generator", 0, None),
        ("l1_lr", "hole_weighted_l1", 1.0, "lr", "generator", 0, None),
        ("adv_g", "hinge_g_multiscale", 0.001, "composite", "generator", 100, None),
        ("perceptual_out", "deepgin_perceptual", 0.05, "output", "generator", 100, None),
        ("perceptual_comp", "deepgin_perceptual", 0.05, "composite", "generator", 100, None),
        ("style_out", "deepgin_style", 80.0, "output", "generator", 100, None),
        ("style_comp", "deepgin_style", 80.0, "composite", "generator", 100, None),
        ("tv", "deepgin_tv", 0.1, "composite", "generator", 100, None),
        ("feature_matching", "d_feature_matching", 0.0, "composite", "generator", 100, None),  # off, as the code
        ("adv_d", "hinge_d_multiscale", 0.5, "composite", "discriminator", 100, None),
    }
    assert m.schedule.phase_boundaries() == [100]


def test_schedule_of_ablation_variants():
    names = lambda **kw: {t.name for t in DeepGIN(**FAST, **kw).schedule}  # noqa: E731
    assert "l1_lr" not in names(back_projection=False)
    coarse = names(stages="coarse_only", resblock="std", attention="none", back_projection=False)
    assert "l1_coarse" not in coarse and "l1_lr" not in coarse and "l1_out" in coarse  # I_out := I_coarse, once
    no_gan = DeepGIN(adversarial=False, **FAST)
    assert no_gan.discriminator is None
    assert not {"adv_g", "adv_d", "feature_matching"} & {t.name for t in no_gan.schedule}


def test_default_optimiser_settings_follow_the_code():
    m = DeepGIN(**FAST)
    assert (m.lr_g, m.lr_d, m.betas_g, m.betas_d) == (1e-4, 4e-4, (0.5, 0.999), (0.5, 0.999))
    assert m.grad_clip_g == 3.0 and m.grad_clip_d is None
    # both losses from the pre-update D and the pre-update fake (official per-iteration order), same step
    assert m.update_order == "simultaneous"


def test_follow_paper_changes_exactly_the_loss_forms_and_d_weight():
    code, paper = DeepGIN(**FAST), DeepGIN(follow="paper", **FAST)
    diff = {r.name: (r.weight, s.weight) for r, s in zip(code.schedule, paper.schedule) if r != s}
    assert diff == {"adv_d": (0.5, 1.0)}
    assert (code.perceptual_layer_weights, code.style_form, code.tv_form) == ("pix2pixhd", "mse_weighted", "l2")
    assert (paper.perceptual_layer_weights, paper.style_form, paper.tv_form) == ("uniform", "l1", "l1")
    fc, fp = code.loss_functions(), paper.loss_functions()
    assert fc["deepgin_perceptual"].weights == list(PIX2PIXHD_LAYER_WEIGHTS)
    assert fp["deepgin_perceptual"].weights == [1.0] * 5
    assert (fc["deepgin_style"].criterion, fc["deepgin_style"].weights) == ("mse", list(PIX2PIXHD_LAYER_WEIGHTS))
    assert (fp["deepgin_style"].criterion, fp["deepgin_style"].weights) == ("l1", [1.0] * 5)
    # single-item overrides win over `follow`
    mixed = DeepGIN(follow="paper", tv_form="l2", d_loss_weight=0.5, **FAST)
    assert (mixed.perceptual_layer_weights, mixed.style_form, mixed.tv_form, mixed.d_loss_weight) == (
        "uniform", "l1", "l2", 0.5)
    with pytest.raises(ValueError):
        DeepGIN(follow="both", **FAST)


def _inputs(pred, target, mask, **outputs):
    return LossInputs(pred=pred, outputs=outputs, batch={"image": target, "mask": mask}, module=None)


def test_tv_forms():
    img = torch.rand(2, 3, 8, 8) * 2 - 1
    x01 = (img + 1) / 2
    dv, dh = x01[:, :, 1:] - x01[:, :, :-1], x01[..., 1:] - x01[..., :-1]
    x = _inputs(img, img, torch.zeros(2, 1, 8, 8))
    # code TVLoss: 2 * (sum dv^2 / (C (H-1) W) + sum dh^2 / (C H (W-1))) / B
    expected_code = 2 * (dv.square().sum() / (3 * 7 * 8) + dh.square().sum() / (3 * 8 * 7)) / 2
    torch.testing.assert_close(deepgin_tv(x, "l2"), expected_code)
    torch.testing.assert_close(deepgin_tv(x, "l1"), dv.abs().mean() + dh.abs().mean())


def test_hole_weighted_l1_full_and_low_resolution():
    torch.manual_seed(0)
    target = torch.rand(1, 3, 64, 64) * 2 - 1
    pred = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 10:40, 20:50] = 1
    d = ((pred - target) / 2).abs()
    expected = 5 * (d * mask).sum() / d.numel() + (d * (1 - mask)).sum() / d.numel()
    torch.testing.assert_close(hole_weighted_l1(_inputs(pred, target, mask), 5.0), expected)
    # I_lr: target and mask are downsampled bilinearly (align_corners=True) -> a soft 16x16 mask
    lr = torch.rand(1, 3, 16, 16) * 2 - 1
    t4 = torch.nn.functional.interpolate(target, size=(16, 16), mode="bilinear", align_corners=True)
    m4 = torch.nn.functional.interpolate(mask, size=(16, 16), mode="bilinear", align_corners=True)
    assert ((m4 > 0) & (m4 < 1)).any()
    d4 = ((lr - t4) / 2).abs()
    torch.testing.assert_close(hole_weighted_l1(_inputs(lr, target, mask), 5.0),
                               5 * (d4 * m4).mean() + (d4 * (1 - m4)).mean())


def test_lr_factor_is_stepped_linear_decay_after_warmup_and_constant_stretch():
    m = DeepGIN(warmup_steps=10, lr_constant_steps=10, lr_decay_steps=90, lr_decay_interval=10, **FAST)
    assert [m.lr_factor(s) for s in (0, 9, 10, 19, 29)] == [1.0] * 5
    assert m.lr_factor(30) == pytest.approx(1 - 10 / 90)
    assert m.lr_factor(39) == pytest.approx(1 - 10 / 90)
    assert m.lr_factor(40) == pytest.approx(1 - 20 / 90)
    assert m.lr_factor(10 + 10 + 90) == 0.0 and m.lr_factor(10_000) == 0.0


# ---------------------------------------------------------------------------------------------- two phases
def _terms_by_step(model: Recording, optimizer: str) -> dict[int, tuple[str, ...]]:
    return {step: names for step, opt, names in model.calls if opt == optimizer}


def test_warmup_uses_only_l1_and_switches_at_configured_step():
    """Full model (Table 1 last row), 3 steps: steps 0-1 warm-up, step 2 the GAN objective."""
    model = Recording(warmup_steps=2, lr_constant_steps=0, lr_decay_steps=4, lr_decay_interval=1, **FAST)
    d_init = torch.cat([p.detach().flatten().clone() for p in model.discriminator.parameters()])
    fit(model, 3)
    g_terms, d_terms = _terms_by_step(model, "generator"), _terms_by_step(model, "discriminator")
    assert g_terms == {0: L1_TERMS, 1: L1_TERMS, 2: FULL_G_TERMS}
    assert d_terms == {2: ("adv_d",)}  # no D call at all during the warm-up, and no D step counted
    assert model.d_step_count == 1
    # D is untouched through the warm-up (it starts fresh at the GAN stage) and trained afterwards
    snaps = dict(model.d_snapshots)
    assert torch.equal(snaps[1], d_init)
    assert not torch.equal(snaps[2], d_init)
    assert [round(lr_g / 1e-4, 6) for _, lr_g, _ in model.lrs] == [1.0, 1.0, 1.0]
    assert [round(lr_d / 4e-4, 6) for _, _, lr_d in model.lrs] == [1.0, 1.0, 1.0]


def test_phase_switch_and_lr_survive_resume(tmp_path):
    """Stop after 1 step (mid warm-up), resume from the checkpoint: the switch still happens at step 2 and the LR
    follows the restored global_step. Coarse-only row to keep it cheap."""
    kwargs = dict(warmup_steps=2, lr_constant_steps=0, lr_decay_steps=4, lr_decay_interval=1, **FAST,
                  **TABLE1_ROWS["coarse_only"])
    first = Recording(**kwargs)
    t = fit(first, 1)
    ckpt = tmp_path / "mid_warmup.ckpt"
    t.save_checkpoint(ckpt)
    resumed = Recording(**kwargs)
    t2 = fit(resumed, 4, ckpt_path=str(ckpt))
    assert t2.global_step == 4
    g_terms = _terms_by_step(resumed, "generator")
    full = tuple(sorted(set(FULL_G_TERMS) - {"l1_coarse", "l1_lr"}))
    assert g_terms == {1: ("l1_out",), 2: full, 3: full}
    assert [round(lr_g / 1e-4, 6) for _, lr_g, _ in resumed.lrs] == [1.0, 1.0, 0.75]
    assert [round(lr_d / 4e-4, 6) for _, _, lr_d in resumed.lrs] == [1.0, 1.0, 0.75]


# ---------------------------------------------------------------------------------------------- every variant
# 3 steps of a 43M-parameter model take ~15 s on a quiet 2-core CPU (minutes when it is shared): the coarse-only row
# and Track 2 (ours) run by default, the other rows are `slow` (the full row also runs in the warm-up test above).
ROW_PARAMS = [pytest.param(r, marks=() if r == "coarse_only" else pytest.mark.slow) for r in TABLE1_ROWS]


@pytest.mark.parametrize("row", ROW_PARAMS)
def test_three_training_steps_of_every_table1_row(row):
    model = Recording(warmup_steps=1, **TABLE1_ROWS[row], **FAST)
    before = [p.detach().clone() for p in model.generator.parameters()]
    t = fit(model, 3)
    assert t.global_step == 3
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in t.callback_metrics.values())
    # every generator parameter receives a gradient (no dead branch) and the weights move
    assert all(p.grad is not None for p in model.generator.parameters())
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))
    assert changed > 0.8 * len(before)
    assert "adv_g" in _terms_by_step(model, "generator")[2]


@pytest.mark.parametrize("seg_channels", [52, pytest.param(3, marks=pytest.mark.slow)],
                         ids=["ours_52_onehot", "official_3"])
def test_three_training_steps_track2(seg_channels):
    model = Recording(warmup_steps=1, semantic_channels=seg_channels, grad_clip_g=None, **FAST)
    assert model.generator.semantic_channels == seg_channels
    t = fit(model, 3, seg_channels=seg_channels)
    assert t.global_step == 3
    with pytest.raises(KeyError):
        model.generate({"image": torch.zeros(1, 3, SIZE, SIZE), "mask": torch.zeros(1, 1, SIZE, SIZE)})


def test_training_with_vgg_at_224_like_the_code():
    model = Recording(warmup_steps=0, vgg_weights="random", **TABLE1_ROWS["coarse_only"])
    assert fit(model, 1).global_step == 1


# ---------------------------------------------------------------------------------------------- outputs, test time
def _batch(n: int = 1):
    data = TinyData()
    items = [data[i] for i in range(n)]
    return {"image": torch.stack([x["image"] for x in items]), "mask": torch.stack([x["mask"] for x in items])}


def test_generate_converts_ranges_and_composite_keeps_known_pixels():
    torch.manual_seed(0)
    m = DeepGIN(resblock="std", attention="none", **FAST).eval()
    batch = _batch(2)
    with torch.no_grad():
        out = m(batch)
    assert out["lr"].shape == (2, 3, SIZE // 4, SIZE // 4)
    assert 0 < out["alpha"].min() and out["alpha"].max() < 1
    known = 1 - batch["mask"]
    torch.testing.assert_close(out["composite"] * known, batch["image"] * known)
    # the network saw white (+1 in [-1, 1]) holes
    assert torch.all(out["masked_input"][batch["mask"].expand_as(batch["image"]) > 0] == 1.0)


def test_test_time_options_are_off_by_default_and_only_act_in_eval():
    torch.manual_seed(0)
    noise = torch.rand(1, 3, SIZE, SIZE)  # a position-dependent, high-frequency stand-in for the network's I_out

    def fake_run(image01, mask, seg):
        return {"output": noise.clone(), "coarse": noise.clone(), "masked_input": image01 * (1 - mask) + mask}

    batch = _batch(1)
    results = {}
    for name, kw in {"plain": {}, "ens": {"self_ensemble": True}, "blur": {"post_blur": True}}.items():
        m = DeepGIN(**TABLE1_ROWS["coarse_only"], **FAST, **kw)
        if not kw:
            assert m.use_self_ensemble is False and m.use_post_blur is False
        m._run = fake_run
        with torch.no_grad():
            results[name + "_train"] = m.train()(batch)["output"]
            results[name] = m.eval()(batch)["output"]
    assert torch.equal(results["ens_train"], results["plain_train"])
    assert torch.equal(results["blur_train"], results["plain_train"])
    assert torch.equal(results["plain"], noise * 2 - 1)
    # x5 ensemble of a fixed pattern = mean of its 5 geometric copies (each mapped back)
    copies = [noise, noise.rot90(-1, (2, 3)), noise.rot90(-2, (2, 3)), noise.rot90(-3, (2, 3)), noise.flip(3)]
    torch.testing.assert_close(results["ens"], torch.stack(copies).mean(0) * 2 - 1)
    assert results["blur"].std() < 0.8 * results["plain"].std()  # bicubic down/up removes high frequencies


def test_config_switch_values_are_typed_primitives():
    import inspect

    sig = inspect.signature(DeepGIN.__init__)
    for name in ("stages", "resblock", "attention", "back_projection", "follow", "warmup_steps", "self_ensemble",
                 "post_blur", "perceptual_layer_weights", "style_form", "tv_form", "d_loss_weight"):
        assert name in sig.parameters
    assert math.isclose(DeepGIN(**FAST).term_weights["style"], 80.0)


# ---------------------------------------------------------------------------------------------- configs and sweeps
def _yaml(path: str) -> dict:
    """A sweep file as written, or a packaged config as LightningCLI reads it (its ``compose:`` parts merged)."""
    import yaml

    from assembly.config import load_config
    from lightning_modules import CONFIG_DIR

    if not path.startswith("sweeps/"):
        return load_config(path.removesuffix(".yaml"))
    with open(CONFIG_DIR.parent.parent / path) as handle:
        return yaml.safe_load(handle)


def test_configs_schedule_and_tracks():
    full = _yaml("deepgin.yaml")["model"]["init_args"]
    # CelebA-HQ: 27,000 / 4 = 6,750 iterations per epoch; 10 warm-up + 10 constant + 90 decay epochs
    assert (full["warmup_steps"], full["lr_constant_steps"], full["lr_decay_steps"], full["lr_decay_interval"]) == (
        10 * 6750, 10 * 6750, 90 * 6750, 6750)
    assert _yaml("deepgin.yaml")["trainer"]["max_steps"] == 110 * 6750
    assert full["self_ensemble"] is False and full["post_blur"] is False
    t1, t2 = _yaml("aim_track1.yaml"), _yaml("aim_track2.yaml")
    for cfg in (t1, t2):
        m = cfg["model"]["init_args"]
        assert (m["warmup_steps"], m["lr_decay_interval"], cfg["trainer"]["max_steps"]) == (25820, 2582, 110 * 2582)
        assert cfg["data"]["dataset"] == "ade20k" and cfg["data"]["masks"] == "aim_mixed"
    assert t1["model"]["init_args"]["grad_clip_g"] == 3.0 and t1["model"]["init_args"]["semantic_channels"] == 0
    assert t2["model"]["init_args"]["grad_clip_g"] is None  # gin-sg does not clip
    assert t2["model"]["init_args"]["semantic_channels"] == 52 and t2["data"]["semantic"] is True
    smoke = _yaml("deepgin_smoke.yaml")
    assert smoke["data"]["dataset"] == "sample" and smoke["trainer"]["max_steps"] == 3


def test_official_track2_config_is_aim_track2_with_the_raw_seg_colours():
    """``deepgin_track2_official`` (converted gin-sg weights): the 3-channel raw colour map on both sides, the GAN
    stage from step 0; data, masks and test-time extras as ``aim_track2``."""
    from inpaint_suite.convert import converter

    official, t2 = _yaml("deepgin_track2_official.yaml"), _yaml("aim_track2.yaml")
    m = official["model"]["init_args"]
    track2_args = converter("deepgin").model_args("track2")
    # what the converted checkpoint records: model options, and seg_encoding, which the CLI takes from the data
    assert {k: m[k] for k in track2_args if k != "seg_encoding"} == {k: v for k, v in track2_args.items()
                                                                     if k != "seg_encoding"}
    assert (m["semantic_channels"], m["warmup_steps"]) == (3, 0) and "seg_encoding" not in m
    assert official["data"]["seg_encoding"] == track2_args["seg_encoding"] == "ade_rgb"
    assert official["data"]["semantic"] is True
    assert {k: v for k, v in official["data"].items() if k != "seg_encoding"} == t2["data"]
    for key in ("self_ensemble", "post_blur", "grad_clip_g", "lr_decay_interval", "lr_constant_steps"):
        assert m[key] == t2["model"]["init_args"][key], key
    assert official["trainer"]["max_steps"] == 100 * 2582


def test_sweep_files_use_existing_options_and_keep_lost_numbers_null():
    from assembly.config import init_arg_names
    from lightning_modules import method_class

    valid = set(init_arg_names(DeepGIN))
    comp = _yaml("sweeps/deepgin_components.yaml")
    assert len(comp["rows"]) == 7
    for row in comp["rows"] + _yaml("sweeps/deepgin_params.yaml")["rows"]:
        assert {k.removeprefix("model.init_args.") for k in row["overrides"]} <= valid
    first = comp["rows"][0]["paper"]
    assert first["ssim"] is None and first["l1"] is None and first["psnr"] == 31.55  # lost in the paper's text
    assert comp["rows"][-1]["paper"] == {"psnr": 33.26, "ssim": 0.939, "l1": 0.03666, "fid": 11.424, "lpips": 0.132}
    for track in ("aim_track1", "aim_track2"):
        sweep = _yaml(f"sweeps/{track}.yaml")
        assert sweep["config"] == track and sweep["group_by"] == "mask_type"
        methods = {row["method"] for row in sweep["rows"]}
        assert methods == {None, "deepgin", "aotgan", "madf", "hifill"}
        for row in sweep["rows"]:
            if row["method"]:
                names = set(init_arg_names(method_class(row["method"])))
                assert {k.removeprefix("model.init_args.") for k in row["overrides"]} <= names, row["label"]


def test_adversarial_terms_are_conditional_hinge_losses():
    from types import SimpleNamespace

    from lightning_modules.deepgin import adversarial_d, adversarial_g

    class StubD(torch.nn.Module):  # two "scales" that return the first channel of the judged image (in [0, 1])
        def forward(self, x):
            assert x.shape[1] == 6  # concat[I_in, X]
            return [x[:, 3:4], 2 * x[:, 3:4]]

    torch.manual_seed(0)
    target, pred = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    x = LossInputs(pred=pred, outputs={"masked_input": torch.ones(2, 3, 8, 8)},
                   batch={"image": target, "mask": torch.ones(2, 1, 8, 8)}, module=SimpleNamespace(discriminator=StubD()))
    f, r = (pred[:, :1] + 1) / 2, (target[:, :1] + 1) / 2
    torch.testing.assert_close(adversarial_g(x), -(f.mean() + (2 * f).mean()))
    expected_d = sum(torch.relu(1 - k * r).mean() + torch.relu(1 + k * f).mean() for k in (1, 2))
    torch.testing.assert_close(adversarial_d(x), expected_d)


def test_feature_matching_is_zero_for_identical_images_and_trains_the_generator():
    from types import SimpleNamespace

    from lightning_modules.deepgin import feature_matching
    from networks.deepgin import MultiScaleDiscriminator

    torch.manual_seed(0)
    d = MultiScaleDiscriminator().eval()  # eval: the SN power iteration does not move between the two passes
    target = torch.rand(1, 3, 32, 32) * 2 - 1
    pred = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    make = lambda p: LossInputs(pred=p, outputs={"masked_input": target}, module=SimpleNamespace(discriminator=d),  # noqa: E731
                                batch={"image": target, "mask": torch.ones(1, 1, 32, 32)})
    with torch.no_grad():
        assert feature_matching(make(target)).item() == pytest.approx(0.0, abs=1e-6)
    value = feature_matching(make(pred))
    value.backward()
    assert value.item() > 0 and pred.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------- evaluation protocols
def _official_tiles(img, rows: int, cols: int):
    """test_ensemble.py's loops, re-typed: ``tile[i, j] = img[vv + rows * j, hv + cols * i]`` for hv, then vv."""
    import numpy as np

    h, w = img.shape[:2]
    th, tw = h // rows, w // cols
    tiles = []
    for hv in range(cols):
        for vv in range(rows):
            tile = np.zeros((tw, th) + img.shape[2:], img.dtype)
            for i in range(tw):
                for j in range(th):
                    tile[i, j] = img[vv + rows * j, hv + cols * i]
            tiles.append(tile)
    return tiles


@pytest.mark.parametrize("rows,cols", [(1, 1), (2, 2), (4, 4), (2, 3)])
@pytest.mark.parametrize("transpose", [False, True])
def test_polyphase_tiling_then_untiling_is_the_identity(rows, cols, transpose):
    from evaluation.tiling import polyphase_merge, polyphase_split

    x = torch.randn(2, 3, 8 * rows, 4 * cols)
    tiles = polyphase_split(x, rows, cols, transpose)
    assert tiles.shape == ((rows * cols * 2, 3, 4, 8) if transpose else (rows * cols * 2, 3, 8, 4))
    assert torch.equal(polyphase_merge(tiles, rows, cols, transpose), x)
    if not transpose:  # phase (0, 0) of sample 0 is the plain sub-sampling
        assert torch.equal(tiles[0], x[0, :, ::rows, ::cols])
    with pytest.raises(ValueError, match="polyphase"):
        polyphase_split(torch.zeros(1, 1, 9, 9), 2, 2)


def test_polyphase_split_with_transpose_is_test_ensemble_tiling():
    import numpy as np

    from evaluation.tiling import polyphase_split

    img = np.random.default_rng(0).integers(0, 256, (12, 8, 3), dtype=np.uint8)  # H = 3 * 4, W = 2 * 4
    ours = polyphase_split(torch.from_numpy(img).permute(2, 0, 1)[None], 3, 2, transpose=True)
    for k, tile in enumerate(_official_tiles(img, 3, 2)):
        assert np.array_equal(ours[k].permute(1, 2, 0).numpy(), tile), k


class Identity(DeepGIN):
    """DeepGIN whose network returns its input and records the input shapes (the protocol around the network)."""

    def __init__(self, **kwargs):
        super().__init__(**TABLE1_ROWS["coarse_only"], **FAST, **kwargs)
        self.shapes: list[tuple[int, ...]] = []

    def _run(self, image01, mask, seg):
        self.shapes.append(tuple(image01.shape))
        return {"output": image01.clone(), "coarse": image01.clone(), "masked_input": image01}


def test_polyphase1024_runs_16_tiles_of_256_and_gives_1024_px_output():
    m = Identity().eval()
    assert m.eval_protocol == "polyphase1024" and m.tile_transpose  # the spec's Table 1 protocol by default
    image = torch.rand(1, 3, 1024, 1024) * 2 - 1
    mask = torch.zeros(1, 1, 1024, 1024)
    with torch.no_grad():
        out = m._eval_outputs({"image": image, "mask": mask})
    assert m.shapes == [(1, 3, 256, 256)] * 16
    assert out["output"].shape == (1, 3, 1024, 1024)
    torch.testing.assert_close(out["output"], image, rtol=0, atol=1e-6)  # no resize at 1024: tile + untile only
    m.shapes.clear()
    with torch.no_grad():
        small = m._eval_outputs({"image": image[..., :512, :512], "mask": mask[..., :512, :512]})
    assert m.shapes == [(1, 3, 256, 256)] * 16 and small["output"].shape == (1, 3, 512, 512)


def test_protocol_grids():
    m = Identity(eval_protocol="native")
    assert m.protocol_grid(256, 256) == (256, 256, 1, 1)
    assert m.protocol_grid(64, 64) == (256, 256, 1, 1)  # at least one tile
    assert m.protocol_grid(400, 600) == (512, 512, 2, 2)  # the 600x400 AIM validation photo
    assert m.protocol_grid(1074, 1921) == (1024, 2048, 4, 8)
    assert Identity(eval_protocol="resize256").protocol_grid(1074, 1921) == (256, 256, 1, 1)
    assert Identity(eval_protocol="direct").protocol_grid(64, 96) == (64, 96, 1, 1)
    with pytest.raises(ValueError, match="eval_protocol must be one of"):
        DeepGIN(eval_protocol="tiles", **FAST)


def test_native_protocol_feeds_a_256_photo_transposed():
    """One tile at 256: the network sees the image transposed (test_ensemble.py) unless tile_transpose is off."""
    image = torch.rand(1, 3, 256, 256) * 2 - 1
    mask = torch.zeros(1, 1, 256, 256)
    mask[..., 40:90, 100:200] = 1
    pattern = torch.rand(1, 3, 256, 256)

    class Fixed(Identity):
        def _run(self, image01, mask, seg):
            self.seen = (image01, mask)
            return {"output": pattern.clone(), "coarse": pattern, "masked_input": image01}

    for transpose in (True, False):
        m = Fixed(eval_protocol="native", tile_transpose=transpose).eval()
        with torch.no_grad():
            out = m._eval_outputs({"image": image, "mask": mask})
        seen_image, seen_mask = m.seen
        flip = (lambda t: t.transpose(-2, -1)) if transpose else (lambda t: t)
        assert torch.equal(seen_mask, flip(mask))
        torch.testing.assert_close(seen_image, flip((image + 1) / 2))
        torch.testing.assert_close(out["output"], flip(pattern) * 2 - 1)
        torch.testing.assert_close(out["composite"] * (1 - mask), image * (1 - mask))


def test_tiled_forward_equals_running_each_tile_separately():
    """polyphase1024 with 32-px tiles (grid 128) on a real coarse-only network vs the official tile loops by hand:
    resize (bicubic image, bilinear mask > 0), cut the 16 transposed tiles, generate() on each, put back, resize."""
    import numpy as np
    import torch.nn.functional as F

    torch.manual_seed(0)
    m = DeepGIN(tile_size=32, **TABLE1_ROWS["coarse_only"], **FAST).eval()
    batch = _batch(1)
    with torch.no_grad():
        ours = m._eval_outputs(batch)["output"]
        image01 = F.interpolate((batch["image"] + 1) / 2, size=(128, 128), mode="bicubic", antialias=True).clamp(0, 1)
        hole = (F.interpolate(batch["mask"], size=(128, 128), mode="bilinear", antialias=True) > 0).float()
        img = image01[0].permute(1, 2, 0).numpy()
        msk = hole[0, 0].numpy()
        full = np.zeros_like(img)
        for k, (tile, tile_mask) in enumerate(zip(_official_tiles(img, 4, 4), _official_tiles(msk, 4, 4))):
            x = torch.from_numpy(tile).permute(2, 0, 1)[None] * 2 - 1
            out = m.generate({"image": x, "mask": torch.from_numpy(tile_mask)[None, None]})["output"]
            out = ((out + 1) / 2)[0].permute(1, 2, 0).numpy()
            hv, vv = divmod(k, 4)
            for i in range(32):
                for j in range(32):
                    full[vv + 4 * j, hv + 4 * i] = out[i, j]
        expected = F.interpolate(torch.from_numpy(full).permute(2, 0, 1)[None], size=(64, 64), mode="bicubic",
                                 antialias=True) * 2 - 1
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)


def test_direct_protocol_is_generate():
    torch.manual_seed(0)
    m = DeepGIN(eval_protocol="direct", **TABLE1_ROWS["coarse_only"], **FAST).eval()
    batch = _batch(1)
    with torch.no_grad():
        assert torch.equal(m._eval_outputs(batch)["output"], m(batch)["output"])


def test_direct_protocol_pads_a_native_size_to_a_multiple_of_16_and_crops_back():
    m = Identity(eval_protocol="direct").eval()
    image = torch.rand(1, 3, 50, 70) * 2 - 1
    mask = torch.zeros(1, 1, 50, 70)
    mask[..., 10:30, 20:40] = 1
    with torch.no_grad():
        out = m._eval_outputs({"image": image, "mask": mask})
    assert m.shapes == [(1, 3, 64, 80)]
    torch.testing.assert_close(out["output"], image, rtol=0, atol=1e-6)
    assert out["composite"].shape == (1, 3, 50, 70)


def test_validation_uses_val_protocol_direct_without_the_test_time_extras():
    """Default: validation (fit and validate) runs one plain pass per batch; test keeps the paper protocol."""
    m = Identity(self_ensemble=True, post_blur=True)
    assert m.eval_protocol == "polyphase1024" and m.val_protocol == "direct"
    trainer(1, limit_val_batches=1).validate(m, DataLoader(TinyData(n=2), batch_size=2), verbose=False)
    assert m.shapes == [(2, 3, SIZE, SIZE)]  # one pass: no 16 tiles, no x5 ensemble
    assert (m.eval_protocol, m.use_self_ensemble, m.use_post_blur) == ("polyphase1024", True, True)  # restored
    m.shapes.clear()
    with torch.no_grad():
        m.eval()._eval_outputs(_batch(1))
    assert m.shapes == [(1, 3, 256, 256)] * 16 * 5  # test/predict: 16 tiles, each ensembled x5
    tiled = Identity(val_protocol="resize256")
    trainer(1, limit_val_batches=1).validate(tiled, DataLoader(TinyData(n=2), batch_size=2), verbose=False)
    assert tiled.shapes == [(2, 3, 256, 256)]
    with pytest.raises(ValueError, match="val_protocol must be one of"):
        DeepGIN(val_protocol="tiles", **FAST)


# ---------------------------------------------------------------------------------------------- fresh GAN-stage Adam
class AdamSteps(DeepGIN):
    """Records the Adam step count of G's first parameter after every training step."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.adam_steps: list[int] = []

    def training_step(self, batch, batch_idx):
        super().training_step(batch, batch_idx)
        opt_g = self.optimizers()[0].optimizer
        state = opt_g.state[next(iter(self.generator.parameters()))]
        self.adam_steps.append(int(state["step"]))


@pytest.mark.parametrize("fresh,expected", [(True, [1, 2, 1, 2]), (False, [1, 2, 3, 4])])
def test_gan_stage_starts_with_a_fresh_adam_exactly_at_the_boundary(fresh, expected):
    kwargs = dict(warmup_steps=2, lr_constant_steps=0, lr_decay_steps=4, lr_decay_interval=1, **FAST,
                  **TABLE1_ROWS["coarse_only"])
    model = AdamSteps(fresh_optimizer_at_gan_stage=fresh, **kwargs)
    assert AdamSteps(**kwargs).fresh_optimizer_at_gan_stage is True  # the official main stage's default
    fit(model, 4)
    assert model.adam_steps == expected
