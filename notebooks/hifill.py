# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # HiFill (Yi et al., CVPR 2020): Contextual Residual Aggregation step by step, resampling, resolution
#
# - **CRA pipeline** (`networks/cra.py`): the photo at L = k x base, its average-pooled base-size input, the
#   generator's low-resolution result, the high-frequency residual `R = I_L - up(I_base)`, the residual aggregated
#   into the hole with the attention scores (`R~_j = sum_i S[j, i] R_i`), and the final `up(x2) + R~` pasted.
#   Reproduced here from the module's own operators and checked against `ContextualResidualAggregation` itself.
# - **Fig. 3**: down-sampling (average / nearest / bilinear / bicubic) x up-sampling (nearest / bilinear / bicubic).
# - **Table 2**: time and peak memory against resolution (512 to 8K) from `results/bench.json`
#   (`inpaint-suite bench --sections cra --json results/bench.json`), beside the paper's numbers from
#   `sweeps/hifill_resolution.yaml` (`paper:` of each row; GTX 1080 Ti, so only the trend compares).
#
# Weights: the newest HiFill checkpoint under `results/`, else **random weights** (labelled): the CRA arithmetic is
# the same, the low-resolution result is noise.

# %%
import torch
from _common import (
    RESULTS_DIR,
    SMOKE,
    build_method,
    find_checkpoint,
    headline,
    image_grid,
    load_json,
    load_sweep_file,
    missing,
    np,
    plt,
    sample_images,
    sample_masks,
    save,
    set_threads,
)

from networks.cra import ContextualResidualAggregation, _block_any, downsample, upsample
from networks.hifill import HiFillGenerator

set_threads()
BASE = 128 if SMOKE else 512   # the generator's input size (HiFill: 512)
K = 2                          # L = K * BASE
L = K * BASE
checkpoint = find_checkpoint("hifill_resolution", "hifill_gates", "hifill_cra_resampling")
if checkpoint is not None:
    model, weights = build_method("hifill", checkpoint=checkpoint)
    generator = model.generator.eval()
else:
    torch.manual_seed(0)
    generator, weights = HiFillGenerator().eval(), "RANDOM WEIGHTS (no checkpoint): the CRA steps, not a trained model"
print(f"weights: {weights}; base {BASE}px, photo {L}px (k = {K})")
image = sample_images(1, L)
mask = sample_masks("hifill", 1, L, seed=1)
print(f"hole ratio {mask.mean():.3f}")

# %% [markdown]
# ## The CRA pipeline, one step at a time

# %%
hole = mask > 0.5
mask_base = _block_any(hole, K).float()                       # a base pixel is a hole if any of its k x k block is
image_base = downsample(image, K, "average") * (1 - mask_base)
with torch.no_grad():
    result = generator(image_base, mask_base)
x2 = result["output"].clamp(-1, 1)
scores = result["scores"][0]                                  # (N, N) [query cell, key cell]
grid = int(round(scores.shape[-1] ** 0.5))
x2_pasted = x2 * mask_base + image_base * (1 - mask_base)
hole_any = hole | (upsample(mask_base, K, "nearest") > 0.5)
residual = (image - upsample(image_base, K, "bilinear")).masked_fill(hole_any, 0.0)   # (1, 3, L, L)
cell = L // grid
cells = residual[0].reshape(3, grid, cell, grid, cell).permute(1, 3, 0, 2, 4).reshape(grid * grid, -1)
aggregated = (scores @ cells).reshape(grid, grid, 3, cell, cell).permute(2, 0, 3, 1, 4).reshape(1, 3, L, L)
query = upsample(_block_any(hole, cell).float(), cell, "nearest") > 0.5    # cells that contain hole pixels
aggregated = aggregated * query
final = torch.where(hole, (upsample(x2_pasted, K, "bilinear") + aggregated).clamp(-1, 1), image)

reference = ContextualResidualAggregation(generator, base_size=BASE)(image, mask)
difference = (final - reference).abs().max().item()
print(f"valid key cells attended: {(scores.abs().sum(0) > 0).sum().item()} of {scores.shape[-1]}; max |R~| in the hole {aggregated.abs().max():.3g}")
print(f"max |step-by-step - ContextualResidualAggregation| = {difference:.2e}")
assert difference < 1e-4, "the step-by-step reproduction disagrees with networks/cra.py"


def show_residual(r):
    return (r / (r.abs().max() + 1e-8)).clamp(-1, 1)   # residuals are small: stretched to [-1, 1] for display


panels = [image[0] * ~hole[0] + hole[0].float(), upsample(image_base, K, "nearest")[0],
          upsample(x2_pasted, K, "nearest")[0], show_residual(residual)[0], show_residual(aggregated)[0], final[0],
          image[0]]
titles = [f"input {L}px (hole white)", f"base input {BASE}px", "low-res result x2", "residual R (stretched)",
          "aggregated R~ (stretched)", "final up(x2)+R~", "ground truth"]
