"""Layers, optimizers, weight files, data and training on each device, against NumPy.

``xp`` (tests/gpu/conftest.py) is numpy, the strict CuPy stand-in (on the CPU) and real
CuPy when a CUDA device is usable. Every test runs the same code twice, on the host and
on ``xp``, from the same seed, and compares: values agree to float32 rounding (GPU
kernels sum in another order), and everything that should live on the device does.
"""
import os
import re

import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import DataLoader, Model, SeqDataLoader, Variable, cuda, optimizers
from dezero.functions_conv import col2im_array, im2col_array
from dezero.models import MLP

RTOL, ATOL = 1e-5, 1e-5


def on(xp, a):
    return a if xp is np else xp.asarray(a)


def host(a):
    return cuda.as_numpy(a.data if isinstance(a, Variable) else a)


def assert_on(xp, *arrays):
    for a in arrays:
        a = a.data if isinstance(a, Variable) else a
        assert isinstance(a, xp.ndarray), f"{type(a).__module__}.{type(a).__name__} is not on " \
                                          f"{xp.__name__}"


def assert_close(got, want, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(host(got), host(want), rtol=rtol, atol=atol)


def _flat(layer):
    d = {}
    layer._flatten_params(d)
    return d


# -----------------------------------------------------------------------------
# layers: forward and backward equal to the NumPy run
# -----------------------------------------------------------------------------


def _run_layer(make, inputs, dev, steps=1, prepare=None):
    """Build a layer from seed 0 on ``dev`` and run it ``steps`` times; return the
    outputs, the inputs' gradients and the layer."""
    np.random.seed(0)
    layer = make()
    if dev is not np:
        layer.to_gpu()  # before the first call: lazy weights are drawn on the device
    xs = [Variable(on(dev, a)) for a in inputs]
    ys = []
    loss = 0
    for _ in range(steps):
        y = layer(*xs)
        ys.append(y)
        loss = loss + F.sum(y * y)  # a seed that is not all ones
    loss.backward()
    return ys, xs, layer


rng = np.random.default_rng(0)
_IMG = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
_VEC = rng.standard_normal((4, 3)).astype(np.float32)

LAYERS = [
    pytest.param(lambda: L.Linear(5), [_VEC], 1, id="Linear-lazy"),
    pytest.param(lambda: L.Linear(5, in_size=3), [_VEC], 1, id="Linear"),
    pytest.param(lambda: L.Conv2d(4, 3, stride=2, pad=1), [_IMG], 1, id="Conv2d"),
    pytest.param(lambda: L.Conv2d(2, (2, 3), nobias=True, in_channels=3), [_IMG], 1,
                 id="Conv2d-nobias"),
    pytest.param(lambda: L.Deconv2d(2, 3, stride=2, pad=1), [_IMG], 1, id="Deconv2d"),
    pytest.param(L.BatchNorm, [_IMG], 2, id="BatchNorm-4d"),
    pytest.param(L.BatchNorm, [_VEC], 2, id="BatchNorm-2d"),
    pytest.param(lambda: L.LSTM(4, in_size=3), [_VEC], 3, id="LSTM"),
    pytest.param(lambda: L.RNN(4), [_VEC], 2, id="RNN-lazy"),
    pytest.param(lambda: L.LayerNorm(), [_VEC], 1, id="LayerNorm"),
]


@pytest.mark.parametrize("make, inputs, steps", LAYERS)
def test_layer_forward_backward_match_numpy(xp, make, inputs, steps):
    ref_ys, ref_xs, ref_layer = _run_layer(make, inputs, np, steps)
    ys, xs, layer = _run_layer(make, inputs, xp, steps)
    for y, ref in zip(ys, ref_ys):
        assert_on(xp, y)
        assert y.dtype == ref.dtype
        assert_close(y, ref)
    for x, ref in zip(xs, ref_xs):
        assert_on(xp, x.grad)
        assert_close(x.grad, ref.grad)
    ref_params, params = _flat(ref_layer), _flat(layer)
    assert params.keys() == ref_params.keys()
    for key, p in params.items():
        assert_on(xp, p)  # the running statistics of BatchNorm too
        assert_close(p, ref_params[key])  # weights drawn from the same NumPy RNG state
        if ref_params[key].grad is not None:
            assert_on(xp, p.grad)
            assert_close(p.grad, ref_params[key].grad)


def test_batchnorm_test_mode_uses_the_running_statistics_on_the_device(xp):
    outs = []
    for dev in (np, xp):
        bn = L.BatchNorm()
        if dev is not np:
            bn.to_gpu()
        bn(on(dev, _IMG))
        with dezero.test_mode():
            x = Variable(on(dev, _IMG))
            y = bn(x)
        F.sum(y * y).backward()
        assert_on(dev, y, x.grad, bn.avg_mean, bn.avg_var)
        outs.append((y, x.grad))
    assert_close(outs[1][0], outs[0][0])
    assert_close(outs[1][1], outs[0][1])


def test_embed_id_accumulates_repeated_ids_on_the_device(xp):
    ids = np.array([[1, 2], [1, 1]])
    grads = []
    for dev in (np, xp):
        np.random.seed(0)
        layer = L.EmbedID(5, 3)
        if dev is not np:
            layer.to_gpu()
        y = layer(on(dev, ids))
        F.sum(y).backward()
        assert_on(dev, y, layer.W.grad)
        grads.append(layer.W.grad)
    np.testing.assert_array_equal(host(grads[1])[:, 0], [0, 3, 1, 0, 0])
    assert_close(grads[1], grads[0])


def test_lazy_weights_come_from_the_numpy_rng_on_every_device(xp):
    # API.md section 0: Linear/Conv2d init draws from the global NumPy RNG, so a seeded
    # model drawn on the GPU gets the weights it gets on the CPU.
    np.random.seed(3)
    expected = (np.random.randn(3, 5).astype(np.float32) * np.float32(np.sqrt(1 / 3)))
    np.random.seed(3)
    layer = L.Linear(5).to_gpu() if xp is not np else L.Linear(5)
    layer(on(xp, _VEC))
    assert_on(xp, layer.W, layer.b)
    np.testing.assert_array_equal(host(layer.W), expected)


# -----------------------------------------------------------------------------
# optimizers and hooks
# -----------------------------------------------------------------------------

OPTIMIZERS = [
    pytest.param(lambda: optimizers.SGD(0.1), id="SGD"),
    pytest.param(lambda: optimizers.MomentumSGD(0.1), id="MomentumSGD"),
    pytest.param(lambda: optimizers.Adam(0.01), id="Adam"),
    pytest.param(lambda: optimizers.AdamW(0.01), id="AdamW"),
    pytest.param(lambda: optimizers.AdaGrad(0.1), id="AdaGrad"),
    pytest.param(lambda: optimizers.AdaDelta(), id="AdaDelta"),
    pytest.param(lambda: optimizers.RMSprop(0.01, momentum=0.9, centered=True,
                                            weight_decay=0.01), id="RMSprop"),
]
HOOKS = [
    pytest.param(lambda: [], id="no-hooks"),
    pytest.param(lambda: [optimizers.WeightDecay(0.05), optimizers.ClipGrad(0.5)],
                 id="WeightDecay+ClipGrad"),
]

_X = rng.standard_normal((8, 3)).astype(np.float32)
_T = rng.standard_normal((8, 2)).astype(np.float32)


def _train(dev, make_opt, make_hooks, steps=3):
    np.random.seed(0)
    model = MLP((4, 2), activation=F.tanh)
    model(_X)  # weights drawn on the host, then moved
    if dev is not np:
        model.to_gpu()
    opt = make_opt().setup(model)
    for hook in make_hooks():
        opt.add_hook(hook)
    arrays = [p.data for p in model.params()]
    x, t = on(dev, _X), on(dev, _T)
    for _ in range(steps):
        loss = F.mean_squared_error(model(x), t)
        model.cleargrads()
        loss.backward()
        opt.update()
    # updated in place: the very same arrays, still on the device
    assert all(p.data is a for p, a in zip(model.params(), arrays))
    assert_on(dev, *model.params())
    for state in opt._state.values():
        assert_on(dev, *state.values())
    return model, opt


@pytest.mark.parametrize("make_opt", OPTIMIZERS)
@pytest.mark.parametrize("make_hooks", HOOKS)
def test_optimizer_updates_device_parameters_like_the_cpu(xp, make_opt, make_hooks):
    ref, _ = _train(np, make_opt, make_hooks)
    model, _ = _train(xp, make_opt, make_hooks)
    for p, q in zip(model.params(), ref.params()):
        assert_close(p, q)


def test_clip_grad_and_weight_decay_change_device_grads_in_place(xp):
    out = []
    for dev in (np, xp):
        p = dezero.Parameter(on(dev, np.array([3.0, 4.0], np.float32)))
        p.grad = Variable(on(dev, np.array([30.0, 40.0], np.float32)))
        grad = p.grad.data
        optimizers.WeightDecay(0.5)([p])
        optimizers.ClipGrad(1.0)([p])
        assert p.grad.data is grad
        assert_on(dev, grad)
        out.append(grad)
    assert_close(out[1], out[0])
    assert np.linalg.norm(host(out[1])) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("make_opt", [OPTIMIZERS[2], OPTIMIZERS[1]])
def test_optimizer_state_saved_and_loaded_on_the_device_resumes_exactly(xp, make_opt,
                                                                         tmp_path):
    model, opt = _train(xp, make_opt, lambda: [], steps=2)
    model.save_weights(tmp_path / "w")
    state = opt.state_dict()
    assert all(isinstance(v, (np.ndarray, xp.ndarray)) for v in state.values())
    dezero.io.save_arrays(tmp_path / "o", state)
    before = {k: host(v).copy() for k, v in state.items()}

    np.random.seed(0)
    other = MLP((4, 2), activation=F.tanh)
    other(_X)
    if xp is not np:
        other.to_gpu()
    other.load_weights(tmp_path / "w")
    other_opt = make_opt().setup(other)
    other_opt.load_state_dict(state)  # from device arrays
    for s in other_opt._state.values():
        assert_on(xp, *s.values())

    def step(m, o):
        loss = F.mean_squared_error(m(on(xp, _X)), on(xp, _T))
        m.cleargrads()
        loss.backward()
        o.update()

    step(model, opt)
    step(other, other_opt)
    for p, q in zip(other.params(), model.params()):
        assert_on(xp, p)
        np.testing.assert_array_equal(host(p), host(q))
    # the loaded state is a copy: updating did not change the dict it came from
    for k, v in state.items():
        np.testing.assert_array_equal(host(v), before[k])
    # and a file written from device state loads back into a device optimizer
    other_opt.load_state_dict(dezero.io.load_arrays(tmp_path / "o"))
    for s in other_opt._state.values():
        assert_on(xp, *s.values())


# -----------------------------------------------------------------------------
# moving models and variables; weight files
# -----------------------------------------------------------------------------


def _model_with_grads():
    np.random.seed(0)
    model = MLP((4, 2))
    F.sum(model(_X)).backward()
    return model


def test_model_to_gpu_and_back_keeps_values_and_grads(xp):
    model = _model_with_grads()
    values = [p.data.copy() for p in model.params()]
    grads = [p.grad.data.copy() for p in model.params()]
    if xp is not np:
        assert model.to_gpu() is model
        assert_on(xp, *model.params(), *(p.grad for p in model.params()))
    assert model.to_cpu() is model
    for p, v, g in zip(model.params(), values, grads):
        assert type(p.data) is np.ndarray and type(p.grad.data) is np.ndarray
        np.testing.assert_array_equal(p.data, v)
        np.testing.assert_array_equal(p.grad.data, g)


def test_variable_to_gpu_and_back(xp):
    v = Variable(np.arange(6.0).reshape(2, 3))
    v.grad = Variable(np.ones((2, 3)))
    if xp is not np:
        v.to_gpu()
        assert_on(xp, v, v.grad)
        assert cuda.get_array_module(v) is xp
    v.to_cpu()
    assert type(v.data) is np.ndarray and type(v.grad.data) is np.ndarray
    np.testing.assert_array_equal(v.data, np.arange(6.0).reshape(2, 3))
    empty = Variable(None)
    empty.to_cpu()
    if xp is not np:
        empty.to_gpu()  # no data: nothing to move
    assert empty.data is None


@pytest.mark.parametrize("suffix", ["", ".safetensors"])
def test_save_weights_of_a_device_model_leaves_it_on_the_device(xp, tmp_path, suffix):
    if suffix:
        pytest.importorskip("safetensors")
    model = _model_with_grads()
    if xp is not np:
        model.to_gpu()
    arrays = [p.data for p in model.params()]
    path = tmp_path / ("w" + suffix)
    model.save_weights(path)
    assert all(p.data is a for p, a in zip(model.params(), arrays))
    assert_on(xp, *model.params())
    # the file holds the values, readable on the CPU
    cpu = _model_with_grads()
    for p in cpu.params():
        p.data = np.zeros_like(p.data)
    cpu.load_weights(path)
    for p, q in zip(cpu.params(), model.params()):
        assert type(p.data) is np.ndarray
        np.testing.assert_array_equal(p.data, host(q))
    # loading into a device model keeps it on the device
    model.load_weights(path)
    assert_on(xp, *model.params())


def test_load_weights_into_a_lazy_model_moved_to_the_device(xp, tmp_path):
    _model_with_grads().save_weights(tmp_path / "w")
    lazy = MLP((4, 2))  # W not drawn yet, b already there
    if xp is not np:
        lazy.to_gpu()
    lazy.load_weights(tmp_path / "w")
    assert_on(xp, *lazy.params())  # the lazy weights join the rest of the model
    y = lazy(on(xp, _X))
    assert_close(y, _model_with_grads()(_X))


# -----------------------------------------------------------------------------
# data
# -----------------------------------------------------------------------------


def test_dataloader_gpu_yields_device_batches(xp):
    data = dezero.datasets.Spiral()
    gpu = xp is not np
    np.random.seed(0)
    ref = [(x, t) for x, t in DataLoader(data, 128)]
    np.random.seed(0)
    loader = DataLoader(data, 128, gpu=gpu)
    got = [(x, t) for x, t in loader]
    assert [len(x) for x, _ in got] == [128, 128, 44]
    for (x, t), (rx, rt) in zip(got, ref):
        assert_on(xp, x, t)
        np.testing.assert_array_equal(host(x), rx)
        np.testing.assert_array_equal(host(t), rt)
    loader.to_cpu()
    x, t = next(loader)
    assert type(x) is np.ndarray and type(t) is np.ndarray
    if gpu:
        loader.to_gpu()
        x, t = next(loader)
        assert_on(xp, x, t)
    seq = SeqDataLoader(dezero.datasets.SinCurve(), 30, gpu=gpu)
    x, t = next(seq)
    assert x.shape == (30, 1)
    assert_on(xp, x, t)


# -----------------------------------------------------------------------------
# get_item's backward (scatter-add) and im2col/col2im
# -----------------------------------------------------------------------------

_A = rng.standard_normal((5, 4))


def _expected_scatter(index, gy):
    g = np.zeros_like(_A)
    np.add.at(g, index, gy)
    return g


@pytest.mark.parametrize("make_index", [
    pytest.param(lambda xp: [0, 0, 3, 0], id="list-repeats"),
    pytest.param(lambda xp: on(xp, np.array([4, 1, 4])), id="device-int-array"),
    pytest.param(lambda xp: (on(xp, np.array([0, 0, 2])), on(xp, np.array([1, 1, 3]))),
                 id="pairs-repeat"),
    pytest.param(lambda xp: (slice(1, 4), on(xp, np.array([2, 2]))), id="slice-and-array"),
    pytest.param(lambda xp: on(xp, _A > 0), id="boolean-mask"),
    pytest.param(lambda xp: (Ellipsis, 1), id="basic"),
])
def test_get_item_backward_accumulates_repeated_indices(xp, make_index):
    index = make_index(xp)
    host_index = tuple(host(i) if hasattr(i, "dtype") else i for i in index) \
        if isinstance(index, tuple) else (host(index) if hasattr(index, "dtype") else index)
    x = Variable(on(xp, _A))
    y = x[index]
    gy = np.arange(1.0, 1.0 + y.size).reshape(y.shape)
    seed = y.grad = Variable(on(xp, gy))
    y.backward(create_graph=True)
    assert_on(xp, y, x.grad)
    expected = _expected_scatter(host_index, gy)
    np.testing.assert_allclose(host(x.grad), expected)
    # GetItemGrad's backward is get_item: d sum(gx**2) / d gy = (2 gx)[index]
    F.sum(x.grad * x.grad).backward()
    assert_on(xp, seed.grad)
    np.testing.assert_allclose(host(seed.grad), (2 * expected)[host_index])


@pytest.mark.parametrize("kernel, stride, pad", [(3, 1, 1), ((3, 2), (2, 1), (1, 0)),
                                                 (2, 2, 0)])
@pytest.mark.parametrize("to_matrix", [True, False])
def test_im2col_and_col2im_match_numpy(xp, kernel, stride, pad, to_matrix):
    want = im2col_array(_IMG, kernel, stride, pad, to_matrix=to_matrix)
    got = im2col_array(on(xp, _IMG), kernel, stride, pad, to_matrix=to_matrix)
    assert_on(xp, got)
    np.testing.assert_array_equal(host(got), want)
    back = col2im_array(got, _IMG.shape, kernel, stride, pad, to_matrix=to_matrix)
    assert_on(xp, back)
    assert_close(back, col2im_array(want, _IMG.shape, kernel, stride, pad,
                                    to_matrix=to_matrix))
    # through F: im2col's backward is col2im
    x = Variable(on(xp, _IMG))
    col = F.im2col(x, kernel, stride, pad, to_matrix)
    gy = np.random.default_rng(1).standard_normal(col.shape).astype(np.float32)
    col.grad = Variable(on(xp, gy))
    col.backward()
    assert_on(xp, col, x.grad)
    assert_close(x.grad, col2im_array(gy, _IMG.shape, kernel, stride, pad,
                                      to_matrix=to_matrix))
    y = F.col2im(col, _IMG.shape, kernel, stride, pad, to_matrix)
    assert_on(xp, y)
    assert_close(y, col2im_array(want, _IMG.shape, kernel, stride, pad, to_matrix=to_matrix))


# -----------------------------------------------------------------------------
# training: the same losses on every device
# -----------------------------------------------------------------------------


class _SmallCNN(Model):
    def __init__(self):
        super().__init__()
        self.conv = L.Conv2d(4, 3, pad=1)
        self.bn = L.BatchNorm()
        self.fc = L.Linear(3)

    def forward(self, x):
        h = F.pooling(F.relu(self.bn(self.conv(x))), 2, 2)
        return self.fc(F.reshape(h, (len(x), -1)))


def _losses(dev, make_model, make_opt, x, t, steps):
    np.random.seed(0)
    model = make_model()
    if dev is not np:
        model.to_gpu()  # before the first forward: lazy layers draw on the device
    opt = make_opt().setup(model)
    x, t = on(dev, x), on(dev, t)
    losses, accs = [], []
    for _ in range(steps):
        y = model(x)
        loss = F.softmax_cross_entropy(y, t)
        accs.append(float(F.accuracy(y, t).data))
        model.cleargrads()
        loss.backward()
        opt.update()
        assert_on(dev, loss, *model.params())
        losses.append(float(loss.data))
    return losses, accs


def test_training_an_mlp_gives_the_numpy_losses(xp):
    x, t = dezero.datasets.get_spiral()
    ref = _losses(np, lambda: MLP((10, 3)), lambda: optimizers.SGD(1.0), x, t, 6)
    got = _losses(xp, lambda: MLP((10, 3)), lambda: optimizers.SGD(1.0), x, t, 6)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], ref[1], atol=1.5 / len(t))  # a near-tie may flip
    assert ref[0][-1] < ref[0][0]


