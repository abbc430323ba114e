"""Converted MADF weights compute what the official ``MADFNet`` computes with the same weights.

A seeded random snapshot in the official format (``{"n_iter", "model": {"module.model.<k>": ...}, "optimizer"}``)
is loaded into the independent re-implementation of the official model (``official_reference/madf.py``,
``strict=True``), its BN running statistics are set from one train-mode forward on another input (so the eval-mode
activations stay O(1) and differ from batch statistics), the snapshot is converted with ``inpaint-suite convert madf``
and the official ``test.py`` pipeline (ImageNet-normalised RGB, mask 1 = known, input ``gt * mask``, outputs
un-normalised, ``output_comp = mask * input + (1 - mask) * outputs[-1]``) is compared with our module's
``forward()`` (``generate()`` + composite) in eval mode: every decoder output, not only the last, at 128x128
(seven stride-2 levels), batch 1. The fast test runs K=1 (every kind of layer of the released model; only the
conditioning of one refinement decoder on another is K=2's own); the slow
tests add K=2 (released), ``k2_unused_bn``, K=0, the train-mode forward (batch statistics and the running-statistic
updates) and more negative controls.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from assembly.config import build_model, load_config
from inpaint_suite.cli import main
from inpaint_suite.convert import tables_for

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the official_reference package (test oracles)
from official_reference.madf import MADFNet  # noqa: E402

PREFIX = "module.model."
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)  # opt.MEAN / opt.STD
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
SIZE = 128
TOL = 1e-5  # max |ours - official| in project space ([-1, 1] images)
NAMES = {0: ["recovery"], 1: ["recovery", "refine1"], 2: ["recovery", "refine1", "refine2"]}


# ------------------------------------------------------------------------------------------------ helpers
def inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Project-space batch: image in [-1, 1], mask 1 = hole (a box plus scattered 8x8 cells, crossing windows)."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, SIZE, SIZE, generator=gen) * 2 - 1
    hole = (torch.rand(1, 1, SIZE // 8, SIZE // 8, generator=gen) < 0.3).float()
    hole = hole.repeat_interleave(8, 2).repeat_interleave(8, 3)
    hole[..., 37:70, 13:99] = 1
    return image, hole


def official_state(keys_of, make_state, num_refine: int, seed: int = 3) -> dict[str, torch.Tensor]:
    """Random official tensors (prefix stripped) of ``MADFNet(layer_size=7, n_refinement_D=num_refine)``.

    The affine BN scales get ``1 + 0.1 N(0, 1)`` instead of the generic ``0.05 N(0, 1)`` of 1-D tensors: with the
    latter every recovery block would damp its upsampled path 20x against the skip, and the recovery output would
    hardly depend on the deeper recovery levels (a change there would stay below the tolerance)."""
    keys = {k[len(PREFIX):]: v for k, v in keys_of("madf")["generator"].items()}
    keys = {k: v for k, v in keys.items() if not any(k.startswith(f"dec_ref{r}_") for r in range(num_refine, 2))}
    state = make_state(keys, seed)
    gen = torch.Generator().manual_seed(seed)
    for key, shape in keys.items():
        if len(shape) == 1 and key.endswith(".weight"):  # deconv_{i}.1.weight, enc_conv_{i}.bn.weight
            state[key] = 1 + 0.1 * torch.randn(shape, generator=gen)
    return state


def reference(state: dict[str, torch.Tensor], num_refine: int) -> MADFNet:
    model = MADFNet(n_refinement_D=num_refine)
    model.load_state_dict(state, strict=True)
    model.eval()  # the official override returns None: not chained, as in test.py
    return model


def calibrate(model: MADFNet, seed: int = 1) -> None:
    """Running statistics := the batch statistics of one train-mode forward on another input."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, exactly its statistics
    model.train()
    with torch.no_grad():
        model(*official_input(*inputs(seed)))
    for m in norms:
        m.momentum = 0.1
    model.eval()


def write_snapshot(path: Path, model: MADFNet) -> Path:
    """The released layout (train.py ``save_ckpt`` of the DataParallel-wrapped model)."""
    state = {PREFIX + k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"n_iter": 1000000, "model": state, "optimizer": {"state": {}, "param_groups": []}}, path)
    return path


def convert(snapshot: Path, variant: str, out: Path):
    """``inpaint-suite convert madf SNAPSHOT --variant V`` -> our module (eval), built from the recorded options."""
    assert main(["convert", "madf", str(snapshot), "--variant", variant, "--out", str(out)]) == 0
    meta = torch.load(out, map_location="cpu", weights_only=True)["inpaint_suite"]
    module = build_model(load_config("madf")["model"], {"vgg_weights": "random", **meta["model_init_args"]})
    module.load_generator_weights(str(out))
    return module.eval()


