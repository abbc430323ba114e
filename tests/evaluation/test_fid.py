"""FID / KID / IDS mathematics with identity or tiny feature networks (spec §7.1-7.3, 7.6)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from evaluation.fid import (
    FeatureIdentity,
    InceptionFeatures,
    frechet_distance,
    frechet_distance_scipy,
    gaussian_stats,
    ids_from_features,
    kid_from_features,
    linear_svm_fit,
    resize_tf1,
    resize_to_299,
)


def _exact_samples(mean, cov, n, seed):
    """n rows whose sample mean is `mean` and (N-1) sample covariance is `cov`, exactly."""
    g = torch.Generator().manual_seed(seed)
    d = len(mean)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    z = z - z.mean(0)
    s = z.T @ z / (n - 1)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(s)).T  # whitened: sample cov = I
    return z @ torch.linalg.cholesky(torch.as_tensor(cov, dtype=torch.float64)).T + torch.as_tensor(mean).double()


def _torchmetrics_fid(real, fake):
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=FeatureIdentity(real.shape[1]))
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())


def test_fid_closed_form_2d():
    x = _exact_samples([0.0, 0.0], [[2.0, 1.0], [1.0, 2.0]], 1000, 0)
    y = _exact_samples([1.0, 2.0], [[1.0, 0.0], [0.0, 1.0]], 1000, 1)
    expected = 9 - 2 * math.sqrt(3)  # 5 + 6 - 2(1 + sqrt 3) = 5.535898384862246
    assert _torchmetrics_fid(x, y) == pytest.approx(expected, abs=1e-9)
    assert frechet_distance(*gaussian_stats(x), *gaussian_stats(y)) == pytest.approx(expected, abs=1e-9)
    assert frechet_distance_scipy(*gaussian_stats(x), *gaussian_stats(y)) == pytest.approx(expected, abs=1e-7)
    # MAT's 1/N covariance gives a slightly different number (spec §1.3).
    mat = frechet_distance(*gaussian_stats(x, unbiased=False), *gaussian_stats(y, unbiased=False))
    assert mat == pytest.approx(5.535362, abs=2e-6)
    # symmetric
    assert _torchmetrics_fid(y, x) == pytest.approx(expected, abs=1e-9)


def test_fid_closed_form_16d_and_self():
    d = 16
    x = _exact_samples([0.0] * d, torch.eye(d), 400, 2)
    y = _exact_samples([0.5] * d, 4 * torch.eye(d), 400, 3)
    assert _torchmetrics_fid(x, y) == pytest.approx(20.0, abs=1e-8)  # d (m^2 + (1 - s)^2)
    assert abs(_torchmetrics_fid(x, x)) < 1e-8


def test_fid_grows_with_shift_and_matches_scipy_on_tiny_net_features():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    net.num_features = 6
    feats = InceptionFeatures(net, resize="tf1")
    g = torch.Generator().manual_seed(0)
    real_img = torch.randint(0, 200, (24, 3, 16, 16), generator=g, dtype=torch.uint8)
    values = []
    for shift in (0, 20, 50):
        fake_img = (real_img.int() + shift).clamp(0, 255).to(torch.uint8)
        real, fake = feats(real_img), feats(fake_img)
        ours = _torchmetrics_fid(real.double(), fake.double())
        ref = frechet_distance_scipy(*(t.numpy() for t in gaussian_stats(real)), *(t.numpy() for t in
                                                                                   gaussian_stats(fake)))
        assert ours == pytest.approx(ref, rel=1e-6, abs=1e-9)
        values.append(ours)
    assert abs(values[0]) < 1e-6
    assert 0 < values[1] < values[2]


def test_gaussian_stats_needs_two():
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_stats(torch.zeros(1, 4))


def test_kid_exact_value_and_negative_self():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 2.0]])
    kid = kid_from_features(x, y, subsets=5, subset_size=3, gamma=0.5)
    assert kid["mean"] == pytest.approx(0.5, abs=1e-12)
    assert kid["std"] == pytest.approx(0.0, abs=1e-12)
    self_kid = kid_from_features(x, x, subsets=2, subset_size=3, gamma=0.5)
    # The cross term keeps its diagonal, so KID(X, X) is negative: guards against "fixing" the estimator.
    assert self_kid["mean"] == pytest.approx(-1.0555555555555556, abs=1e-9)


def test_kid_unbiased_and_subset_size_refused_above_n():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1500, 8, generator=g), torch.randn(1500, 8, generator=g)
    kid = kid_from_features(a, b, subsets=100, subset_size=100, seed=2020)
    assert abs(kid["mean"]) < 3 * kid["std"] / math.sqrt(100)
    shifted = kid_from_features(a, b + 1.0, subsets=20, subset_size=100)
    assert shifted["mean"] > 10 * kid["std"]
    assert kid_from_features(a[:50], b[:40], subsets=2, subset_size=40)["subset_size"] == 40
    with pytest.raises(ValueError, match="subset size 41 is larger than the number of images"):  # not shrunk
        kid_from_features(a[:50], b[:40], subsets=2, subset_size=41)
    # seeded: same numbers twice
    assert kid_from_features(a, b, subsets=5, subset_size=50)["mean"] == \
        kid_from_features(a, b, subsets=5, subset_size=50)["mean"]


def test_kid_subsets_are_torch_fidelitys_randomstate_draws():
    """Subset s takes rows ``RandomState(seed).choice(n, m, replace=False)``, real then fake, as torch-fidelity."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(30, 5, generator=g, dtype=torch.float64), torch.randn(25, 5, generator=g, dtype=torch.float64)
    rng = np.random.RandomState(7)
    values = []
    for _ in range(3):
        x, y = a[rng.choice(30, 6, replace=False)], b[rng.choice(25, 6, replace=False)]
        k = lambda p, q: (p @ q.T / 5 + 1) ** 3  # noqa: E731
        within = (k(x, x).sum() - k(x, x).trace() + k(y, y).sum() - k(y, y).trace()) / 30
        values.append(float(within - 2 * k(x, y).sum() / 36))
    kid = kid_from_features(a, b, subsets=3, subset_size=6, seed=7)
    assert kid["mean"] == pytest.approx(np.mean(values), rel=1e-12)
    assert kid["std"] == pytest.approx(np.std(values), rel=1e-9)


