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
# # AIM 2020 Extreme Image Inpainting: the setup and the challenge tables
#
# The AIM protocol (`lightning_modules/configs/aim_track1.yaml`, `aim_track2.yaml`): 256 px, one mask per test image
# drawn from the AIM mix (box, cellular automata, free form; 1/3 each) with a fixed seed, metrics per mask type.
# Tables: `results/aim_track1/table.json` (Table 2 overall, Table 4 per mask type) and `results/aim_track2/...`
# (Tables 3 and 5), written by `make sweep ABLATION=aim_track1` / `aim_track2`. Paper numbers: the sweep files.

# %%
from _common import (
    SMOKE,
    bars_vs_paper,
    groups,
    headline,
    image_grid,
    load_table,
    plt,
    print_table,
    sample_images,
    sample_masks,
    save,
    set_threads,
)

set_threads()
SIZE = 64 if SMOKE else 256
TYPES = ["aim_box", "aim_cellular_automata", "aim_free_form"]

# %% [markdown]
# ## The three AIM mask types on the built-in photos

# %%
images = sample_images(3, SIZE)
rows = []
for t in TYPES:
    masks = sample_masks(t, 3, SIZE, seed=0)
    rows.append([m for m in masks] + [img * (1 - m) + m for img, m in zip(images, masks)])
fig = image_grid(rows, TYPES, [f"mask {i}" for i in range(3)] + [f"masked {i}" for i in range(3)],
                 title=f"AIM mask types (hole = white){' — SMOKE' if SMOKE else ''}")
save(fig, None, "aim_masks.png")

# %% [markdown]
# ## Track 1 (Table 2) and Track 2 (Table 3): overall; Tables 4/5: per mask type

# %%
for name in ("aim_track1", "aim_track2"):
    payload = load_table(name)
    fig = bars_vs_paper(payload, name, group="overall")
    save(fig, name, f"{name}_overall.png")
    if payload is None:
        continue
    print_table(payload)
    kinds = [g for g in groups(payload) if g != "overall"]
    if not kinds:
        print(f"{name}: the table has no per-mask-type groups")
        continue
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        recs = [r for r in payload["rows"] if r["group"] == kind]
        labels = [r["row"][:22] for r in recs]
        ours = [r["metrics"].get("psnr", {}).get("ours") for r in recs]
        paper = [r["metrics"].get("psnr", {}).get("paper") for r in recs]
        x = range(len(recs))
        ax.bar([i - 0.2 for i in x], [v if v is not None else float("nan") for v in ours], 0.4, label="ours")
        ax.bar([i + 0.2 for i in x], [v if v is not None else float("nan") for v in paper], 0.4, label="paper",
               color="tab:gray")
        ax.set_xticks(list(x), labels, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"PSNR, {kind}", fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{name}: per mask type (Tables 4/5)\n{headline(payload)}", fontsize=9)
    fig.tight_layout()
    save(fig, name, f"{name}_mask_types.png")
