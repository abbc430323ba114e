"""``inpaint-suite gpu-check``: one prepared pass over everything that needs a GPU to be measured or tested.

A GPU is lent rarely and briefly, so this runs in one go, in order, each section guarded (a failure is recorded
with its error and the next section still runs), and stops starting sections once ``--budget`` seconds are spent:

- ``cuda_tests``: the tests that skip without CUDA (selected by their skip reason), with pass/fail counts;
- ``methods``: bench's training step (G + D), inference, peak memory and fraction of a plain GEMM per method and
  mode (fp32, bf16 autocast, channels_last);
- ``masks``: the mask generators against their CPU oracles, and the device's masks against the CPU's for the same
  seeds and indices;
- ``learning``: AOT-GAN trained for a few steps on the built-in ``sample`` photos; the hole L1 of the composite on
  fixed held-out photos and masks before and after;
- ``cra``: Contextual Residual Aggregation at high resolution;
- ``official``: our networks against the re-typed official ones (test oracles under ``tests/``) under the same
  plain objective, fp32, and our full training step beside them;
- ``compile``: the ``methods`` figures with the networks under torch.compile, last because compile time is the least
  predictable part (an overrun of the budget then costs only these rows).

``--profile gpu`` (the default on CUDA) is sized to finish within about 8 minutes on one GPU; ``--profile toy``
(the default on the CPU) runs every section at toy sizes, to prove the script before a GPU is lent. Every size is an option. Writes ``gpu_check.json`` (every figure, each section's status) and ``gpu_check.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from assembly.errors import UsageError
from datamodules.datasets.sample import SampleDataset
from datamodules.masks import build_mask_generator, generator_names
from inpaint_suite.commands import bench
from inpaint_suite.commands.bench_common import build_method, fmt, method_overrides

# torch.compile rows come last: their compile time is the least predictable, so an overrun costs only them
SECTIONS = ("cuda_tests", "methods", "masks", "learning", "cra", "official", "compile")
REPO = Path(__file__).resolve().parents[2]
OFFICIAL_DIR = REPO / "tests" / "inpaint_suite" / "convert"
METHODS = ("aotgan", "madf", "deepgin", "hifill", "tiny")  # tiny: the suite's test method (fast toy runs)
OFFICIAL_METHODS = ("aotgan", "madf", "deepgin")  # HiFill's official code is TensorFlow: no re-typed network

PROFILES: dict[str, dict[str, Any]] = {
    # one H200: ~8 minutes in all, most of it torch.compile and the tests
    "gpu": {"batch": 8, "size": 256, "methods": ["aotgan", "madf", "deepgin", "hifill"],
            "modes": ["fp32", "bf16", "channels_last", "compile"], "repeat": 3, "mask_batch": 64,
            "mask_sizes": [256, 512], "equality_masks": 16, "generators": None, "learn_method": "aotgan",
            "learn_steps": 200, "learn_batch": 8, "learn_size": 256, "learn_eval": 8,
            "cra_sizes": [4096, 8192], "official_methods": list(OFFICIAL_METHODS), "test_timeout": 240,
            "budget": 480.0, "compile_backend": "inductor"},
    # the CPU: every path at toy sizes, to prove the script (CRA at 256/512: the section runs, the figures are moot);
    # compile through aot_eager: the same capture and autograd path without minutes of CPU code generation per method
    "toy": {"batch": 1, "size": 64, "methods": ["aotgan", "madf", "deepgin", "hifill"],
            "modes": ["fp32", "bf16", "channels_last", "compile"], "repeat": 1, "mask_batch": 4,
            "mask_sizes": [32, 64], "equality_masks": 2, "generators": None, "learn_method": "aotgan",
            "learn_steps": 3, "learn_batch": 2, "learn_size": 64, "learn_eval": 2,
            "cra_sizes": [256, 512], "official_methods": list(OFFICIAL_METHODS), "test_timeout": 240,
            "budget": 3600.0, "compile_backend": "aot_eager"},
}


def method_size(method: str, size: int) -> int:
    """``size``, raised to the smallest a method's network accepts (toy sizes): MADF's seven stride-2 stages
    need multiples of 128, AOT-GAN's rate-8 branches a 64-px input."""
    if method == "madf":
        return -(-size // 128) * 128
    return max(size, 64) if method == "aotgan" else size


# ------------------------------------------------------------------------------------------------ a. CUDA tests
def pytest_collection_modifyitems(config, items) -> None:
    """Loaded only as ``pytest -p inpaint_suite.commands.gpu_check``: keep the tests that skip without CUDA."""
    keep, drop = [], []
    for item in items:
        reasons = [str(m.kwargs.get("reason", "")) for m in item.iter_markers("skipif")]
        (keep if item.get_closest_marker("cuda") or any("cuda" in r.lower() for r in reasons) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


def cuda_test_files(paths: list[str]) -> list[str]:
    """The test files under ``paths`` whose text mentions CUDA: pytest then imports those, not the whole suite."""
    files = []
    for path in paths:
        path = REPO / path
        candidates = [path] if path.is_file() else sorted(path.rglob("test_*.py")) if path.is_dir() else []
        files += [str(f) for f in candidates if "cuda" in f.read_text(errors="replace").lower()]
    return files


def run_cuda_tests(paths: list[str], timeout: float) -> dict[str, Any]:
    """pytest in a subprocess (a crash or a hung kernel cannot take the check down) on the CUDA-only tests."""
    tests = cuda_test_files(paths)
    if not tests:
        return {"status": "skipped", "reason": f"no test file mentioning CUDA under {paths}"}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "inpaint_suite.commands.gpu_check", "-p", "no:cacheprovider",
                   "--continue-on-collection-errors", f"--junitxml={report}", *tests]
        # this checkout's code first, also where another copy of the suite is installed
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if report.exists():
            for suite in ET.parse(report).getroot().iter("testsuite"):
                for key in counts:
                    counts[key] += int(suite.get(key, 0))
        failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    result = {"files": [str(Path(t).relative_to(REPO)) if Path(t).is_relative_to(REPO) else t for t in tests],
              "exit_code": done.returncode, **counts, "failed": failed[:20]}
    if done.returncode not in (0, 5):  # 5: no test selected
        result["status"] = "failed"
        result["tail"] = (done.stdout + done.stderr).strip().splitlines()[-5:]
    return result


# ------------------------------------------------------------------------------------------------ c. masks
def mask_equality(device: torch.device, size: int, n: int, names: list[str] | None) -> list[dict[str, Any]]:
    """Masks drawn on ``device`` against the CPU's for the same indices and seed: fraction of differing pixels
    (documented tolerance: pixel centres within ~1e-9 px of a boundary may flip, < 1e-4)."""
    rows = []
    for name in names or [n for n in generator_names() if n != "mixture"]:  # a mixture reports its components
        row: dict[str, Any] = {"generator": name, "size": size, "masks": n}
        try:
            generator = build_mask_generator(name)
            index = torch.arange(n)
            cpu = generator(index, size, size, device="cpu", seed=0)
            other = generator(index, size, size, device=device, seed=0).cpu()
            row["differing_fraction"] = float((cpu != other).float().mean())
            row["equal"] = row["differing_fraction"] < 1e-4
        except Exception as error:  # one generator's failure is its row's result
            row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------ d. learning
def hole_l1(model, images: torch.Tensor, masks: torch.Tensor, batch: int) -> float:
    """Mean |composite − image| over hole pixels (images in [-1, 1]), the model in eval mode."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            b = {"image": images[i:i + batch], "mask": masks[i:i + batch]}
            composite = model(b)["composite"]
            total += float(((composite - b["image"]).abs() * b["mask"]).sum())
            count += float(b["mask"].sum() * 3)
    model.train(was_training)
    return total / max(count, 1.0)


def learning_check(method: str, device: torch.device, steps: int, batch: int, size: int,
                   n_eval: int) -> dict[str, Any]:
    """``steps`` training steps (bench's G + D step) on random crops of the sample photos with free-form masks;
    held-out photos and masks are fixed by seed, so before and after are comparable."""
    torch.manual_seed(0)
    model = build_method(method, method_overrides(method, size)).to(device).train()
    opts = model.configure_optimizers()
    opt_g, opt_d = (opts[0], opts[1]) if isinstance(opts, (list, tuple)) else (opts, None)
    masks = build_mask_generator("deepfill_v2")
    held_out = SampleDataset("test", image_size=size, length=n_eval)
    eval_images = torch.stack([held_out[i]["image"] for i in range(n_eval)]).to(device)
    eval_masks = masks(torch.arange(n_eval), size, size, device=device, seed=1234)
    train = SampleDataset("train", image_size=size, length=max(steps * batch, 1))
    before = hole_l1(model, eval_images, eval_masks, batch)
    start = time.perf_counter()
    for step in range(steps):
        index = torch.arange(step * batch, (step + 1) * batch)
        images = torch.stack([train[int(i)]["image"] for i in index]).to(device)
        data = {"image": images, "mask": masks(index, size, size, device=device, seed=0)}
        bench.train_step_fn(model, data, opt_g, opt_d, "fp32", device)()
    bench.sync(device)
    seconds = time.perf_counter() - start
    after = hole_l1(model, eval_images, eval_masks, batch)
    return {"method": method, "steps": steps, "batch": batch, "size": size, "held_out": n_eval,
            "hole_l1_before": round(before, 5), "hole_l1_after": round(after, 5),
            "relative_change": round((after - before) / before, 4) if before else None,
            "improved": after < before, "train_seconds": round(seconds, 2)}


# ------------------------------------------------------------------------------------------------ f. official
def official_reference() -> Any | None:
    """The re-typed official networks (test oracles); None where the tests are not shipped."""
    if not (OFFICIAL_DIR / "official_reference" / "__init__.py").is_file():
        return None
    if str(OFFICIAL_DIR) not in sys.path:
        sys.path.insert(0, str(OFFICIAL_DIR))
    return importlib.import_module("official_reference")


def _tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor in a network's output (tensor, list/tuple/dict, nested)."""
    if torch.is_tensor(value):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def network_step(generator: Callable, discriminator: Callable | None, params_g, params_d,
                 batch: dict[str, torch.Tensor]) -> Callable[[], None]:
    """One G + D update under a plain objective shared by both sides (L1 on every full-size output, WGAN scores),
    so the comparison measures the networks, not the methods' losses."""
    opt_g = torch.optim.Adam(params_g, lr=1e-4)
    opt_d = torch.optim.Adam(params_d, lr=1e-4) if discriminator is not None else None
    image = batch["image"]

    def score(x: torch.Tensor) -> torch.Tensor:
        return sum(t.mean() for t in _tensors(discriminator(x, batch)))

    def step() -> None:
        outputs = [t for t in _tensors(generator(batch)) if t.shape == image.shape]
        if opt_d is not None:
            opt_d.zero_grad(set_to_none=True)
            (score(outputs[0].detach()) - score(image)).backward()
            opt_d.step()
        loss = sum((o - image).abs().mean() for o in outputs)
        if opt_d is not None:
            loss = loss - 0.01 * score(outputs[0])
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()

    return step


def _filled(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return batch["image"] * (1 - batch["mask"]) + batch["mask"]


def _pair01(batch: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """DeepGIN's conditional D input: ``cat[masked input, image]`` in [0, 1]."""
    return torch.cat([(_filled(batch) + 1) / 2, (x + 1) / 2], dim=1)


def official_networks(method: str, reference: Any) -> tuple[torch.nn.Module, torch.nn.Module | None, Callable,
                                                            Callable | None]:
    """(G, D, call G on a batch, call D on an image) with each official network's own calling convention."""
    module = importlib.import_module(f"{reference.__name__}.{method}")
    if method == "aotgan":
        g, d = module.InpaintGenerator(), module.Discriminator()
        return g, d, (lambda b: g(_filled(b), b["mask"])), (lambda x, b: d(x))
    if method == "madf":  # masks with 1 = valid, one per image channel
        g = module.MADFNet()
        return g, None, (lambda b: g(b["image"] * (1 - b["mask"]), (1 - b["mask"]).expand(-1, 3, -1, -1))), None
    if method == "deepgin":
        g, d = module.ImageTinker2(), module.MultiscaleDiscriminator()
        return g, d, (lambda b: g(_filled(b), b["mask"])), (lambda x, b: d(_pair01(b, x)))
    raise KeyError(method)


def our_networks(model) -> tuple[Callable, Callable | None]:
    name = type(model).__name__.lower()
    generate = model.generate
    d = model.discriminator
    if d is None:
        return generate, None
    if "deepgin" in name:
        return generate, (lambda x, b: d(_pair01(b, x)))
    return generate, (lambda x, b: d(x))


def official_comparison(methods: list[str], device: torch.device, batch_size: int, size: int, repeat: int,
                        our_steps: dict[str, float]) -> dict[str, Any]:
    reference = official_reference()
    if reference is None:
        return {"status": "skipped", "reason": "skipped: official references not present"}
    rows = []
    for method in methods:
        row: dict[str, Any] = {"method": method, "batch": batch_size, "size": method_size(method, size), "mode": "fp32"}
        size_m = row["size"]
        try:
            torch.manual_seed(0)
            model = build_method(method, method_overrides(method, size_m)).to(device).train()
            batch = {k: v.to(device) for k, v in model.example_batch(size_m, batch_size).items() if torch.is_tensor(v)}
            if method not in our_steps:  # section b did not measure it: our full objective, fp32
                opts = model.configure_optimizers()
                opt_g, opt_d = (opts[0], opts[1]) if isinstance(opts, (list, tuple)) else (opts, None)
                full = bench.train_step_fn(model, batch, opt_g, opt_d, "fp32", device)
                our_steps[method] = bench.timed(full, device, repeat=repeat)
            row["ours_full_objective_step_s"] = round(our_steps[method], 4)
            g_call, d_call = our_networks(model)
            ours = network_step(g_call, d_call, model.generator.parameters(),
                                model.discriminator.parameters() if d_call else None, batch)
            row["ours_networks_step_s"] = round(bench.timed(ours, device, repeat=repeat), 4)
            del model
            g, d, g_call, d_call = official_networks(method, reference)
            g, d = g.to(device).train(), (d.to(device).train() if d is not None else None)
            theirs = network_step(g_call, d_call, g.parameters(), d.parameters() if d is not None else None, batch)
            row["official_networks_step_s"] = round(bench.timed(theirs, device, repeat=repeat), 4)
            row["ours_over_official"] = round(row["ours_networks_step_s"] / row["official_networks_step_s"], 3)
        except Exception as error:
            row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        rows.append(row)
    return {"rows": rows}


# ------------------------------------------------------------------------------------------------ driver
def run_section(name: str, fn: Callable[[], Any], results: dict[str, Any], deadline: float) -> None:
    """Run one section; its status is ok / error (with the exception) / skipped (with the reason)."""
    entry: dict[str, Any] = {"status": "ok"}
    start = time.perf_counter()
    if time.perf_counter() > deadline:
        entry = {"status": "skipped", "reason": "time budget (--budget) spent before this section"}
    else:
        try:
            entry.update(fn())  # a section returns its figures, "rows" and, to override "ok", a "status"
            rows = [r for v in entry.values() if isinstance(v, list) for r in v if isinstance(r, dict)]
            failed = [r for r in rows if "error" in r]
            if failed and entry["status"] == "ok":
                entry["status"], entry["failed_rows"] = "partial", len(failed)
        except Exception as error:  # recorded; the next section still runs
            entry = {"status": "error", "error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}",
                     "traceback": traceback.format_exc().splitlines()[-6:]}
    entry["seconds"] = round(time.perf_counter() - start, 2)
    results["sections"][name] = entry
    print(f"[gpu-check] {name}: {entry['status']} ({entry['seconds']} s)"
          + (f" - {entry.get('error') or entry.get('reason')}" if entry["status"] in ("error", "skipped") else ""),
          flush=True)


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [f"# GPU check: {env.get('gpu', 'cpu')} (torch {env['torch']}, profile {results['settings']['profile']})",
             "", "| section | status | seconds | note |", "|---|---|---|---|"]
    for name, entry in results["sections"].items():
        note = entry.get("error") or entry.get("reason") or ""
        if name == "cuda_tests" and "tests" in entry:
            note = f"{entry['passed']} passed, {entry['failures'] + entry['errors']} failed, {entry['skipped']} skipped"
        lines.append(f"| {name} | {entry['status']} | {entry['seconds']} | {note} |")
    for name, entry in results["sections"].items():
        for key, rows in entry.items():  # every list of rows of a section is one table
            if not (isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows)):
                continue
            columns: list[str] = []
            for row in rows:
                columns += [k for k in row if k not in columns and not isinstance(row[k], (list, dict))]
            title = name if key == "rows" else f"{name}: {key.replace('_', ' ')}"
            lines += ["", f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            lines += ["| " + " | ".join(fmt(r.get(c)).replace("|", "/") for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="inpaint-suite gpu-check", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=("cpu", "cuda"))
    parser.add_argument("--profile", choices=tuple(PROFILES), help="sizes: gpu (default on CUDA) or toy (CPU)")
    parser.add_argument("--out", help="output folder (default: $OUT if set, else results/gpu)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--budget", type=float,
                        help="seconds (gpu profile 480); sections and methods not started by then are recorded as "
                             "skipped")
    parser.add_argument("--test-paths", nargs="+", default=["tests"], help="where to look for CUDA-only tests")
    parser.add_argument("--methods", nargs="+", choices=METHODS)
    parser.add_argument("--modes", nargs="+", choices=bench.MODES)
    parser.add_argument("--compile-backend", choices=("inductor", "aot_eager", "eager"),
                        help="torch.compile backend of the compile section (gpu profile: inductor, toy: aot_eager)")
    parser.add_argument("--official-methods", nargs="+", choices=OFFICIAL_METHODS)
    parser.add_argument("--generators", nargs="+", help="mask generators (default: all)")
    parser.add_argument("--learn-method", choices=METHODS)
    for name in ("batch", "size", "repeat", "mask_batch", "equality_masks", "learn_steps", "learn_batch",
                 "learn_size", "learn_eval"):
        parser.add_argument("--" + name.replace("_", "-"), type=int)
    parser.add_argument("--mask-sizes", nargs="+", type=int)
    parser.add_argument("--cra-sizes", nargs="+", type=int)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (valid choices: cpu, cuda; "
                         "make gpu-check DEVICE=cpu runs the toy version)")
    profile = PROFILES[args.profile or ("gpu" if args.device == "cuda" else "toy")]
    for key, default in profile.items():
        if getattr(args, key, None) is None:
            setattr(args, key, default)
    args.profile = args.profile or ("gpu" if args.device == "cuda" else "toy")
    for name in ("batch", "size", "repeat", "mask_batch", "equality_masks", "learn_batch", "learn_size",
                 "learn_eval"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(args, name)}: must be a positive integer")
    if args.budget <= 0:
        raise UsageError(f"--budget {args.budget}: must be a positive number of seconds")
    if args.learn_steps < 0:
        raise UsageError(f"--learn-steps {args.learn_steps}: must be 0 or more")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    device = torch.device(args.device)
    out = Path(args.out or os.environ.get("OUT") or "results/gpu")
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k not in ("out",)}
    results: dict[str, Any] = {"environment": bench.environment(device), "settings": settings, "sections": {}}
    deadline = time.perf_counter() + args.budget
    print(f"gpu-check on {device} ({results['environment'].get('gpu', 'cpu')}), profile {args.profile}, "
          f"writing {out}", flush=True)
    our_steps: dict[str, float] = {}

    gemm: dict[str, float] = {}

    def measure_gemm() -> None:
        gemm["fp32"] = bench.gemm_flops_per_second(device, torch.float32)
        gemm["bf16"] = bench.gemm_flops_per_second(device, torch.bfloat16) if "bf16" in args.modes else gemm["fp32"]

    def methods(modes: list[str]) -> dict[str, Any]:
        if not gemm:
            measure_gemm()
        rows = []
        for name in args.methods:
            if time.perf_counter() > deadline:
                rows.append({"method": name, "skipped": "time budget (--budget) spent"})
                continue
            rows += bench.bench_method(name, device, args.batch, method_size(name, args.size), modes, gemm,
                                       args.repeat, compile_options={"backend": args.compile_backend})
        our_steps.update({r["method"]: r["train_step_s"] for r in rows if r.get("mode") == "fp32"
                          and "train_step_s" in r})
        return {"gemm_gflops_per_s": {k: round(v / 1e9, 2) for k, v in gemm.items()}, "rows": rows}

    def masks() -> dict[str, Any]:
        step = min(our_steps.values()) if our_steps else None
        rows = bench.bench_masks(device, tuple(args.mask_sizes), args.mask_batch, step, args.generators,
                                 train_batch=args.batch)
        equality = mask_equality(device, args.mask_sizes[0], args.equality_masks, args.generators)
        note = {} if device.type == "cuda" else {"note": "device is the CPU: equality compares the CPU with itself"}
        return {"rows": rows, "cpu_equality": equality, **note}

    sections: dict[str, Callable[[], Any]] = {
        "cuda_tests": lambda: run_cuda_tests(args.test_paths, args.test_timeout),
        "methods": lambda: methods([m for m in args.modes if m != "compile"]),
        "masks": masks,
        "learning": lambda: {"rows": [learning_check(args.learn_method, device, args.learn_steps, args.learn_batch,
                                                     args.learn_size, args.learn_eval)]},
        "cra": lambda: {"rows": bench.bench_cra(device, tuple(args.cra_sizes))},
        "official": lambda: official_comparison(args.official_methods, device, args.batch, args.size, args.repeat,
                                                our_steps),
        "compile": (lambda: methods(["compile"])) if "compile" in args.modes
        else (lambda: {"status": "skipped", "reason": "compile not in --modes"}),
    }
    def write() -> None:
        (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str))
        (out / "gpu_check.md").write_text(markdown(results))

    for name in SECTIONS:
        if name in args.sections:
            # left as "running" in the files if the process dies inside the section (a segfault, the device limit)
            results["sections"][name] = {"status": "running", "seconds": 0.0,
                                         "reason": "the process ended inside this section"}
            write()
            run_section(name, sections[name], results, deadline)
        else:
            results["sections"][name] = {"status": "skipped", "reason": "not in --sections", "seconds": 0.0}
        write()  # after every section: a run killed at the device's time limit keeps what it measured
    print(markdown(results))
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}")
    return 0
