"""dezero.onnx.export: ONNX Runtime must compute what dezero computes.

Every model is exported, checked with ``onnx.checker.check_model(full_check=True)`` and run
in ONNX Runtime at the traced batch size and another one (the batch axis is symbolic).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import Function, Model, test_mode

onnx = pytest.importorskip("onnx", reason="the onnx package is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

from dezero.onnx import (  # noqa: E402
    UnsupportedOperatorError,
    export,
    get_converter,
    register_converter,
)

pytestmark = pytest.mark.onnx

RTOL, ATOL = 1e-5, 1e-6  # float32


def run_dezero(model, *xs):
    with test_mode(), dezero.no_grad():
        ys = model(*[dezero.Variable(x) for x in xs])
    ys = ys if isinstance(ys, (tuple, list)) else (ys,)
    return [y.data for y in ys]


def run_ort(path, *xs):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), xs)}
    return session.run(None, feeds)


def roundtrip(model, inputs, path, more=(), rtol=RTOL, atol=ATOL, **kwargs):
    """Export with ``inputs``, then compare at ``inputs`` and at every tuple in ``more``.

    Returns the largest absolute difference seen.
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    export(model, inputs, path, **kwargs)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    worst = 0.0
    for xs in (inputs,) + tuple(m if isinstance(m, tuple) else (m,) for m in more):
        expected = run_dezero(model, *xs)
        got = run_ort(str(path), *xs)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape
            assert g.dtype == e.dtype
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)
            worst = max(worst, float(np.max(np.abs(g - e))) if e.size else 0.0)
    return worst


def randn(*shape, dtype=np.float32):
    return np.random.randn(*shape).astype(dtype)


def randomize_batch_norm(model):
    """Running statistics and affine parameters away from the 0/1 defaults."""
    for key, param in model.named_params():
        name = key.rsplit("/", 1)[-1]
        if name in ("avg_var", "gamma"):
            param.data[...] = np.random.uniform(0.5, 1.5, param.data.shape)
        elif name in ("avg_mean", "beta"):
            param.data[...] = np.random.uniform(-0.5, 0.5, param.data.shape)


class Fn(Model):
    """A model around a function, with one Linear layer so it has parameters."""

    def __init__(self, fn, out=None):
        super().__init__()
        self.fn = fn
        if out is not None:
            self.fc = L.Linear(out)

    def forward(self, *xs):
        if hasattr(self, "fc"):
            xs = (self.fc(xs[0]),) + xs[1:]
        return self.fn(*xs)


def cli_model(name):
    """The model ``dezero train --model NAME`` builds, for 8x8 one-channel images."""
    hidden = [32, 16] if name == "mlp" else [24]
    try:
        from dezero.cli._models import build_model
    except ImportError:  # the single-module CLI
        from dezero.cli import build_model

        return build_model(name, hidden)
    return build_model({"model": name, "hidden": hidden, "n_classes": 10,
                        "in_shape": [64] if name == "mlp" else [1, 8, 8]})


# =============================================================================
# whole models
# =============================================================================


def test_book_mlp_two_batch_sizes(tmp_path):
    model = dezero.models.MLP((10, 10, 3))
    roundtrip(model, randn(4, 5), tmp_path / "mlp.onnx", more=[randn(9, 5), randn(1, 5)])


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_cli_models(tmp_path, name):
    model = cli_model(name)
    x = randn(3, 64) if name == "mlp" else randn(3, 1, 8, 8)
    x2 = randn(5, 64) if name == "mlp" else randn(5, 1, 8, 8)
    roundtrip(model, x, tmp_path / f"{name}.onnx", more=[x2])


@pytest.mark.slow
def test_vgg16_small_input(tmp_path):
    model = dezero.models.VGG16()
    roundtrip(model, randn(2, 3, 32, 32), tmp_path / "vgg.onnx", more=[randn(1, 3, 32, 32)])


