"""``inpaint-suite bench``: speed and memory of the methods, the mask generators, the metrics and CRA.

Prints one table per section and writes everything to ``--json``. Nothing here is a test: the targets are printed
beside the measurements with a verdict, and a missed target says why when the reason is known.

- methods: one full training step (G + D, batch B at S×S), inference latency (batch 1) and throughput (batch B),
  peak memory, FLOPs (``torch.utils.flop_counter``) and achieved FLOP/s as a fraction of a plain GEMM measured in
  the same run on the same device (the practical ceiling); fp32 / bf16 autocast / channels_last / torch.compile.
- masks: a batch of 64 at 256 and 512 per generator against its CPU test oracle (target: ≥ 10× per mask), and
  mask synthesis as a fraction of a training step (target: < 2 %).
- strokes: the span rasteriser against Kornia's ``draw_convex_polygon`` on thick strokes (speed and differing pixels).
- metrics: images/s of the evaluation harness against the bare feature-network forward (target: within 1.1×).
- CRA: 512 → 8K time and peak memory; the fitted growth exponent in pixels (target: ≤ 1.1).
- learning (only when asked, it trains): see ``inpaint_suite.commands.learning``.
"""

from __future__ import annotations

# Lazy imports (inside the sections): Lightning and the DataModule (seconds) for the methods, masks and strokes,
# torchmetrics for the metrics, psutil (not a dependency) for CPU memory: each section loads only what it measures,
# so the CRA section's fresh child processes stay small and a missing package breaks only its own section.
import argparse
import contextlib
import ctypes
import ctypes.util
import functools
import gc
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from assembly.errors import UsageError
from evaluation.fid import InceptionFeatures
from inpaint_suite.commands import learning
from inpaint_suite.commands.bench_common import build_method, method_overrides, print_rows
from networks.backbones.inception import FIDInceptionV3
from networks.cra import ContextualResidualAggregation
from networks.hifill import HiFillGenerator

SECTIONS = ("methods", "masks", "strokes", "metrics", "cra")
MODES = ("fp32", "bf16", "channels_last", "compile")
TARGETS = {"mask_speedup": 10.0, "mask_fraction_of_step": 0.02, "eval_overhead": 1.1, "cra_exponent": 1.1}


# ------------------------------------------------------------------------------------------------ measurement
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeat: int = 3, warmup: int = 1) -> float:
    """Median seconds of ``fn`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, looked up once (``find_library`` runs a subprocess); None where libc lacks it."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: the baseline keeps earlier freed memory
        return None


class PeakMemory:
    """Peak memory in MiB while the block runs: CUDA allocator peak on GPU; on CPU the process's resident-set
    high-water mark (Linux ``VmHWM``, reset on entry through ``/proc/self/clear_refs``), else sampled RSS.

    The kernel's high-water mark is exact; sampling every ``interval`` seconds can miss a short-lived peak on a busy
    machine, so it is only the fallback where ``/proc`` does not offer the reset.
    """

    _STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")

    def __init__(self, device: torch.device, interval: float = 0.005) -> None:
        self.device, self.interval, self.peak_mb = device, interval, 0.0

    @classmethod
    def _high_water_mark(cls) -> int | None:
        """The kernel's peak RSS of this process in bytes, or None where it cannot be read."""
        try:
            for line in cls._STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    @staticmethod
    def _release_free_heap() -> None:
        """Give memory freed by earlier work back to the OS (glibc ``malloc_trim``), so that RSS growth inside the
        block is the block's own footprint rather than what it re-used of an earlier method's freed heap."""
        trim = _malloc_trim()
        if trim is not None:
            trim(0)

    @classmethod
    def _reset_high_water_mark(cls) -> bool:
        try:
            cls._CLEAR_REFS.write_text("5")  # "5": reset the peak RSS to the current RSS (Linux >= 4.0)
        except OSError:
            return False
        return cls._high_water_mark() is not None

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        import psutil

        self._release_free_heap()
        self._proc = psutil.Process()
        self._base = self._proc.memory_info().rss
        self._peak = self._base
        self._kernel_peak = self._reset_high_water_mark()
        self._stop = threading.Event()
        self._thread = None
        if not self._kernel_peak:
            def sample() -> None:
                while not self._stop.is_set():
                    self._peak = max(self._peak, self._proc.memory_info().rss)
                    time.sleep(self.interval)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._peak = max(self._peak, self._proc.memory_info().rss)
        if self._kernel_peak:
            self._peak = max(self._peak, self._high_water_mark() or 0)
        self.peak_mb = (self._peak - self._base) / 2**20


