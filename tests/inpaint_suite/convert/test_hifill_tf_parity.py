"""HiFill against real TensorFlow: a TF checkpoint written by TensorFlow -> ``inpaint-suite convert hifill`` -> our
module with the converter's options (``padding: tf_same``, ``resize: tf1_legacy``, code attention) equals a TF
re-implementation of the official graph (``duxingren14/Hifill-tensorflow`` model.py / ops.py, spec hifill.md §2-3,
§9-10) built from the same variables, for x1, x2 and the critic.

The reference below is written from the description of the official graph with the TF ops it uses
(``tf.nn.conv2d`` SAME with dilations, ``tf.compat.v1.image.resize_bilinear``, ``tf.image.extract_patches``,
``tf.nn.conv2d_transpose``, ``tf.nn.max_pool2d``, softmax), NHWC, BGR, batch 1 (the official mask reshape
assumes one image). Needs the ``reference-tf`` extra (``pip install -e .[reference-tf]``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow", reason="needs TensorFlow: pip install -e .[reference-tf]")

from assembly.config import build_model, load_config  # noqa: E402
from inpaint_suite.cli import main  # noqa: E402
from inpaint_suite.convert import converter  # noqa: E402
from inpaint_suite.convert.tf_bundle import read_checkpoint  # noqa: E402

SIZE = 512  # the official graph's size (32x32 attention grid of 16-pixel cells)
ATOL = 1e-4

try:  # TF reads these once, before its runtime starts (fails if another test started it: then keep its setting)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:
    pass

# coarse dilated block c_dil_d1..d14 and refine re_dil_d{r}
COARSE_DILATIONS = [1, 1, 1, 2, 2, 2, 2, 2, 4, 4, 4, 4, 8, 8]
REFINE_DILATIONS = [1, 2, 4, 8, 16]


# ------------------------------------------------------------------------------------------ TF reference (NHWC)
class OfficialGraph:
    """The official HiFill generator and critic forwards in TensorFlow, from ``{tf variable name: array}``.

    ``make(name, array)`` turns each value into what the graph reads (default: an eager constant; the frozen-graph
    test passes TF1 variables).
    """

    def __init__(self, variables: dict[str, np.ndarray], make=None):
        make = make or (lambda name, value: tf.constant(value, tf.float32))
        self.v = {name: make(name, value) for name, value in variables.items()}

    # -- layers
    def conv(self, x, scope, stride=1, rate=1, kernel="w", bias="biases"):
        y = tf.nn.conv2d(x, self.v[f"{scope}/{kernel}"], strides=stride, padding="SAME", dilations=rate)
        return tf.nn.bias_add(y, self.v[f"{scope}/{bias}"])

    def slice_gated(self, x, name, stride=1, rate=1):
        """Coarse ``gen_conv_gated_slice``: k x k feature conv, k x k one-channel gate."""
        feature = self.conv(x, f"{name}_feat", stride, rate)
        gate = self.conv(x, f"{name}_gate", stride, rate)
        return tf.sigmoid(gate) * tf.nn.elu(feature)

    def ds_gated(self, x, name, stride=1, rate=1):
        """Refine ``gen_conv_gated_ds``: k x k feature conv, 1x1 gate (``pw`` + ``ds_biases``), same stride."""
        feature = self.conv(x, name, stride, rate)
        gate = self.conv(x, name, stride, 1, kernel="pw", bias="ds_biases")
        return tf.sigmoid(gate) * tf.nn.elu(feature)

    @staticmethod
    def resize(x, size):
        return tf.compat.v1.image.resize_bilinear(x, size)  # TF1 defaults: no align_corners, no half-pixel

    def up_gated(self, x, name, gated):
        """``gen_deconv_*``: bilinear x2, then the gated 3x3 conv under ``name/name_conv``."""
        h, w = x.shape[1:3]
        short = name.rsplit("/", 1)[-1]
        return gated(self.resize(x, [2 * h, 2 * w]), f"{name}/{short}_conv")

    # -- contextual attention
    @staticmethod
    def patches(x, kernel, stride):
        """``(1, H, W, C)`` -> ``(kernel, kernel, C, N)`` SAME patches, one per output cell (row-major)."""
        c = x.shape[-1]
        p = tf.image.extract_patches(x, sizes=[1, kernel, kernel, 1], strides=[1, stride, stride, 1],
                                     rates=[1, 1, 1, 1], padding="SAME")
        return tf.transpose(tf.reshape(p, [-1, kernel, kernel, c]), [1, 2, 3, 0])

    def attention_scores(self, p3, mask, softmax_scale=10.0):
        """``(1, gh, gw, N)`` scores ``[query cell, key]`` of the 64x64 map ``p3``, hole ``mask`` (1, 512, 512, 1)."""
        cells = tf.image.extract_patches(p3, sizes=[1, 1, 1, 1], strides=[1, 2, 2, 1], rates=[1, 1, 1, 1],
                                         padding="SAME")  # every other pixel
        _, gh, gw, _ = cells.shape
        n = gh * gw
        keys = self.patches(cells, 3, 1)
        keys = keys / tf.maximum(tf.sqrt(tf.reduce_sum(tf.square(keys), axis=[0, 1, 2])), 1e-8)
        y = tf.nn.conv2d(cells, keys, strides=1, padding="SAME")  # queries not normalised
        eye = tf.reshape(tf.eye(3), [3, 3, 1, 1])
        y = tf.nn.conv2d(tf.reshape(y, [1, n, n, 1]), eye, strides=1, padding="SAME")  # horizontal neighbours
        y = tf.transpose(tf.reshape(y, [1, gh, gw, gh, gw]), [0, 2, 1, 4, 3])
        y = tf.nn.conv2d(tf.reshape(y, [1, n, n, 1]), eye, strides=1, padding="SAME")  # vertical neighbours
        y = tf.transpose(tf.reshape(y, [1, gw, gh, gw, gh]), [0, 2, 1, 4, 3])
        y = tf.reshape(y, [1, gh, gw, n])
        m = tf.nn.max_pool2d(mask, ksize=16, strides=16, padding="SAME")
        m = tf.nn.max_pool2d(m, ksize=3, strides=1, padding="SAME")
        valid = tf.reshape(1.0 - m, [1, 1, 1, n])
        return tf.nn.softmax(y * valid * softmax_scale, axis=3) * valid

    def transfer(self, features, scores, rate):
        """ATM: ``conv2d_transpose`` of the scores with the map's own patches (3x3 s2 at P3, 2r x 2r s r below)."""
        kernel = 3 if rate == 2 else 2 * rate
        filters = self.patches(features, kernel, rate)
        return tf.nn.conv2d_transpose(scores, filters, output_shape=features.shape, strides=rate, padding="SAME")

    # -- networks
    def generator(self, x, mask):
        """``x`` (1, 512, 512, 3) BGR in [-1, 1] with holes zeroed, ``mask`` (1, 512, 512, 1) -> (x1, x2, scores)."""
        g = "generator/"
        h, w = x.shape[1:3]
        y = self.resize(tf.concat([x, mask], 3), [256, 256])
        y = self.slice_gated(y, g + "c_en_down_128", 2)
        y = self.slice_gated(y, g + "c_en_conv_128")
        y = self.slice_gated(y, g + "c_en_down_64", 2)
        for i in (1, 2, 3):
            y = self.slice_gated(y, g + f"c_en_conv{i}_64")
        for i, rate in enumerate(COARSE_DILATIONS, 1):
            y = self.slice_gated(y, g + f"c_dil_d{i}", rate=rate)
        for i in (1, 2, 3):
            y = self.slice_gated(y, g + f"c_de_conv{i}_64")
        y = self.up_gated(y, g + "c_de_up_128", self.slice_gated)
        y = self.slice_gated(y, g + "c_de_conv_128")
        y = self.up_gated(y, g + "c_de_toRGB", self.slice_gated)
        x1 = self.resize(tf.clip_by_value(y, -1.0, 1.0), [h, w])

        y = tf.concat([x1 * mask + x * (1.0 - mask), mask], 3)
        skips = []
        for size in (256, 128, 64):
            y = self.ds_gated(y, g + f"re_en_down_{size}", 2)
            y = self.ds_gated(y, g + f"re_en_conv_{size}")
            skips.append(y)
        for rate in REFINE_DILATIONS:
            y = self.ds_gated(y, g + f"re_dil_d{rate}", rate=rate)
        scores = self.attention_scores(y, mask)
        att = self.ds_gated(self.transfer(y, scores, 2), g + "re_att_64_att1")
        y = self.ds_gated(tf.concat([y, att], 3), g + "re_att_64_att3")
        for size, skip, rate in ((128, skips[1], 4), (256, skips[0], 8)):
            y = self.up_gated(y, g + f"re_de_up__{size}", self.ds_gated)
            y = self.ds_gated(y, g + f"re_de_conv_{size}")
            att = self.ds_gated(self.transfer(skip, scores, rate), g + f"re_de_att_{size}_1")
            att = self.ds_gated(att, g + f"re_de_att_{size}_2", rate=2)
            y = tf.concat([att, y], 3)
        x2 = tf.clip_by_value(self.up_gated(y, g + "re_de_toRGB__256", self.ds_gated), -1.0, 1.0)
        return x1, x2, scores

    def critic(self, x):
        """``(B, 512, 512, 3)`` -> ``(B, 1)``: six 5x5 stride-2 SAME convs + leaky ReLU 0.2, NHWC flatten, dense."""
        for i in range(1, 7):
            x = tf.nn.leaky_relu(self.conv(x, f"discriminator/conv{i}", 2), alpha=0.2)
        x = tf.reshape(x, [x.shape[0], -1])
        return x @ self.v["discriminator/linear/kernel"] + self.v["discriminator/linear/bias"]


