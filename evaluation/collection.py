"""``InpaintingEvaluator``: every metric of the suite behind one ``update / compute / reset`` (torchmetrics states).

Per-image scores (PSNR, SSIM, MS-SSIM, L1, hole L1, relative L1, LPIPS) are kept as small per-image scalars in
``dist_reduce_fx="cat"`` states, so results split by hole-ratio bucket and mask type, bootstrap CIs and DDP
gathering all work without holding images. FID uses one torchmetrics ``FrechetInceptionDistance`` state per group
(overall, each bucket, each declared mask type) fed with features extracted once per image. KID and P-/U-IDS need
the features themselves (2048 floats per image and side); they are stored only when requested.
"""

from __future__ import annotations

import platform
import warnings
import zlib
from collections.abc import Sequence
from typing import Any

import numpy
import torch
from torch import nn

from networks.backbones.inception import FIDInceptionV3

from .buckets import BUCKET_NAMES, BUCKET_SOURCE, OTHER_BUCKET, bucket_rule, hole_ratio_bucket
from .fid import (
    FeatureIdentity,
    InceptionFeatures,
    build_feature_extractor,
    frechet_distance,
    frechet_distance_scipy,
    ids_from_features,
    kid_from_features,
)
from .guard import check_torchvision
from .images import to_uint8, uint8_to_signed
from .lpips import LPIPS, TorchLpipsReference
from .metrics import PSNR_CAP_DB, SSIM_PRESETS, hole_ratio, l1, l1_hole, l1_rel, ms_ssim, psnr, ssim
from .names import ALL_METRICS, DEFAULT_METRICS, PER_IMAGE_METRICS, SET_METRICS, check_metric_names
from .protocols import protocol_options
from .stats import summarize

check_torchvision()  # before torchmetrics, which imports torchvision (see evaluation.guard)

import torchmetrics  # noqa: E402
from torchmetrics import Metric  # noqa: E402
from torchmetrics.image.fid import FrechetInceptionDistance  # noqa: E402
from torchmetrics.utilities import dim_zero_cat  # noqa: E402

__all__ = ["InpaintingEvaluator", "pixel_scores", "pixel_scale", "PIXEL_METRICS", "PER_IMAGE_METRICS", "SET_METRICS", "ALL_METRICS", "DEFAULT_METRICS"]



def _type_id(name: str) -> int:
    # Stable across processes (unlike hash()), so ids gathered from several ranks agree.
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def _cat(state: Any, dtype: torch.dtype, width: int | None = None) -> torch.Tensor:
    """Concatenated list state on the CPU: ``(N,)``, or ``(N, width)`` for feature rows."""
    shape = (-1,) if width is None else (-1, width)
    if isinstance(state, list) and len(state) == 0:
        return torch.empty(0 if width is None else (0, width), dtype=dtype)
    return dim_zero_cat(state).detach().cpu().reshape(shape)


class _ScoreStates(Metric):
    """Per-image scalars: one ``cat`` state per metric plus hole ratio, bucket id, mask-type id and image index."""

    full_state_update = False

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self.names = list(names)
        for name in [*self.names, "hole_ratio"]:
            self.add_state(f"s_{name}", default=[], dist_reduce_fx="cat")
        for name in ("bucket_id", "type_id", "image_index"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, scores: dict[str, torch.Tensor], ratio: torch.Tensor, bucket_id: torch.Tensor,
               type_id: torch.Tensor, image_index: torch.Tensor) -> None:
        for name in self.names:
            getattr(self, f"s_{name}").append(scores[name].double())
        self.s_hole_ratio.append(ratio.double())
        self.bucket_id.append(bucket_id.long())
        self.type_id.append(type_id.long())
        self.image_index.append(image_index.long())

    def compute(self) -> dict[str, torch.Tensor]:
        out = {name: _cat(getattr(self, f"s_{name}"), torch.float64) for name in [*self.names, "hole_ratio"]}
        for name in ("bucket_id", "type_id", "image_index"):
            out[name] = _cat(getattr(self, name), torch.long)
        return out


