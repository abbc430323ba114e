"""Converted DeepGIN == the official architecture with the same weights.

Random official-format files (``conftest.official_files``) are loaded with ``strict=True`` into an independent
re-implementation of the official definitions (``official_reference/deepgin.py``: ``ImageTinker2`` of ``rlct1/gin``
and ``rlct1/gin-sg``, pix2pixHD's ``MultiscaleDiscriminator`` with its own ``SpectralNorm``), and converted with
``inpaint-suite convert deepgin``. The official test pipeline (``test_ensemble.py`` without the ensemble and the
blur: RGB in [0, 1], white holes, mask 1 = hole, G1, G2 on the composite, back projection, ``reconst_img``) run on
the reference is compared with our module's ``generate()``: the final, coarse, raw, low-resolution and alpha outputs.
The discriminator is compared per scale (and per layer, through the ``getIntermFeat`` layout) in eval mode and over
successive training-mode forwards, where the power iteration moves u/v. All at 64x64, batch 1 (the smallest size
the official G takes: four stride-2 downsamplings).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from assembly.config import build_model, load_config
from inpaint_suite.cli import main
from inpaint_suite.convert import converter
from inpaint_suite.convert.common import apply_table
from inpaint_suite.convert.deepgin import discriminator_rows
from networks.deepgin import MultiScaleDiscriminator

SIZE = 64
TOL = 1e-5  # max |ours - official|, in the official [0, 1] image units


def _load_reference():
    path = Path(__file__).resolve().parent / "official_reference" / "deepgin.py"
    spec = importlib.util.spec_from_file_location("official_reference_deepgin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()


def _module(variant: str, weights: Path):
    args = converter("deepgin").model_args(variant)
    module = build_model(load_config("deepgin")["model"], {"vgg_weights": "random", **args})
    module.load_generator_weights(str(weights))
    return module.eval()


@pytest.fixture(scope="module")
def gin(tmp_path_factory, official_files):
    """``{variant: (our module, official reference G, official state)}`` for track1 and track2 (same D file)."""
    root = tmp_path_factory.mktemp("gin_parity")
    d_path = official_files["deepgin_discriminator"][0]
    out = {}
    for variant, g_name, in_ch in (("track1", "deepgin_generator", 4), ("track2", "deepgin_generator_track2", 7)):
        g_path, g_state = official_files[g_name]
        ckpt = root / f"{variant}.ckpt"
        assert main(["convert", "deepgin", str(g_path), "-d", str(d_path), "--variant", variant,
                     "--out", str(ckpt)]) == 0
        official = ref.ImageTinker2(in_ch)
        official.load_state_dict(g_state, strict=True)
        out[variant] = (_module(variant, ckpt), official.eval(), g_state)
    return out


def _inputs(seed: int = 0):
    """An image in [0, 1] whose holes hold random values (ours must ignore them), a binary mask (1 = hole) with a box
    reaching the border and scattered single pixels, the official AIM input (white holes)."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, SIZE, SIZE, generator=gen)
    mask = (torch.rand(1, 1, SIZE, SIZE, generator=gen) < 0.08).float()
    mask[..., 10:34, 30:] = 1
    return image, mask, image * (1 - mask) + mask


def _diff(ours01: torch.Tensor, official: torch.Tensor) -> float:
    assert ours01.shape == official.shape
    return (ours01 - official).abs().max().item()


def _official_pipeline(official, image, mask, seg=None):
    with torch.no_grad():
        compltd, reconst, lr_x, lr_img = official(image * (1 - mask) + mask, mask, real_seg=seg)
    return {"output": reconst, "composite": compltd, "coarse": lr_x, "lr": lr_img, "raw": official.trace["d5"],
            "alpha": official.trace["alpha"]}


def _ours(module, batch):
    with torch.no_grad():
        out = module.generate(batch)
    image01 = (batch["image"] + 1) / 2
    res = {k: out[k] if k == "alpha" else (out[k] + 1) / 2 for k in ("output", "coarse", "lr", "raw", "alpha",
                                                                     "masked_input")}
    res["composite"] = res["output"] * batch["mask"] + image01 * (1 - batch["mask"])
    return res


