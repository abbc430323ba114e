"""Metric states gather across two gloo processes: the report equals the single-process one."""

import datetime
import json
import os
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(__file__))


def _data():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(8, 3, 24, 24, generator=g) * 2 - 1
    pred = (target + 0.2 * torch.randn(8, 3, 24, 24, generator=g)).clamp(-1, 1)
    mask = torch.zeros(8, 1, 24, 24)
    for i in range(8):
        mask.view(8, -1)[i, : 40 + 60 * i] = 1
    types = ["box", "brush"] * 4
    return pred, target, mask, types


def _make():
    from test_collection import MeanAbsLpips, TinyFeatures

    from evaluation import InpaintingEvaluator

    return InpaintingEvaluator(["psnr", "lpips", "fid", "kid"], feature_net=TinyFeatures(),
                               lpips_modules={"alex": MeanAbsLpips()}, mask_types=["box", "brush"],
                               bootstrap_resamples=100, kid_subsets=5, kid_subset_size=4)


def _worker(rank, world, init_file, out_file):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    pred, target, mask, types = _data()
    ev = _make()
    # DistributedSampler-style split with padding: rank 1 repeats image 0 at the end.
    idx = [0, 2, 4, 6] if rank == 0 else [1, 3, 5, 7, 0]
    ev.update(pred[idx], target[idx], mask[idx], mask_type=[types[i] for i in idx], index=torch.tensor(idx))
    report = ev.compute()
    if rank == 0:
        with open(out_file, "w") as f:
            json.dump({k: report[k] for k in ("overall", "buckets", "mask_types")}, f)
    dist.destroy_process_group()


# spawn children unpickle the worker by module name: this module's plain name (its folder is on sys.path above), since
# "tests.evaluation..." can resolve to another distribution's top-level "tests" package (torch-fidelity installs one)
_worker.__module__ = "test_ddp"
sys.modules.setdefault("test_ddp", sys.modules[__name__])  # the parent pickles this very function


@pytest.mark.ddp
@pytest.mark.slow
def test_two_process_gather_equals_single_process(tmp_path):
    out = tmp_path / "rank0.json"
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    distributed = json.loads(out.read_text())

    pred, target, mask, types = _data()
    ev = _make()
    ev.update(pred, target, mask, mask_type=types, index=torch.arange(8))
    single = ev.compute()
    assert distributed["overall"]["n"] == 8
    for name in ("psnr", "lpips"):
        assert distributed["overall"]["metrics"][name]["mean"] == pytest.approx(
            single["overall"]["metrics"][name]["mean"])
    assert set(distributed["buckets"]) == set(single["buckets"])
    assert distributed["mask_types"]["box"]["metrics"]["psnr"]["mean"] == pytest.approx(
        single["mask_types"]["box"]["metrics"]["psnr"]["mean"])
    # FID sums cannot drop the padded duplicate: it counts 9 images on the distributed side
    assert distributed["overall"]["metrics"]["fid"]["mean"] == pytest.approx(
        single["overall"]["metrics"]["fid"]["mean"], rel=0.5)
