"""LPIPS with random backbones and the heads shipped in torchmetrics (spec §4, §7.4)."""

import hashlib

import pytest
import torch

from evaluation.lpips import LPIPS, LPIPS_CHANNELS
from evaluation.pretrained import lpips_head_path
from networks.backbones import alexnet, vgg16

HEAD_SHA256 = {
    "alex": "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    "vgg": "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
}


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_head_files_shipped_in_torchmetrics(net):
    path = lpips_head_path(net)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == HEAD_SHA256[net]
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert [tuple(state[f"lin{i}.model.1.weight"].shape) for i in range(5)] == [(1, c, 1, 1) for c in
                                                                               LPIPS_CHANNELS[net]]
    assert all((v >= 0).all() for v in state.values())


@pytest.mark.parametrize("net, backbone", [("alex", alexnet), ("vgg", vgg16)])
def test_lpips_identity_symmetry_nonnegative(net, backbone):
    torch.manual_seed(0)
    model = LPIPS(net, backbone=backbone())
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(2, 3, 64, 64, generator=g)).clamp(-1, 1)
    d_xx, d_xy, d_yx = model(x, x), model(x, y), model(y, x)
    assert d_xy.shape == (2,)
    assert torch.equal(d_xx, torch.zeros(2))
    assert torch.allclose(d_xy, d_yx, atol=1e-7)
    assert (d_xy > 0).all()
    far = model(x, -x)
    assert (far > d_xy).all()  # a larger change scores higher on average here


def test_lpips_rejects_unknown_net():
    with pytest.raises(ValueError):
        LPIPS("squeeze", backbone=alexnet())