# ------------------------------------------------------------------------------------------------------ fixtures
def official_variables(keys: dict[str, dict[str, list[int]]], make_state, seed: int = 11,
                       gain: float = 1.5) -> dict[str, np.ndarray]:
    """Random official-format values (``official_keys_hifill.json``, conftest's ``random_state``); conv kernels
    redrawn with std gain / sqrt(fan-in) so that activations stay O(1) through the 30-layer stages and the
    attention has peaked, non-trivial scores."""
    values = {}
    for role, offset in (("generator", 0), ("discriminator", 1)):
        values.update({name: t.numpy().astype(np.float32) for name, t in make_state(keys[role], seed + offset).items()})
    gen = np.random.default_rng(seed)
    for name in sorted(values):
        if values[name].ndim == 4:  # (kh, kw, in, out)
            kh, kw, cin, _ = values[name].shape
            values[name] = (gen.standard_normal(values[name].shape) * gain / np.sqrt(kh * kw * cin)).astype(np.float32)
    return values


def save_with_tensorflow(prefix, variables: dict[str, np.ndarray]) -> None:
    """A real TF V2 checkpoint written by TensorFlow's own ``SaveV2`` kernel (as ``tf.train.Saver`` does), with
    the optimizer slots and globals a training checkpoint also holds."""
    names = sorted(variables)
    tensors = [tf.constant(variables[n]) for n in names]
    extras = {"beta1_power": tf.constant(0.5), "global_step": tf.constant(np.int64(300000)),
              names[0] + "/Adam": tf.zeros_like(tensors[0]), names[0] + "/Adam_1": tf.zeros_like(tensors[0])}
    names += list(extras)
    tensors += list(extras.values())
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)