def gemm_flops_per_second(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    """Achieved FLOP/s of an n×n×n matrix product: the practical ceiling the model figures are compared with."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = timed(lambda: a @ b, device, repeat=5)
    return 2 * n**3 / seconds


def count_flops(fn: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@contextlib.contextmanager
def autocast(device: torch.device, mode: str) -> Iterator[None]:
    if mode == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def mode_supported(mode: str, device: torch.device) -> tuple[bool, str]:
    if mode == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return False, "this GPU has no bf16"
    if mode == "compile":
        if sys.platform == "win32":
            return False, "torch.compile is not supported on Windows"
    return True, ""


# ------------------------------------------------------------------------------------------------ methods
def train_step_fn(model, batch: dict, opt_g, opt_d, mode: str, device: torch.device) -> Callable[[], None]:
    """One generator + discriminator update exactly as the base executes it (without a Trainer)."""

    def step() -> None:
        with autocast(device, mode):
            outputs = model(batch)
            if opt_d is not None and model.schedule.uses("discriminator"):
                detached = {k: v.detach() for k, v in outputs.items()}
                d_total, _ = model.compute_losses("discriminator", detached, batch)
                opt_d.zero_grad(set_to_none=True)
                if d_total.requires_grad:
                    d_total.backward()
                    opt_d.step()
            with model._frozen(model.discriminator):
                g_total, _ = model.compute_losses("generator", outputs, batch)
        opt_g.zero_grad(set_to_none=True)
        g_total.backward()
        opt_g.step()

    return step


def bench_method(name: str, device: torch.device, batch_size: int, size: int, modes: list[str],
                 gemm: dict[str, float], repeat: int, compile_options: dict | None = None) -> list[dict[str, Any]]:
    """One row per mode; ``compile_options``: ``torch.compile`` keyword arguments of the compile mode."""
    rows = []
    for mode in modes:
        ok, why = mode_supported(mode, device)
        row: dict[str, Any] = {"method": name, "mode": mode, "batch": batch_size, "size": size}
        if not ok:
            rows.append({**row, "skipped": why})
            continue
        try:
            model = build_method(name, method_overrides(name, size)).to(device).train()
            if mode == "channels_last":
                model = model.to(memory_format=torch.channels_last)
            if mode == "compile":  # the networks, not the step (see lightning_modules/compile.py)
                from lightning_modules.compile import compile_networks

                compile_networks(model, **(compile_options or {}))
            opts = model.configure_optimizers()
            opt_g, opt_d = (opts[0], opts[1]) if isinstance(opts, (list, tuple)) else (opts, None)
            batch = {k: (v.to(device) if torch.is_tensor(v) else v)
                     for k, v in model.example_batch(size, batch_size).items()}
            if mode == "channels_last":
                batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)
            step = train_step_fn(model, batch, opt_g, opt_d, mode, device)
            with PeakMemory(device) as peak:
                row["train_step_s"] = timed(step, device, repeat=repeat, warmup=1 if mode != "compile" else 2)
            row["train_peak_mb"] = round(peak.peak_mb, 1)
            try:  # the FLOP counter cannot follow autograd.grad (WGAN-GP): those steps report no FLOPs
                flops = count_flops(step) if mode in ("fp32", "bf16") else None
            except RuntimeError as error:
                flops, row["flops_note"] = None, f"not countable: {str(error).splitlines()[0][:80]}"
            if flops:
                row["train_gflops"] = round(flops / 1e9, 2)
                ceiling = gemm["bf16" if mode == "bf16" else "fp32"]
                row["train_fraction_of_gemm"] = round(flops / row["train_step_s"] / ceiling, 4)
            model.eval()
            one = {k: (v[:1] if torch.is_tensor(v) else v[:1]) for k, v in batch.items()}
            with torch.no_grad(), autocast(device, mode):
                row["latency_s"] = timed(lambda m=model, b=one: m.generate(b), device, repeat=repeat)
                seconds = timed(lambda m=model, b=batch: m.generate(b), device, repeat=repeat)
            row["images_per_s"] = round(batch_size / seconds, 3)
            del model, opts, batch
        except Exception as error:  # a benchmark reports, it does not stop: OOM on one method is a result
            row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        rows.append(row)
        gc.collect()
    return rows


# ------------------------------------------------------------------------------------------------ masks
def load_oracles() -> dict[str, Callable] | None:
    """The CPU reference generators live with the tests (they are test oracles, not shipped code)."""
    tests = Path(__file__).resolve().parents[2] / "tests" / "datamodules" / "masks"
    if not tests.is_dir():
        return None
    sys.path.insert(0, str(tests))
    try:
        import mask_oracles
    finally:
        sys.path.remove(str(tests))
    return getattr(mask_oracles, "ORACLES", None)


def bench_masks(device: torch.device, sizes: tuple[int, ...], batch: int, step_seconds: float | None,
                names: list[str] | None = None, train_batch: int = 8):
    """Each generator drawing ``batch`` masks, against its CPU oracle; with ``step_seconds`` (the fastest method's
    training step at ``train_batch``) also the share of that step spent drawing its ``train_batch`` masks."""
    from datamodules.masks import REGISTRY, build_mask_generator, generator_params

    oracles = load_oracles() or {}
    rows = []
    for name in names or sorted(REGISTRY):
        if name == "mixture":
            continue
        for size in sizes:
            # generators with size presets (LaMa, MAT) are measured with the preset of the size they draw at
            spec = {"name": name, "preset": size} if "preset" in generator_params(name) and size in (256, 512) \
                else name
            try:
                generator = build_mask_generator(spec)
            except Exception as error:
                rows.append({"generator": name, "size": size, "error": str(error)[:200]})
                continue
            index = torch.arange(batch)
            seconds = timed(lambda g=generator, i=index, s=size: g(i, s, s, device=device, seed=0), device, repeat=3)
            row = {"generator": name, "size": size, "batch": batch, "ours_ms_per_mask": 1e3 * seconds / batch}
            oracle = oracles.get(name)
            if oracle is not None:
                n = 8
                start = time.perf_counter()
                for i in range(n):
                    oracle(size, size, seed=i)  # the oracle's own defaults: a speed reference, not a distribution one
                per_mask = (time.perf_counter() - start) / n
                row["oracle_ms_per_mask"] = 1e3 * per_mask
                row["speedup"] = round(per_mask / (seconds / batch), 2)
                row["meets_target"] = row["speedup"] >= TARGETS["mask_speedup"]
                if not row["meets_target"] and device.type == "cpu":
                    row["why"] = ("on a CPU each stroke costs full-canvas torch passes; OpenCV's C rasteriser draws "
                                  "a few shapes faster. The target is for the GPU, where those passes are batched")
            else:
                row["note"] = "no CPU oracle for this generator"
            if step_seconds:
                row["fraction_of_train_step"] = round(seconds / batch * train_batch / step_seconds, 4)
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------ metrics
def bench_metrics(device: torch.device, n_images: int = 32, size: int = 256, batch: int = 8):
    """Harness throughput vs the bare Inception forward it is bounded by (random weights: speed only)."""
    from evaluation import InpaintingEvaluator

    rows = []
    images = torch.rand(n_images, 3, size, size, device=device) * 2 - 1
    masks = (torch.rand(n_images, 1, size, size, device=device) > 0.7).float()
    net = InceptionFeatures(FIDInceptionV3()).to(device).eval()  # uint8 in, 2048-d pool features out

    def bare() -> None:
        with torch.no_grad():
            for i in range(0, n_images, batch):
                net(((images[i:i + batch] + 1) * 127.5).round().to(torch.uint8))
                net(((images[i:i + batch] + 1) * 127.5).round().to(torch.uint8))  # real and fake

    evaluator = InpaintingEvaluator(metrics=["psnr", "ssim", "l1", "fid"], feature_net=net,
                                    fid_per_bucket=False).to(device)

    def harness() -> None:
        evaluator.reset()
        for i in range(0, n_images, batch):
            evaluator.update(images[i:i + batch], images[i:i + batch].flip(-1), masks[i:i + batch])
        evaluator.compute()

    try:
        bare()  # one warm-up pass of the network (allocator, kernels), then each timed once
        t_bare = timed(bare, device, repeat=1, warmup=0)
        t_harness = timed(harness, device, repeat=1, warmup=0)
        rows.append({"images": n_images, "size": size, "bare_inception_images_per_s": round(n_images / t_bare, 2),
                     "harness_images_per_s": round(n_images / t_harness, 2),
                     "overhead": round(t_harness / t_bare, 3),
                     "meets_target": t_harness / t_bare <= TARGETS["eval_overhead"]})
    except Exception as error:
        rows.append({"error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"})
    return rows


# ------------------------------------------------------------------------------------------------ CRA
def cra_once(size: int, device: torch.device) -> dict[str, float]:
    """One CRA inpainting of a random ``size``² photo with a centred hole covering a quarter of it."""
    generator = HiFillGenerator().to(device).eval()
    image = torch.rand(1, 3, size, size, device=device) * 2 - 1
    mask = torch.zeros(1, 1, size, size, device=device)
    mask[..., size // 4: size // 4 + size // 2, size // 4: size // 4 + size // 2] = 1
    cra = ContextualResidualAggregation(generator, base_size=512)
    with PeakMemory(device) as peak:
        seconds = timed(lambda: cra(image, mask), device, repeat=1, warmup=0)
    return {"seconds": seconds, "peak_mb": peak.peak_mb}


def _cra_child(size: int) -> None:
    """Entry point of the per-size CPU subprocess: peak RSS above the process's state before the call."""
    generator = HiFillGenerator().eval()
    image = torch.rand(1, 3, size, size) * 2 - 1
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4: size // 4 + size // 2, size // 4: size // 4 + size // 2] = 1
    cra = ContextualResidualAggregation(generator, base_size=512)
    with PeakMemory(torch.device("cpu"), interval=0.002) as peak:  # a fresh process: RSS growth is real growth
        start = time.perf_counter()
        with torch.no_grad():
            cra(image, mask)
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": peak.peak_mb}))


def bench_cra(device: torch.device, sizes: tuple[int, ...]):
    """CPU: each size in a fresh process, because the allocator keeps freed memory and would hide later peaks;
    CUDA: in process, with the allocator's own peak statistics."""
    rows = []
    for size in sizes:
        try:
            if device.type == "cuda":
                result = cra_once(size, device)
            else:
                code = f"from inpaint_suite.commands.bench import _cra_child; _cra_child({int(size)})"
                done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"size": size, "megapixels": round(size * size / 1e6, 2),
                         "seconds": round(result["seconds"], 3), "peak_mb": round(result["peak_mb"], 1)})
        except Exception as error:
            detail = getattr(error, "stderr", "") or str(error)
            rows.append({"size": size, "error": f"{type(error).__name__}: {detail.strip().splitlines()[-1][:200]}"})
    good = [r for r in rows if "peak_mb" in r and r["peak_mb"] > 0]
    if len(good) >= 2:
        px = np.log([r["size"] ** 2 for r in good])
        exponent = float(np.polyfit(px, np.log([r["peak_mb"] for r in good]), 1)[0])
        time_exp = float(np.polyfit(px, np.log([r["seconds"] for r in good]), 1)[0])
        rows.append({"fit": "peak memory ~ pixels^k", "memory_exponent": round(exponent, 3),
                     "time_exponent": round(time_exp, 3), "meets_target": exponent <= TARGETS["cra_exponent"]})
    return rows


