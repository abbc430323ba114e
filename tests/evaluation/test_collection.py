"""InpaintingEvaluator: grouping, FID/KID on stand-in features, dedup, reset, checkpoint hygiene."""

import json

import pytest
import torch
from torch import nn

from evaluation import InpaintingEvaluator
from evaluation.buckets import BUCKET_NAMES, hole_ratio_bucket
from evaluation.fid import frechet_distance, gaussian_stats, kid_from_features
from evaluation.images import to_uint8
from evaluation.metrics import psnr
from evaluation.report import report_to_json


class TinyFeatures(nn.Module):
    """Stand-in for the Inception: uint8 (N, 3, H, W) -> (N, 4)."""

    num_features = 4

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x.float() / 255.0).mean(dim=(2, 3))


class MeanAbsLpips(nn.Module):
    """Stand-in for LPIPS: mean |a - b| per image."""

    def forward(self, a, b):
        return (a - b).abs().mean(dim=(1, 2, 3))


def _batch(seed, ratios, size=24):
    g = torch.Generator().manual_seed(seed)
    b = len(ratios)
    target = torch.rand(b, 3, size, size, generator=g) * 2 - 1
    pred = (target + 0.2 * torch.randn(b, 3, size, size, generator=g)).clamp(-1, 1)
    mask = torch.zeros(b, 1, size, size)
    for i, r in enumerate(ratios):  # exact hole ratios: the first round(r * H*W) pixels
        mask.view(b, -1)[i, : round(r * size * size)] = 1
    return pred, target, mask


def _evaluator(metrics, **kw):
    return InpaintingEvaluator(metrics, feature_net=TinyFeatures(), lpips_modules={"alex": MeanAbsLpips()},
                               bootstrap_resamples=200, **kw)


def test_buckets_local_rule():
    assert BUCKET_NAMES[0] == "0-10%" and BUCKET_NAMES[-1] == ">60%"
    assert hole_ratio_bucket(0.0) == "0-10%"
    assert hole_ratio_bucket(0.1) == "0-10%"
    assert hole_ratio_bucket(0.1001) == "10-20%"
    assert hole_ratio_bucket(0.6) == "50-60%"
    assert hole_ratio_bucket(0.75) == ">60%"


def test_per_bucket_and_per_type_split_match_manual_grouping():
    ev = _evaluator(["psnr", "l1_hole", "lpips", "fid"], mask_types=["box", "brush"])
    ratios = [[0.05, 0.15, 0.15, 0.45], [0.05, 0.45, 0.7, 0.15]]
    types = [["box", "brush", "box", "brush"], ["brush", "box", "box", "brush"]]
    all_p, all_t, all_m = [], [], []
    for i, (r, t) in enumerate(zip(ratios, types)):
        p, tg, m = _batch(i, r)
        ev.update(p, tg, m, mask_type=t, index=torch.arange(4) + 4 * i)
        all_p.append(p), all_t.append(tg), all_m.append(m)
    report = ev.compute()
    p, tg = torch.cat(all_p), torch.cat(all_t)
    per_image = psnr(to_uint8(p), to_uint8(tg))
    flat_r, flat_t = sum(ratios, []), sum(types, [])

    assert report["overall"]["n"] == 8
    assert report["overall"]["metrics"]["psnr"]["mean"] == pytest.approx(float(per_image.mean()))
    assert set(report["buckets"]) == {"0-10%", "10-20%", "40-50%", ">60%"}
    for name, group in report["buckets"].items():
        sel = torch.tensor([hole_ratio_bucket(r) == name for r in flat_r])
        assert group["n"] == int(sel.sum())
        assert group["metrics"]["psnr"]["mean"] == pytest.approx(float(per_image[sel].mean()))
    for name in ("box", "brush"):
        sel = torch.tensor([t == name for t in flat_t])
        group = report["mask_types"][name]
        assert group["metrics"]["psnr"]["mean"] == pytest.approx(float(per_image[sel].mean()))
        assert group["metrics"]["fid"]["mean"] is not None
    # FID overall equals the closed form on the same stand-in features
    net = TinyFeatures()
    with torch.no_grad():
        fr, ff = net(to_uint8(tg)).double(), net(to_uint8(p)).double()
    assert report["overall"]["metrics"]["fid"]["mean"] == pytest.approx(
        frechet_distance(*gaussian_stats(fr), *gaussian_stats(ff)), rel=1e-6, abs=1e-9)
    # a bucket with a single image has no FID, with a reason
    assert report["buckets"][">60%"]["metrics"]["fid"]["mean"] is None
    assert "2 images" in report["buckets"][">60%"]["metrics"]["fid"]["note"]
    # CI contains the mean; strict JSON
    psnr_all = report["overall"]["metrics"]["psnr"]
    assert psnr_all["ci95"][0] <= psnr_all["mean"] <= psnr_all["ci95"][1]
    json.loads(report_to_json(report))
    s = report["settings"]
    assert s["num_images"] == 8 and s["image_size"] == [24, 24] and s["image"] == "composite"
    assert "uint8" in s["data_range"] and s["fid"]["backend"].startswith("custom")


