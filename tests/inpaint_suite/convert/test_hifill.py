"""HiFill: TF checkpoint / .npz -> ours without TensorFlow; HWIO->OIHW, the dense flatten order and the BGR fold are
checked by what they compute, not by re-applying the converter's own functions."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from assembly.config import build_model, load_config
from inpaint_suite.cli import main
from inpaint_suite.convert import converter, tables_for
from inpaint_suite.convert.tf_bundle import read_checkpoint


def convert_to(tmp_path, source, *extra, name="hifill.ckpt"):
    out = tmp_path / name
    code = main(["convert", "hifill", str(source), "--out", str(out), *map(str, extra)])
    return code, out


def hifill_module(weights):
    module = build_model(load_config("hifill")["model"],
                         {"vgg_weights": "random", **converter("hifill").model_args("places2")})
    module.load_generator_weights(str(weights))
    return module.eval()


def test_tf_bundle_reader_returns_every_variable(hifill_checkpoint):
    prefix, state = hifill_checkpoint
    arrays = read_checkpoint(prefix)
    assert {"beta1_power", "global_step"} <= set(arrays)
    for name, value in state.items():
        assert np.array_equal(arrays[name], value.numpy()), name


def test_convert_tf_checkpoint_places_every_variable(tmp_path, hifill_checkpoint, capsys):
    prefix, state = hifill_checkpoint
    code, out = convert_to(tmp_path, prefix, "--variant", "places2_bgr")
    assert code == 0, capsys.readouterr().err
    ckpt = torch.load(out, weights_only=True)
    ours = ckpt["state_dict"]
    assert ckpt["inpaint_suite"]["roles"] == ["discriminator", "generator"]
    rows = [r for rows in tables_for("hifill", "places2_bgr").values() for r in rows]
    assert len(ours) == len(rows) == len(state)
    for row in rows:
        tf_value = state[row.official]
        if row.official.endswith(("/w", "/pw")):  # (kh, kw, in, out) -> (out, in, kh, kw)
            expected = tf_value.permute(3, 2, 0, 1)
        elif row.official.endswith("linear/kernel"):
            continue  # checked by what it computes below
        else:
            expected = tf_value
        assert torch.equal(ours[row.ours], expected), row.official
    # the dense layer: TF flattens the (8, 8, 256) NHWC map, we flatten (256, 8, 8) NCHW: same scores
    feats = torch.randn(2, 8, 8, 256)
    tf_scores = feats.reshape(2, -1) @ state["discriminator/linear/kernel"] + state["discriminator/linear/bias"]
    our_scores = F.linear(feats.permute(0, 3, 1, 2).reshape(2, -1), ours["discriminator.linear.weight"],
                          ours["discriminator.linear.bias"])
    assert torch.allclose(tf_scores, our_scores, atol=1e-4)


def test_rgb_fold_computes_the_bgr_network(tmp_path, hifill_checkpoint):
    """The default variant folds BGR->RGB into the weights: our RGB output == official BGR output, channels reversed."""
    prefix, _ = hifill_checkpoint
    assert convert_to(tmp_path, prefix, name="rgb.ckpt")[0] == 0
    assert convert_to(tmp_path, prefix, "--variant", "places2_bgr", name="bgr.ckpt")[0] == 0
    rgb, bgr = hifill_module(tmp_path / "rgb.ckpt"), hifill_module(tmp_path / "bgr.ckpt")
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 64, 64, generator=gen) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:40, 20:48] = 1
    with torch.no_grad():
        out_rgb = rgb.generate({"image": image, "mask": mask})
        out_bgr = bgr.generate({"image": image.flip(1), "mask": mask})
        # only the critic's first conv is folded: compare its response (the rest is identical)
        critic_rgb = rgb.discriminator.features[0](image)
        critic_bgr = bgr.discriminator.features[0](image.flip(1))
    assert out_rgb["output"].shape == (1, 3, 64, 64) and torch.isfinite(out_rgb["output"]).all()
    assert torch.allclose(out_rgb["output"], out_bgr["output"].flip(1), atol=1e-5)
    assert torch.allclose(out_rgb["coarse"], out_bgr["coarse"].flip(1), atol=1e-5)
    assert torch.allclose(critic_rgb, critic_bgr, atol=1e-4)
    assert not torch.allclose(out_rgb["output"], out_bgr["output"], atol=1e-3)  # the fold does something


def test_npz_export_is_accepted(tmp_path, hifill_checkpoint):
    _, state = hifill_checkpoint
    np.savez(tmp_path / "vars.npz", **{k: v.numpy() for k, v in state.items()})
    code, out = convert_to(tmp_path, tmp_path / "vars.npz")
    assert code == 0
    assert torch.load(out, weights_only=True)["inpaint_suite"]["variant"] == "places2"


def test_generator_only_export_converts_the_generator(tmp_path, hifill_checkpoint):
    _, state = hifill_checkpoint
    np.savez(tmp_path / "g.npz", **{k: v.numpy() for k, v in state.items() if k.startswith("generator/")})
    code, out = convert_to(tmp_path, tmp_path / "g.npz")
    assert code == 0
    keys = torch.load(out, weights_only=True)["state_dict"]
    assert keys and all(k.startswith("generator.") for k in keys)


def test_frozen_graph_without_tensorflow_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if the reference-tf extra were not installed
    (tmp_path / "hifill.pb").write_bytes(b"\x0a\x03abc")
    assert convert_to(tmp_path, tmp_path / "hifill.pb")[0] == 2
    err = capsys.readouterr().err
    assert "frozen graph" in err and "install the reference-tf extra" in err and err.count("\n") == 1


def test_unreadable_frozen_graph_is_refused(tmp_path, capsys):
    pytest.importorskip("tensorflow", reason="reading a GraphDef needs the reference-tf extra")
    (tmp_path / "hifill.pb").write_bytes(b"\x0a\x03abc")
    assert convert_to(tmp_path, tmp_path / "hifill.pb")[0] == 2
    err = capsys.readouterr().err
    assert "not a readable TensorFlow frozen graph" in err and err.count("\n") == 1
    (tmp_path / "empty.pb").write_bytes(b"")  # a valid, empty GraphDef
    assert convert_to(tmp_path, tmp_path / "empty.pb")[0] == 2
    assert "without weight constants" in capsys.readouterr().err


def test_other_formats_are_refused(tmp_path, capsys):
    (tmp_path / "m.om").write_bytes(b"x")
    assert convert_to(tmp_path, tmp_path / "m.om")[0] == 2
    assert "Ascend" in capsys.readouterr().err
    assert convert_to(tmp_path, tmp_path / "nothing_here")[0] == 2
    assert "nothing_here.index does not exist" in capsys.readouterr().err
    (tmp_path / "bad.index").write_bytes(b"\0" * 64)
    assert convert_to(tmp_path, tmp_path / "bad")[0] == 2
    assert "not a TensorFlow checkpoint index" in capsys.readouterr().err


def test_renamed_variable_is_refused(tmp_path, hifill_checkpoint, tf_writer, capsys):
    _, state = hifill_checkpoint
    broken = {k.replace("re_dil_d16", "re_dil_d32"): v.numpy() for k, v in state.items()}
    tf_writer(tmp_path / "0", broken)
    assert convert_to(tmp_path, tmp_path / "0")[0] == 2
    err = capsys.readouterr().err
    assert "generator/re_dil_d16/w" in err and "generator/re_dil_d32/w" in err


@pytest.mark.parametrize("variant", ["places2", "places2_bgr"])
def test_discriminator_flag_is_refused(tmp_path, hifill_checkpoint, variant, capsys):
    prefix, _ = hifill_checkpoint
    assert convert_to(tmp_path, prefix, "--variant", variant, "--discriminator", prefix)[0] == 2
    assert "one checkpoint holds both networks" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ fine-tuning
def test_fit_from_converted_weights_brings_their_model_options(tmp_path, hifill_checkpoint, capsys):
    """``fit --model.init_from CONVERTED`` applies the options the weights state (TF padding/resize, code attention,
    the 512-px critic) over the config, starts G and D from the converted values, and trains."""
    prefix, _ = hifill_checkpoint
    code, weights = convert_to(tmp_path, prefix)
    assert code == 0
    ckpt_dir = tmp_path / "ck"
    code = main(["fit", "--config", "hifill_smoke", "--model.init_from", str(weights), "--data.image_size", "512",
                 "--data.batch_size", "1", "--trainer.max_steps", "1", "--trainer.default_root_dir", str(tmp_path),
                 "--trainer.val_check_interval", "1", "--trainer.limit_val_batches", "0",
                 "--trainer.enable_checkpointing", "true", "--trainer.callbacks+=ModelCheckpoint",
                 f"--trainer.callbacks.dirpath={ckpt_dir}", "--trainer.callbacks.every_n_train_steps=1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "init_from: the converted weights need" in out and "padding=tf_same" in out
    saved = torch.load(next(ckpt_dir.glob("*.ckpt")), map_location="cpu", weights_only=False)
    hparams = saved["hyper_parameters"]
    assert (hparams["padding"], hparams["resize"], hparams["attention_mask_mode"]) == ("tf_same", "tf1_legacy", "code")
    assert hparams["image_size"] == 512
    start = torch.load(weights, weights_only=True)["state_dict"]
    after = saved["state_dict"]
    # (random official values vanish through the 26 coarse layers, so check layers near the losses)
    for key in ("generator.refine.to_rgb.conv.feature.weight", "discriminator.linear.weight"):
        change = (after[key] - start[key]).abs().max().item()
        assert 0 < change < 0.1 * start[key].abs().max().item(), key  # started there, then took a step


def test_yaml_init_from_with_contradicting_options_is_refused(tmp_path, hifill_checkpoint, capsys):
    prefix, _ = hifill_checkpoint
    code, weights = convert_to(tmp_path, prefix)
    assert code == 0
    config = tmp_path / "finetune.yaml"
    config.write_text(f"model:\n  init_args:\n    init_from: {weights}\n")
    code = main(["fit", "--config", "hifill_smoke", "--config", str(config), "--trainer.max_steps", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--model.init_args.padding tf_same" in err and str(weights) in err