def test_resize_tf1_samples_without_half_pixel_shift():
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 4, 4)
    out = resize_tf1(ramp, (8, 8))
    assert torch.allclose(out[0, 0, 0], torch.tensor([0, 0.5, 1, 1.5, 2, 2.5, 3, 3]))
    torch_out = torch.nn.functional.interpolate(ramp, size=(8, 8), mode="bilinear", align_corners=False)
    assert not torch.allclose(out, torch_out)
    x = torch.rand(1, 3, 299, 299) * 255
    for rule in ("tf1", "torch_bilinear", "torch_bilinear_aa", "pil_bicubic"):
        assert torch.equal(resize_to_299(x, rule), x)
    assert resize_to_299(torch.rand(1, 3, 20, 30) * 255, "pil_bicubic").shape == (1, 3, 299, 299)


def test_inception_features_input_conventions():
    seen = {}

    class Probe(nn.Module):
        num_features = 3

        def forward(self, z):
            seen["z"] = z
            return z.mean(dim=(2, 3))

    feats = InceptionFeatures(Probe(), resize="tf1")
    u8 = torch.randint(0, 256, (2, 3, 10, 12), dtype=torch.uint8)
    out_u8 = feats(u8)
    assert seen["z"].shape == (2, 3, 299, 299)
    assert seen["z"].min() >= -1.0 and seen["z"].max() <= 127 / 128
    out_float = feats(u8.float() / 255.0)
    assert torch.allclose(out_u8, out_float)
    assert feats.num_features == 3
    # pytorch-fid preset scales [0,1] -> [-1,1] (x/127.5 - 1), the others (x - 128) / 128
    InceptionFeatures(Probe(), resize="torch_bilinear")(torch.full((1, 3, 299, 299), 255, dtype=torch.uint8))
    assert torch.allclose(seen["z"], torch.ones(1))


def test_linear_svm_matches_direct_minimisation():
    g = torch.Generator().manual_seed(1)
    x = torch.cat([torch.randn(60, 3, generator=g) + 0.7, torch.randn(60, 3, generator=g) - 0.7]).double()
    y = torch.cat([torch.ones(60), -torch.ones(60)]).double()
    w, b, info = linear_svm_fit(x, y)
    assert info["converged"]
    # reference: the same objective minimised by L-BFGS
    v = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    xa = torch.cat([x, torch.ones(120, 1, dtype=torch.float64)], 1)
    opt = torch.optim.LBFGS([v], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = 0.5 * v @ v + (torch.clamp(1 - y * (xa @ v), min=0) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert torch.allclose(torch.cat([w, torch.tensor([b], dtype=torch.float64)]), v.detach(), atol=1e-6)


def test_ids_separable_and_indistinguishable():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(200, 4, generator=g)
    with pytest.warns(RuntimeWarning, match="2,000"):
        far = ids_from_features(real, real + 10.0, solver="newton")
    assert far["uids"] == 0.0 and far["pids"] == 0.0
    with pytest.warns(RuntimeWarning):
        same = ids_from_features(real, torch.randn(200, 4, generator=g), solver="newton")
    assert 0.3 < same["uids"] <= 0.6 and 0.2 < same["pids"] < 0.8
    with pytest.raises(ValueError, match="paired"):
        ids_from_features(real, real[:10])