def test_training_a_small_cnn_gives_the_numpy_losses(xp):
    x = rng.standard_normal((6, 2, 6, 6)).astype(np.float32)
    t = np.array([0, 1, 2, 0, 1, 2])
    ref = _losses(np, _SmallCNN, lambda: optimizers.MomentumSGD(0.05), x, t, 3)
    got = _losses(xp, _SmallCNN, lambda: optimizers.MomentumSGD(0.05), x, t, 3)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5)


# -----------------------------------------------------------------------------
# mixed devices, on the real (or emulated) array types
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    pytest.param(lambda d: L.Linear(2, in_size=3).to_gpu()(_VEC), id="device-layer-host-x"),
    pytest.param(lambda d: F.add(Variable(_VEC), Variable(d(_VEC))), id="add"),
    pytest.param(lambda d: F.matmul(d(_VEC), _VEC.T), id="matmul"),
    pytest.param(lambda d: F.softmax_cross_entropy(d(_VEC), np.array([0, 1, 2, 0])),
                 id="softmax_cross_entropy"),
    pytest.param(lambda d: F.conv2d(d(_IMG), np.ones((2, 3, 3, 3), np.float32)), id="conv2d"),
])
def test_mixing_host_and_device_arrays_raises_type_error_naming_both(xp, call):
    if xp is np:
        pytest.skip("one device only")
    with pytest.raises(TypeError, match=r"numpy\.ndarray.*cupy\.ndarray|"
                                        r"cupy\.ndarray.*numpy\.ndarray"):
        call(xp.asarray)


