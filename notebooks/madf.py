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
# # MADF (Zhu et al., TIP 2021): the cascade's intermediate outputs and the ablation tables
#
# - **Fig. 6**: the output of every decoder — recovery, then each refinement — for the same masked photos
#   (`MADF.generate()` returns `recovery`, `refine1..K`, `output`). Weights: the newest checkpoint of a MADF sweep
#   trial under `results/` (trials keep checkpoints outside smoke runs), else **random weights** (labelled).
# - **Table II** (`madf_pn`: encoder block, K, PN) and **Table III** (`madf_supervision`): our numbers from
#   `results/<sweep>/table.json` beside the paper's (from the sweep files).

# %%
import torch
from _common import (
    SMOKE,
    bars_vs_paper,
    build_method,
    find_checkpoint,
    image_grid,
    load_table,
    print_table,
    sample_images,
    sample_masks,
    save,
    set_threads,
)

set_threads()
SIZE = 128 if SMOKE else 256   # MADF needs multiples of 128
N = 2 if SMOKE else 4

# %% [markdown]
# ## Fig. 6: recovery -> refinements, per decoder

# %%
checkpoint = find_checkpoint("madf_pn", "madf_supervision")
model, weights = build_method("madf", checkpoint=checkpoint)
print(f"weights: {weights}")
images = sample_images(N, SIZE)
masks = sample_masks("mat_small", N, SIZE, seed=3)
with torch.no_grad():
    outputs = model.generate({"image": images, "mask": masks})
decoders = [k for k in outputs if k != "output"]   # recovery, refine1, ..., refineK (output = the last one)
print("decoders:", decoders)
rows = []
for i in range(N):
    masked = images[i] * (1 - masks[i]) + masks[i]
    rows.append([masked] + [outputs[k][i] * masks[i] + images[i] * (1 - masks[i]) for k in decoders] + [images[i]])
fig = image_grid(rows, [f"image {i}" for i in range(N)], ["masked input"] + decoders + ["ground truth"],
                 title=f"MADF intermediate outputs (composited), {SIZE}px — {weights}"
                       f"{' — SMOKE' if SMOKE else ''}")
save(fig, "madf_pn", "madf_intermediate_outputs.png")

# %% [markdown]
# ## Table II (encoder block, number of refinement decoders, PN) and Table III (supervision)

# %%
for name, table, filename in (("madf_pn", "Table II", "madf_table2.png"),
                              ("madf_supervision", "Table III", "madf_table3.png")):
    payload = load_table(name)
    print_table(payload)
    fig = bars_vs_paper(payload, name, title=f"MADF {table} ({name})")
    save(fig, name, filename)

# %% [markdown]
# ## Table IV (parameters and GFLOPs) when `madf_flops` has been run (no training: `make sweep ABLATION=madf_flops`)

# %%
payload = load_table("madf_flops")
if payload is not None:
    print_table(payload)
    save(bars_vs_paper(payload, "madf_flops", title="MADF Table IV (madf_flops)"), "madf_flops", "madf_table4.png")
