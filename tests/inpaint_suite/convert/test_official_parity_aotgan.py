"""AOT-GAN parity: a random official-format checkpoint gives the same outputs in the official architecture and,
after ``inpaint-suite convert``, in ours.

The official side is ``official_reference/aotgan.py``: the official ``InpaintGenerator`` / ``Discriminator``
re-written from reading ``researchmm/AOT-GAN-for-Inpainting`` ``src/model/aotgan.py`` (official attribute names, so
the official-format state dict loads with ``strict=True``; the hook API ``torch.nn.utils.spectral_norm``).
Our side is the packaged ``aotgan`` module built with the converter's ``model_args``, loaded from the converted
file exactly as ``predict --weights`` / ``init_from`` load it.

- Generator: the official ``src/test.py`` pipeline (RGB in [-1, 1], holes filled with +1, mask as a 4th channel,
  tanh output, composite ``(1 - m) x + m pred``) vs our ``forward`` (``generate()`` + the base's composite), on a
  batch of two different masks (the gate norm's statistics are per sample) and a non-square image.
- Discriminator: eval mode, then train mode (one power iteration per forward updates u and v), step by step:
  outputs, the u / v buffers, each layer's sigma, and the gradients through sigma.
- Negative controls: a swapped pair of same-shape tensors, a perturbed gate weight, perturbed SN vectors, and
  torch's ``parametrizations.spectral_norm`` (the other power-iteration order) are each caught.

Measured on CPU (float32): generator output / composite max |diff| 0 (bit-identical) at 64x64, 64x96, 512x512;
discriminator 0 in eval and train mode (outputs, u, v, sigma, gradients).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.utils.parametrizations import spectral_norm as torch_parametrizations_spectral_norm

from assembly.config import build_model, load_config
from inpaint_suite.cli import main
from inpaint_suite.convert import converter

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the test-only official_reference package lives next to this file
    sys.path.insert(0, str(HERE))
reference = importlib.import_module("official_reference.aotgan")

G_TOL = 1e-5  # max |diff| on outputs in [-1, 1]
D_RTOL = 1e-5  # relative to the score map's scale (random SN vectors make sigma small and the scores large)
SN_LAYERS = (0, 2, 4, 6)


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def converted(tmp_path_factory, official_files):
    out = tmp_path_factory.mktemp("aotgan_parity") / "aotgan.ckpt"
    assert main(["convert", "aotgan", str(official_files["aotgan_generator"][0]), "--discriminator",
                 str(official_files["aotgan_discriminator"][0]), "--out", str(out)]) == 0
    return out


def our_module(weights):
    """The packaged aotgan module with the converter's model_args, loaded as predict / init_from load it."""
    args = converter("aotgan").model_args("default")
    module = build_model(load_config("aotgan")["model"], {"vgg_weights": "random", **args})
    module.load_generator_weights(str(weights))
    return module.eval()


@pytest.fixture(scope="module")
def ours(converted):
    return our_module(converted)


@pytest.fixture(scope="module")
def official_generator(official_files):
    g = reference.InpaintGenerator()
    g.load_state_dict(official_files["aotgan_generator"][1], strict=True)
    return g.eval()


def official_discriminator(official_files):
    d = reference.Discriminator()
    d.load_state_dict(official_files["aotgan_discriminator"][1], strict=True)
    return d


def our_discriminator(converted):
    return our_module(converted).discriminator


