"""The key tables of ``inpaint_suite.convert.<method>``: official side == the stored official key lists, our side ==
our networks as the packaged configs build them. A renamed layer on either side fails here, naming the key."""

from __future__ import annotations

import pytest
import torch

from assembly.config import build_model, load_config
from inpaint_suite.convert import converter, tables_for
from inpaint_suite.convert.common import check_table_against_model
from inpaint_suite.convert.madf import OFFICIAL_PREFIX

# (method, variant, role in the table, role in official_keys_<method>.json)
CASES = [
    ("aotgan", "default", "generator", "generator"),
    ("aotgan", "default", "discriminator", "discriminator"),
    ("madf", "k2", "generator", "generator"),
    ("deepgin", "track1", "generator", "generator"),
    ("deepgin", "warmup", "generator", "generator"),
    ("deepgin", "track2", "generator", "generator_track2"),
    ("deepgin", "track1", "discriminator", "discriminator"),
    ("hifill", "places2", "generator", "generator"),
    ("hifill", "places2_bgr", "discriminator", "discriminator"),
]
# Parameter counts measured on the official definitions (specs §9), buffers (BN stats) excluded; SN u/v excluded
# except where the official code registers them as parameters (DeepGIN's custom SpectralNorm).
OFFICIAL_PARAMETERS = {
    ("aotgan", "generator"): 15_200_835, ("aotgan", "discriminator"): 2_763_777,
    ("madf", "generator"): 85_141_214,
    ("deepgin", "generator"): 42_930_186, ("deepgin", "generator_track2"): 42_939_594,
    ("deepgin", "discriminator"): 3_437_504,
    ("hifill", "generator"): 2_722_791, ("hifill", "discriminator"): 5_961_601,
}
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def build_module(method: str, variant: str):
    args = converter(method).model_args(variant)
    return build_model(load_config(method)["model"], {"vgg_weights": "random", **args})


@pytest.mark.parametrize("method,variant,role,stored", CASES)
def test_official_side_equals_stored_key_list(method, variant, role, stored, keys_of):
    reference = keys_of(method)[stored]
    if method == "madf":
        reference = {k[len(OFFICIAL_PREFIX):]: v for k, v in reference.items()}
    table = {r.official: list(r.shape) for r in tables_for(method, variant)[role]}
    assert [k for k in reference if k not in table] == []
    assert [k for k in table if k not in reference] == []
    assert {k: v for k, v in table.items() if reference[k] != v} == {}


@pytest.mark.parametrize("method,role", sorted(OFFICIAL_PARAMETERS))
def test_stored_key_lists_give_the_official_parameter_counts(method, role, keys_of):
    shapes = keys_of(method)[role]
    count = sum(torch.Size(s).numel() for k, s in shapes.items() if k.rsplit(".", 1)[-1] not in BUFFERS
                and not (method == "aotgan" and k.endswith(("weight_u", "weight_v"))))
    assert count == OFFICIAL_PARAMETERS[(method, role)]


@pytest.mark.parametrize("method,variant", [("aotgan", "default"), ("madf", "k2"), ("madf", "k2_unused_bn"),
                                            ("madf", "k1"), ("deepgin", "track1"), ("deepgin", "track2"),
                                            ("hifill", "places2")])
def test_our_side_fills_exactly_our_model(method, variant):
    module = build_module(method, variant)
    state = {k: v for k, v in module.state_dict().items() if k.startswith(("generator.", "discriminator."))}
    rows = [r for rows in tables_for(method, variant).values() for r in rows]
    assert check_table_against_model(rows, state) == []


def test_deepgin_discriminator_scales_are_swapped():
    rows = {r.official: r.ours for r in tables_for("deepgin", "track1")["discriminator"]}
    # official layer1 runs on the full-resolution input, layer0 on the down-sampled one (MultiscaleDiscriminator)
    assert rows["layer1.0.module.weight_bar"] == "discriminator.scales.0.net.0.parametrizations.weight.original"
    assert rows["layer0.6.module.bias"] == "discriminator.scales.1.net.6.bias"
    interm = {r.official: r.ours for r in tables_for("deepgin", "track1", d_layout="interm")["discriminator"]}
    assert interm["scale1_layer3.0.module.weight_u"] == "discriminator.scales.0.net.6.parametrizations.weight.0._u"


def test_deepgin_blocks_follow_the_official_forward_order():
    rows = {r.official: r.ours for r in tables_for("deepgin", "track1")["generator"]}
    assert rows["r_md_mres5.fusion5.conv.weight"] == "generator.refine.blocks_a.2.fuse.1.weight"
    assert rows["r_md_mres3.branch1.conv.bias"] == "generator.refine.blocks_b.0.branches.0.1.bias"
    assert rows["r_de_satn2.W.weight"] == "generator.refine.attn32.w_z.weight"


def test_madf_unused_batchnorm_is_dropped_with_a_reason():
    rows = [r for r in tables_for("madf", "k2")["generator"] if r.official.startswith("enc_conv_")]
    assert len(rows) == 7 * 5 and all(r.ours is None and "never applies" in r.reason for r in rows)