# -----------------------------------------------------------------------------
# host transfers in the hot path (emulated device only: it can count them)
# -----------------------------------------------------------------------------


@pytest.fixture
def transfers(monkeypatch):
    """Count the device-to-host transfers (each one synchronises a real GPU)."""
    import emulated_cupy

    cp = emulated_cupy.install(monkeypatch)
    seen = []
    for name in ("__float__", "__int__", "__bool__", "__index__", "item", "get"):
        original = getattr(emulated_cupy.ndarray, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            seen.append(_name)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(emulated_cupy.ndarray, name, counted)
    return cp, seen


def test_a_training_step_transfers_once_for_clip_grad(transfers):
    cp, seen = transfers
    np.random.seed(0)
    model = MLP((8, 8, 2), activation=F.relu).to_gpu()
    opt = optimizers.MomentumSGD().setup(model)
    opt.add_hook(optimizers.WeightDecay(1e-4))
    opt.add_hook(optimizers.ClipGrad(1.0))
    x, t = cp.asarray(_X), cp.asarray(_T)
    model(x)  # lazy weights
    del seen[:]
    loss = F.mean_squared_error(model(x), t)
    model.cleargrads()
    loss.backward()
    assert seen == [], f"forward/backward copied to the host: {seen}"
    opt.update()
    assert seen == ["__float__"], f"ClipGrad over 6 parameters: one transfer, got {seen}"


# -----------------------------------------------------------------------------
# the example of docs/gpu.md runs as written (for 3 epochs instead of 300)
# -----------------------------------------------------------------------------


def test_the_example_of_docs_gpu_md_runs(xp, tmp_path, monkeypatch, capsys):
    if xp is np:
        pytest.skip("the example moves everything to the GPU")
    path = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "gpu.md")
    with open(path, encoding="utf-8") as fh:
        blocks = re.findall(r"^```python\n(.*?)^```", fh.read(), flags=re.S | re.M)
    assert len(blocks) == 1 and "range(300)" in blocks[0]
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "gpu_md"}
    exec(compile(blocks[0].replace("range(300)", "range(3)"), "docs/gpu.md", "exec"), namespace)
    assert capsys.readouterr().out.startswith("0 ")
    assert (tmp_path / "spiral.npz").exists()
    assert all(type(p.data) is np.ndarray for p in namespace["model"].params())