@pytest.mark.slow
def test_resnet50_small_input(tmp_path):
    """ResNet-50 (53 convolutions, randomised BatchNorm statistics) at 32x32.

    In float32 the rounding of 50 layers reaches a few 1e-6 in dezero itself, so besides
    rtol 1e-5 the absolute tolerance is 1e-6 times the largest output, and ONNX Runtime
    must be at least as close to the float64 result as dezero's own float32 run is.
    """
    model = dezero.models.ResNet50()
    x, x2 = randn(2, 3, 32, 32), randn(3, 3, 32, 32)
    run_dezero(model, x)  # creates the BatchNorm parameters
    randomize_batch_norm(model)
    path = tmp_path / "resnet.onnx"
    export(model, x, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    names = {init.name for init in onnx.load(path).graph.initializer}
    assert {"conv1.W", "res2.a.conv1.W", "res2.a.bn1.avg_mean", "fc6.b"} <= names
    got = [run_ort(str(path), xs)[0] for xs in (x, x2)]
    ref32 = [run_dezero(model, xs)[0] for xs in (x, x2)]
    for param in model.params():
        param.data = param.data.astype(np.float64)
    ref64 = [run_dezero(model, xs.astype(np.float64))[0] for xs in (x, x2)]
    for g, r32, r64 in zip(got, ref32, ref64):
        assert g.shape == r32.shape and g.dtype == np.float32
        np.testing.assert_allclose(g, r32, rtol=RTOL, atol=ATOL * np.abs(r32).max())
        assert np.abs(g - r64).max() <= 1.5 * np.abs(r32 - r64).max() + 1e-7


def test_resnet_blocks(tmp_path):
    m = dezero.models
    block = m.Sequential(m.BuildingBlock(2, 8, 4, 16, 2, False),
                         m.BuildingBlock(2, 16, 4, 16, 1, True))
    x = randn(2, 8, 9, 9)
    run_dezero(block, x)
    randomize_batch_norm(block)
    roundtrip(block, x, tmp_path / "blocks.onnx", more=[randn(4, 8, 9, 9)])


def test_gan_example_networks(tmp_path):
    gen = dezero.models.Sequential(
        L.Linear(2 * 4 * 4), L.BatchNorm(), F.relu,
        lambda x: F.reshape(x, (-1, 2, 4, 4)),
        L.Deconv2d(3, kernel_size=4, stride=2, pad=1), L.BatchNorm(), F.relu,
        L.Deconv2d(1, kernel_size=4, stride=2, pad=1), F.sigmoid)
    z = randn(3, 5)
    run_dezero(gen, z)
    randomize_batch_norm(gen)
    roundtrip(gen, z, tmp_path / "gen.onnx", more=[randn(2, 5)])
    dis = dezero.models.Sequential(
        L.Conv2d(4, kernel_size=3, stride=2, pad=1), F.leaky_relu,
        L.Conv2d(6, kernel_size=3, stride=2, pad=1), L.BatchNorm(), F.leaky_relu,
        F.flatten, L.Linear(8), F.leaky_relu, L.Linear(1))
    x = randn(3, 1, 16, 16)
    run_dezero(dis, x)
    randomize_batch_norm(dis)
    roundtrip(dis, x, tmp_path / "dis.onnx", more=[randn(6, 1, 16, 16)])


class SeqModel(Model):
    """A recurrent layer unrolled over the T axis of (N, T, I), then a Linear head."""

    def __init__(self, cell, out):
        super().__init__()
        self.rnn = cell
        self.fc = L.Linear(out)

    def forward(self, x):
        self.rnn.reset_state()
        for t in range(x.shape[1]):
            h = self.rnn(x[:, t, :])
        return self.fc(h)


@pytest.mark.parametrize("cell", ["LSTM", "RNN"])
def test_recurrent_unrolled(tmp_path, cell):
    model = SeqModel(getattr(L, cell)(6, in_size=3), 2)
    roundtrip(model, randn(4, 5, 3), tmp_path / "rnn.onnx", more=[randn(2, 5, 3)])


class TextClassifier(Model):
    def __init__(self):
        super().__init__()
        self.embed = L.EmbedID(11, 6)
        self.norm = L.LayerNorm()
        self.fc = L.Linear(4)

    def forward(self, ids):
        h = self.norm(self.embed(ids))               # (N, T, 6)
        h = F.layer_norm(h, self.norm.gamma, self.norm.beta)
        h = F.sum(h, axis=1) / ids.shape[1]           # (N, 6)
        return F.log_softmax(self.fc(h)), F.softmax(self.fc(h))


def test_embedding_layer_norm_two_outputs(tmp_path):
    model = TextClassifier()
    ids = np.random.randint(0, 11, size=(3, 7))
    path = tmp_path / "text.onnx"
    roundtrip(model, ids, path, more=[np.random.randint(0, 11, size=(5, 7))],
              output_names=["log_probs", "probs"], input_names=["ids"])
    graph = onnx.load(path).graph
    assert [o.name for o in graph.output] == ["log_probs", "probs"]
    assert graph.input[0].name == "ids"


def test_dropout_is_dropped(tmp_path):
    model = dezero.models.Sequential(L.Linear(8), L.Dropout(0.5), F.relu, L.Linear(2))
    path = tmp_path / "drop.onnx"
    roundtrip(model, randn(4, 3), path, more=[randn(2, 3)])
    assert "Dropout" not in {n.op_type for n in onnx.load(path).graph.node}


# =============================================================================
# one op at a time
# =============================================================================

C34 = np.random.RandomState(1).randn(3, 4).astype(np.float32)
C4 = np.random.RandomState(2).randn(4).astype(np.float32)

# (id, function of the (N, 3, 4) input, uses a Linear(4) first?)
OPS = [
    ("add-broadcast", lambda x: x + C4), ("radd-array", lambda x: C34 + x),
    ("sub-number", lambda x: x - 1.5), ("rsub-number", lambda x: 2.0 - x),
    ("sub-vars", lambda x: x - x[:, :1, :]), ("mul-broadcast", lambda x: x * C34),
    ("div-number", lambda x: x / 3.0), ("rdiv-number", lambda x: 1.0 / (F.exp(x) + 1)),
    ("div-vars", lambda x: x / (F.abs(x[:, :, :1]) + 1)), ("neg", lambda x: -x),
    ("pow-2", lambda x: x ** 2), ("pow-3", lambda x: x ** 3),
    ("pow-array", lambda x: F.abs(x) ** np.array([1.0, 2.0, 0.5, 3.0], np.float32)),
    ("rpow", lambda x: 2.0 ** x), ("exp", F.exp), ("log", lambda x: F.log(F.abs(x) + 0.1)),
    ("sin", F.sin), ("cos", F.cos), ("tanh", F.tanh), ("sqrt", lambda x: F.sqrt(F.abs(x))),
    ("square", F.square), ("clip", lambda x: F.clip(x, -0.5, 0.7)),
    ("maximum", lambda x: F.maximum(x, x[:, :, ::-1])),
    ("minimum", lambda x: F.minimum(x, C4)),
    ("where", lambda x: F.where(C34 > 0, x, -x)),
    ("sigmoid", F.sigmoid), ("relu", F.relu), ("leaky_relu", lambda x: F.leaky_relu(x, 0.1)),
    ("softplus", F.softplus), ("gelu", F.gelu),
    ("softmax", F.softmax), ("softmax-last", lambda x: F.softmax(x, axis=-1)),
    ("softmax-2axes", lambda x: F.softmax(x, axis=(1, 2))),
    ("log_softmax", lambda x: F.log_softmax(x, axis=2)),
    ("log_softmax-2axes", lambda x: F.log_softmax(x, axis=(1, 2))),
    ("reshape", lambda x: F.reshape(x, (x.shape[0], 2, 6))),
    ("reshape-minus1", lambda x: F.reshape(x, (-1, 12))), ("flatten", F.flatten),
    ("transpose", lambda x: F.transpose(x, (2, 0, 1))), ("T", lambda x: x.T),
    ("expand_dims", lambda x: F.expand_dims(x, 1)),
    ("squeeze", lambda x: F.squeeze(x[:, :1, :], 1)),
    ("broadcast_to", lambda x: F.broadcast_to(x[:, :1, :], x.shape)),
    ("sum_to", lambda x: F.sum_to(x, (x.shape[0], 1, 4))),
    ("getitem-slices", lambda x: x[:, 1:3, ::2]), ("getitem-reverse", lambda x: x[:, ::-1, 1:]),
    ("getitem-int", lambda x: x[:, 1]), ("getitem-ellipsis", lambda x: x[..., -1]),
    ("getitem-none", lambda x: x[:, None, 1:]),
    ("getitem-array", lambda x: x[:, [2, 0, 0]]),
    ("getitem-bool", lambda x: x[:, :, np.array([True, False, True, True])]),
    ("concat", lambda x: F.concat([x, -x], axis=2)), ("stack", lambda x: F.stack([x, x * 2], 1)),
    ("split", lambda x: F.split(x, [1, 3], axis=2)[1] * 2),
    ("sum", lambda x: F.sum(x, axis=1)), ("sum-keepdims", lambda x: F.sum(x, (1, 2), True)),
    ("sum-all", lambda x: F.sum(x) + x), ("mean", lambda x: F.mean(x, axis=2)),
    ("max", lambda x: F.max(x, axis=1)), ("min", lambda x: F.min(x, axis=(1, 2))),
    ("logsumexp", lambda x: F.logsumexp(x, axis=2)),
    ("matmul", lambda x: F.matmul(x, C34.T)), ("matmul-vars", lambda x: x @ x.transpose(0, 2, 1)),
    ("linear", lambda x: F.linear(x[:, 0], C34.T, C34[:, 0])),
    ("layer_norm", lambda x: F.layer_norm(x, C4, C4 * 0.5)),
    ("mse", lambda x: F.mean_squared_error(x, x * 0.5) + x),
]


@pytest.mark.parametrize("fn", [pytest.param(fn, id=name) for name, fn in OPS])
def test_op(tmp_path, fn):
    model = Fn(fn)
    roundtrip(model, randn(2, 3, 4), tmp_path / "op.onnx", more=[randn(5, 3, 4)])


_R = np.random.RandomState(4)
W_CONV, W_RECT, W_DECONV = (_R.randn(*s).astype(np.float32)
                            for s in ((4, 3, 3, 3), (2, 3, 3, 2), (3, 2, 3, 3)))
B4, B2 = _R.randn(4).astype(np.float32), _R.randn(2).astype(np.float32)

IMAGE_OPS = [
    ("conv2d", lambda x: F.conv2d(x, W_CONV, B4, stride=2, pad=1)),
    ("conv2d-nobias-rect", lambda x: F.conv2d(x, W_RECT, stride=(1, 2), pad=(0, 1))),
    ("deconv2d", lambda x: F.deconv2d(x, W_DECONV, B2, stride=2, pad=1)),
    ("deconv2d-outsize", lambda x: F.deconv2d(x, W_DECONV, stride=2, pad=1, outsize=(14, 12))),
    ("pooling", lambda x: F.pooling(x, 2, 2)),
    ("pooling-pad", lambda x: F.pooling(x - 3.0, 3, 2, 1)),  # zero padding wins the max
    ("average_pooling", lambda x: F.average_pooling(x, 3, 2, 1)),
    ("global-average", lambda x: F.average_pooling(x, (7, 6), stride=1)),
    ("batch_norm", lambda x: F.batch_norm(x, C4[:3] + 1, C4[1:], np.abs(C4[:3]),
                                          np.abs(C4[1:]) + 0.5)),
    ("batch_norm-2d", lambda x: F.batch_norm(F.reshape(x, (-1, 42)), np.ones(42, np.float32),
                                             np.zeros(42, np.float32),
                                             np.linspace(-1, 1, 42).astype(np.float32),
                                             np.linspace(0.5, 2, 42).astype(np.float32))),
]


@pytest.mark.parametrize("fn", [pytest.param(fn, id=name) for name, fn in IMAGE_OPS])
def test_image_op(tmp_path, fn):
    np.random.seed(3)
    model = Fn(fn)
    roundtrip(model, randn(2, 3, 7, 6), tmp_path / "op.onnx", more=[randn(3, 3, 7, 6)])


def test_embed_id_function(tmp_path):
    W = randn(10, 3)
    model = Fn(lambda ids: F.embed_id(ids, W))
    roundtrip(model, np.array([[1, 2], [9, 0], [3, 3]]), tmp_path / "embed.onnx",
              more=[np.array([[4, 5]])])


def test_two_inputs(tmp_path):
    model = Fn(lambda x, y: F.matmul(x, y) + 1.0, out=None)
    roundtrip(model, (randn(2, 3, 4), randn(2, 4, 5)), tmp_path / "two.onnx",
              more=[(randn(6, 3, 4), randn(6, 4, 5))])


# =============================================================================
# dtypes, names, options
# =============================================================================

# ONNX Runtime 1.32's CPU provider has no float64 kernel for these (docs/onnx.md).
FLOAT32_ONLY = ["conv2d", "conv2d-nobias-rect", "deconv2d", "deconv2d-outsize",
                "average_pooling", "global-average"]


# Float64 kernels that older ONNX Runtime releases lack (the newest for Python 3.10 is 1.23):
# Cos gained one in 1.30; x @ x.T is fused into FusedMatMul, whose float64 kernel came in 1.32.
ORT_FLOAT64_SINCE = {"cos": (1, 30), "matmul-vars": (1, 32)}


def _ort_version():
    return tuple(int(part) for part in ort.__version__.split(".")[:2])


@pytest.mark.parametrize("name", [name for name, _ in OPS + IMAGE_OPS
                                  if name not in FLOAT32_ONLY])
def test_float64_ops(tmp_path, name):
    needed = ORT_FLOAT64_SINCE.get(name)
    if needed is not None and _ort_version() < needed:
        pytest.skip(f"ONNX Runtime {ort.__version__} has no float64 kernel for {name} "
                    f"(added in {'.'.join(map(str, needed))})")
    model = Fn(_as64(dict(OPS + IMAGE_OPS)[name]))
    shape = (2, 3, 4) if name in dict(OPS) else (2, 3, 7, 6)
    x = randn(*shape, dtype=np.float64)
    path = tmp_path / "op64.onnx"
    roundtrip(model, x, path, rtol=1e-10, atol=1e-12)
    assert onnx.load(path).graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


@pytest.mark.parametrize("name", FLOAT32_ONLY)
def test_float64_has_no_runtime_kernel(tmp_path, name):
    """Exported as float64 all the same: the file is valid, ONNX Runtime cannot run it."""
    model = Fn(_as64(dict(IMAGE_OPS)[name]))
    path = tmp_path / "op64.onnx"
    x = randn(2, 3, 7, 6, dtype=np.float64)
    export(model, x, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    with pytest.raises(Exception, match="NOT_IMPLEMENTED"):
        run_ort(str(path), x)


def _as64(fn):
    """``fn`` with the module-level float32 constants seen as float64."""
    def run(x):
        g = globals()
        names = ("C34", "C4", "W_CONV", "W_RECT", "W_DECONV", "B4", "B2")
        saved = {k: g[k] for k in names}
        g.update({k: v.astype(np.float64) for k, v in saved.items()})
        try:
            return fn(x)
        finally:
            g.update(saved)
    return run


def test_float64_mlp(tmp_path):
    model = dezero.models.MLP((7, 2), activation=F.tanh)
    for layer in model.layers:
        layer.dtype = np.float64
    x = randn(3, 4, dtype=np.float64)
    roundtrip(model, x, tmp_path / "mlp64.onnx", more=[randn(5, 4, dtype=np.float64)],
              rtol=1e-12, atol=1e-12)


def test_dynamic_batch_symbolic_and_fixed(tmp_path):
    model = dezero.models.MLP((5, 2))
    x = randn(3, 4)
    export(model, x, tmp_path / "dyn.onnx")
    graph = onnx.load(tmp_path / "dyn.onnx").graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 4
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [i.name for i in graph.initializer] == ["l0.W", "l0.b", "l1.W", "l1.b"]
    export(model, x, tmp_path / "fixed.onnx", dynamic_batch=False)
    dims = onnx.load(tmp_path / "fixed.onnx").graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 3 and not dims[0].dim_param


def test_opset_choices(tmp_path):
    model = dezero.models.MLP((5, 2))
    for opset in (17, 18, dezero.onnx.DEFAULT_OPSET):
        roundtrip(model, randn(2, 3), tmp_path / f"o{opset}.onnx", opset=opset)
        assert onnx.load(tmp_path / f"o{opset}.onnx").opset_import[0].version == opset
    with pytest.raises(ValueError, match="opset"):
        export(model, randn(2, 3), tmp_path / "bad.onnx", opset=9)


def test_export_does_not_change_the_model_mode(tmp_path):
    model = dezero.models.MLP((5, 2))
    export(model, randn(2, 3), tmp_path / "m.onnx")
    assert dezero.Config.train is True and dezero.Config.enable_backprop is True


# =============================================================================
# unsupported ops and the registry
# =============================================================================


class Cube(Function):
    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        x, = self.inputs
        return 3 * x ** 2 * gy


class Inner(L.Layer):
    def __init__(self):
        super().__init__()
        self.fc = L.Linear(3)

    def forward(self, x):
        return Cube()(F.relu(self.fc(x)))


class Outer(Model):
    def __init__(self):
        super().__init__()
        self.block = Inner()
        self.head = L.Linear(2)

    def forward(self, x):
        return self.head(self.block(x))


def test_unsupported_op_names_class_and_layer_and_writes_nothing(tmp_path):
    path = tmp_path / "cube.onnx"
    with pytest.raises(UnsupportedOperatorError) as info:
        export(Outer(), randn(2, 4), path)
    message = str(info.value)
    assert "Cube" in message and "'block'" in message and "Inner" in message
    assert "input" in message and "Linear -> ReLU -> Cube" in message
    assert info.value.function is Cube and info.value.layer == "block"
    assert not path.exists()
    assert os.listdir(tmp_path) == []  # no temporary file either


def test_unsupported_op_leaves_existing_file(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    with pytest.raises(UnsupportedOperatorError):
        export(Outer(), randn(2, 4), path)
    assert path.read_bytes() == b"old"


def test_unsupported_index(tmp_path):
    model = Fn(lambda x: x[np.array([0, 1]), np.array([1, 2])])
    with pytest.raises(UnsupportedOperatorError, match="GetItem.*integer-array"):
        export(model, randn(2, 3, 4), tmp_path / "idx.onnx")


def test_register_converter(tmp_path):
    assert get_converter(Cube) is None

    @register_converter(Cube)
    def _cube(ctx, f, inputs, outputs):
        x = inputs[0]
        ctx.node("Mul", [ctx.node("Mul", [x, x]), x], outputs)

    try:
        roundtrip(Outer(), randn(2, 4), tmp_path / "cube.onnx", more=[randn(3, 4)])
    finally:
        from dezero.onnx import _export

        del _export._CONVERTERS[Cube]
    with pytest.raises(TypeError, match="Function subclass"):
        register_converter(int)


def test_every_op_used_by_the_models_has_a_converter():
    import dezero.onnx._converters  # noqa: F401
    from dezero._ops import activation, arith, array, conv, linalg, norm, pooling, reduce

    for cls in (arith.Add, arith.Sub, arith.Mul, arith.Div, arith.Neg, arith.Pow,
                linalg.Linear, linalg.MatMul, conv.Conv2d, conv.Deconv2d, pooling.Pooling,
                pooling.AveragePooling, norm.BatchNorm, norm.LayerNorm, activation.ReLU,
                activation.Sigmoid, activation.Softmax, activation.LogSoftmax,
                activation.LeakyReLU, array.Reshape, array.Transpose, array.GetItem,
                array.Concat, reduce.Sum, reduce.Max):
        assert get_converter(cls) is not None, cls


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="Layer"):
        export(lambda x: x, randn(2, 3), tmp_path / "f.onnx")
    with pytest.raises(ValueError, match="input_names"):
        export(dezero.models.MLP((2,)), randn(2, 3), tmp_path / "f.onnx", input_names=["a", "b"])


def test_import_dezero_does_not_import_onnx():
    code = "import sys, dezero, dezero.onnx; assert 'onnx' not in sys.modules, 'onnx imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_onnx_gives_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match="pip install"):
        export(dezero.models.MLP((2,)), randn(2, 3), tmp_path / "f.onnx")


def test_export_from_any_device(tmp_path, xp):
    """A model on the GPU (real or emulated CuPy) exports the same graph and weights."""
    np.random.seed(5)
    model = dezero.models.Sequential(L.Conv2d(3, 3, 1, 1), L.BatchNorm(), F.relu,
                                     lambda x: F.pooling(x, 2, 2), F.flatten, L.Linear(2))
    x = randn(2, 1, 6, 6)
    run_dezero(model, x)
    randomize_batch_norm(model)
    expected = run_dezero(model, x)[0]
    if xp is not np:
        model.to_gpu()
    path = tmp_path / "dev.onnx"
    export(model, xp.asarray(x), path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    np.testing.assert_allclose(run_ort(str(path), x)[0], expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_with_labels_as_second_input(tmp_path, dtype):
    tol = dict(rtol=RTOL, atol=ATOL) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for name, fn, make_t in [
            ("softmax_cross_entropy", F.softmax_cross_entropy,
             lambda n: np.random.randint(0, 4, size=n)),
            ("sigmoid_cross_entropy", F.sigmoid_cross_entropy,
             lambda n: np.random.randint(0, 2, size=(n, 4))),
            ("mean_squared_error", F.mean_squared_error, lambda n: randn(n, 4, dtype=dtype))]:
        model = Fn(fn)
        roundtrip(model, (randn(3, 4, dtype=dtype) * 3, make_t(3)), tmp_path / f"{name}.onnx",
                  more=[(randn(6, 4, dtype=dtype), make_t(6))], **tol)


def test_outputs_that_are_inputs_or_repeated(tmp_path):
    model = Fn(lambda x: (x, F.relu(x), F.relu(x) * 1.0, x))
    path = tmp_path / "same.onnx"
    roundtrip(model, randn(2, 3), path, more=[randn(4, 3)])
    assert [o.name for o in onnx.load(path).graph.output] == [f"output{i}" for i in range(4)]


def test_vae_example_exports_its_encoder_outputs_exactly(tmp_path):
    """The example VAE: its noise, drawn inside forward, is a constant of the file."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
    try:
        import vae
    finally:
        sys.path.pop(0)
    model = vae.VAE(16, 8, 2)
    x = randn(3, 16)
    path = tmp_path / "vae.onnx"
    export(model, x, path, output_names=["logits", "mu", "logvar"], dynamic_batch=False)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    logits, mu, logvar = run_ort(str(path), x)
    expected = run_dezero(model, x)
    assert logits.shape == (3, 16)
    np.testing.assert_allclose(mu, expected[1], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(logvar, expected[2], rtol=RTOL, atol=ATOL)
