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
# # AOT-GAN (Zeng et al., TVCG 2022): dilation rates, SM-PatchGAN soft labels, per-bucket metrics
#
# - **Table 4** (`aotgan_rates`): number of branches / dilation rates of the AOT block — our numbers
#   (`results/aotgan_rates/table.json`) beside the paper's, plus what the rates change structurally: the effective
#   receptive field of 8 stacked AOT blocks (gradient of the centre output, random weights).
# - **SM-PatchGAN**: the discriminator's targets for the composite — PatchGAN (all fake), HM (hard mask) and SM (the
#   Gaussian-blurred mask, 71x71, sigma 10) — computed by `AOTGAN.targets()` itself, at image and score resolution.
# - **Table 1**: metrics per hole-ratio bucket from the evaluation harness's `test_report.json` (newest under
#   `results/aotgan_*`), beside the paper's per-bucket numbers (`sweeps/aotgan_places2.yaml`).

# %%
import torch
from _common import (
    SMOKE,
    bars_vs_paper,
    build_method,
    find_reports,
    headline,
    image_grid,
    load_json,
    load_sweep_file,
    load_table,
    missing,
    np,
    plt,
    print_table,
    sample_masks,
    save,
    set_threads,
)

from networks.aotgan import AOTBlock

set_threads()
SIZE = 64 if SMOKE else 512

# %% [markdown]
# ## Table 4: dilation rates — ours beside the paper

# %%
payload = load_table("aotgan_rates")
print_table(payload)
fig = bars_vs_paper(payload, "aotgan_rates", title="AOT-GAN Table 4 (aotgan_rates), 40-50% masks")
save(fig, "aotgan_rates", "aotgan_table4.png")

# %% [markdown]
# ## What the rates change: effective receptive field of 8 stacked AOT blocks (random weights)

# %%
sweep = load_sweep_file("aotgan_rates")
configs = [(r.label, r.overrides.get("model.init_args.rates", [1, 2, 4, 8])) for r in sweep.rows]
side = 33 if SMOKE else 65      # feature map side (AOT blocks run at 1/4 of the image resolution)
channels = 8 if SMOKE else 32
fig, axes = plt.subplots(1, len(configs), figsize=(2.2 * len(configs), 2.6), squeeze=False)
for ax, (label, rates) in zip(axes[0], configs):
    torch.manual_seed(0)
    blocks = torch.nn.Sequential(*[AOTBlock(channels, rates) for _ in range(8)])
    x = torch.randn(1, channels, side, side, requires_grad=True)
    blocks(x)[0, :, side // 2, side // 2].sum().backward()
    grad = x.grad.abs().sum(1)[0].numpy()
    # r90: the Chebyshev radius around the centre that holds 90 % of the gradient mass
    yy, xx = np.mgrid[:side, :side]
    dist = np.maximum(abs(yy - side // 2), abs(xx - side // 2))
    mass = np.array([grad[dist <= r].sum() for r in range(side // 2 + 1)]) / grad.sum()
    r90 = int(np.argmax(mass >= 0.9))
    ax.imshow(np.log1p(grad / grad.max() * 1e3), cmap="magma")
    ax.set_title(f"{label[:24]}\nrates {rates}, r90 = {r90}", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"effective receptive field of 8 AOT blocks (log |d out_centre / d in|), {side}x{side} features, "
             f"random weights; r90 = radius holding 90% of the gradient{' — SMOKE' if SMOKE else ''}", fontsize=9,
             y=1.08)
fig.tight_layout()
save(fig, "aotgan_rates", "aotgan_receptive_field.png")

# %% [markdown]
# ## SM-PatchGAN soft labels: what the discriminator is asked to say about the composite

# %%
model, weights = build_method("aotgan", {"channels": 16, "num_blocks": 1})
mask = sample_masks("mat_large", 2, SIZE, seed=5)
image = torch.zeros(2, 3, SIZE, SIZE)
with torch.no_grad():
    score = model.disc_map(image) if model.label_resolution != "image" else model.discriminator(image)
rows, titles = [], ["mask (hole white)"]
for target in ("patchgan", "hm", "sm"):
    model.disc_target = target
    _, fake_t, _ = model.targets(mask)        # image resolution, in the module's label convention
    grid_t = model._to_score_grid(fake_t, score)
    rows.append((target, fake_t, grid_t))
    titles += [f"{target}: target", f"{target}: at D's {tuple(score.shape[-2:])}"]
panels = []
for i in range(mask.shape[0]):
    row = [mask[i]]
    for _, fake_t, grid_t in rows:
        row += [fake_t[i].expand(1, -1, -1).clamp(0, 1),
                torch.nn.functional.interpolate(grid_t[i:i + 1], size=mask.shape[-2:], mode="nearest")[0].clamp(0, 1)]
    panels.append(row)
fig = image_grid(panels, [f"mask {i}" for i in range(mask.shape[0])], titles,
                 title=f"discriminator targets for the composite (label convention: {model.label_convention}; "
                       f"blur {model.blur_kernel_size}x{model.blur_kernel_size}, sigma {model.blur_sigma:g})"
                       f"{' — SMOKE' if SMOKE else ''}")
save(fig, "aotgan_rates", "aotgan_soft_labels.png")

# %% [markdown]
# ## Table 1: metrics per hole-ratio bucket (evaluation harness report)

# %%
places = load_sweep_file("aotgan_places2")
paper = {r.bucket: (r.label, r.paper or {}) for r in places.rows if r.bucket}
reports = find_reports("aotgan_places2", "aotgan", "aotgan_rates", "aotgan_components", "aotgan_disc", "aotgan_fusion")
report = load_json(reports[0]) if reports else None
if report is None:
    missing("an AOT-GAN test_report.json (per-bucket metrics)",
            "make sweep ABLATION=aotgan_rates  (or: inpaint-suite test --config aotgan --ckpt_path CKPT)")
else:
    print(f"report: {reports[0]}")
metrics = [m for m in places.metrics if m != "fid"] + ["fid"]
buckets = list(paper)
fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.8), squeeze=False)
for ax, metric in zip(axes[0], metrics):
    theirs = [paper[b][1].get(metric) for b in buckets]
    ours, err = [], []
    for b in buckets:
        cell = (((report or {}).get("buckets") or {}).get(b) or {}).get("metrics", {}).get(metric)
        cell = cell if isinstance(cell, dict) else {"mean": cell}
        ours.append(cell.get("mean") if isinstance(cell.get("mean"), (int, float)) else np.nan)
        ci = cell.get("ci95")
        err.append((ci[1] - ci[0]) / 2 if ci and None not in ci else 0.0)
    x = np.arange(len(buckets))
    ax.errorbar(x, ours, yerr=err, fmt="o-", label="ours", capsize=2)
    ax.plot(x, [np.nan if v is None else v for v in theirs], "s--", color="tab:gray", label="paper")
    ax.set_xticks(x, buckets, rotation=45, fontsize=7)
    ax.set_title(metric, fontsize=9)
axes[0][0].legend(fontsize=7)
source = (report or {}).get("settings", {}).get("dataset") if report else None
fig.suptitle(f"AOT-GAN Table 1: per hole-ratio bucket — ours: {reports[0].parent.name if reports else 'no report'}"
             f" (dataset {source}) vs paper (Places2 512)\n{headline(None)}", fontsize=9)
fig.tight_layout()
save(fig, "aotgan_rates", "aotgan_buckets.png")