# ------------------------------------------------------------------------------------------------ CLI
def environment(device: torch.device) -> dict[str, Any]:
    info = {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
            "cpu_threads": torch.get_num_threads(), "machine": platform.machine(), "cpus": os.cpu_count()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="inpaint-suite bench", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=("cpu", "cuda"))
    parser.add_argument("--json", help="write all measurements here")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS + ("learning",))
    parser.add_argument("--methods", nargs="+", default=["aotgan", "madf", "deepgin", "hifill"])
    parser.add_argument("--generators", nargs="+", default=None, help="mask generators (default: all)")
    parser.add_argument("--modes", nargs="+", default=None, choices=MODES,
                        help="default: fp32 bf16 channels_last (+ compile on CUDA)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cra-sizes", nargs="+", type=int, default=[512, 1024, 2048, 4096, 8192])
    parser.add_argument("--quick", action="store_true",
                        help="batch 2 at 128 px, fp32 only, CRA to 2K: a minute-scale check that every path runs")
    learning.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    device = torch.device(args.device)
    if args.quick:
        args.batch, args.size, args.repeat = 2, 128, 1
        args.modes = args.modes or ["fp32"]
        args.cra_sizes = [s for s in args.cra_sizes if s <= 2048]
    modes = args.modes or (["fp32", "bf16", "channels_last"] + (["compile"] if device.type == "cuda" else []))
    results: dict[str, Any] = {"environment": environment(device), "targets": TARGETS,
                               "settings": {"batch": args.batch, "size": args.size, "modes": modes}}
    print(f"bench on {device} ({results['environment'].get('gpu', platform.processor() or 'cpu')}); "
          f"batch {args.batch} at {args.size}px")
    gemm = {"fp32": gemm_flops_per_second(device, torch.float32)}
    gemm["bf16"] = gemm_flops_per_second(device, torch.bfloat16) if "bf16" in modes else gemm["fp32"]
    results["gemm_gflops_per_s"] = {k: round(v / 1e9, 2) for k, v in gemm.items()}
    step_seconds, fastest = None, None
    if "methods" in args.sections:
        rows = []
        for name in args.methods:
            rows += bench_method(name, device, args.batch, args.size, modes, gemm, args.repeat)
            print_rows(f"methods (GEMM ceiling {results['gemm_gflops_per_s']} GFLOP/s)", rows[-len(modes):])
        results["methods"] = rows
        steps = [(r["train_step_s"], r["method"]) for r in rows if r.get("mode") == "fp32" and "train_step_s" in r]
        step_seconds, fastest = min(steps) if steps else (None, None)
    if "masks" in args.sections:
        results["masks"] = bench_masks(device, (128,) if args.quick else (256, 512), 64, step_seconds,
                                       args.generators, train_batch=args.batch)
        share = (f"; fraction_of_train_step: drawing one batch's {args.batch} masks against the fastest method's "
                 f"training step ({fastest}), target < 2%") if fastest else ""
        print_rows(f"masks: batch of 64 vs the CPU oracle per mask (target ≥ 10×){share}", results["masks"])
    if "strokes" in args.sections:  # why thick strokes are drawn by our span rasteriser, not by Kornia
        from datamodules.masks.bench import bench_stroke_rasteriser

        results["strokes"] = bench_stroke_rasteriser(device, (128,) if args.quick else (256, 512),
                                                     batch=8 if args.quick else 64, repeats=1 if args.quick else 3)
        print_rows("strokes: span rasteriser vs kornia.utils.draw_convex_polygon (one call per stroke)",
                   results["strokes"])
    if "metrics" in args.sections:
        results["metrics"] = bench_metrics(device, n_images=8 if args.quick else 32, size=min(args.size, 256))
        print_rows("metrics: harness vs bare Inception forward (target ≤ 1.1×)", results["metrics"])
    if "cra" in args.sections:
        results["cra"] = bench_cra(device, tuple(args.cra_sizes))
        print_rows("CRA: time and peak memory vs resolution (target: memory exponent ≤ 1.1)", results["cra"])
    if "learning" in args.sections:
        results["learning"] = learning.run(args, device)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {args.json}")
    missed = [k for k in ("masks", "metrics", "cra") for r in results.get(k, []) if r.get("meets_target") is False]
    if missed:
        print(f"targets missed in: {sorted(set(missed))} (see the rows marked meets_target=False)")
    return 0
