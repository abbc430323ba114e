"""Key layouts, shapes and parameter counts of the in-tree backbones (random weights, no I/O)."""

import pytest
import torch

from networks.backbones import vgg16, vgg19, vgg_layer_index, vgg_layer_names
from networks.backbones.vgg import imagenet_normalize

VGG16_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
VGG19_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


@pytest.mark.parametrize("factory, convs", [(vgg16, VGG16_CONV_INDICES), (vgg19, VGG19_CONV_INDICES)])
def test_vgg_keys_match_torchvision_indices(factory, convs):
    keys = set(factory().state_dict())
    expected = {f"features.{i}.{p}" for i in convs for p in ("weight", "bias")}
    assert keys == expected


def test_vgg16_features_parameter_count():
    # 14,714,688 = torchvision vgg16 `features` (evaluation spec §4).
    assert sum(p.numel() for p in vgg16().parameters()) == 14_714_688


def test_vgg_classifier_keys_only_when_requested_and_ignored_on_strict_load():
    full = vgg16(with_classifier=True)
    src = full.state_dict()
    assert {"classifier.0.weight", "classifier.3.weight", "classifier.6.bias"} <= set(src)
    assert src["classifier.0.weight"].shape == (4096, 25088)
    dst = vgg16()
    dst.load_state_dict(src, strict=True)  # would raise on unexpected classifier.* without the hook
    assert torch.equal(dst.features[28].weight, src["features.28.weight"])


def test_vgg_layer_names_and_taps():
    names = vgg_layer_names("vgg16")
    assert len(names) == 31 and names[-1] == "pool5"
    assert [vgg_layer_index("vgg16", n) for n in ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")] == [
        3, 8, 15, 22, 29,
    ]
    assert vgg_layer_index("vgg19", "relu5_4") == 35
    with pytest.raises(KeyError):
        vgg_layer_index("vgg16", "relu3_4")

    model = vgg16().eval()
    x = torch.randn(1, 3, 32, 32)
    taps = model.forward_taps(x, ["relu1_2", 8, "relu5_3"])
    assert [t.shape[1:] for t in taps] == [(64, 32, 32), (128, 16, 16), (512, 2, 2)]
    assert torch.allclose(taps[1], model.features[:9](x))
    assert model(x).shape == (1, 512, 1, 1)


def test_imagenet_normalize_maps_range():
    x = torch.full((1, 3, 2, 2), -1.0)
    y = imagenet_normalize(x)
    assert torch.allclose(y[0, :, 0, 0], torch.tensor([-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]))


# ---------------------------------------------------------------------------------------------------- AlexNet
def test_alexnet_keys_and_features_parameter_count():
    from networks.backbones import alexnet

    model = alexnet()
    assert set(model.state_dict()) == {f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias")}
    assert sum(p.numel() for p in model.parameters()) == 2_469_696
    taps = model.forward_taps(torch.zeros(1, 3, 64, 64), [1, 4, 7, 9, 11])
    assert [t.shape[1] for t in taps] == [64, 192, 384, 256, 256]
    full = alexnet(with_classifier=True)
    assert {"classifier.1.weight", "classifier.4.weight", "classifier.6.bias"} <= set(full.state_dict())
    model.load_state_dict(full.state_dict(), strict=True)  # classifier keys dropped


# ---------------------------------------------------------------------------------------------- FID Inception
@pytest.fixture(scope="module")
def inception():
    from networks.backbones import FIDInceptionV3

    torch.manual_seed(0)
    return FIDInceptionV3().eval()


def test_fid_inception_state_dict_layout(inception):
    from networks.backbones.inception import BasicConv2d

    state = inception.state_dict()
    assert len(state) == 566
    assert len([k for k in state if not k.endswith("num_batches_tracked")]) == 472
    assert sum(isinstance(m, BasicConv2d) for m in inception.modules()) == 94
    params = sum(p.numel() for p in inception.parameters())
    assert params == 23_850_960
    assert params - inception.fc.weight.numel() - inception.fc.bias.numel() == 21_785_568
    assert state["fc.weight"].shape == (1008, 2048)
    for key in ("Mixed_6b.branch7x7dbl_3.conv.weight", "Mixed_6b.branch7x7dbl_3.bn.running_var",
                "Mixed_7c.branch3x3dbl_3b.bn.bias", "Conv2d_4a_3x3.conv.weight"):
        assert key in state
    assert state["Mixed_6b.branch7x7dbl_3.conv.weight"].shape == (128, 128, 1, 7)
    assert inception.Conv2d_1a_3x3.bn.eps == 0.001
    assert not any("AuxLogits" in k for k in state)


def test_fid_inception_pool_branches(inception):
    from networks.backbones.inception import _avg_pool_no_pad

    assert inception.Mixed_7b.pool == "avg" and inception.Mixed_7c.pool == "max"
    # TF averaging ignores the padding: a constant map stays constant at the border (torchvision's would not).
    const = torch.ones(1, 1, 5, 5)
    assert torch.allclose(_avg_pool_no_pad(const), const)
    assert not torch.allclose(torch.nn.functional.avg_pool2d(const, 3, 1, 1), const)
    # What reaches each block's pool-branch conv: Mixed_7b averages without the padding, Mixed_7c max-pools.
    seen = {}
    hooks = [getattr(inception, name).branch_pool.register_forward_pre_hook(
        lambda mod, args, name=name: seen.__setitem__(name, args[0])) for name in ("Mixed_5b", "Mixed_7b", "Mixed_7c")]
    try:
        with torch.no_grad():
            inception.Mixed_5b(torch.ones(1, 192, 6, 6))
            inception.Mixed_7b(torch.ones(1, 1280, 6, 6))
            spike = torch.zeros(1, 2048, 6, 6)
            spike[0, :, 3, 3] = 1.0
            inception.Mixed_7c(spike)
    finally:
        for h in hooks:
            h.remove()
    assert torch.allclose(seen["Mixed_5b"], torch.ones(1, 192, 6, 6))
    assert torch.allclose(seen["Mixed_7b"], torch.ones(1, 1280, 6, 6))
    assert seen["Mixed_7c"][0, 0, 2:5, 2:5].eq(1).all() and seen["Mixed_7c"][0, 0].sum() == 9


@pytest.mark.parametrize("size", [299, 512])
def test_fid_inception_output_shape(inception, size):
    with torch.no_grad():
        out = inception(torch.randn(1, 3, size, size))
    assert out.shape == (1, 2048) and out.dtype == torch.float32