def official_input(image: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dataset.py ``testset``: ``gt = Normalize(ToTensor(rgb))``, ``mask = ToTensor(mask RGB)`` (1 = known),
    returns ``gt * mask, mask``."""
    gt = ((image + 1) / 2 - MEAN) / STD
    mask = (1 - hole).expand(-1, 3, -1, -1)
    return gt * mask, mask


def official_pipeline(model: MADFNet, image: torch.Tensor, hole: torch.Tensor) -> dict[str, torch.Tensor]:
    """test.py ``evaluate``: every output and ``output_comp``, un-normalised (``x * std + mean``), in [-1, 1]."""
    masked, mask = official_input(image, hole)
    with torch.no_grad():
        outputs = model(masked, mask)
    comp = mask * masked + (1 - mask) * outputs[-1]
    out = {name: (o * STD + MEAN) * 2 - 1 for name, o in zip(NAMES[len(outputs) - 1], outputs)}
    out["composite"] = (comp * STD + MEAN) * 2 - 1
    return out


def ours(module, image: torch.Tensor, hole: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return module({"image": image, "mask": hole})


def max_diffs(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    assert set(a) <= set(b), (sorted(a), sorted(b))
    return {name: (b[name] - a[name]).abs().max().item() for name in a}


def assert_parity(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> dict[str, float]:
    diffs = max_diffs(expected, got)
    assert max(diffs.values()) <= TOL, diffs
    assert got["output"].equal(got[NAMES[len(expected) - 2][-1]])  # "output" is the last decoder
    for name in expected:  # non-trivial values: O(1) and not constant
        assert torch.isfinite(expected[name]).all() and 0.05 < expected[name].std() < 50, name
    return diffs


# ------------------------------------------------------------------------------------------------ the oracle itself
@pytest.mark.parametrize("num_refine,count", [(0, 40_743_065), (1, 62_942_135), (2, 85_141_214)])
def test_reference_has_the_official_keys_and_parameter_counts(keys_of, num_refine, count):
    """Spec madf.md §9: parameter counts of the official ``MADFNet(layer_size=7)``; K=2 = the stored key list."""
    with torch.device("meta"):
        model = MADFNet(n_refinement_D=num_refine)
    assert sum(p.numel() for p in model.parameters()) == count
    if num_refine == 2:
        shapes = {PREFIX + k: list(v.shape) for k, v in model.state_dict().items()}
        assert shapes == keys_of("madf")["generator"]


def test_reference_dynamic_filter_with_constant_kernels_is_a_convolution():
    """Spec madf.md §2.1: kernels constant over positions give ``conv2d`` with
    ``W[o, c, ky, kx] = theta[((c * k + ky) * k + kx) * C_out + o]`` (output channel fastest); ReLU after."""
    from official_reference.madf import ConvWithFilter, FilterGen

    gen = torch.Generator().manual_seed(0)
    c_in, c_out, k = 3, 4, 5
    filter_gen = FilterGen(2, c_in, c_out, k, 2, 2)
    theta = torch.randn(c_in * k * k * c_out, generator=gen)
    with torch.no_grad():
        filter_gen.conv1[0].weight.zero_()
        filter_gen.conv1[0].bias.copy_(theta)
    features = torch.randn(1, c_in, 12, 10, generator=gen)
    filters, mask_features = filter_gen(torch.rand(1, 2, 12, 10, generator=gen))
    assert mask_features.shape == (1, 16, 6, 5)
    got = ConvWithFilter(c_out, k, 2, 2)(features, filters)
    weight = theta.view(c_in, k, k, c_out).permute(3, 0, 1, 2)
    expected = torch.relu(torch.nn.functional.conv2d(features, weight, stride=2, padding=2))
    assert torch.allclose(got, expected, atol=1e-5)


# ------------------------------------------------------------------------------------------------ fast: K = 1
def test_k1_converted_equals_the_official_model(tmp_path, keys_of, make_state):
    """K=1 (encoder, recovery decoder, one PN refinement decoder and its fusion head; 62.9 M parameters): every
    output equals the official forward in eval mode; a transposed generated-kernel layout (one mapped tensor) is
    detected."""
    ref = reference(official_state(keys_of, make_state, 1), 1)
    calibrate(ref)
    module = convert(write_snapshot(tmp_path / "k1.pth", ref), "k1", tmp_path / "k1.ckpt")
    image, hole = inputs(0)
    expected = official_pipeline(ref, image, hole)
    diffs = assert_parity(expected, ours(module, image, hole))
    print("madf k1 max |ours - official|:", diffs)

    # negative control: level 2's kernel generator with the output channel slowest instead of fastest
    gen = module.generator.encoder[1].op.kernel_gen
    with torch.no_grad():
        patch, out_ch = 16 * 5 * 5, 32
        gen.weight.copy_(gen.weight.view(patch, out_ch, 16, 1, 1).transpose(0, 1).reshape(gen.weight.shape))
    wrong = max_diffs(expected, ours(module, image, hole))
    print("madf k1 transposed kernel layout:", wrong)
    assert min(wrong.values()) > 1e3 * TOL, wrong


# ------------------------------------------------------------------------------------------------ slow: K = 2, 0, train mode
@pytest.fixture(scope="module")
def k2(tmp_path_factory, keys_of, make_state):
    """``(snapshot path, reference)``: the released configuration with calibrated BN statistics."""
    ref = reference(official_state(keys_of, make_state, 2), 2)
    calibrate(ref)
    root = tmp_path_factory.mktemp("madf_parity")
    return write_snapshot(root / "places2.pth", ref), ref


@pytest.mark.slow  # two 85 M-parameter models, several forwards
@pytest.mark.parametrize("variant", ["k2", "k2_unused_bn"])
def test_k2_converted_equals_the_official_model(tmp_path, k2, variant):
    snapshot, ref = k2
    module = convert(snapshot, variant, tmp_path / f"{variant}.ckpt")
    image, hole = inputs(0)
    expected = official_pipeline(ref, image, hole)
    diffs = assert_parity(expected, ours(module, image, hole))
    print(f"madf {variant} max |ours - official|:", diffs)
    if variant == "k2_unused_bn":  # the encoder BNs are carried and, as officially, never applied
        level1 = module.generator.encoder[0].op.unused_bn
        assert level1.running_var.equal(ref.enc_conv_1.bn.running_var)
        with torch.no_grad():
            for level in module.generator.encoder:
                level.op.unused_bn.running_var.mul_(3.0)
                level.op.unused_bn.weight.add_(1.0)
        assert max(max_diffs(expected, ours(module, image, hole)).values()) <= TOL


@pytest.mark.slow
def test_k0_converted_equals_the_official_model(tmp_path, k2):
    """K=0: the K=2 snapshot without ``dec_ref*`` (encoder and recovery decoder do not depend on the refinements)."""
    snapshot, ref2 = k2
    state = {k: v for k, v in ref2.state_dict().items() if not k.startswith("dec_ref")}
    ref = reference(state, 0)
    module = convert(write_snapshot(tmp_path / "k0.pth", ref), "k0", tmp_path / "k0.ckpt")
    image, hole = inputs(0)
    expected = official_pipeline(ref, image, hole)
    diffs = assert_parity(expected, ours(module, image, hole))
    print("madf k0 max |ours - official|:", diffs)


@pytest.mark.slow
def test_k2_train_mode_and_running_statistics_equal_the_official_model(tmp_path, k2):
    """Train mode: BN / PN use batch statistics in both, and both update the same running statistics."""
    snapshot, ref = k2
    ref = copy.deepcopy(ref)
    module = convert(snapshot, "k2", tmp_path / "k2.ckpt")
    image, hole = inputs(2)
    ref.train()
    module.train()
    expected = official_pipeline(ref, image, hole)
    got = ours(module, image, hole)
    diffs = max_diffs(expected, got)
    assert max(diffs.values()) <= TOL, diffs
    print("madf k2 train-mode max |ours - official|:", diffs)

    ours_state = module.state_dict()
    buffers = 0
    for row in tables_for("madf", "k2")["generator"]:
        if row.ours is None or not row.official.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        official = ref.state_dict()[row.official]
        assert torch.allclose(ours_state[row.ours].float(), official.float(), rtol=1e-5, atol=1e-6), row.official
        buffers += 1
    assert buffers == 3 * (6 + 2 * 6)  # recovery BNs (levels 7..2) + PN BNs of both refinement decoders


@pytest.mark.slow
def test_k2_negative_controls(tmp_path, k2):
    """The comparison sees a changed running variance (eval mode uses running statistics) and a small change of
    the last decoder's PN scale; neither touches the decoders before it."""
    snapshot, ref = k2
    module = convert(snapshot, "k2", tmp_path / "k2.ckpt")
    image, hole = inputs(0)
    expected = official_pipeline(ref, image, hole)
    g = module.generator
    running_var = g.recovery[3].norm.running_var  # deconv_4.1 (official level 4)
    saved = running_var.clone()
    with torch.no_grad():
        running_var.mul_(1.5)
    wrong = max_diffs(expected, ours(module, image, hole))
    print("madf k2 recovery.3.norm.running_var x1.5:", wrong)
    assert min(wrong.values()) > 1e2 * TOL, wrong
    with torch.no_grad():
        running_var.copy_(saved)
        g.refinements[1][5].norm.gamma.bias.add_(1e-3)  # dec_ref1_2.bn.mlp_scale.bias
    wrong = max_diffs(expected, ours(module, image, hole))
    print("madf k2 refinements.1.5.norm.gamma.bias + 1e-3:", wrong)
    assert wrong["recovery"] <= TOL and wrong["refine1"] <= TOL and wrong["refine2"] > 10 * TOL, wrong
