"""A row's complete trial config: the layers of a row (packaged config, sweep, profile, protocol, row, command
line), the metrics a profile measures, the identity of a study's settings and how its rows are scored.

The layers and their order are described in ``sweeps/README.md`` ("A row's config").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from assembly.config import init_arg_names, model_class_of
from evaluation.names import ALL_METRICS
from evaluation.protocols import PROTOCOLS, describe_protocol
from sweeps.profiles import PROFILE_DEFAULTS, SMOKE_FILE_MASKS, build_trial_config
from sweeps.spec import Row, Sweep, check_keys, protocol_layer, row_base_config


def profile_layer(profile: str, model_section: dict[str, Any] | None,
                  data_section: dict[str, Any] | None = None) -> dict[str, Any]:
    """The runner's defaults of ``profile``; model keys only where the row's model has that option. A smoke run of
    a config that reads mask files draws :data:`sweeps.profiles.SMOKE_FILE_MASKS` instead."""
    layer = dict(PROFILE_DEFAULTS[profile])
    data_section = data_section or {}
    if profile == "smoke" and (data_section.get("mask_dir") or data_section.get("eval_mask_dir")):
        layer.update({"data.masks": SMOKE_FILE_MASKS, "data.eval_masks": SMOKE_FILE_MASKS})
    model_names = set(init_arg_names(model_class_of(model_section))) if model_section else set()
    return {k: v for k, v in layer.items()
            if not k.startswith("model.init_args.") or k.split(".")[2] in model_names}


def effective_metrics(sweep: Sweep, profile: str, extra: dict[str, Any] | None = None) -> tuple[list[str], list[str]]:
    """(metrics measured, metrics skipped): smoke skips those needing pretrained networks (FID, LPIPS, KID...),
    and MS-SSIM below its minimum size (176 px)."""
    wanted = [m for m in sweep.metrics if m in ALL_METRICS]
    if profile != "smoke":
        return wanted, []
    heavy = {"fid", "kid", "pids", "uids", "lpips", "lpips_alex", "lpips_vgg"}
    size = (extra or {}).get("data.image_size") or sweep.profiles.get("smoke", {}).get("data.image_size") \
        or PROFILE_DEFAULTS["smoke"]["data.image_size"]
    if int(size) < 176:
        heavy.add("ms_ssim")
    return [m for m in wanted if m not in heavy], [m for m in wanted if m in heavy]


def row_config(sweep: Sweep, row: Row, profile: str, extra: dict[str, Any], trial_dir: Path, metrics: list[str],
               logger_mode: str) -> dict[str, Any]:
    base = row_base_config(sweep, row)
    model = base.get("model")
    check_keys(list(extra), model, f"--set/--data options for row {row.label!r}")
    if model and sweep.evaluation_protocol and (model.get("init_args") or {}).get("evaluator_options") is None:
        model.setdefault("init_args", {})["evaluator_options"] = {}
    # `evaluation` (the test protocol: fixed mask files, eval image) points at real files: smoke keeps its model keys.
    evaluation = {k: v for k, v in sweep.evaluation.items() if profile != "smoke" or k.startswith("model.")}
    # The paper's metric settings come first, so that any later layer may still change one of them.
    layers = [protocol_layer(sweep), sweep.overrides, profile_layer(profile, model, base.get("data")),
              sweep.profiles.get(profile, {}),
              evaluation, row.overrides, row.profiles.get(profile, {}), extra]
    config = build_trial_config(base, layers=layers, trial_dir=trial_dir, sweep_name=sweep.name, label=row.label,
                                profile=profile, metrics=metrics, logger_mode=logger_mode, has_model=model is not None)
    _sync_image_size(config)
    return config


def _sync_image_size(config: dict[str, Any]) -> None:
    """A model with an ``image_size`` option (its training crop, e.g. HiFill's critic) follows ``data.image_size``:
    a profile or ``--set`` that changes the crop must not leave the model at the old size (Lightning also refuses
    differing hparams of the same name)."""
    model, size = config.get("model"), (config.get("data") or {}).get("image_size")
    if model and size and "image_size" in init_arg_names(model_class_of(model)):
        model.setdefault("init_args", {})["image_size"] = size


def settings_hash(sweep: Sweep, rows: list[Row], profile: str, extra: dict[str, Any]) -> str:
    """Identifies what a study measures: a changed row, profile, data or budget starts a new study."""
    payload = {"profile": profile, "extra": extra, "overrides": sweep.overrides,
               "profile_overrides": sweep.profiles.get(profile, {}),
               "rows": [(r.label, r.method, r.baseline, r.overrides) + ((r.profiles.get(profile),) if r.profiles
                                                                          else ()) for r in rows]}
    if sweep.evaluation_protocol:  # other metric settings measure something else: a new study
        payload["protocol"] = sweep.evaluation_protocol
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:8]


def test_resolution(data: dict[str, Any]) -> str:
    """The size a row's test images are scored at, from its ``data`` section: ``native`` (eval crop ``none``) or
    ``N px`` (``test_image_size``, else ``image_size``)."""
    options = data.get("dataset_options") or {}
    if data.get("dataset") != "sample" and (options.get("eval_crop") or data.get("crop")) == "none":
        return "native"
    return f"{data.get('test_image_size') or data.get('image_size')} px"


def evaluation_notes(sweep: Sweep, rows: list[Row], profile: str, extra: dict[str, Any]) -> dict[str, str]:
    """How the rows are scored, from their generated configs: ``evaluation_protocol`` (the metric settings),
    ``test_resolution`` (native or N px) and, for models with an ``eval_protocol`` (DeepGIN: how the network sees a
    test image), its value; the last two beside the paper profile's when they differ (smoke/short evaluate small
    images in one pass for speed)."""

    def facts(name: str) -> tuple[set[str], set[str], set[str]]:
        protocols, network, sizes = set(), set(), set()
        for row in rows:
            if row.baseline:
                protocols.add(sweep.evaluation_protocol or "suite")
                continue
            config = row_config(sweep, row, name, extra, Path("."), [], "disabled")
            args = (config.get("model") or {}).get("init_args") or {}
            protocols.add((args.get("evaluator_options") or {}).get("protocol") or "suite (evaluator defaults)")
            if "eval_protocol" in args:
                network.add(str(args["eval_protocol"]))
            sizes.add(test_resolution(config.get("data") or {}))
        return protocols, network, sizes

    protocols, network, sizes = facts(profile)
    notes = {"evaluation_protocol": "; ".join(describe_protocol(p) if p in PROTOCOLS else p
                                              for p in sorted(protocols))}
    if network:
        paper = facts("paper")[1] if profile != "paper" else network
        note = ", ".join(sorted(network))
        if paper != network:
            note += (f" ({profile} profile: one pass for speed, not the table's protocol; "
                     f"the paper profile uses {', '.join(sorted(paper))})")
        notes["network_eval_protocol"] = note
    if sizes:
        paper_sizes = facts("paper")[2] if profile != "paper" else sizes
        note = ", ".join(sorted(sizes))
        if "native" in sizes:
            note += (" (native: batch 1; networks pad each image to their next accepted size and crop back before "
                     "the composite and the metrics)")
        if paper_sizes != sizes:
            note += f" ({profile} profile; the paper profile tests at {', '.join(sorted(paper_sizes))})"
        notes["test_resolution"] = note
    return notes