class _FeatureStates(Metric):
    """Real/fake feature rows (for KID and P-/U-IDS), index-paired, with bucket id and image index."""

    full_state_update = False

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = int(width)
        for name in ("real", "fake", "bucket_id", "type_id", "image_index"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, real: torch.Tensor, fake: torch.Tensor, bucket_id: torch.Tensor, type_id: torch.Tensor,
               image_index: torch.Tensor) -> None:
        self.real.append(real.float())
        self.fake.append(fake.float())
        self.bucket_id.append(bucket_id.long())
        self.type_id.append(type_id.long())
        self.image_index.append(image_index.long())

    def compute(self) -> dict[str, torch.Tensor]:
        return {
            "real": _cat(self.real, torch.float32, self.width),
            "fake": _cat(self.fake, torch.float32, self.width),
            "bucket_id": _cat(self.bucket_id, torch.long),
            "type_id": _cat(self.type_id, torch.long),
            "image_index": _cat(self.image_index, torch.long),
        }


def _first_occurrence(index: torch.Tensor) -> torch.Tensor:
    """Boolean keep-mask dropping repeated non-negative indices (DistributedSampler padding); -1 = unknown, kept."""
    keep = torch.ones(index.numel(), dtype=torch.bool)
    seen: set[int] = set()
    for i, v in enumerate(index.tolist()):
        if v < 0:
            continue
        if v in seen:
            keep[i] = False
        seen.add(v)
    return keep


