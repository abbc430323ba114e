"""Tests for lightning_modules/aotgan.py: the loss schedule, the SM-PatchGAN targets, every paper/code switch, and
short training runs of every ablation variant (spec §3-4, §7, §9)."""

from __future__ import annotations

import math
from contextlib import contextmanager

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lightning_modules.aotgan import AOTGAN, gaussian_blur_mask
from lightning_modules.losses import LossInputs

SIZE = 48  # smallest size the rate-8 branches accept comfortably (feature map 12 > 8), divisible by 4
FAST = {"channels": 16, "num_blocks": 1, "vgg_weights": "random"}
NO_VGG = {"loss_weights": {"style": 0.0, "perceptual": 0.0}}




def make(**kwargs) -> AOTGAN:
    return AOTGAN(**{**FAST, **NO_VGG, **kwargs})


def batch(b: int = 2, size: int = SIZE, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, size, size, generator=g) * 2 - 1
    mask = torch.zeros(b, 1, size, size)
    mask[..., size // 4: size // 2 + 4, size // 3: 3 * size // 4] = 1
    return {"image": image, "mask": mask, "index": torch.arange(b)}


class ConstantD(nn.Module):
    """A stub discriminator returning a fixed score map (B, 1, h, w), ignoring its input except for the batch."""

    def __init__(self, score: torch.Tensor) -> None:
        super().__init__()
        self.score = nn.Parameter(score.clone())

    def forward(self, image):
        return self.score.expand(image.shape[0], -1, -1, -1)


def inputs(module, b, pred=None) -> LossInputs:
    pred = b["image"] if pred is None else pred
    return LossInputs(pred=pred, outputs={"composite": pred}, batch=b, module=module)


# --------------------------------------------------------------------------------------------- schedule


def test_loss_schedule_matches_spec_eq8():
    rows = [(r["name"], r["fn"], r["weight"], r["on"], r["optimizer"], r["steps"]) for r in
            AOTGAN(**FAST).schedule.rows()]
    assert rows == [
        ("l1", "l1", 1.0, "output", "generator", "[0, ∞)"),
        ("style", "aot_style", 250.0, "output", "generator", "[0, ∞)"),
        ("perceptual", "aot_perceptual", 0.1, "output", "generator", "[0, ∞)"),
        ("adversarial", "aot_adv_g", 0.01, "composite", "generator", "[0, ∞)"),
        ("discriminator", "aot_adv_d", 1.0, "composite", "discriminator", "[0, ∞)"),
    ]


def test_percep_on_composite_moves_only_the_feature_losses():
    rows = {r["name"]: r["on"] for r in make(percep_on="composite").schedule.rows()}
    assert rows == {"l1": "output", "style": "composite", "perceptual": "composite", "adversarial": "composite",
                    "discriminator": "composite"}


def test_follow_code_adds_the_d_gradient_leak_term_only():
    paper = {r["name"]: r for r in make().schedule.rows()}
    code = {r["name"]: r for r in make(follow="code").schedule.rows()}
    assert set(code) - set(paper) == {"adversarial_into_d"}
    leak = code.pop("adversarial_into_d")
    assert (leak["fn"], leak["weight"], leak["on"], leak["optimizer"]) == ("aot_adv_g", 0.01, "composite",
                                                                           "discriminator")
    assert code == paper
    # The leak follows the adversarial weight when only that is overridden.
    rows = {r["name"]: r["weight"] for r in make(follow="code", loss_weights={"adversarial": 0.5}).schedule.rows()}
    assert rows["adversarial"] == rows["adversarial_into_d"] == 0.5


def test_defaults_and_optimisers():
    m = make()
    assert m.update_order == "simultaneous"
    assert (m.label_convention, m.adv_g_masked, m.d_grad_from_g_adv) == ("paper", True, False)
    assert m.betas_g == m.betas_d == (0.0, 0.9)
    assert m.lr_g == m.lr_d == 1e-4
    opt_g, opt_d = m.configure_optimizers()
    assert opt_g.defaults["betas"] == (0.0, 0.9) and opt_d.defaults["betas"] == (0.0, 0.9)
    assert {id(p) for p in opt_g.param_groups[0]["params"]} == {id(p) for p in m.generator.parameters()}


def test_follow_code_sets_exactly_its_switches():
    paper, code = make(), make(follow="code")
    assert (code.label_convention, code.adv_g_masked, code.d_grad_from_g_adv) == ("code", False, True)
    assert code.betas_g == code.betas_d == (0.5, 0.999)
    # Architecture and the code-default switches are the same under both.
    for name in ("disc_target", "label_resolution", "percep_on", "blur_kernel_size", "blur_sigma", "update_order"):
        assert getattr(code, name) == getattr(paper, name), name
    assert [n for n, _ in code.generator.named_parameters()] == [n for n, _ in paper.generator.named_parameters()]


def test_individual_switches_override_follow():
    m = make(follow="code", adv_g_masked=True, betas_g=[0.0, 0.9])
    assert m.adv_g_masked is True and m.label_convention == "code" and m.d_grad_from_g_adv is True
    assert m.betas_g == (0.0, 0.9) and m.betas_d == (0.5, 0.999)


@pytest.mark.parametrize("bad", [dict(follow="mmagic"), dict(disc_target="global"), dict(percep_on="both"),
                                 dict(label_resolution="half"), dict(label_convention="x"), dict(residual="x")])
def test_invalid_switches_raise(bad):
    with pytest.raises(ValueError):
        make(**bad)


# --------------------------------------------------------------------------------------------- targets


def test_gaussian_blur_matches_kornia_constant_border():
    kornia = pytest.importorskip("kornia")
    mask = torch.zeros(1, 1, 96, 96)
    mask[..., 10:50, 30:90] = 1
    ours = gaussian_blur_mask(mask, 71, 10.0)
    ref = kornia.filters.gaussian_blur2d(mask, (71, 71), (10.0, 10.0), border_type="constant")
    torch.testing.assert_close(ours, ref, rtol=0, atol=5e-7)  # float32 rounding of the kernel only


def test_gaussian_blur_even_kernel_keeps_shape_and_mass():
    mask = torch.zeros(1, 1, 200, 200)
    mask[..., 90:110, 90:110] = 1
    for k in (70, 71):
        out = gaussian_blur_mask(mask, k, 10.0)
        assert out.shape == mask.shape
        assert out.sum().item() == pytest.approx(400.0, rel=1e-3)  # far from the border: no mass lost
        assert 0 < out.max() < 1


@pytest.mark.parametrize("convention", ["paper", "code"])
@pytest.mark.parametrize("target", ["patchgan", "hm", "sm"])
def test_discriminator_targets(convention, target):
    m = make(disc_target=target, label_convention=convention)
    mask = batch()["mask"]
    real_t, fake_t, g_t = m.targets(mask)
    s = {"patchgan": torch.ones_like(mask), "hm": mask, "sm": gaussian_blur_mask(mask, 71, 10.0)}[target]
    if convention == "paper":
        assert real_t == 1.0 and g_t == 1.0
        torch.testing.assert_close(fake_t, 1 - s)
    else:
        assert real_t == 0.0 and g_t == 1.0  # the code's inconsistent G target
        torch.testing.assert_close(fake_t, s)


def test_sm_label_is_soft_not_binarised():
    _, fake_t, _ = make().targets(batch(size=128)["mask"])
    inner = fake_t[(fake_t > 0.05) & (fake_t < 0.95)]
    assert inner.numel() > 100  # a smooth ramp at hole borders
    assert fake_t.min() >= 0 and fake_t.max() <= 1


def test_disc_map_is_upsampled_bilinear_align_corners_to_image():
    m = make().eval()  # eval: no spectral-norm power iteration between the two calls
    b = batch()
    raw = m.discriminator(b["image"])
    assert raw.shape[-1] == SIZE // 8 - 2
    up = m.disc_map(b["image"])
    assert up.shape == (2, 1, SIZE, SIZE)
    torch.testing.assert_close(up, F.interpolate(raw, size=(SIZE, SIZE), mode="bilinear", align_corners=True))
    assert make(label_resolution="disc").disc_map(b["image"]).shape == raw.shape


def test_discriminator_loss_formula():
    m = make()
    b = batch()
    score = torch.randn(1, 1, 4, 4)
    m.discriminator = ConstantD(score)
    up = F.interpolate(score, size=(SIZE, SIZE), mode="bilinear", align_corners=True)
    s = gaussian_blur_mask(b["mask"], 71, 10.0)
    expected = (up - (1 - s)).square().mean() + (up - 1).square().mean()
    torch.testing.assert_close(m.adversarial_d_loss(inputs(m, b)), expected)


# --------------------------------------------------------------------------------------------- G masking switch


def test_generator_adversarial_term_masked_by_hole_area():
    m = make()
    b = batch()
    mask = b["mask"]
    score = torch.rand(1, 1, SIZE, SIZE)  # already at image size: no interpolation
    m.discriminator = ConstantD(score)
    err = (score - 1).square().expand_as(mask)
    expected = (err * mask).sum() / mask.sum()
    torch.testing.assert_close(m.adversarial_g_loss(inputs(m, b)), expected)
    # Changing D's scores outside the hole does not change the masked term.
    m.discriminator = ConstantD(score + 5 * (1 - mask[:1]))
    torch.testing.assert_close(m.adversarial_g_loss(inputs(m, b)), expected)


def test_follow_code_g_term_equals_the_codes_noop_masking():
    m = make(follow="code")
    b = batch()
    mask = b["mask"]
    score = torch.rand(1, 1, SIZE, SIZE)
    m.discriminator = ConstantD(score)
    g_fake = score.expand(2, -1, -1, -1)
    code_value = (F.mse_loss(g_fake, torch.ones_like(g_fake)) * mask / mask.mean()).mean()  # the code's formula
    torch.testing.assert_close(m.adversarial_g_loss(inputs(m, b)), code_value)
    torch.testing.assert_close(code_value, (g_fake - 1).square().mean())  # ... which is a plain mean
    masked = make(follow="code", adv_g_masked=True)
    masked.discriminator = m.discriminator
    assert not torch.allclose(masked.adversarial_g_loss(inputs(m, b)), code_value)


def test_patchgan_g_term_is_never_masked():
    m = make(disc_target="patchgan")
    b = batch()
    score = torch.rand(1, 1, SIZE, SIZE)
    m.discriminator = ConstantD(score)
    torch.testing.assert_close(m.adversarial_g_loss(inputs(m, b)), (score - 1).square().mean())


def test_label_resolution_disc_downsamples_labels():
    m = make(label_resolution="disc")
    b = batch()
    score = torch.rand(1, 1, 4, 4)
    m.discriminator = ConstantD(score)
    s = F.adaptive_avg_pool2d(gaussian_blur_mask(b["mask"], 71, 10.0), (4, 4))
    expected = (score - (1 - s)).square().mean() + (score - 1).square().mean()
    torch.testing.assert_close(m.adversarial_d_loss(inputs(m, b)), expected)


def test_blur_kernel_size_switch_changes_the_soft_label():
    mask = batch(size=128)["mask"]
    a = make().targets(mask)[1]
    b = make(blur_kernel_size=70).targets(mask)[1]
    assert a.shape == b.shape and not torch.allclose(a, b)


# --------------------------------------------------------------------------------------------- D gradient switch


def _d_grads(module, b, outputs):
    module.discriminator.zero_grad(set_to_none=True)
    total, _ = module.compute_losses("discriminator", {k: v.detach() for k, v in outputs.items()}, b)
    total.backward()
    return [p.grad.clone() for p in module.discriminator.parameters()]


@pytest.mark.parametrize("follow", ["paper", "code"])
def test_d_receives_generator_adversarial_gradient_only_with_follow_code(follow):
    m = make(follow=follow).eval()  # eval: the same spectral-norm sigma in every D call below
    b = batch()
    with torch.no_grad():
        outputs = m(b)
    got = _d_grads(m, b, outputs)
    params = list(m.discriminator.parameters())
    x = inputs(m, b, outputs["composite"])
    ld = m.adversarial_d_loss(x)
    grads_d = torch.autograd.grad(ld, params)
    lg = m.adversarial_g_loss(x)
    grads_g = torch.autograd.grad(lg, params)
    weight = 0.01 if follow == "code" else 0.0
    for g, gd, gg in zip(got, grads_d, grads_g):
        torch.testing.assert_close(g, gd + weight * gg, rtol=1e-4, atol=1e-7)
    assert any(gg.abs().sum() > 0 for gg in grads_g)  # the leak is not trivially zero


# --------------------------------------------------------------------------------------------- training


class SyntheticData(Dataset):
    """A few fixed images with a fixed rectangular hole (dict items as the datamodule yields them)."""

    def __init__(self, n: int = 2, size: int = SIZE, seed: int = 0) -> None:
        b = batch(n, size, seed)
        # Smooth images (low-frequency) so there is structure to inpaint.
        self.image = F.interpolate(b["image"][:, :, ::8, ::8], size=(size, size), mode="bilinear",
                                   align_corners=False)
        self.mask = b["mask"]

    def __len__(self):
        return len(self.image)

    def __getitem__(self, i):
        return {"image": self.image[i], "mask": self.mask[i], "index": i}


def fit(module: AOTGAN, steps: int, data: Dataset | None = None, batch_size: int = 2) -> L.Trainer:
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    loader = DataLoader(data or SyntheticData(), batch_size=batch_size, shuffle=False)
    trainer.fit(module, loader)
    return trainer


@contextmanager
def _quiet():
    import logging

    level = logging.getLogger("lightning.pytorch").level
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    try:
        yield
    finally:
        logging.getLogger("lightning.pytorch").setLevel(level)


VARIANTS = {
    # Table 4 (identity residual, PatchGAN)
    "t4_rate1": dict(rates=[1], residual="identity", disc_target="patchgan"),
    "t4_rate2": dict(rates=[2], residual="identity", disc_target="patchgan"),
    "t4_rates12": dict(rates=[1, 2], residual="identity", disc_target="patchgan"),
    "t4_rates28": dict(rates=[2, 8], residual="identity", disc_target="patchgan"),
    "t4_rates128": dict(rates=[1, 2, 8], residual="identity", disc_target="patchgan"),
    "t4_rates1248": dict(rates=[1, 2, 4, 8], residual="identity", disc_target="patchgan"),
    # Tables 5-6 (PatchGAN)
    "t6_gatedconv": dict(residual="gatedconv", disc_target="patchgan"),
    "t6_conv1x1": dict(residual="conv1x1", disc_target="patchgan"),
    "t6_gated": dict(residual="gated", disc_target="patchgan"),
    # Table 7
    "t7_hm": dict(disc_target="hm"),
    "t7_sm": dict(disc_target="sm"),
    # paper/code switches
    "follow_code": dict(follow="code"),
    "paper_literal": dict(upsample="transposed", gate_norm="none", gate_orientation="paper", disc_layout="paper",
                          blur_kernel_size=70, label_resolution="disc"),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_three_training_steps_of_every_variant(name):
    module = make(**VARIANTS[name])
    g_before = [p.detach().clone() for p in module.generator.parameters()]
    d_before = [p.detach().clone() for p in module.discriminator.parameters()]
    with _quiet():
        trainer = fit(module, 3)
    assert trainer.global_step == 3 and module.d_step_count == 3
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(g_before, module.generator.parameters()))
    assert any(not torch.equal(a, p) for a, p in zip(d_before, module.discriminator.parameters()))


def test_three_training_steps_with_the_full_objective_and_vgg():
    module = AOTGAN(**FAST, percep_on="composite")
    with _quiet():
        trainer = fit(module, 3)
    assert trainer.global_step == 3
    logged = trainer.logged_metrics
    for name in ("l1", "style", "perceptual", "adversarial", "total"):
        assert math.isfinite(float(logged[f"train/g/{name}"])), name
    assert float(logged["train/g/style"]) > 0 and float(logged["train/g/perceptual"]) > 0


def test_simultaneous_update_g_loss_sees_pre_update_discriminator():
    module = make()
    seen = {}
    original = module.adversarial_g_loss

    def spy(x):  # with follow=paper it is called only for the G step
        if "d" not in seen:
            seen["d"] = [p.detach().clone() for p in module.discriminator.parameters()]
            seen["grad_enabled_in_d"] = any(p.requires_grad for p in module.discriminator.parameters())
        return original(x)

    module.adversarial_g_loss = spy
    before = [p.detach().clone() for p in module.discriminator.parameters()]
    with _quiet():
        fit(module, 1)
    assert all(torch.equal(a, b) for a, b in zip(before, seen["d"]))  # G's D = pre-update D
    assert seen["grad_enabled_in_d"] is False  # D frozen during the G loss
    assert any(not torch.equal(a, p) for a, p in zip(before, module.discriminator.parameters()))


class BuiltinPhotos(Dataset):
    """Fixed crops of the built-in sample photos (the ``val`` split crops deterministically) with one fixed hole."""

    def __init__(self, n: int = 2, size: int = 64) -> None:
        from datamodules.datasets.sample import SampleDataset

        photos = SampleDataset("val", image_size=size, length=n)
        self.image = torch.stack([photos[i]["image"] for i in range(n)])
        self.mask = torch.zeros(n, 1, size, size)
        self.mask[..., size // 4: size // 2 + 4, size // 3: 3 * size // 4] = 1

    def __len__(self):
        return len(self.image)

    def __getitem__(self, i):
        return {"image": self.image[i], "mask": self.mask[i], "index": i}


def _hole_l1(module: AOTGAN, data: Dataset) -> float:
    """Mean |output - image| over hole pixels, [-1, 1] scale, generator in eval mode."""
    module.eval()
    with torch.no_grad():
        out = module.generator(data.image, data.mask)
        value = ((out - data.image).abs() * data.mask).sum() / (data.mask.sum() * 3)
    module.train()
    return float(value)


@pytest.mark.slow
def test_200_steps_on_builtin_photos_lower_the_hole_l1():
    torch.manual_seed(0)
    data = BuiltinPhotos(n=2, size=64)
    module = make(channels=32, num_blocks=2)
    before = _hole_l1(module, data)
    with _quiet():
        fit(module, 200, data)
    after = _hole_l1(module, data)
    assert after < 0.7 * before, (before, after)


# --------------------------------------------------------------------------------------------- configs and sweeps

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
GEN_PARAMS = {"identity": 10_480_195, "conv1x1": 11_530_819, "gatedconv": 15_200_835, "gated": 15_200_835}


def _yaml(path):
    import yaml

    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("name", ["aotgan_rates", "aotgan_components", "aotgan_fusion", "aotgan_disc",
                                  "aotgan_places2"])
def test_sweep_rows_override_existing_switches_and_build(name):
    import inspect

    from networks.parameters import count_parameters

    sweep = _yaml(REPO / "sweeps" / f"{name}.yaml")
    assert sweep["method"] == "aotgan" and sweep["rows"]
    params = set(inspect.signature(AOTGAN.__init__).parameters)
    for row in sweep["rows"]:
        assert set(row["paper"]) == set(sweep["metrics"]), row["label"]
        model_args = {k.split(".")[-1]: v for k, v in row["overrides"].items() if k.startswith("model.init_args.")}
        assert set(model_args) <= params, row["label"]
        if model_args:  # the ablation tables: every row builds, with the spec's parameter count
            module = AOTGAN(vgg_weights="random", loss_weights={"style": 0.0, "perceptual": 0.0}, **model_args)
            residual = model_args.get("residual", "gated")
            assert count_parameters(module.generator) == GEN_PARAMS[residual], row["label"]
            assert count_parameters(module.discriminator) == 2_763_777


def test_table_sweeps_cover_the_papers_rows():
    rates = [r["overrides"]["model.init_args.rates"] for r in _yaml(REPO / "sweeps/aotgan_rates.yaml")["rows"]]
    assert rates == [[1], [2], [1, 2], [2, 8], [1, 2, 8], [1, 2, 4, 8]]
    fusion = [r["overrides"]["model.init_args.residual"] for r in _yaml(REPO / "sweeps/aotgan_fusion.yaml")["rows"]]
    assert sorted(fusion) == sorted(GEN_PARAMS)
    disc = [r["overrides"]["model.init_args.disc_target"] for r in _yaml(REPO / "sweeps/aotgan_disc.yaml")["rows"]]
    assert disc == ["patchgan", "hm", "sm"]
    buckets = [r["bucket"] for r in _yaml(REPO / "sweeps/aotgan_places2.yaml")["rows"]]
    assert buckets == ["0-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%"]


def test_places2_and_celebahq_configs_are_the_default_schedule_with_other_data():
    from assembly.config import load_config

    base, places, celeba = (load_config(n) for n in ("aotgan", "aotgan_places2", "aotgan_celebahq"))
    for cfg in (places, celeba):
        assert cfg["model"] == base["model"]
        assert {k: v for k, v in cfg["data"].items() if k not in ("dataset", "data_root", "dataset_options")} == \
            {k: v for k, v in base["data"].items() if k not in ("dataset", "data_root", "dataset_options")}
    assert places["data"] == base["data"]
    assert places["data"]["dataset"] == "places2" and celeba["data"]["dataset"] == "celebahq"
    assert base["data"]["image_size"] == 512 and base["data"]["batch_size"] == 8
    assert base["trainer"]["max_steps"] == 1_000_000


@pytest.mark.parametrize("config", ["aotgan", "aotgan_celebahq", "aotgan_smoke"])
def test_configs_instantiate_through_the_cli(config):
    from assembly.lightning_cli import build_cli

    # the built-in photos instead of the config's dataset: the CLI checks data roots before building anything
    cli = build_cli(["--config", config, "--data.dataset=sample", "--data.mask_dir=null", "--data.eval_mask_dir=null",
                     "--model.init_args.vgg_weights=random",
                     "--model.init_args.loss_weights={style: 0.0, perceptual: 0.0}"], run=False)
    model = cli.model
    assert isinstance(model, AOTGAN)
    assert model.betas_g == (0.0, 0.9) and model.update_order == "simultaneous"
    assert model.disc_target == "sm" and model.generator.blocks[0].rates == [1, 2, 4, 8]


# --------------------------------------------------------------------------------------------- AIM Track 2 (seg)

SEG = 52  # AIM one-hot map: 51 classes + other
SEG_SIZE = 36  # the smallest size the default rates allow: H/4 = 9 > 8


class BatchList(Dataset):
    """Ready-made batches (``DataLoader(batch_size=None)`` hands them over as they are)."""

    def __init__(self, batches: list[dict]) -> None:
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        return self.batches[i]


def test_semantic_channels_widen_the_generator_input_by_exactly_the_seg_weights():
    from networks.parameters import count_parameters

    plain = AOTGAN(vgg_weights="random", **NO_VGG)
    semantic = AOTGAN(vgg_weights="random", semantic_channels=SEG, **NO_VGG)
    assert count_parameters(plain.generator) == 15_200_835
    first = semantic.generator.encoder[1]
    assert first.in_channels == 4 + SEG
    delta = count_parameters(semantic.generator) - count_parameters(plain.generator)
    assert delta == SEG * first.out_channels * 7 * 7 == 163_072
    # D judges RGB only (the task is scored on the image): unchanged.
    assert count_parameters(semantic.discriminator) == count_parameters(plain.discriminator) == 2_763_777


def test_generate_feeds_the_batch_seg_map_to_the_generator():
    from helpers import make_batch

    module = make(semantic_channels=SEG).eval()
    b = make_batch(batch_size=1, size=SEG_SIZE, semantic_channels=SEG)
    with torch.no_grad():
        out = module(b)["output"]
        b2 = {**b, "seg": torch.roll(b["seg"], 1, dims=1)}  # every pixel gets another class
        assert out.shape == (1, 3, SEG_SIZE, SEG_SIZE)
        assert not torch.allclose(out, module(b2)["output"])


def test_missing_seg_raises_the_base_key_error():
    from helpers import make_batch

    module = make(semantic_channels=SEG)
    with pytest.raises(KeyError, match="data.semantic: true"):
        module(make_batch(batch_size=1, size=SEG_SIZE))


def test_one_training_step_with_a_seg_batch():
    from helpers import make_batch

    module = make(semantic_channels=SEG)
    first = module.generator.encoder[1].weight
    before = first.detach().clone()
    data = BatchList([make_batch(batch_size=2, size=SEG_SIZE, semantic_channels=SEG)])
    trainer = L.Trainer(max_steps=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    with _quiet():
        trainer.fit(module, DataLoader(data, batch_size=None))
    assert trainer.global_step == 1 and module.d_step_count == 1
    assert all(torch.isfinite(p).all() for p in module.parameters())
    # make_batch's seg is class 0 everywhere: its weight slice (input channel 4) learns, absent classes do not.
    assert not torch.equal(before[:, 4], first.detach()[:, 4])
    torch.testing.assert_close(before[:, 5:], first.detach()[:, 5:], rtol=0, atol=0)


def test_aim_track2_sweep_row_builds_aotgan_with_52_seg_channels():
    sweep = _yaml(REPO / "sweeps" / "aim_track2.yaml")
    (row,) = [r for r in sweep["rows"] if r.get("method") == "aotgan"]
    args = {k.removeprefix("model.init_args."): v for k, v in row["overrides"].items()}
    assert args == {"semantic_channels": SEG}
    module = make(**args)
    assert module.generator.encoder[1].in_channels == 4 + SEG
