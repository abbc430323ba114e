"""``inpaint-suite convert``: random official-format files -> our checkpoint; every tensor where the table says;
the networks run; refusals (mismatch, pickles with code, unknown formats) are one line with exit code 2."""

from __future__ import annotations

import argparse

import pytest
import torch

from assembly.config import build_model, load_config
from inpaint_suite.cli import main
from inpaint_suite.convert import converter, tables_for
from inpaint_suite.convert.madf import OFFICIAL_PREFIX

# method, variant, generator file key, discriminator file key, generate() size
CASES = [
    ("aotgan", "default", "aotgan_generator", "aotgan_discriminator", 64),
    pytest.param("madf", "k2", "madf_generator", None, 128, marks=pytest.mark.slow),  # 85 M parameters
    ("deepgin", "track1", "deepgin_generator", "deepgin_discriminator", 64),
    pytest.param("deepgin", "track2", "deepgin_generator_track2", "deepgin_discriminator", 64, marks=pytest.mark.slow),
]
IDS = ["aotgan-default", "madf-k2", "deepgin-track1", "deepgin-track2"]


def run_convert(method, generator, out, *extra):
    return main(["convert", method, str(generator), "--out", str(out), *map(str, extra)])


@pytest.mark.parametrize("method,variant,g_file,d_file,size", CASES, ids=IDS)
def test_convert_places_every_tensor_and_the_network_runs(tmp_path, official_files, method, variant, g_file, d_file,
                                                          size):
    g_path, g_state = official_files[g_file]
    extra = ["--variant", variant]
    if d_file:
        extra += ["--discriminator", official_files[d_file][0]]
    out = tmp_path / "ours.ckpt"
    assert run_convert(method, g_path, out, *extra) == 0
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    meta = ckpt["inpaint_suite"]
    assert meta["method"] == method and meta["mapping_version"] == 1 and str(g_path) in meta["converted_from"]
    state = ckpt["state_dict"]

    official = dict(g_state)
    if method == "madf":
        official = {k[len(OFFICIAL_PREFIX):]: v for k, v in official.items()}
    if d_file:
        official.update(official_files[d_file][1])
    tables = tables_for(method, variant)
    placed = 0
    for row in [r for rows in tables.values() for r in rows]:
        if row.ours is None:
            assert row.reason  # dropped on purpose
            continue
        assert torch.equal(state[row.ours], official[row.official]), (row.official, row.ours)
        placed += 1
    assert placed == len(state)

    module = build_model(load_config(method)["model"], {"vgg_weights": "random", **meta["model_init_args"]})
    module.load_generator_weights(str(out))
    for key, value in module.state_dict().items():
        if key in state:
            assert torch.equal(value, state[key]), key
    module.eval()
    batch = module.example_batch(size=size, batch_size=1)
    if meta["model_init_args"].get("semantic_channels"):
        # the official RGB-coded map: raw *_seg.png colours scaled to [0, 1] (data.seg_encoding: ade_rgb)
        assert meta["model_init_args"]["seg_encoding"] == "ade_rgb"
        batch["seg"] = torch.randint(0, 256, (1, 3, size, size), dtype=torch.uint8).float() / 255
    with torch.no_grad():
        output = module.generate(batch)["output"]
        if module.discriminator is not None and d_file:
            d_in = output if method == "aotgan" else torch.cat([output, output], dim=1)
            scores = module.discriminator(d_in)
            assert all(torch.isfinite(s).all() for s in (scores if isinstance(scores, list) else [scores]))
    assert output.shape == (1, 3, size, size) and torch.isfinite(output).all()


def test_mismatched_checkpoint_is_refused_naming_the_first_differences(tmp_path, official_files, capsys):
    g_path, g_state = official_files["aotgan_generator"]
    broken = dict(g_state)
    del broken["middle.3.gate.1.weight"]
    broken["middle.0.fuse.1.weight"] = torch.zeros(256, 128, 3, 3)
    broken["extra.layer.weight"] = torch.zeros(1)
    torch.save(broken, tmp_path / "G.pt")
    assert run_convert("aotgan", tmp_path / "G.pt", tmp_path / "o.ckpt") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    for needle in ("middle.3.gate.1.weight", "extra.layer.weight", "middle.0.fuse.1.weight (256, 128, 3, 3)",
                   "official (256, 256, 3, 3)"):
        assert needle in err
    assert not (tmp_path / "o.ckpt").exists()


