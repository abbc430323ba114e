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
# # DeepGIN (Li et al., AIM 2020 / ECCV-W): mask-type difficulty and the component ablation
#
# - **Difficulty grid**: PSNR (and SSIM) per method x AIM mask type (box / cellular automata / free form) from the
#   AIM Track 1 table (`results/aim_track1/table.json`, `make sweep ABLATION=aim_track1`), beside the paper's
#   per-type numbers (Table 4 of the challenge report, from `sweeps/aim_track1.yaml`).
# - **Table 1** (`deepgin_components`): our numbers beside the paper's, and the deltas ours − paper.

# %%
import numpy as np
from _common import (
    bars_vs_paper,
    delta_heatmap,
    headline,
    load_sweep_file,
    load_table,
    plt,
    print_table,
    save,
    set_threads,
)

from sweeps.spec import paper_groups

set_threads()
TYPES = ["aim_box", "aim_cellular_automata", "aim_free_form"]

# %% [markdown]
# ## Mask-type difficulty grid (AIM Track 1)

# %%
sweep = load_sweep_file("aim_track1")
payload = load_table("aim_track1")
labels = [r.label for r in sweep.rows]


def grid(metric, source):
    """``(row labels, values (rows, mask types))`` of ``metric``: ``ours`` from the table; ``paper`` from the sweep
    file — its rows' per-type numbers plus the other teams' in ``reference.per_mask_type`` (challenge Table 4)."""
    if source == "paper":
        named = [(row.label, paper_groups(row)) for row in sweep.rows]
        named += [(f"{team} (reference)", types)
                  for team, types in ((sweep.raw.get("reference") or {}).get("per_mask_type") or {}).items()]
        named = [(label, g) for label, g in named
                 if any((g.get(kind) or {}).get(metric) is not None for kind in TYPES)]
        values = [[(g.get(kind) or {}).get(metric) for kind in TYPES] for _, g in named]
        return [label for label, _ in named], np.array(values, dtype=float).reshape(len(named), len(TYPES))
    out = np.full((len(labels), len(TYPES)), np.nan)
    for i, row in enumerate(sweep.rows):
        for j, kind in enumerate(TYPES):
            rec = next((r for r in (payload or {}).get("rows", []) if r["row"] == row.label and r["group"] == kind),
                       None)
            value = ((rec or {}).get("metrics") or {}).get(metric, {}).get("ours")
            out[i, j] = np.nan if value is None else value
    return labels, out


metrics = ["psnr", "ssim"]
fig, axes = plt.subplots(len(metrics), 2, figsize=(10, 3.2 * len(metrics)), squeeze=False)
for m, metric in enumerate(metrics):
    for s, source in enumerate(("ours", "paper")):
        ax = axes[m][s]
        names, values = grid(metric, source)
        if not len(names):
            ax.axis("off")
            continue
        im = ax.imshow(values, cmap="viridis", aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, "—" if np.isnan(v) else f"{v:.3g}", ha="center", va="center", fontsize=7, color="w")
        ax.set_xticks(range(len(TYPES)), ["box", "cellular automata", "free form"], fontsize=8)
        ax.set_yticks(range(len(names)), [lab[:34] for lab in names], fontsize=7)
        ax.set_title(f"{metric} — {source}{'' if payload or source == 'paper' else ' (no results yet)'}", fontsize=9)
        if np.isfinite(values).any():
            fig.colorbar(im, ax=ax)
fig.suptitle(f"difficulty by AIM mask type (Track 1)\n{headline(payload) or 'paper only: no results yet'}",
             fontsize=9)
fig.tight_layout()
save(fig, "aim_track1", "deepgin_mask_difficulty.png")
if payload:
    for metric in metrics:
        _, ours = grid(metric, "ours")
        order = [TYPES[j] for j in np.argsort(np.nanmean(ours, 0))] if np.isfinite(ours).any() else []
        print(f"{metric}: mask types from hardest to easiest (ours, mean over rows): {order}")

# %% [markdown]
# ## Table 1: component ablation — ours beside the paper, and the deltas

# %%
payload = load_table("deepgin_components")
print_table(payload)
save(bars_vs_paper(payload, "deepgin_components", title="DeepGIN Table 1 (deepgin_components)"),
     "deepgin_components", "deepgin_table1.png")
if payload is not None:
    save(delta_heatmap(payload, title="DeepGIN Table 1: Δ = ours − paper"), "deepgin_components",
         "deepgin_table1_deltas.png")

# %% [markdown]
# ## Table 1 (#params), when `deepgin_params` has been run (no training: `make sweep ABLATION=deepgin_params`)

# %%
payload = load_table("deepgin_params")
if payload is not None:
    print_table(payload)
    save(bars_vs_paper(payload, "deepgin_params", title="DeepGIN Table 1 #params"), "deepgin_params",
         "deepgin_params.png")
