"""networks/hifill.py TF-convention switches (``padding``, ``resize``): hand-computed examples, shapes, and that the
defaults are the PyTorch behaviour. The comparison with TensorFlow itself is
tests/inpaint_suite/convert/test_hifill_tf_parity.py."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from networks.hifill import (
    Conv2dSame,
    GatedUpConv2d,
    HiFillCritic,
    HiFillGenerator,
    LightWeightGatedConv2d,
    tf1_resize_bilinear,
    tf_same_padding,
)


def test_tf1_resize_bilinear_hand_computed_upsampling():
    # src = dst * in / out = dst / 2, no half-pixel offset: even outputs copy, odd outputs average, the last
    # row/column repeats (upper neighbour clamped).
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).view(1, 1, 2, 2)
    expected = torch.tensor([[0.0, 0.5, 1.0, 1.0],
                             [1.0, 1.5, 2.0, 2.0],
                             [2.0, 2.5, 3.0, 3.0],
                             [2.0, 2.5, 3.0, 3.0]])
    assert torch.equal(tf1_resize_bilinear(x, (4, 4))[0, 0], expected)
    # PyTorch's half-pixel resize is shifted by a quarter input pixel: different
    half_pixel = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)[0, 0]
    assert half_pixel[0, 1] == 0.25 and not torch.equal(half_pixel, expected)


def test_tf1_resize_bilinear_downsampling_and_fractional_scale():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(tf1_resize_bilinear(x, (2, 2)), x[:, :, ::2, ::2])  # exactly 0.5: every other pixel
    # (2, 3) -> (3, 5): rows sampled at 0, 2/3, 4/3 (-> rows 1, 1), columns at 0, 0.6, 1.2, 1.8, 2.4 (-> 2, 2)
    x = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]).view(1, 1, 2, 3)
    expected = torch.tensor([[0.0, 0.6, 1.2, 1.8, 2.0],
                             [2.0, 2.6, 3.2, 3.8, 4.0],
                             [3.0, 3.6, 4.2, 4.8, 5.0]])
    assert torch.allclose(tf1_resize_bilinear(x, (3, 5))[0, 0], expected, atol=1e-6)


def test_tf1_resize_bilinear_is_differentiable_and_batched():
    x = torch.randn(2, 3, 5, 7, requires_grad=True)
    y = tf1_resize_bilinear(x, (10, 14))
    assert y.shape == (2, 3, 10, 14)
    y.sum().backward()
    # every input pixel feeds the output with total weight 4 (2x2 up-sampling), edges get the clamped extra share
    assert torch.allclose(x.grad[:, :, 1:-1, 1:-1], torch.full_like(x.grad[:, :, 1:-1, 1:-1], 4.0))


@pytest.mark.parametrize("size, k, s, d, expected", [
    (64, 3, 2, 1, (0, 1)), (64, 5, 2, 1, (1, 2)), (64, 1, 2, 1, (0, 0)), (64, 3, 1, 1, (1, 1)),
    (64, 3, 1, 4, (4, 4)), (5, 3, 2, 1, (1, 1)), (7, 5, 2, 1, (2, 2)),
])
def test_tf_same_padding_table(size, k, s, d, expected):
    assert tf_same_padding(size, k, s, d) == expected


def _ones_conv(conv):
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    return conv


def test_tf_same_stride2_hand_computed():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # k3 s2 "SAME" on 4x4: 0 before, 1 after -> windows start at rows/cols 0 and 2
    tf3 = _ones_conv(Conv2dSame(1, 1, 3, 2))
    assert torch.equal(tf3(x)[0, 0], torch.tensor([[45.0, 39.0], [66.0, 50.0]]))
    sym3 = _ones_conv(nn.Conv2d(1, 1, 3, 2, 1))  # PyTorch: 1 on both sides -> windows start at -1, 1
    assert torch.equal(sym3(x)[0, 0], torch.tensor([[10.0, 24.0], [51.0, 90.0]]))
    # k5 s2: 1 before, 2 after -> windows rows/cols -1..3 and 1..5
    tf5 = _ones_conv(Conv2dSame(1, 1, 5, 2))
    assert torch.equal(tf5(x)[0, 0], torch.tensor([[120.0, 96.0], [114.0, 90.0]]))
    # 1x1 s2: no padding, the even pixels
    tf1 = _ones_conv(Conv2dSame(1, 1, 1, 2))
    assert torch.equal(tf1(x), x[:, :, ::2, ::2])


def test_tf_same_stride1_equals_symmetric():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 12, 12)
    for k, d in ((3, 1), (3, 2), (5, 1), (3, 16)):
        same, sym = Conv2dSame(4, 6, k, 1, d), nn.Conv2d(4, 6, k, 1, d * (k - 1) // 2, d)
        sym.load_state_dict(same.state_dict())
        assert torch.allclose(same(x), sym(x), atol=1e-6)


def test_tf_switches_keep_keys_and_shapes():
    default = HiFillGenerator()
    tf_like = HiFillGenerator(padding="tf_same", resize="tf1_legacy")
    shapes = {k: v.shape for k, v in default.state_dict().items()}
    assert shapes == {k: v.shape for k, v in tf_like.state_dict().items()}
    assert all(isinstance(m, Conv2dSame) for m in tf_like.modules() if isinstance(m, nn.Conv2d))
    critic = HiFillCritic(image_size=64, padding="tf_same")
    assert critic.state_dict().keys() == HiFillCritic(image_size=64).state_dict().keys()
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, 10:30, 20:44] = 1
    out = tf_like(image, mask)
    assert out["coarse"].shape == out["refine"].shape == (2, 3, 64, 64)
    assert out["scores"].shape == (2, 16, 16)
    assert critic(image).shape == (2, 1)
    layer = LightWeightGatedConv2d(4, 8, 5, 2, gate="sc", padding="tf_same")
    assert layer(torch.randn(1, 4, 10, 10)).shape == (1, 8, 5, 5)


def test_defaults_are_the_pytorch_conventions():
    g = HiFillGenerator()
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert convs and not any(isinstance(m, Conv2dSame) for m in convs)
    for m in convs:  # symmetric "same" padding, as before the switches
        assert m.padding == (m.dilation[0] * (m.kernel_size[0] - 1) // 2,) * 2
    critic = HiFillCritic(image_size=64)
    assert [m.padding for m in critic.modules() if isinstance(m, nn.Conv2d)] == [(2, 2)] * 6
    up = GatedUpConv2d(4, 3, "pw")
    x = torch.randn(1, 4, 8, 8)
    assert torch.equal(up(x), up.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)))
    # and the generator as a whole: default == explicit PyTorch switches, same weights
    explicit = HiFillGenerator(padding="symmetric", resize="half_pixel")
    explicit.load_state_dict(g.state_dict())
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 8:30, 12:40] = 1
    with torch.no_grad():
        assert torch.equal(g(image, mask)["refine"], explicit(image, mask)["refine"])
        tf_like = HiFillGenerator(padding="tf_same", resize="tf1_legacy")
        tf_like.load_state_dict(g.state_dict())
        assert not torch.allclose(g(image, mask)["refine"], tf_like(image, mask)["refine"], atol=1e-4)


def test_unknown_switch_values_are_refused():
    with pytest.raises(ValueError, match="padding"):
        HiFillGenerator(padding="valid")
    with pytest.raises(ValueError, match="resize"):
        HiFillGenerator(resize="bicubic")
    with pytest.raises(ValueError, match="padding"):
        HiFillCritic(image_size=64, padding="same")