class InpaintingEvaluator(nn.Module):
    """The suite's metric collection for inpainting results.

    Args:
        metrics: names from :data:`ALL_METRICS`. ``lpips`` means ``lpips_<lpips_net>``.
        image: what ``pred`` is: ``"composite"`` (GT outside the hole; suite default) or ``"output"`` (raw network
            output). Only recorded — the caller builds the image.
        quantize: round images to uint8 as a PNG round trip (``round((x + 1) * 127.5)``) before every metric.
        ssim_preset: a key of ``metrics.SSIM_PRESETS``. psnr_zero_mse: ``cap`` (100 dB) | ``inf`` | ``skip``.
        lpips_net: backbone for ``lpips``. lpips_backbone_weights / lpips_heads: see ``evaluation.lpips.LPIPS``.
        lpips_backend: ``"ours"`` (in-tree) or ``"lpips"`` (the reference package, where torchvision works).
        fid_backend: ``"ours"`` or ``"torch-fidelity"``. inception_weights: ``pytorch-fid`` | ``torch-fidelity`` |
            ``random`` | path. fid_resize: see ``evaluation.fid.RESIZE_RULES``. weights_dir: local weight files.
        feature_net: replaces the Inception feature extractor (``uint8 (N, 3, H, W) -> (N, D)``; tests use tiny
            stand-ins). A bare ``FIDInceptionV3`` is wrapped in ``InceptionFeatures`` (resize + scaling). lpips_modules: ``{"alex"|"vgg": module(a, b) -> (N,)}`` replacing the LPIPS networks.
        mask_types: mask-type names known in advance; each gets its own FID state (needed for per-type FID under
            DDP, where every rank must hold the same states). Other types still get per-image metrics.
        kid_subsets / kid_subset_size / kid_seed: KID protocol (torch-fidelity's subset draws; a group with fewer
            images than ``kid_subset_size`` gets no KID, with a note, instead of a smaller subset).
        ids_solver: ``auto`` | ``sklearn`` | ``newton`` (see ``fid.ids_from_features``).
        bootstrap_resamples / ci_level / bootstrap_seed: percentile bootstrap of per-image means.
        fid_per_bucket: keep one FID state per hole-ratio bucket (2 x 2048² float64 each, ~67 MB).
        fid_covariance: ``unbiased`` (N-1: pytorch-fid, torch-fidelity, torchmetrics) or ``biased`` (1/N: MAT).
        fid_scipy_check: also report the overall FID with ``scipy.linalg.sqrtm`` (``scipy_sqrtm``).
        settings: extra facts copied into the report (dataset, split, mask set name and hash, resolution policy).

    ``update(pred, target, mask, mask_type=None, index=None)``: ``pred``/``target`` ``(B, 3, H, W)`` in [-1, 1],
    ``mask`` ``(B, 1, H, W)`` (1 = hole), ``mask_type`` list of B names, ``index`` ``(B,)`` dataset indices (used to
    drop the duplicates a distributed sampler adds). ``compute()`` returns a JSON-able report dict.
    """

    def __init__(
        self,
        metrics: Sequence[str] = DEFAULT_METRICS,
        *,
        image: str = "composite",
        quantize: bool = True,
        ssim_preset: str = "gaussian11",
        psnr_zero_mse: str = "cap",
        lpips_net: str = "alex",
        lpips_backbone_weights: str = "imagenet",
        lpips_heads: str = "torchmetrics",
        lpips_backend: str = "ours",
        fid_backend: str = "ours",
        inception_weights: str = "pytorch-fid",
        fid_resize: str = "tf1",
        weights_dir: str | None = None,
        feature_net: nn.Module | None = None,
        lpips_modules: dict[str, nn.Module] | None = None,
        mask_types: Sequence[str] | None = None,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        kid_seed: int = 2020,
        ids_solver: str = "auto",
        bootstrap_resamples: int = 1000,
        ci_level: float = 0.95,
        bootstrap_seed: int = 0,
        fid_per_bucket: bool = True,
        fid_scipy_check: bool = False,
        fid_covariance: str = "unbiased",
        settings: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        check_metric_names(metrics)
        if image not in ("composite", "output"):
            raise ValueError(f"image must be 'composite' or 'output', got {image!r}")
        if ssim_preset not in SSIM_PRESETS:
            raise ValueError(f"unknown SSIM preset {ssim_preset!r}; expected one of {sorted(SSIM_PRESETS)}")
        if lpips_backend not in ("ours", "lpips"):
            raise ValueError(f"lpips_backend must be 'ours' or 'lpips', got {lpips_backend!r}")
        if lpips_net not in ("alex", "vgg"):
            raise ValueError(f"lpips_net must be 'alex' or 'vgg', got {lpips_net!r}")
        self.metric_names = list(dict.fromkeys(metrics))
        self.image = image
        self.quantize = quantize
        self.ssim_preset = ssim_preset
        self.psnr_zero_mse = psnr_zero_mse
        self.lpips_net = lpips_net
        self.kid_options = {"subsets": kid_subsets, "subset_size": kid_subset_size, "seed": kid_seed}
        self.ids_solver = ids_solver
        self.bootstrap = {"resamples": bootstrap_resamples, "level": ci_level, "seed": bootstrap_seed}
        self.fid_scipy_check = fid_scipy_check
        if fid_covariance not in ("unbiased", "biased"):
            raise ValueError(f"fid_covariance must be 'unbiased' (N-1) or 'biased' (1/N, MAT), got {fid_covariance!r}")
        self.fid_covariance = fid_covariance
        self.extra_settings = dict(settings or {})
        self.bucket_names = list(BUCKET_NAMES)
        self.declared_mask_types = list(dict.fromkeys(mask_types or []))
        self._type_names: dict[int, str] = {_type_id(t): t for t in self.declared_mask_types}
        self._sizes: set[tuple[int, int]] = set()

        per_image = [m for m in self.metric_names if m in PER_IMAGE_METRICS]
        self.scores = _ScoreStates(per_image)

        # LPIPS networks, one per backbone requested.
        nets = {("alex" if m == "lpips_alex" else "vgg" if m == "lpips_vgg" else lpips_net)
                for m in per_image if m.startswith("lpips")}
        self.lpips_nets = nn.ModuleDict()
        self.lpips_info: dict[str, str] = {}
        for net in sorted(nets):
            if lpips_modules is not None and net in lpips_modules:
                self.lpips_nets[net] = lpips_modules[net]
                self.lpips_info[net] = f"custom:{type(lpips_modules[net]).__name__}"
            elif lpips_backend == "lpips":
                self.lpips_nets[net] = TorchLpipsReference(net)
                self.lpips_info[net] = "lpips package (reference backend), v0.1"
            else:
                self.lpips_nets[net] = LPIPS(net, backbone_weights=lpips_backbone_weights, heads=lpips_heads,
                                             weights_dir=weights_dir)
                self.lpips_info[net] = f"in-tree LPIPS v0.1, backbone weights {lpips_backbone_weights}, " \
                                       f"heads {lpips_heads}"

        # Inception features, FID states per group, feature store for KID / IDS.
        self.needs_features = any(m in SET_METRICS for m in self.metric_names)
        self.fid_info: dict[str, Any] = {}
        if self.needs_features:
            if feature_net is not None:
                if isinstance(feature_net, FIDInceptionV3):  # the bare trunk wants resized, scaled floats: wrap it
                    feature_net = InceptionFeatures(feature_net, resize=fid_resize)
                self.inception = feature_net
                backend = f"custom:{type(getattr(feature_net, 'net', feature_net)).__name__}"
            else:
                self.inception = build_feature_extractor(fid_backend, weights=inception_weights, resize=fid_resize,
                                                         weights_dir=weights_dir)
                backend = fid_backend
            self.inception.eval()
            dim = int(getattr(self.inception, "num_features", 2048))
            self.fid_info = {
                "backend": backend,
                "weights": getattr(self.inception, "weights", inception_weights),
                "resize": getattr(self.inception, "resize", fid_resize),
                "features": dim,
            }
        self.fid = nn.ModuleDict()
        if "fid" in self.metric_names:
            groups = ["overall"]
            if fid_per_bucket:
                groups += [f"bucket:{b}" for b in self.bucket_names]
            groups += [f"type:{t}" for t in self.declared_mask_types]
            for g in groups:
                # ModuleDict keys cannot contain "."; bucket names like "0-10%" are fine.
                metric = FrechetInceptionDistance(feature=FeatureIdentity(dim))
                # torchmetrics sets this in update(); a DDP rank that saw no image of this group still computes.
                metric.orig_dtype = torch.float64
                self.fid[g.replace(".", "_")] = metric
        self.feature_store = _FeatureStates(self.fid_info["features"]) if any(m in self.metric_names for m in ("kid", "pids", "uids")) \
            else None

        # Keep the (frozen, downloadable) metric networks out of checkpoints of the module that holds us.
        self._register_state_dict_hook(_drop_network_keys)
        self._register_load_state_dict_pre_hook(_fill_network_keys, with_module=True)

    @classmethod
    def from_protocol(cls, protocol: str = "suite", metrics: Sequence[str] | None = None,
                      **overrides: Any) -> InpaintingEvaluator:
        """Build with a named protocol's metrics and options (``evaluation.protocols``); ``overrides`` win."""
        names, options = protocol_options(protocol)
        settings = {"protocol": protocol, **(overrides.pop("settings", None) or {})}
        return cls(list(metrics) if metrics is not None else names, **{**options, **overrides}, settings=settings)

    # ------------------------------------------------------------------------------------------------ update
    def _network_prefixes(self) -> tuple[str, ...]:
        return ("inception.", "lpips_nets.")

    def train(self, mode: bool = True) -> InpaintingEvaluator:
        super().train(mode)
        for net in self.lpips_nets.values():
            net.eval()
        if hasattr(self, "inception"):
            self.inception.eval()
        return self

    @torch.no_grad()
    def update(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor,
        mask_type: Sequence[str] | None = None,
        index: torch.Tensor | Sequence[int] | None = None,
    ) -> None:
        if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] != 3:
            raise ValueError(f"pred and target must both be (B, 3, H, W), got {tuple(pred.shape)} and "
                             f"{tuple(target.shape)}")
        b, _, h, w = pred.shape
        if mask.shape != (b, 1, h, w):
            raise ValueError(f"mask must be (B, 1, H, W) = {(b, 1, h, w)}, got {tuple(mask.shape)}")
        if mask_type is not None and len(mask_type) != b:
            raise ValueError(f"mask_type has {len(mask_type)} names for a batch of {b}")
        device = pred.device
        self._sizes.add((h, w))

        p8, t8 = pixel_scale(pred, self.quantize), pixel_scale(target, self.quantize)
        p_signed, t_signed = (uint8_to_signed(p8), uint8_to_signed(t8)) if self.quantize else (pred.float(),
                                                                                                target.float())
        pixel = [name for name in self.scores.names if name in PIXEL_METRICS]
        scores = pixel_scores(pixel, p8, t8, mask, psnr_zero_mse=self.psnr_zero_mse, ssim_preset=self.ssim_preset)
        for name in self.scores.names:
            if name not in PIXEL_METRICS:  # lpips, lpips_alex, lpips_vgg
                net = "alex" if name == "lpips_alex" else "vgg" if name == "lpips_vgg" else self.lpips_net
                scores[name] = self.lpips_nets[net](p_signed, t_signed).double()
        scores = {name: scores[name] for name in self.scores.names}

        ratio = hole_ratio(mask)
        bucket_id = torch.tensor([self._bucket_index(float(r)) for r in ratio.tolist()], device=device)
        if mask_type is None:
            type_id = torch.full((b,), -1, dtype=torch.long, device=device)
        else:
            ids = []
            for t in mask_type:
                tid = _type_id(str(t))
                self._type_names.setdefault(tid, str(t))
                ids.append(tid)
            type_id = torch.tensor(ids, dtype=torch.long, device=device)
        if index is None:
            image_index = torch.full((b,), -1, dtype=torch.long, device=device)
        else:
            image_index = torch.as_tensor(index, dtype=torch.long, device=device).flatten()
        self.scores.update(scores, ratio, bucket_id, type_id, image_index)

        if self.needs_features:
            f_real = self.inception(t8 if self.quantize else t8 / 255.0)
            f_fake = self.inception(p8 if self.quantize else p8 / 255.0)
            if len(self.fid):
                self._update_fid("overall", f_real, f_fake)
                for i, name in enumerate(self.bucket_names):
                    sel = bucket_id == i
                    if sel.any():
                        self._update_fid(f"bucket:{name}", f_real[sel], f_fake[sel])
                for t in self.declared_mask_types:
                    sel = type_id == _type_id(t)
                    if sel.any():
                        self._update_fid(f"type:{t}", f_real[sel], f_fake[sel])
            if self.feature_store is not None:
                self.feature_store.update(f_real, f_fake, bucket_id, type_id, image_index)

    def _bucket_index(self, ratio: float) -> int:
        name = hole_ratio_bucket(ratio)
        return self.bucket_names.index(name) if name in self.bucket_names else len(self.bucket_names)

    def _update_fid(self, group: str, real: torch.Tensor, fake: torch.Tensor) -> None:
        key = group.replace(".", "_")
        if key in self.fid:
            self.fid[key].update(real, real=True)
            self.fid[key].update(fake, real=False)

    # ----------------------------------------------------------------------------------------------- compute
    def reset(self) -> None:
        self.scores.reset()
        for m in self.fid.values():
            m.reset()
        if self.feature_store is not None:
            self.feature_store.reset()
        self._sizes = set()

    def compute(self) -> dict[str, Any]:
        """Report: ``{"settings", "overall", "buckets": {name: group}, "mask_types": {name: group}}``.

        A group is ``{"n": images, "metrics": {name: {"mean", "ci95", "n", ...}}}``. FID/KID/IDS have no bootstrap
        CI (``ci95`` None); KID adds ``std`` over subsets. Raises ValueError when FID is requested on < 2 images.
        """
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if self.scores._update_count == 0 and not distributed:
            raise RuntimeError("InpaintingEvaluator.compute() called before any update()")
        # torchmetrics squeezes one-element results: restore (N,) / (N, D).
        raw = {k: v.reshape(-1) for k, v in self.scores.compute().items()}
        raw_n = int(raw["hole_ratio"].numel())
        if raw_n == 0:
            raise RuntimeError("InpaintingEvaluator.compute() called before any update()")
        keep = _first_occurrence(raw["image_index"])
        s = {k: v[keep] for k, v in raw.items()}
        n = int(keep.sum())
        if "fid" in self.metric_names and n < 2:
            raise ValueError(f"FID needs at least 2 images, got {n}")

        features = self.feature_store.compute() if self.feature_store is not None else None
        if features is not None:
            features = {k: v.reshape(-1, self.feature_store.width) if k in ("real", "fake") else v.reshape(-1)
                        for k, v in features.items()}
            fkeep = _first_occurrence(features["image_index"])
            features = {k: v[fkeep] for k, v in features.items()}

        # FID: computed on every rank for every state in the same order (they sync); the decision to skip a group
        # uses the synced, pre-deduplication counts so all ranks agree.
        fid_values: dict[str, dict] = {}
        for key, metric in self.fid.items():
            if key == "overall":
                count = raw_n
            elif key.startswith("bucket:"):
                count = int((raw["bucket_id"] == self.bucket_names.index(key[len("bucket:"):])).sum())
            else:
                count = int((raw["type_id"] == _type_id(key[len("type:"):])).sum())
            if count < 2:
                fid_values[key] = {"mean": None, "ci95": None, "n": count,
                                   "note": "FID needs at least 2 images" if count else "no images"}
                continue
            with warnings.catch_warnings():  # "compute before update" on ranks that saw none of this group
                warnings.filterwarnings("ignore", message=".*was called before the ``update`` method.*")
                if self.fid_covariance == "unbiased":
                    value = float(metric.compute())
                else:  # MAT's 1/N covariance, from the same (synced) sums
                    with metric.sync_context():
                        value = _fid_from_states(metric, unbiased=False)
                entry = {"mean": value, "ci95": None, "n": count}
                if key == "overall" and self.fid_scipy_check:
                    with metric.sync_context():
                        entry["scipy_sqrtm"] = _fid_from_states(metric, self.fid_covariance == "unbiased",
                                                                scipy=True)
            fid_values[key] = entry

        def group(sel: torch.Tensor, fid_key: str, fsel: torch.Tensor | None, overall: bool) -> dict[str, Any]:
            out: dict[str, Any] = {"n": int(sel.sum()), "metrics": {}}
            for name in self.scores.names:
                out["metrics"][name] = summarize(s[name][sel], **self.bootstrap)
            if "fid" in self.metric_names and fid_key in fid_values:
                out["metrics"]["fid"] = fid_values[fid_key]
            if features is not None and fsel is not None:
                out["metrics"].update(self._set_metrics(features["real"][fsel], features["fake"][fsel], overall))
            return out

        everything = torch.ones(n, dtype=torch.bool)
        fall = torch.ones(features["real"].shape[0], dtype=torch.bool) if features is not None else None
        report: dict[str, Any] = {"settings": self._settings(n, s),
                                  "overall": group(everything, "overall", fall, True),
                                  "buckets": {}, "mask_types": {}}
        for i, name in enumerate([*self.bucket_names, OTHER_BUCKET]):
            sel = s["bucket_id"] == i
            if sel.any():
                fsel = features["bucket_id"] == i if features is not None else None
                report["buckets"][name] = group(sel, f"bucket:{name}", fsel, False)
        type_ids = sorted(set(s["type_id"].tolist()) - {-1}, key=lambda t: self._type_names.get(t, str(t)))
        for tid in type_ids:
            name = self._type_names.get(tid, f"type_{tid}")
            fsel = features["type_id"] == tid if features is not None else None
            report["mask_types"][name] = group(s["type_id"] == tid, f"type:{name}", fsel, False)
        return report

    def _set_metrics(self, real: torch.Tensor, fake: torch.Tensor, overall: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        n = int(real.shape[0])
        if "kid" in self.metric_names:
            size = int(self.kid_options["subset_size"])
            if n >= max(2, size):
                kid = kid_from_features(real, fake, **self.kid_options)
                out["kid"] = {"mean": kid["mean"], "ci95": None, "n": n, "std": kid["std"],
                              "subset_size": kid["subset_size"]}
            else:  # refused, not shrunk, as torch-fidelity does (a group of a small bucket is left without KID)
                out["kid"] = {"mean": None, "ci95": None, "n": n,
                              "note": f"KID subsets of {size} images need at least {max(2, size)} images"}
        if overall and ("pids" in self.metric_names or "uids" in self.metric_names):
            if n >= 2:
                ids = ids_from_features(real, fake, solver=self.ids_solver)
                for name in ("pids", "uids"):
                    if name in self.metric_names:
                        out[name] = {"mean": ids[name], "ci95": None, "n": n, "solver": ids["solver"]}
            else:
                for name in ("pids", "uids"):
                    if name in self.metric_names:
                        out[name] = {"mean": None, "ci95": None, "n": n, "note": "needs at least 2 image pairs"}
        return out

    def _settings(self, n: int, s: dict[str, torch.Tensor]) -> dict[str, Any]:
        sizes = sorted(self._sizes)
        settings: dict[str, Any] = {
            "num_images": n,
            "image_size": list(sizes[0]) if len(sizes) == 1 else [list(x) for x in sizes],
            "image": self.image,
            "region": "whole image (l1_hole: hole pixels only)",
            "data_range": ("uint8 0..255 after round((x + 1) * 127.5) (PNG round trip); PSNR R = 255; SSIM R = 255"
                           " ([0, 1] for the lama preset); L1 on [0, 1]; l1_rel on 0..255; LPIPS on [-1, 1]")
            if self.quantize else "float, no quantisation (0..255 scale for pixel metrics)",
            "metrics": self.metric_names,
            "ssim": {"preset": self.ssim_preset, "definition": SSIM_PRESETS[self.ssim_preset]},
            "psnr": {"averaging": "mean of per-image PSNR", "zero_mse": self.psnr_zero_mse, "cap_db": PSNR_CAP_DB,
                     "zero_mse_images": int((s["psnr"] >= PSNR_CAP_DB).sum()) if "psnr" in s else None},
            "l1": "MAE on [0,1] per image, averaged; l1_rel = sum|r-f| / sum(r+f) per image (AOT-GAN)",
            "buckets": {"source": BUCKET_SOURCE, "rule": bucket_rule(), "names": self.bucket_names},
            "mask_types_declared": self.declared_mask_types,
            "bootstrap": {**self.bootstrap, "method": "percentile bootstrap of the mean over images"},
            "mask_set": None,
            "mask_set_hash": None,
            "versions": {"torch": torch.__version__, "torchmetrics": torchmetrics.__version__,
                         "numpy": numpy.__version__, "python": platform.python_version()},
        }
        if self.lpips_info:
            settings["lpips"] = {"default_net": self.lpips_net, **self.lpips_info,
                                 "input": "[-1, 1], native resolution, per-image mean"}
        if self.needs_features:
            settings["fid"] = {**self.fid_info, "statistics": "float64 sums, " + (
                                   "N-1 covariance" if self.fid_covariance == "unbiased" else "1/N covariance (MAT)"),
                               "sqrt": "eigenvalues of S1 S2 (torchmetrics)",
                               "real_set": "ground truth of the same images",
                               "input": "uint8" if self.quantize else "float [0,1], rounded to 0..255"}
            if n < 2000:
                settings["fid"]["warning"] = f"N = {n} < 2,000: FID/KID/IDS are dominated by small-sample bias"
        if "kid" in self.metric_names:
            settings["kid"] = {**self.kid_options, "kernel": "poly(3, 1/d, 1)", "std": "population, over subsets"}
        if "pids" in self.metric_names or "uids" in self.metric_names:
            settings["ids"] = {"solver": self.ids_solver, "svm": "linear, squared hinge, C = 1, L2, intercept",
                               "pairing": "by image", "scale": "fraction in [0, 1] (x100 for %)"}
        settings.update(self.extra_settings)
        return settings


PIXEL_METRICS = ("psnr", "ssim", "ms_ssim", "l1", "l1_hole", "l1_rel")


def pixel_scale(x: torch.Tensor, quantize: bool = True) -> torch.Tensor:
    """``(B, 3, H, W)`` in [-1, 1] -> the 0..255 values the pixel metrics read: uint8 after a PNG round trip
    (``quantize``, the default), else float without rounding."""
    return to_uint8(x) if quantize else (x.float() + 1) * 127.5


def pixel_scores(names: Sequence[str], pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *,
                 psnr_zero_mse: str = "cap", ssim_preset: str = "gaussian11") -> dict[str, torch.Tensor]:
    """Per-image ``(B,)`` float64 values of the pixel metrics ``names`` (of :data:`PIXEL_METRICS`) on ``pred`` and
    ``target`` scaled by :func:`pixel_scale`; mask ``(B, 1, H, W)``, 1 = hole. The harness's definitions, shared by
    ``InpaintingEvaluator.update`` and the training module's validation, so ``val/`` and ``test/`` agree."""
    scores: dict[str, torch.Tensor] = {}
    for name in names:
        if name == "psnr":
            scores[name] = psnr(pred, target, zero_mse=psnr_zero_mse)
        elif name == "ssim":
            scores[name] = ssim(pred, target, preset=ssim_preset)
        elif name == "ms_ssim":
            scores[name] = ms_ssim(pred, target)
        elif name == "l1":
            scores[name] = l1(pred, target)
        elif name == "l1_hole":
            scores[name] = l1_hole(pred, target, mask)
        elif name == "l1_rel":
            scores[name] = l1_rel(pred, target)
        else:
            raise ValueError(f"{name!r} is not a pixel metric; choose from {', '.join(PIXEL_METRICS)}")
    return scores


def _fid_from_states(metric: FrechetInceptionDistance, unbiased: bool = True, scipy: bool = False) -> float:
    """FID from a torchmetrics FID's sums (call inside ``metric.sync_context()`` under DDP)."""
    def stats(total, outer, count):
        n = int(count)
        mu = total.double() / n
        cov = (outer.double() - n * torch.outer(mu, mu)) / (n - 1 if unbiased else n)
        return mu.cpu(), cov.cpu()

    mu1, s1 = stats(metric.real_features_sum, metric.real_features_cov_sum, metric.real_features_num_samples)
    mu2, s2 = stats(metric.fake_features_sum, metric.fake_features_cov_sum, metric.fake_features_num_samples)
    if scipy:
        return frechet_distance_scipy(mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    return frechet_distance(mu1, s1, mu2, s2)


def _drop_network_keys(module: InpaintingEvaluator, state_dict, prefix, local_metadata) -> None:
    for key in [k for k in state_dict if k.startswith(prefix) and
                k[len(prefix):].startswith(module._network_prefixes())]:
        del state_dict[key]


def _fill_network_keys(module: InpaintingEvaluator, state_dict, prefix, local_metadata, strict, missing_keys,
                       unexpected_keys, error_msgs) -> None:
    # Checkpoints hold no metric-network weights (dropped above): keep the ones already loaded.
    for name in ("inception", "lpips_nets"):
        sub = getattr(module, name, None)
        if sub is None:
            continue
        for key, value in sub.state_dict().items():
            state_dict.setdefault(f"{prefix}{name}.{key}", value)