def _compare(ours, official, masked):
    diffs = {k: _diff(ours[k], official[k]) for k in official}
    diffs["masked_input"] = _diff(ours["masked_input"], masked)
    assert max(diffs.values()) < TOL, diffs
    return diffs


# ------------------------------------------------------------------------------------------------ generator
def test_track1_generate_equals_the_official_image_tinker2(gin):
    module, official, _ = gin["track1"]
    image, mask, masked = _inputs()
    expected = _official_pipeline(official, image, mask)
    _compare(_ours(module, {"image": image * 2 - 1, "mask": mask}), expected, masked)
    for key in ("coarse", "raw", "lr"):  # the heads are not degenerate (constant) for these weights
        assert expected[key].std() > 0.01, key


def test_track2_generate_equals_the_official_gin_sg(gin):
    """gin-sg: G1 on ``[white-hole image, mask, seg]``, G2 on ``[composite, mask, seg]``; seg = the raw
    ``*_seg.png`` colours through ``ToTensor`` ([0, 1]); ours gets them decoded the same way by the data module (``data.seg_encoding: ade_rgb``)."""
    module, official, _ = gin["track2"]
    image, mask, masked = _inputs(seed=1)
    colours = torch.randint(0, 256, (1, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    expected = _official_pipeline(official, image, mask, seg=colours.float() / 255)
    _compare(_ours(module, {"image": image * 2 - 1, "mask": mask, "seg": colours.float() / 255}), expected, masked)


def test_the_comparison_sees_a_wrong_block_order_and_a_changed_tensor(gin):
    """Negative controls: the official state with ``r_md_mres3`` and ``r_md_mres5`` exchanged (the forward-order
    trap of the names), and one of our mapped tensors (the 16x16 attention's ``W``) nudged, both differ clearly."""
    module, official, state = gin["track1"]
    image, mask, _ = _inputs()
    expected = _official_pipeline(official, image, mask)["output"]
    swapped = dict(state)
    for key in state:
        if key.startswith("r_md_mres3."):
            other = key.replace("r_md_mres3.", "r_md_mres5.")
            swapped[key], swapped[other] = state[other], state[key]
    wrong = ref.ImageTinker2(4)
    wrong.load_state_dict(swapped, strict=True)
    assert _diff(_official_pipeline(wrong.eval(), image, mask)["output"], expected) > 1e-3

    w_z = module.generator.refine.attn16.w_z.weight
    saved = w_z.detach().clone()
    try:
        with torch.no_grad():
            w_z.mul_(1.05)
        assert _diff(_ours(module, {"image": image * 2 - 1, "mask": mask})["output"], expected) > 1e-4
    finally:
        with torch.no_grad():
            w_z.copy_(saved)


# ------------------------------------------------------------------------------------------------ discriminator
def _d_input(seed: int = 3):
    image, mask, masked = _inputs(seed)
    return torch.cat([masked, image], dim=1)  # concat[I_in, X]


def _official_d(state, interm: bool = False):
    d = ref.MultiscaleDiscriminator(6, 64, 2, 2, getIntermFeat=interm)
    if interm:  # layer{s}.{2n}.module.* -> scale{s}_layer{n}.0.module.*
        state = {f"scale{k[5]}_layer{int(k.split('.')[1]) // 2}.0.{k.split('.', 2)[2]}": v for k, v in state.items()}
    d.load_state_dict(state, strict=True)
    return d


def _vectors_equal(ours: MultiScaleDiscriminator, official) -> float:
    worst = 0.0
    for t, scale in enumerate(ours.scales):
        for j in (0, 2, 4, 6):
            p = scale.net[j].parametrizations.weight[0]
            o = getattr(official, f"layer{1 - t}")[j].module
            worst = max(worst, (p._u - o.weight_u).abs().max().item(), (p._v - o.weight_v).abs().max().item())
    return worst


def test_discriminator_equals_the_official_multiscale_d_in_eval_and_training(gin, official_files):
    """Per scale (full resolution first; official ``layer1`` then ``layer0``), in eval mode and over three
    training-mode forwards: the official SpectralNorm power-iterates (v first) in every forward, so u/v move."""
    d = gin["track1"][0].discriminator  # as `inpaint-suite convert` wrote it
    converted = {k: v.clone() for k, v in d.state_dict().items()}
    official = _official_d(official_files["deepgin_discriminator"][1])
    x = _d_input()
    try:
        with torch.no_grad():
            for mode in ("eval", "eval", "train", "train", "train"):
                getattr(d, mode)(), getattr(official, mode)()
                ours, theirs = d(x), [r[0] for r in official(x)]
                assert [o.shape for o in ours] == [(1, 256, 19, 19), (1, 256, 11, 11)]
                for o, t in zip(ours, theirs):
                    assert (o - t).abs().max().item() < TOL * max(1.0, t.abs().max().item())
                assert _vectors_equal(d, official) < 1e-6
    finally:
        d.load_state_dict(converted)
        d.eval()


def test_discriminator_gradients_equal_the_official_ones(gin, official_files):
    """Training: the hinge-style loss's gradients w.r.t. the raw weights (``weight_bar`` = our ``original``) and
    biases equal the official ones (sigma is differentiated through W, not through u/v), and so does the input's."""
    d = MultiScaleDiscriminator(spectral_norm="official")
    d.load_state_dict(gin["track1"][0].discriminator.state_dict(), strict=True)
    official = _official_d(official_files["deepgin_discriminator"][1])
    x = _d_input(seed=6)
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    sum(torch.relu(1 - s).mean() for s in d(xs[0])).backward()
    sum(torch.relu(1 - s[0]).mean() for s in official(xs[1])).backward()
    assert (xs[0].grad - xs[1].grad).abs().max().item() < 1e-6
    for t, scale in enumerate(d.scales):
        for j in (0, 2, 4, 6):
            ours, theirs = scale.net[j], getattr(official, f"layer{1 - t}")[j].module
            g_ours, g_theirs = ours.parametrizations.weight.original.grad, theirs.weight_bar.grad
            assert (g_ours - g_theirs).abs().max().item() < 1e-5 * max(1.0, g_theirs.abs().max().item())
            assert (ours.bias.grad - theirs.bias.grad).abs().max().item() < 1e-6
            assert theirs.weight_u.grad is None and not ours.parametrizations.weight[0]._u.requires_grad


def test_discriminator_features_equal_the_official_interm_layout(official_files):
    """``getIntermFeat=True`` (``scale{s}_layer{n}``): the converted file, our per-layer activations and scores
    equal the official per-group outputs, every scale."""
    state = official_files["deepgin_discriminator"][1]
    official = _official_d(state, interm=True)
    interm_state = official.state_dict()
    ours_state = apply_table(interm_state, discriminator_rows("interm"), "interm")
    d = MultiScaleDiscriminator(spectral_norm="official")
    d.load_state_dict({k[len("discriminator."):]: v for k, v in ours_state.items()}, strict=True)
    x = _d_input(seed=4)
    with torch.no_grad():
        theirs = official(x)
        feats = d.features(x)  # one power iteration per conv, as the official call
        for s in range(2):
            for a, b in zip(feats[s], theirs[s][:3]):
                assert (a - b).abs().max().item() < TOL
        theirs, ours = official(x), d(x)  # second iteration on both
        for s in range(2):
            assert (ours[s] - theirs[s][3]).abs().max().item() < TOL


def test_pytorch_spectral_norm_differs_from_the_official_one(official_files, gin):
    """Why ``d_spectral_norm: official``: the same converted D with PyTorch's parametrization (u first, no
    iteration in eval) scores differently from the same stored u/v, in eval and in training mode."""
    converted = gin["track1"][0].discriminator.state_dict()
    x = _d_input(seed=5)
    for mode in ("eval", "train"):
        pytorch_d = MultiScaleDiscriminator(spectral_norm="pytorch")
        pytorch_d.load_state_dict(converted, strict=True)
        official = _official_d(official_files["deepgin_discriminator"][1])
        getattr(pytorch_d, mode)(), getattr(official, mode)()
        with torch.no_grad():
            assert (pytorch_d(x)[0] - official(x)[0][0]).abs().max().item() > 1e-3