fig = image_grid([panels], [""], titles, title=f"CRA step by step — {weights}{' — SMOKE' if SMOKE else ''}")
save(fig, "hifill_resolution", "hifill_cra_steps.png")

# %% [markdown]
# ## Fig. 3: the resampling grid (down-sampling x up-sampling), same photo and hole

# %%
DOWN = ("average", "nearest", "bilinear", "bicubic")
UP = ("nearest", "bilinear", "bicubic")
cache = {}


def cached_generator(img, msk):
    """The generator's input depends only on the down-sampling: run it once per down-sampling mode."""
    key = (img.numpy().tobytes(), msk.numpy().tobytes())
    if key not in cache:
        with torch.no_grad():
            cache[key] = generator(img, msk)
    return cache[key]


ys, xs = torch.nonzero(hole[0, 0], as_tuple=True)
cy, cx = int(ys.float().mean()), int(xs.float().mean())
half = L // 4
top, left = min(max(cy - half, 0), L - 2 * half), min(max(cx - half, 0), L - 2 * half)
rows = []
for d in DOWN:
    row = []
    for u in UP:
        out = ContextualResidualAggregation(cached_generator, base_size=BASE, downsample=d, upsample=u)(image, mask)
        row.append(out[0, :, top:top + 2 * half, left:left + 2 * half])
    rows.append(row)
fig = image_grid(rows, [f"down: {d}" for d in DOWN], [f"up: {u}" for u in UP],
                 title=f"Fig. 3 grid (crop around the hole; the paper picks average down / bilinear up) — {weights}")
save(fig, "hifill_resolution", "hifill_resampling_grid.png")
print(f"generator runs: {len(cache)} (one per distinct base-size input)")

# %% [markdown]
# ## Table 2: time and memory against resolution — our benchmark beside the paper

# %%
sweep = load_sweep_file("hifill_resolution")
paper = []
for row in sweep.rows:
    size = row.overrides.get("model.init_args.eval_resolution")
    paper.append((size, row.paper or {}))
print("paper (sweeps/hifill_resolution.yaml):")
for size, p in paper:
    print(f"  {size}: " + (", ".join(f"{k} {v}" for k, v in p.items()) if p else "not in the paper"))

bench_path = RESULTS_DIR / "bench.json"
bench = []
if bench_path.is_file():
    bench = [r for r in load_json(bench_path).get("cra", []) if "seconds" in r]
    print(f"measured ({bench_path}):")
    for r in bench:
        print(f"  {r['size']}: {1e3 * r['seconds']:.1f} ms, peak {r.get('peak_mb')} MB")
else:
    missing(f"{bench_path} (CRA time and memory)",
            f"inpaint-suite bench --sections cra --json {bench_path}  (or: make bench)")

fig, axes = plt.subplots(1, 3, figsize=(14, 4))
ax = axes[0]
ps = [(s, p["time_ms"]) for s, p in paper if p.get("time_ms") is not None]
ax.plot([s for s, _ in ps], [t for _, t in ps], "s--", color="tab:gray", label="paper (GTX 1080 Ti)")
if bench:
    ax.plot([r["size"] for r in bench], [1e3 * r["seconds"] for r in bench], "o-", label="ours (bench)")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("side (px)")
ax.set_ylabel("time per image (ms)")
ax.legend(fontsize=7)
ax.set_title("time vs resolution", fontsize=9)
ax = axes[1]
if bench and any(r.get("peak_mb") for r in bench):
    ax.plot([r["size"] for r in bench], [r.get("peak_mb") or np.nan for r in bench], "o-", label="ours (bench)")
    px = np.array([r["size"] ** 2 for r in bench], dtype=float)
    ax.plot([r["size"] for r in bench], bench[0]["peak_mb"] * px / px[0], ":", color="k", label="linear in pixels")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.legend(fontsize=7)
else:
    ax.text(0.5, 0.5, "no benchmark yet\n(inpaint-suite bench --sections cra)", ha="center", va="center")
ax.set_xlabel("side (px)")
ax.set_ylabel("peak memory (MB)")
ax.set_title("peak memory vs resolution (paper: not reported)", fontsize=9)
ax = axes[2]
for metric in ("l1", "ms_ssim", "fid"):
    pts = [(s, p[metric]) for s, p in paper if p.get(metric) is not None]
    if pts:
        first = pts[0][1]
        ax.plot([s for s, _ in pts], [v / first for _, v in pts], "o-", label=f"{metric} (paper, / value at 512)")
ax.set_xscale("log", base=2)
ax.set_xlabel("side (px)")
ax.set_title("paper's quality vs resolution (relative)", fontsize=9)
ax.legend(fontsize=7)
bench_note = "bench: " + (str(bench_path) if bench else "missing")
fig.suptitle(f"HiFill Table 2 — {bench_note}\n{headline(None)}", fontsize=9)
fig.tight_layout()
save(fig, "hifill_resolution", "hifill_resolution.png")
