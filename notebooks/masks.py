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
# # Mask generators: samples and hole-ratio histograms against their references
#
# Every generator of `datamodules.masks.REGISTRY` (built with `build_mask_generator(name)`, its default parameters),
# compared with
# - the spec's **measured statistics** (the official generators' measured mean, std and 10-bin
#   hole-ratio histogram of the official code, as tabulated in `tests/datamodules/masks/mask_stats.py`), and
# - the **CPU oracle** (`tests/datamodules/masks/mask_oracles.py`, numpy/OpenCV re-implementations), if importable.
#
# Figures: `<results>/figures/masks_samples.png`, `<results>/figures/masks_histograms.png`.

# %%
import sys

import torch
from _common import REPO, SMOKE, np, plt, sample_masks, save, set_threads

from datamodules.masks import REGISTRY  # noqa: I001 - after _common, which puts the repository on sys.path

set_threads()
SIZE = 64 if SMOKE else 256        # raster size of the samples and histograms
N_HIST = 24 if SMOKE else 1000     # masks per histogram (the spec's table used 1000)
N_SHOW = 4

NAMES = [n for n in sorted(REGISTRY) if n != "mixture"]
print(f"{len(NAMES)} generators at {SIZE}x{SIZE}, {N_HIST} masks each")

# %% [markdown]
# ## References: the spec's statistics and the CPU oracles (from the tests, when they are present)

# %%
TESTS = REPO / "tests" / "datamodules" / "masks"
sys.path.insert(0, str(TESTS))
try:
    import mask_oracles
    import mask_stats
    REFERENCE = mask_stats.REFERENCE       # row -> (oracle name, size, our spec, mean, std, histogram)
    ORACLES = mask_oracles.ORACLES          # registry name -> oracle(height, width, seed) (default parameters)
    ROW_ORACLES = mask_oracles.ROW_ORACLES  # statistics row -> oracle(rng, height, width)
    print(f"references: {len(REFERENCE)} spec rows, {len(ORACLES)} CPU oracles")
except Exception as error:  # the test folder is not shipped with a wheel
    REFERENCE, ORACLES, ROW_ORACLES = {}, {}, {}
    print(f"no reference statistics / oracles ({type(error).__name__}: {error}); drawing our generators only")


def spec_row(name):
    """The spec's statistics row of generator ``name`` (default parameters, or only a size preset) whose size is
    closest to ``SIZE``: ``(row key, (oracle name, size, our spec, mean, std, histogram))`` or ``None``."""
    rows = [(k, v) for k, v in REFERENCE.items()
            if v[2].get("name") == name and set(v[2]) <= {"name", "preset"}]
    if not rows:
        return None
    return min(rows, key=lambda kv: (abs(kv[1][1] - SIZE), len(kv[1][2])))


# %% [markdown]
# ## Samples (indices 0..3, seed 0)

# %%
fig, axes = plt.subplots(len(NAMES), N_SHOW, figsize=(1.3 * N_SHOW, 1.3 * len(NAMES)), squeeze=False)
for i, name in enumerate(NAMES):
    try:
        masks = sample_masks(name, N_SHOW, SIZE)
    except Exception as error:
        print(f"{name}: no sample at {SIZE}px ({type(error).__name__}: {error})")
        masks = torch.zeros(N_SHOW, 1, SIZE, SIZE)
    for j in range(N_SHOW):
        ax = axes[i][j]
        ax.imshow(masks[j, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{masks[j].mean():.2f}", fontsize=6, labelpad=1)
    axes[i][0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
fig.suptitle(f"mask samples (white = hole; hole ratio under each){' — SMOKE' if SMOKE else ''}", fontsize=9)
fig.tight_layout()
save(fig, None, "masks_samples.png")

# %% [markdown]
# ## Hole-ratio histograms: ours vs the spec's table vs the CPU oracle

# %%
BINS = np.linspace(0, 1, 11)
cols = 4
rows = (len(NAMES) + cols - 1) // cols
fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False)
summary = []
for ax, name in zip(axes.flat, NAMES):
    ref = spec_row(name)
    spec = ref[1][2] if ref is not None else name   # ours with the reference row's parameters (e.g. its preset)
    try:
        ours = sample_masks(spec, N_HIST, SIZE).mean(dim=(1, 2, 3)).numpy()
    except Exception as error:  # e.g. a fixed-size box larger than the smoke raster
        summary.append(f"{name:24s} not drawn at {SIZE}px: {type(error).__name__}: {error}")
        ax.set_title(f"{name}: n/a at {SIZE}px", fontsize=8)
        continue
    ax.hist(ours, bins=BINS, weights=np.full(len(ours), 1 / len(ours)), alpha=0.6, label=f"ours (N={len(ours)})")
    line = f"{name:24s} ours {ours.mean():.3f}±{ours.std():.3f}"
    oracle_fn = ORACLES.get(name)
    if ref is not None:
        key, (oracle_name, ref_size, _, mean, std, hist) = ref
        if oracle_name in ROW_ORACLES:
            row_oracle = ROW_ORACLES[oracle_name]
            oracle_fn = lambda h, w, seed, f=row_oracle: f(np.random.default_rng(seed), h, w)  # noqa: E731
        centers = (BINS[:-1] + BINS[1:]) / 2
        ax.step(centers, hist, where="mid", color="k", label=f"spec {key} ({ref_size}px)")
        line += f" | spec {mean:.3f}±{std:.3f} ({key}, {ref_size}px)"
    oracle = None
    if oracle_fn is not None:
        try:
            oracle = np.array([float(oracle_fn(SIZE, SIZE, seed=s).mean()) for s in range(N_HIST)])
        except Exception as error:
            line += f" | oracle n/a at {SIZE}px ({type(error).__name__})"
    if oracle is not None:
        ax.hist(oracle, bins=BINS, weights=np.full(len(oracle), 1 / len(oracle)), histtype="step", color="tab:red",
                label="CPU oracle")
        line += f" | oracle {oracle.mean():.3f}±{oracle.std():.3f}"
    summary.append(line)
    ax.set_title(name, fontsize=8)
    ax.set_xlim(0, 1)
    ax.legend(fontsize=5)
for ax in list(axes.flat)[len(NAMES):]:
    ax.axis("off")
fig.suptitle(f"hole-ratio distribution at {SIZE}px (fraction of masks per 10% bin)"
             f"{'; the spec rows are measured at their own size (legend)' if SIZE not in (256, 512) else ''}"
             f"{' — SMOKE: few masks, noisy' if SMOKE else ''}", fontsize=9)
fig.tight_layout()
save(fig, None, "masks_histograms.png")
print("\n".join(summary))
