"""Our networks against the reference packages, where they import (GPU machines with a working torchvision and the
downloaded weights). Skipped here with the reason."""

import pytest
import torch


def _require(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except Exception as exc:  # ImportError, or the torchvision operator RuntimeError
        pytest.skip(f"{module} does not import here ({type(exc).__name__}: {str(exc)[:80]})")


def test_fid_features_match_torch_fidelity():
    _require("torch_fidelity")
    from evaluation.fid import InceptionFeatures, TorchFidelityInception

    try:
        ours = InceptionFeatures(weights="torch-fidelity", resize="tf1")
    except Exception as exc:
        pytest.skip(f"FID Inception weights unavailable: {exc}")
    ref = TorchFidelityInception()
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 128, 160), generator=g, dtype=torch.uint8)
    a, b = ours(images), ref(images)
    assert torch.allclose(a, b, rtol=1e-3, atol=1e-4)


def test_fid_value_matches_torch_fidelity_backend():
    _require("torch_fidelity")
    from torchmetrics.image.fid import FrechetInceptionDistance

    from evaluation.fid import FeatureIdentity, InceptionFeatures, TorchFidelityInception

    try:
        ours = InceptionFeatures(weights="torch-fidelity", resize="tf1")
    except Exception as exc:
        pytest.skip(f"FID Inception weights unavailable: {exc}")
    ref = TorchFidelityInception()
    g = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (16, 3, 64, 64), generator=g, dtype=torch.uint8)
    fake = (real.int() + torch.randint(-40, 41, real.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    values = []
    for net in (ours, ref):
        fid = FrechetInceptionDistance(feature=FeatureIdentity(2048))
        fid.update(net(real), real=True)
        fid.update(net(fake), real=False)
        values.append(float(fid.compute()))
    assert values[0] == pytest.approx(values[1], rel=1e-3)


def test_lpips_matches_lpips_package():
    lpips = _require("lpips")
    from evaluation.lpips import LPIPS

    try:
        ours = LPIPS("alex")
    except Exception as exc:
        pytest.skip(f"AlexNet weights unavailable: {exc}")
    ref = lpips.LPIPS(net="alex", version="0.1", verbose=False).eval()
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1, torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(ours(x, y), ref(x, y).flatten(), rtol=1e-3, atol=1e-5)