@pytest.fixture(scope="module")
def tf_checkpoint(tmp_path_factory, keys_of, make_state):
    variables = official_variables(keys_of("hifill"), make_state)
    prefix = tmp_path_factory.mktemp("hifill_tf") / "0"
    save_with_tensorflow(prefix, variables)
    return prefix, variables


@pytest.fixture(scope="module")
def inputs():
    """A BGR-order 512 image (smooth structure + noise) in [-1, 1] and a hole mask crossing cell boundaries."""
    gen = torch.Generator().manual_seed(5)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, SIZE), torch.linspace(0, 1, SIZE), indexing="ij")
    base = torch.stack([torch.sin(9 * xx + 3 * yy), torch.cos(7 * yy - 2 * xx), torch.sin(5 * (xx + yy))])
    image = (0.7 * base + 0.3 * (torch.rand(3, SIZE, SIZE, generator=gen) * 2 - 1)).clamp(-1, 1)[None]
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 137:291, 201:350] = 1  # not aligned to the 16-pixel cells
    mask[..., 40:59, 430:501] = 1
    return image, mask


@pytest.fixture(scope="module")
def reference(tf_checkpoint, inputs):
    """The TF outputs (NCHW numpy, BGR): x1, x2, scores (1, N, N), critic on two images."""
    _, variables = tf_checkpoint
    image, mask = inputs
    graph = OfficialGraph(variables)
    nhwc_image = tf.constant(image.permute(0, 2, 3, 1).numpy())
    nhwc_mask = tf.constant(mask.permute(0, 2, 3, 1).numpy())
    x1, x2, scores = graph.generator(nhwc_image * (1.0 - nhwc_mask), nhwc_mask)
    critic_in = tf.concat([nhwc_image, tf.reverse(nhwc_image, axis=[1])], 0)
    return {"x1": x1.numpy().transpose(0, 3, 1, 2), "x2": x2.numpy().transpose(0, 3, 1, 2),
            "scores": scores.numpy().reshape(1, -1, scores.shape[-1]), "critic": graph.critic(critic_in).numpy()}