def image_and_masks(height: int, width: int, seed: int = 0):
    """Two images in [-1, 1] with different masks (1 = hole): a rectangle and a random scatter of 8x8 cells."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, height, width, generator=gen) * 2 - 1
    mask = torch.zeros(2, 1, height, width)
    mask[0, :, height // 4: height // 2, width // 8: 3 * width // 4] = 1
    cells = (torch.rand(1, 1, height // 8, width // 8, generator=gen) < 0.4).float()
    mask[1:] = torch.nn.functional.interpolate(cells, size=(height, width), mode="nearest")
    return image, mask


def max_diff(a, b) -> float:
    return (a - b).abs().max().item()


# ------------------------------------------------------------------------------------------------ generator
def compare_generator(official_generator, ours, height, width):
    image, mask = image_and_masks(height, width)
    pred, comp = reference.official_inference(official_generator, image, mask)
    with torch.no_grad():
        outputs = ours({"image": image, "mask": mask})
    return max_diff(outputs["output"], pred), max_diff(outputs["composite"], comp), pred


@pytest.mark.parametrize("height, width", [(64, 64), (64, 96)])
def test_generator_matches_the_official_architecture(official_generator, ours, height, width):
    d_out, d_comp, pred = compare_generator(official_generator, ours, height, width)
    assert pred.abs().max() > 0.05 and pred.std() > 0.01  # a non-degenerate output (tanh not saturated to 0/±1)
    assert d_out <= G_TOL, f"output max |diff| {d_out:.3g}"
    assert d_comp <= G_TOL, f"composite max |diff| {d_comp:.3g}"


@pytest.mark.slow
def test_generator_matches_the_official_architecture_at_512(official_generator, ours):
    d_out, d_comp, _ = compare_generator(official_generator, ours, 512, 512)
    assert d_out <= G_TOL and d_comp <= G_TOL, (d_out, d_comp)


def test_generator_parity_fails_on_a_wrong_mapping(converted, official_generator, tmp_path):
    """Negative controls: the same comparison catches swapped branches (same shape, other dilation) and a
    perturbed gate weight."""
    image, mask = image_and_masks(64, 64)
    pred, _ = reference.official_inference(official_generator, image, mask)
    ckpt = torch.load(converted, weights_only=True)
    state = ckpt["state_dict"]
    a, b = "generator.blocks.3.branches.1.1.weight", "generator.blocks.3.branches.2.1.weight"
    swapped = {**state, a: state[b], b: state[a]}
    gate = "generator.blocks.5.gate.1.weight"
    perturbed = {**state, gate: state[gate] + 0.01 * torch.randn_like(state[gate])}
    for name, bad in (("swapped", swapped), ("perturbed", perturbed)):
        torch.save({**ckpt, "state_dict": bad}, tmp_path / f"{name}.ckpt")
        with torch.no_grad():
            out = our_module(tmp_path / f"{name}.ckpt")({"image": image, "mask": mask})["output"]
        assert max_diff(out, pred) > 100 * G_TOL, name


# ------------------------------------------------------------------------------------------------ discriminator
def sigmas_official(d) -> list[float]:
    """sigma of each SN layer as used by its last forward: ``weight_orig / weight`` (the hook stores ``weight``)."""
    return [(d.conv[j].weight_orig.norm() / d.conv[j].weight.norm()).item() for j in SN_LAYERS]


def sigmas_ours(d) -> list[float]:
    """sigma from the stored vectors without iterating (eval): ``original / weight``."""
    training = d.training
    d.eval()
    out = [(d.layers[j].parametrizations.weight.original.norm() / d.layers[j].weight.norm()).item() for j in SN_LAYERS]
    d.train(training)
    return out


def assert_same_vectors(official, ours):
    for j in SN_LAYERS:
        sn = ours.layers[j].parametrizations.weight[0]
        torch.testing.assert_close(sn._u, official.conv[j].weight_u, rtol=1e-5, atol=1e-6, msg=f"u of conv.{j}")
        torch.testing.assert_close(sn._v, official.conv[j].weight_v, rtol=1e-5, atol=1e-6, msg=f"v of conv.{j}")


def assert_scores_close(a, b, what):
    scale = b.abs().max().item()
    assert max_diff(a, b) <= D_RTOL * scale, f"{what}: max |diff| {max_diff(a, b):.3g} (scale {scale:.3g})"


def d_input(seed: int = 3):
    return torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_discriminator_matches_in_eval_mode(official_files, converted):
    official, ours = official_discriminator(official_files).eval(), our_discriminator(converted).eval()
    x = d_input()
    with torch.no_grad():
        a, b = ours(x), official(x)
    assert a.shape == b.shape == (2, 1, 6, 10)
    assert_scores_close(a, b, "eval")
    assert sigmas_ours(ours) == pytest.approx(sigmas_official(official), rel=1e-5)
    assert_same_vectors(official, ours)  # eval mode does not iterate: the vectors are the file's


def test_discriminator_matches_in_train_mode(official_files, converted):
    """Three training forwards (each one power iteration, u and v updated in place), then a backward through the
    normalised weights (u, v constant): the same scores, vectors, sigmas and gradients at every step."""
    official, ours = official_discriminator(official_files).train(), our_discriminator(converted).train()
    for step in range(3):
        x = d_input(seed=10 + step)
        a, b = ours(x), official(x)
        assert_scores_close(a.detach(), b.detach(), f"train step {step}")
        assert_same_vectors(official, ours)
        assert sigmas_ours(ours) == pytest.approx(sigmas_official(official), rel=1e-5), f"sigma at step {step}"
    (a * torch.linspace(-1, 1, a.numel()).view_as(a)).sum().backward()
    (b * torch.linspace(-1, 1, b.numel()).view_as(b)).sum().backward()
    pairs = [(ours.layers[j].parametrizations.weight.original, official.conv[j].weight_orig) for j in SN_LAYERS]
    pairs.append((ours.layers[8].weight, official.conv[8].weight))
    for mine, theirs in pairs:
        scale = theirs.grad.abs().max().item()
        assert max_diff(mine.grad, theirs.grad) <= 1e-4 * scale


def test_discriminator_parity_fails_on_wrong_vectors_or_the_other_power_iteration(official_files, converted):
    """Negative controls: perturbed SN vectors change the eval scores; torch's parametrizations.spectral_norm
    (u <- Wv first, sigma = |W^T u|) loaded with the same tensors matches in eval but not in train mode."""
    x = d_input()
    official = official_discriminator(official_files).eval()
    with torch.no_grad():
        expected = official(x)
    bad = our_discriminator(converted).eval()
    sn = bad.layers[4].parametrizations.weight[0]
    with torch.no_grad():
        sn._v.copy_(torch.nn.functional.normalize(sn._v + 0.05 * torch.randn_like(sn._v), dim=0))
        assert max_diff(bad(x), expected) > 100 * D_RTOL * expected.abs().max().item()

    ours = our_discriminator(converted)
    other = reference.Discriminator()  # same layout; swap each hook SN conv for a parametrized one
    for j in SN_LAYERS:
        old = other.conv[j]
        other.conv[j] = torch_parametrizations_spectral_norm(
            torch.nn.Conv2d(old.in_channels, old.out_channels, 4, stride=old.stride, padding=1, bias=False))
    other = torch.nn.Sequential(*other.conv)  # keys j.parametrizations.weight.* like ours' layers.j
    other.load_state_dict({k.removeprefix("layers."): v for k, v in ours.state_dict().items()}, strict=True)
    with torch.no_grad():
        assert_scores_close(other.eval()(x), expected, "torch parametrization, eval")
        trained = official_discriminator(official_files).train()(x)
        diff = max_diff(other.train()(x), trained)
    assert diff > 100 * D_RTOL * trained.abs().max().item()
