"""Shared loss functions: exact values on hand-made inputs, gradient flow, and the per-step feature cache."""

from __future__ import annotations

import pytest
import torch
from helpers import make_batch

from lightning_modules import losses
from lightning_modules.losses import LossInputs, PerceptualLoss, StyleLoss, VGGFeatures


def inputs(pred, batch, cache=None):
    return LossInputs(pred=pred, outputs={"output": pred}, batch=batch, module=None, cache={} if cache is None else cache)


def test_pixel_losses_follow_their_conventions():
    batch = make_batch(1, 8)
    pred = batch["image"] + 0.5  # error 0.5 everywhere
    hole_fraction = batch["mask"].mean().item()  # 0.25 for the centre square
    x = inputs(pred, batch)
    assert losses.l1(x).item() == pytest.approx(0.5)
    assert losses.l1_hole(x).item() == pytest.approx(0.5 * hole_fraction)  # mean over all elements
    assert losses.l1_valid(x).item() == pytest.approx(0.5 * (1 - hole_fraction))
    assert losses.l1_hole_normalized(x).item() == pytest.approx(0.5)  # mean over hole values only
    assert losses.l1_valid_normalized(x).item() == pytest.approx(0.5)


def test_total_variation_forms():
    image = torch.zeros(1, 1, 3, 3)
    image[..., 1] = 2.0  # a vertical line: horizontal differences ±2, vertical 0
    assert losses.total_variation(image, "l1").item() == pytest.approx(2.0)  # mean |Δh| = (2 + 2) / 2 per row
    assert losses.total_variation(image, "l2").item() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="form"):
        losses.total_variation(image, "l3")


def test_gram_matrix_normalisation():
    f = torch.ones(2, 3, 4, 5)
    assert torch.allclose(losses.gram_matrix(f), torch.full((2, 3, 3), 20 / 60))


def test_gradient_penalty_of_a_linear_critic_is_exact():
    """For D(x) = <w, x>, ∇D = w everywhere, so the penalty is (‖w‖ − 1)² whatever the interpolates."""
    w = torch.randn(1, 3, 4, 4)

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    gp = losses.gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)
    mask = torch.zeros(5, 1, 4, 4)
    mask[..., :2, :] = 1
    masked = losses.gradient_penalty(critic, real, fake, mask=mask)
    assert masked.item() == pytest.approx(((w[..., :2, :]).norm().item() - 1) ** 2, rel=1e-5)


def test_adversarial_primitives():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-2.0, 0.5])
    assert losses.hinge_d(real, fake).item() == pytest.approx(0.5 + 0.75)
    assert losses.hinge_g(fake).item() == pytest.approx(0.75)
    assert losses.wgan_d(real, fake).item() == pytest.approx(-0.75 - 1.0)


def test_vgg_losses_flow_to_the_input_not_the_weights_and_share_features():
    vgg = VGGFeatures("vgg16", ("relu1_2", "relu2_2"), weights="random")
    calls = []
    vgg.register_forward_hook(lambda *_: calls.append(1))
    batch = make_batch(1, 16)
    pred = batch["image"].flip(-1).clone().requires_grad_(True)
    cache = {}
    total = PerceptualLoss(vgg)(inputs(pred, batch, cache)) + 250 * StyleLoss(vgg)(inputs(pred, batch, cache))
    total.backward()
    assert len(calls) == 2  # one forward for pred, one for the target, shared by both losses
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in vgg.parameters())
    with pytest.raises(ValueError, match="layer weights"):
        PerceptualLoss(vgg, [1.0])
    with pytest.raises(ValueError, match="unknown vgg16 layers"):
        VGGFeatures("vgg16", ("relu9_9",), weights="random")


def test_total_variation_hole_region_is_kornias_dilation():
    kornia = pytest.importorskip("kornia")
    import torch.nn.functional as F

    mask = (torch.rand(3, 1, 20, 28, generator=torch.Generator().manual_seed(1)) > 0.8).float()
    assert torch.equal(F.max_pool2d(mask, 3, stride=1, padding=1), kornia.morphology.dilation(mask, torch.ones(3, 3)))