@pytest.fixture(scope="module")
def converted(tmp_path_factory, tf_checkpoint):
    """``converted(variant)`` -> our HiFill module (eval) built with the checkpoint's ``model_init_args`` and loaded
    from ``inpaint-suite convert hifill PREFIX --variant VARIANT``; built once per variant."""
    prefix, _ = tf_checkpoint
    root, cache = tmp_path_factory.mktemp("hifill_converted"), {}

    def get(variant: str):
        if variant not in cache:
            out = root / f"hifill_{variant}.ckpt"
            assert main(["convert", "hifill", str(prefix), "--variant", variant, "--out", str(out)]) == 0
            args = torch.load(out, weights_only=True)["inpaint_suite"]["model_init_args"]
            assert args["padding"] == "tf_same" and args["resize"] == "tf1_legacy"
            module = build_model(load_config("hifill")["model"], {"vgg_weights": "random", **args})
            module.load_generator_weights(str(out))
            cache[variant] = (module.eval(), out)
        return cache[variant]

    return get


def max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


# --------------------------------------------------------------------------------------------------------- tests
def test_tensorflow_written_checkpoint_is_read_exactly(tf_checkpoint):
    """Our reader (tf_bundle.py) on a file TensorFlow wrote: every variable bit-exact, globals and slots present."""
    prefix, variables = tf_checkpoint
    arrays = read_checkpoint(prefix)
    assert arrays["global_step"].dtype == np.int64 and int(arrays["global_step"]) == 300000
    assert {"beta1_power", next(iter(sorted(variables))) + "/Adam"} <= set(arrays)
    for name, value in variables.items():
        assert arrays[name].dtype == np.float32 and np.array_equal(arrays[name], value), name


def test_reference_is_not_trivial(reference):
    """The random weights give outputs and attention worth comparing: varied, unsaturated outputs and soft but
    peaked attention rows (uniform would be ~1/1024 per key, one-hot 1)."""
    for key in ("x1", "x2"):
        out = reference[key]
        assert out.std() > 0.02 and (np.abs(out) < 0.99).mean() > 0.9, key
    row_max = np.median(reference["scores"][0].max(axis=1))
    assert 0.05 < row_max < 0.9, row_max


@pytest.mark.parametrize("variant", ["places2_bgr", "places2"])
def test_converted_generator_equals_tensorflow(converted, inputs, reference, variant):
    module, _ = converted(variant)
    image, mask = inputs
    rgb = variant == "places2"  # the BGR->RGB swap is folded into the weights: feed RGB, get RGB
    with torch.no_grad():
        out = module.generate({"image": image.flip(1) if rgb else image, "mask": mask})
    x1, x2 = (out["coarse"].flip(1), out["output"].flip(1)) if rgb else (out["coarse"], out["output"])
    diffs = {"x1": max_diff(x1, reference["x1"]), "x2": max_diff(x2, reference["x2"]),
             "scores": max_diff(out["scores"], reference["scores"])}
    print(f"hifill {variant} max |ours - TF|: {diffs}")
    assert max(diffs.values()) < ATOL, diffs


def test_converted_critic_equals_tensorflow(converted, inputs, reference):
    image, _ = inputs
    batch = torch.cat([image, image.flip(2)])
    for variant in ("places2_bgr", "places2"):
        module, _ = converted(variant)
        with torch.no_grad():
            scores = module.discriminator(batch.flip(1) if variant == "places2" else batch)
        diff = max_diff(scores, reference["critic"])
        print(f"hifill critic {variant} max |ours - TF|: {diff} (scores {reference['critic'].ravel()})")
        assert diff < ATOL * max(1.0, float(np.abs(reference["critic"]).max())), diff