def test_track2_generator_without_variant_is_refused_with_a_hint(tmp_path, official_files, capsys):
    assert run_convert("deepgin", official_files["deepgin_generator_track2"][0], tmp_path / "o.ckpt") == 2
    err = capsys.readouterr().err
    assert "lr_coarse_tinker.1.weight (32, 7, 7, 7) != official (32, 4, 7, 7)" in err and "--variant track2" in err


def test_wrong_method_for_a_file_is_refused(tmp_path, official_files, capsys):
    assert run_convert("deepgin", official_files["aotgan_generator"][0], tmp_path / "o.ckpt") == 2
    assert "missing keys" in capsys.readouterr().err


def test_pickle_with_code_needs_trust_pickle(tmp_path, official_files, capsys):
    _, madf = official_files["madf_generator"]
    # real snapshots often carry the training args: an argparse.Namespace is a class, not a weight
    torch.save({"n_iter": 1, "model": madf, "args": argparse.Namespace(lr=2e-4)}, tmp_path / "with_args.pth")
    assert run_convert("madf", tmp_path / "with_args.pth", tmp_path / "o.ckpt") == 2
    err = capsys.readouterr().err
    assert "argparse.Namespace" in err and "--trust-pickle" in err and "execute" in err
    assert run_convert("madf", tmp_path / "with_args.pth", tmp_path / "o.ckpt", "--trust-pickle") == 0

    torch.save({"model": madf, "hook": print}, tmp_path / "with_code.pth")  # a reference to a callable
    assert run_convert("madf", tmp_path / "with_code.pth", tmp_path / "o2.ckpt") == 2
    err = capsys.readouterr().err
    assert "it references print" in err and "--trust-pickle" in err


def test_not_a_checkpoint_and_missing_file(tmp_path, capsys):
    (tmp_path / "junk.pt").write_bytes(b"definitely not a checkpoint")
    assert run_convert("aotgan", tmp_path / "junk.pt", tmp_path / "o.ckpt") == 2
    assert "junk.pt" in capsys.readouterr().err
    assert run_convert("aotgan", tmp_path / "absent.pt", tmp_path / "o.ckpt") == 2
    assert "does not exist" in capsys.readouterr().err


def test_discriminator_for_a_method_without_one_is_refused(tmp_path, official_files, capsys):
    path = official_files["madf_generator"][0]
    assert run_convert("madf", path, tmp_path / "o.ckpt", "--discriminator", path) == 2
    assert "no released discriminator" in capsys.readouterr().err


def test_existing_output_needs_force(tmp_path, official_files, capsys):
    (tmp_path / "o.ckpt").write_bytes(b"x")
    g = official_files["aotgan_generator"][0]
    assert run_convert("aotgan", g, tmp_path / "o.ckpt") == 2
    assert run_convert("aotgan", g, tmp_path / "o.ckpt", "--force") == 0


def test_deepgin_intermediate_feature_layout_is_accepted(tmp_path, official_files):
    _, d_state = official_files["deepgin_discriminator"]
    renamed = {}
    for key, value in d_state.items():  # layer{s}.{2n}.module.x -> scale{s}_layer{n}.0.module.x
        layer, index, rest = key.split(".", 2)
        renamed[f"scale{layer[5:]}_layer{int(index) // 2}.0.{rest}"] = value
    torch.save(renamed, tmp_path / "D_interm.pth")
    g = official_files["deepgin_generator"][0]
    assert run_convert("deepgin", g, tmp_path / "o.ckpt", "--discriminator", tmp_path / "D_interm.pth") == 0
    state = torch.load(tmp_path / "o.ckpt", weights_only=True)["state_dict"]
    assert torch.equal(state["discriminator.scales.0.net.2.bias"], d_state["layer1.2.module.bias"])


