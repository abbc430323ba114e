"""Our metrics against the reference packages (torch-fidelity, lpips) on the built-in photos, with the same seeded
random weights loaded into both (no download): features, FID and KID against torch-fidelity, LPIPS (alex, vgg)
against lpips, per image. The reference packages come with the `dev` extra (`make install`); without them these tests
skip with the reason, except in CI (``INPAINT_SUITE_REQUIRE_REFERENCE=1``, set by ``.ci/run``), where they fail."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch


def _require(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except Exception as exc:  # ImportError, or the torchvision operator RuntimeError
        message = f"{module} does not import here ({type(exc).__name__}: {str(exc)[:80]})"
        if os.environ.get("INPAINT_SUITE_REQUIRE_REFERENCE") == "1":
            pytest.fail(message + "; INPAINT_SUITE_REQUIRE_REFERENCE=1 requires the reference packages")
        pytest.skip(message)


def _photos(size: int, offset: int) -> torch.Tensor:
    """``(10, 3, size, size)`` uint8 crops of the 10 built-in photos; ``offset`` shifts the crop (a second, other set)."""
    from datamodules.datasets.sample import EVAL_PHOTOS, TRAIN_PHOTOS, load_sample_photo

    crops = []
    for name in TRAIN_PHOTOS + EVAL_PHOTOS:
        photo = load_sample_photo(name)
        y, x = (photo.shape[0] - size) // 2 + offset, (photo.shape[1] - size) // 2 - offset
        crops.append(torch.from_numpy(np.ascontiguousarray(photo[y:y + size, x:x + size])).permute(2, 0, 1))
    return torch.stack(crops)


@pytest.fixture(scope="module")
def inception_features(tmp_path_factory):
    """Features of two photo sets through our Inception and torch-fidelity's, both with one seeded random file."""
    _require("torch_fidelity")
    from evaluation.fid import InceptionFeatures, TorchFidelityInception
    from networks.backbones.inception import FIDInceptionV3

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "fid_inception_random.pth"
    torch.save(FIDInceptionV3().state_dict(), path)
    ours, ref = InceptionFeatures(weights=str(path), resize="tf1"), TorchFidelityInception(weights_path=str(path))
    real, fake = _photos(96, 0), _photos(96, 17)
    with torch.no_grad():
        return {"ours": (ours(real), ours(fake)), "ref": (ref(real), ref(fake)), "n": real.shape[0]}


def test_inception_features_match_torch_fidelity(inception_features):
    (ours_real, ours_fake), (ref_real, ref_fake) = inception_features["ours"], inception_features["ref"]
    assert ours_real.shape == (inception_features["n"], 2048) and inception_features["n"] == 10
    assert ours_real.std() > 0 and not torch.equal(ours_real, ours_fake)
    torch.testing.assert_close(ours_real, ref_real, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours_fake, ref_fake, rtol=1e-4, atol=1e-5)


def test_fid_matches_torch_fidelity(inception_features):
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    from evaluation.fid import frechet_distance, gaussian_stats

    (ours_real, ours_fake), (ref_real, ref_fake) = inception_features["ours"], inception_features["ref"]
    ours = frechet_distance(*gaussian_stats(ours_real), *gaussian_stats(ours_fake))
    ref = fid_statistics_to_metric(fid_features_to_statistics(ref_real.double()),
                                   fid_features_to_statistics(ref_fake.double()), verbose=False)
    assert ours > 0
    assert ours == pytest.approx(ref["frechet_inception_distance"], rel=1e-4)


@pytest.mark.parametrize("subset_size", [4, 9])
def test_kid_matches_torch_fidelity_subset_for_subset(inception_features, subset_size):
    from torch_fidelity.metric_kid import kid_features_to_metric

    from evaluation.fid import kid_from_features

    (ours_real, ours_fake), (ref_real, ref_fake) = inception_features["ours"], inception_features["ref"]
    ours = kid_from_features(ours_real, ours_fake, subsets=20, subset_size=subset_size, seed=2020)
    ref = kid_features_to_metric(ref_real.double(), ref_fake.double(), kid_subsets=20, kid_subset_size=subset_size,
                                 rng_seed=2020, verbose=False)
    assert ours["mean"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-4)
    assert ours["std"] == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-3)


def test_kid_refuses_a_subset_larger_than_the_set_like_torch_fidelity(inception_features):
    from torch_fidelity.metric_kid import kid_features_to_metric

    from evaluation.fid import kid_from_features

    (real, fake), n = inception_features["ref"], inception_features["n"]
    with pytest.raises(ValueError, match="larger than the number of images"):
        kid_from_features(real, fake, subsets=2, subset_size=n + 1)
    with pytest.raises(ValueError):
        kid_features_to_metric(real, fake, kid_subsets=2, kid_subset_size=n + 1, rng_seed=2020, verbose=False)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_matches_the_lpips_package_per_image(net):
    lpips = _require("lpips")
    from evaluation.lpips import LPIPS

    torch.manual_seed(0)
    ours = LPIPS(net, backbone_weights="random", heads="torchmetrics")
    # the lpips package's own v0.1 heads, and a random trunk (pnet_rand: nothing downloaded) that gets our trunk
    ref = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False).eval()
    trunk = {f"{index}.{kind}": value for index, layer in enumerate(ours.backbone.features)
             for kind, value in layer.state_dict().items()}
    for k in range(ref.net.N_slices):
        piece = getattr(ref.net, f"slice{k + 1}")
        piece.load_state_dict({f"{name}": trunk[name] for name in piece.state_dict()})
    torch.testing.assert_close(
        {k: v for k, v in ref.state_dict().items() if k.startswith("lin") and not k.startswith("lins")},
        {k: v for k, v in ours.heads.state_dict().items()})  # the heads shipped in torchmetrics are lpips' own
    photos = _photos(64, 0)[:6].float() / 127.5 - 1
    others = _photos(64, 9)[:6].float() / 127.5 - 1
    with torch.no_grad():
        a, b = ours(photos, others), ref(photos, others).flatten()
    assert a.shape == (6,) and a.min() > 0 and a.unique().numel() == 6
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