def test_fid_self_is_zero_and_kid_matches_function():
    ev = _evaluator(["fid", "kid"], kid_subsets=10, kid_subset_size=6)
    p, t, m = _batch(0, [0.3] * 6)
    ev.update(t, t, m)
    out = ev.compute()["overall"]["metrics"]
    assert abs(out["fid"]["mean"]) < 1e-6
    ev.reset()
    ev.update(p, t, m)
    out = ev.compute()["overall"]["metrics"]
    net = TinyFeatures()
    with torch.no_grad():
        expected = kid_from_features(net(to_uint8(t)), net(to_uint8(p)), subsets=10, subset_size=6)
    assert out["kid"]["mean"] == pytest.approx(expected["mean"], rel=1e-6)
    assert out["kid"]["std"] == pytest.approx(expected["std"], rel=1e-6, abs=1e-12)


def test_duplicates_from_distributed_padding_are_dropped():
    ev = _evaluator(["psnr"])
    p, t, m = _batch(0, [0.1, 0.2, 0.3])
    ev.update(p, t, m, index=torch.tensor([0, 1, 2]))
    ev.update(p[:1], t[:1], m[:1], index=torch.tensor([0]))  # a padded repeat of image 0
    report = ev.compute()
    assert report["overall"]["n"] == 3
    assert report["overall"]["metrics"]["psnr"]["mean"] == pytest.approx(
        float(psnr(to_uint8(p), to_uint8(t)).mean()))


def test_fid_with_one_image_is_a_clear_error_and_compute_before_update():
    ev = _evaluator(["fid"])
    with pytest.raises(RuntimeError, match="before any update"):
        ev.compute()
    p, t, m = _batch(0, [0.2])
    ev.update(p, t, m)
    with pytest.raises(ValueError, match="at least 2 images"):
        ev.compute()


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown metrics"):
        InpaintingEvaluator(["psnr", "fdi"])
    with pytest.raises(ValueError, match="composite"):
        InpaintingEvaluator(["psnr"], image="raw")
    ev = _evaluator(["psnr"])
    p, t, m = _batch(0, [0.2, 0.3])
    with pytest.raises(ValueError, match="mask"):
        ev.update(p, t, m[:, :, :10])
    with pytest.raises(ValueError, match="mask_type"):
        ev.update(p, t, m, mask_type=["box"])


def test_metric_networks_stay_out_of_checkpoints():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(2, 2)
            self.evaluator = _evaluator(["psnr", "lpips", "fid"])

    holder = Holder()
    keys = holder.state_dict().keys()
    assert set(keys) == {"layer.weight", "layer.bias"}
    fresh = Holder()
    fresh.load_state_dict(holder.state_dict(), strict=True)
    assert torch.equal(fresh.layer.weight, holder.layer.weight)


def test_fid_covariance_switch_and_scipy_cross_check():
    p, t, m = _batch(0, [0.3] * 6)
    reports = {}
    for cov in ("unbiased", "biased"):
        ev = _evaluator(["fid"], fid_covariance=cov, fid_scipy_check=True, fid_per_bucket=False)
        ev.update(p, t, m)
        reports[cov] = ev.compute()["overall"]["metrics"]["fid"]
    net = TinyFeatures()
    with torch.no_grad():
        fr, ff = net(to_uint8(t)), net(to_uint8(p))
    for cov, unbiased in (("unbiased", True), ("biased", False)):
        expected = frechet_distance(*gaussian_stats(fr, unbiased), *gaussian_stats(ff, unbiased))
        assert reports[cov]["mean"] == pytest.approx(expected, rel=1e-6)
        assert reports[cov]["scipy_sqrtm"] == pytest.approx(expected, rel=1e-5, abs=1e-8)
    assert reports["unbiased"]["mean"] != pytest.approx(reports["biased"]["mean"], rel=1e-9)


def test_bare_fid_inception_is_wrapped():
    from evaluation.fid import InceptionFeatures
    from networks.backbones import FIDInceptionV3

    ev = InpaintingEvaluator(["fid"], feature_net=FIDInceptionV3(), fid_per_bucket=False)
    assert isinstance(ev.inception, InceptionFeatures) and ev.inception.resize == "tf1"
    out = ev.inception(torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8))  # resized to 299 inside
    assert out.shape == (1, 2048) and out.dtype == torch.float32


def test_local_bucket_rule_agrees_with_shared_definition():
    shared = pytest.importorskip("datamodules.masks.buckets", reason="datamodules.masks.buckets not available")
    from evaluation.buckets import LOCAL_BUCKETS, _local_bucket

    assert tuple(n for n, _ in LOCAL_BUCKETS) == tuple(shared.BUCKETS) == BUCKET_NAMES
    for r in [0.0, 0.005, 0.01, 0.05, 0.1, 0.1000001, 0.2, 0.3, 0.35, 0.5, 0.6, 0.6001, 0.9, 1.0]:
        assert _local_bucket(r) == shared.hole_ratio_bucket(r), r