def test_pytorch_conventions_do_not_reproduce_tensorflow(converted, inputs, reference):
    """The switches matter: the same weights with the default symmetric padding / half-pixel resize differ."""
    _, out = converted("places2_bgr")
    args = {**converter("hifill").model_args("places2_bgr"), "padding": "symmetric", "resize": "half_pixel"}
    module = build_model(load_config("hifill")["model"], {"vgg_weights": "random", **args})
    module.load_generator_weights(str(out))
    image, mask = inputs
    with torch.no_grad():
        x2 = module.eval().generate({"image": image, "mask": mask})["output"]
    assert max_diff(x2, reference["x2"]) > 1e-2


# ---------------------------------------------------------------------------------------------- frozen graph (.pb)
def freeze_official_graph(path, variables: dict[str, np.ndarray], rename: dict[str, str] | None = None) -> None:
    """A TF1 frozen graph like the Atlas ``hifill.pb``: the official generator (+ critic) built in graph mode on TF1
    variables named as in the checkpoint, then ``convert_variables_to_constants`` (each variable becomes a Const
    of its own name, read through ``X/read``; the graph keeps its other constants). Nothing of it is run here
    except the variable initialisers, inside the freezing."""
    rename = rename or {}
    graph = tf.Graph()
    with graph.as_default():
        def make(name, value):
            return tf.compat.v1.get_variable(rename.get(name, name), initializer=tf.constant(value),
                                             use_resource=False)

        official = OfficialGraph(variables, make)
        image = tf.compat.v1.placeholder(tf.float32, [1, SIZE, SIZE, 3], name="img")
        mask = tf.compat.v1.placeholder(tf.float32, [1, SIZE, SIZE, 1], name="mask")
        _, x2, scores = official.generator(image * (1.0 - mask), mask)
        tf.identity(x2, name="inpainted")
        tf.identity(scores, name="attention")
        tf.identity(official.critic(image), name="critic")
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
        with tf.compat.v1.Session(graph=graph, config=config) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                session, graph.as_graph_def(), ["inpainted", "attention", "critic"])
    path.write_bytes(frozen.SerializeToString())


@pytest.fixture(scope="module")
def frozen_graph(tmp_path_factory, tf_checkpoint):
    _, variables = tf_checkpoint
    path = tmp_path_factory.mktemp("hifill_pb") / "hifill.pb"
    freeze_official_graph(path, variables)
    return path


@pytest.mark.parametrize("variant", ["places2", "places2_bgr"])
def test_frozen_graph_converts_like_the_checkpoint(tmp_path, frozen_graph, converted, variant):
    """``convert hifill hifill.pb`` reads the weight constants (not the graph's other constants) and gives the same
    tensors as the checkpoint conversion."""
    graph_def = tf.compat.v1.GraphDef.FromString(frozen_graph.read_bytes())
    consts = {n.name for n in graph_def.node if n.op == "Const"}
    assert "generator/c_en_down_128_feat/w" in consts and "generator/c_en_down_128_feat/w/read" in {
        n.name for n in graph_def.node}
    assert len(consts) > 206  # shapes, the fusion kernel ... besides the 206 weights
    out = tmp_path / "from_pb.ckpt"
    assert main(["convert", "hifill", str(frozen_graph), "--variant", variant, "--out", str(out)]) == 0
    from_pb = torch.load(out, weights_only=True)
    _, from_checkpoint = converted(variant)
    expected = torch.load(from_checkpoint, weights_only=True)
    assert from_pb["inpaint_suite"]["model_init_args"] == expected["inpaint_suite"]["model_init_args"]
    assert from_pb["state_dict"].keys() == expected["state_dict"].keys()
    for key, value in expected["state_dict"].items():
        assert torch.equal(from_pb["state_dict"][key], value), key


def test_frozen_graph_with_a_renamed_weight_is_refused(tmp_path, tf_checkpoint, capsys):
    _, variables = tf_checkpoint
    path = tmp_path / "renamed.pb"
    freeze_official_graph(path, variables, rename={"generator/re_dil_d16/w": "generator/re_dil_d32/w"})
    assert main(["convert", "hifill", str(path), "--out", str(tmp_path / "x.ckpt")]) == 2
    err = capsys.readouterr().err
    assert "generator/re_dil_d16/w" in err and "generator/re_dil_d32/w" in err