def test_print_mapping_lists_every_row(capsys):
    import json

    assert main(["convert", "deepgin", "--print-mapping", "--variant", "track2"]) == 0
    table = json.loads(capsys.readouterr().out)
    first = table["generator"][0]
    assert first["official"] == "lr_coarse_tinker.1.weight" and first["shape"] == [32, 7, 7, 7]
    assert len(table["discriminator"]) == len(tables_for("deepgin", "track2")["discriminator"])
    assert converter("deepgin").model_args("track2")["semantic_channels"] == 3
    assert converter("deepgin").model_args("track2")["seg_encoding"] == "ade_rgb"
    assert "seg_encoding" not in converter("deepgin").model_args("track1")


def test_legacy_serialization_is_read(tmp_path, official_files):
    """The official files were written by PyTorch 1.0-1.8: the pre-zip format must load with weights_only too."""
    g_path, g_state = official_files["aotgan_generator"]
    torch.save(g_state, tmp_path / "G_legacy.pt", _use_new_zipfile_serialization=False)
    assert run_convert("aotgan", tmp_path / "G_legacy.pt", tmp_path / "o.ckpt") == 0
    state = torch.load(tmp_path / "o.ckpt", weights_only=True)["state_dict"]
    assert torch.equal(state["generator.blocks.7.branches.3.1.weight"], g_state["middle.7.block03.1.weight"])


def _vgg16_extractor(seed: int = 9) -> dict[str, torch.Tensor]:
    """The ``module.extractor.*`` tensors of an official ``train.py`` snapshot (VGG16FeatureExtractor)."""
    from inpaint_suite.convert.madf import EXTRACTOR_SHAPES

    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=gen) for k, shape in EXTRACTOR_SHAPES.items()}


def test_madf_train_snapshot_with_the_vgg_extractor_converts_with_a_note(tmp_path, official_files, capsys):
    """train.py saves DataParallel(FullModel(model, extractor)): module.extractor.* beside module.model.*."""
    path, madf = official_files["madf_generator"]
    extractor = _vgg16_extractor()
    assert sum(v.numel() for v in extractor.values()) == 1_735_488  # vgg16.features[0:17] (spec madf.md §9)
    snapshot = {"n_iter": 20000, "model": {**madf, **extractor}, "gen_optimizer": {"state": {}, "param_groups": []}}
    torch.save(snapshot, tmp_path / "20000.pth")
    assert run_convert("madf", tmp_path / "20000.pth", tmp_path / "train.ckpt") == 0
    out = capsys.readouterr().out
    assert "note:" in out and "14 'module.extractor.*' tensors" in out and "1,735,488 values" in out
    assert run_convert("madf", path, tmp_path / "released.ckpt") == 0
    assert "note:" not in capsys.readouterr().out
    train = torch.load(tmp_path / "train.ckpt", weights_only=True)
    released = torch.load(tmp_path / "released.ckpt", weights_only=True)
    assert train["state_dict"].keys() == released["state_dict"].keys()
    assert all(torch.equal(train["state_dict"][k], v) for k, v in released["state_dict"].items())
    assert not any("extractor" in k or k.startswith("vgg") for k in train["state_dict"])


def test_madf_snapshot_stays_strict_beside_the_extractor(tmp_path, capsys):
    """Only the exact VGG16 extractor is dropped: a wrong extractor shape or any other foreign key is refused."""
    model = {"module.model.enc_up_1.0.bias": torch.zeros(64)}
    bad_shape = _vgg16_extractor()
    bad_shape["module.extractor.enc_3.4.weight"] = torch.zeros(256, 256, 1, 1)
    torch.save({"n_iter": 1, "model": {**model, **bad_shape}}, tmp_path / "a.pth")
    assert run_convert("madf", tmp_path / "a.pth", tmp_path / "a.ckpt") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "module.extractor.enc_3.4.weight (256, 256, 1, 1)" in err
    torch.save({"n_iter": 1, "model": {**model, **_vgg16_extractor(), "module.loss.weight": torch.zeros(1)}},
               tmp_path / "b.pth")
    assert run_convert("madf", tmp_path / "b.pth", tmp_path / "b.ckpt") == 2
    err = capsys.readouterr().err
    assert "module.loss.weight" in err and "lack the official 'module.model.' prefix" in err
    assert not (tmp_path / "a.ckpt").exists() and not (tmp_path / "b.ckpt").exists()
