"""Layer: registration order, calls, devices and weight files (all-or-nothing)."""
import os
import pathlib

import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import Parameter, Variable, WeightFileError, cuda


class Block(L.Layer):
    def __init__(self):
        super().__init__()
        self.conv = L.Linear(3, in_size=2)
        self.bn = L.BatchNorm()

    def forward(self, x):
        return self.bn(self.conv(x))


class Net(L.Layer):
    def __init__(self):
        super().__init__()
        self.p = Parameter(np.ones(2, np.float32), name="p")
        self.block = Block()
        self.head = L.Linear(2)

    def forward(self, x):
        return self.head(self.block(x)) * self.p


def _flat(layer):
    d = {}
    layer._flatten_params(d)
    return d


# -----------------------------------------------------------------------------
# registration and calls
# -----------------------------------------------------------------------------


def test_parameters_and_layers_register_in_definition_order():
    net = Net()
    assert list(net._params) == ["p", "block", "head"]
    assert list(_flat(net)) == ["p", "block/conv/W", "block/conv/b", "block/bn/avg_mean",
                                "block/bn/avg_var", "block/bn/gamma", "block/bn/beta",
                                "head/W", "head/b"]
    assert list(net.params()) == list(_flat(net).values())


def test_reassignment_keeps_first_position_and_none_unregisters():
    layer = L.Layer()
    layer.a = Parameter(np.zeros(1))
    layer.b = Parameter(np.zeros(1))
    layer.a = Parameter(np.ones(1))
    assert list(layer._params) == ["a", "b"]
    layer.a = None
    layer.c = 3  # plain attributes are never registered
    assert list(layer._params) == ["b"]
    del layer.b
    assert list(layer.params()) == []
    assert L.Linear(3, nobias=True, in_size=2)._params.keys() == {"W"}


def test_assigning_before_super_init_is_a_clear_error():
    class Broken(L.Layer):
        def __init__(self):
            self.W = Parameter(np.zeros(1))
            super().__init__()

    with pytest.raises(RuntimeError, match=r"Broken: call super\(\).__init__\(\) before"):
        Broken()


def test_forward_is_abstract():
    with pytest.raises(NotImplementedError, match="Layer.forward"):
        L.Layer()(np.zeros(1))


def test_call_returns_one_output_or_a_tuple_and_keeps_weak_references():
    class Two(L.Layer):
        def forward(self, x):
            return x * 2, x * 3

    x = Variable(np.ones((2, 2)))
    layer = Two()
    y0, y1 = layer(x)
    assert isinstance(layer(x), tuple)
    assert layer.inputs[0]() is x
    y0, y1 = layer(x)
    assert layer.outputs[0]() is y0 and layer.outputs[1]() is y1
    del y0
    assert layer.outputs[0]() is None  # weak: the output was freed

    lin = L.Linear(3)
    y = lin(np.ones((1, 2), np.float32))
    assert isinstance(y, Variable) and lin.outputs[0]() is y


def test_call_accepts_inputs_that_cannot_be_weakly_referenced():
    class Pick(L.Layer):
        def forward(self, x, i):
            return x[i]

    x = Variable(np.arange(3.0))
    assert Pick()(x, 1).data == 1.0


def test_cleargrads_and_to_cpu():
    net = Net()
    y = net(np.ones((4, 2), np.float32))
    F.sum(y).backward()
    assert all(p.grad is not None for p in (net.p, net.head.W))
    assert net.to_cpu() is net
    net.cleargrads()
    assert all(p.grad is None for p in net.params())


@pytest.mark.skipif(cuda.gpu_enable, reason="checks the error raised without a GPU")
def test_to_gpu_without_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"Net\.to_gpu: no usable GPU.*CuPy"):
        Net().to_gpu()


def test_layer_and_model_are_top_level_names():
    assert dezero.Layer is L.Layer
    assert dezero.Model is dezero.models.Model
    assert {"Layer", "Model"} <= set(dezero.__all__)
    assert dezero.layers is L and dezero.optimizers is not None


# -----------------------------------------------------------------------------
# weight files
# -----------------------------------------------------------------------------


def _trained(seed=0):
    np.random.seed(seed)
    net = Net()
    net(np.random.randn(4, 2).astype(np.float32))  # initialises head and bn
    return net


@pytest.mark.parametrize("name, written", [
    ("ckpt", "ckpt.npz"), ("ckpt.npz", "ckpt.npz"), ("ckpt.safetensors", "ckpt.safetensors"),
    ("ckpt.v1", "ckpt.v1.npz"),
])
@pytest.mark.parametrize("as_path", [False, True])
def test_save_and_load_agree_on_the_file_name(tmp_path, name, written, as_path):
    if name.endswith(".safetensors"):
        pytest.importorskip("safetensors")
    src, dst = _trained(0), _trained(1)
    path = tmp_path / name if as_path else str(tmp_path / name)
    src.save_weights(path)
    assert os.listdir(tmp_path) == [written]
    dst.load_weights(path)
    for (k, a), b in zip(_flat(src).items(), _flat(dst).values()):
        assert a.data.dtype == b.data.dtype
        np.testing.assert_array_equal(a.data, b.data, err_msg=k)
        assert a.data is not b.data


def test_npz_keys_are_attribute_paths(tmp_path):
    _trained().save_weights(tmp_path / "w")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(_flat(Net()))


def test_saving_uninitialised_parameters_raises_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"head/W.*block/bn/avg_mean|block/bn/avg_mean.*head/W"):
        Net().save_weights(tmp_path / "w")
    assert os.listdir(tmp_path) == []


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.npz"):
        Net().load_weights(tmp_path / "nothing")


def _snapshot(net):
    return {k: (p.data, None if p.data is None else p.data.copy())
            for k, p in _flat(net).items()}


def _assert_unchanged(net, snap):
    for k, p in _flat(net).items():
        obj, copy = snap[k]
        assert p.data is obj, k
        if copy is not None:
            np.testing.assert_array_equal(p.data, copy)


def test_mismatched_file_lists_every_problem_and_changes_nothing(tmp_path):
    src = _trained()
    arrays = {k: p.data for k, p in _flat(src).items()}
    del arrays["head/b"]                                        # missing
    arrays["extra/W"] = np.zeros(2, np.float32)                 # unexpected
    arrays["block/conv/W"] = np.zeros((5, 3), np.float32)       # wrong shape
    arrays["p"] = arrays["p"].astype(np.float64)                # wrong dtype
    dezero.io.save_arrays(tmp_path / "bad", arrays)
    dst = _trained(1)
    snap = _snapshot(dst)
    with pytest.raises(WeightFileError) as info:
        dst.load_weights(tmp_path / "bad")
    problems = info.value.problems
    assert len(problems) == 4
    msg = str(info.value)
    assert msg.startswith("load_weights: ") and "bad.npz" in msg and "4 problems" in msg
    assert "missing key 'head/b': expected (2,) float32" in msg
    assert "unexpected key 'extra/W': found (2,) float32" in msg
    assert "'block/conv/W': expected (2, 3) float32, found (5, 3) float32" in msg
    assert "'p': expected (2,) float32, found (2,) float64" in msg
    assert isinstance(info.value, ValueError)
    _assert_unchanged(dst, snap)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_file_changes_nothing(tmp_path, damage):
    _trained().save_weights(tmp_path / "w")
    blob = bytearray((tmp_path / "w.npz").read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) * 2 // 3]
    else:
        blob[60] ^= 0x10  # inside the first member's compressed data
    (tmp_path / "w.npz").write_bytes(bytes(blob))
    dst = _trained(1)
    snap = _snapshot(dst)
    with pytest.raises(WeightFileError, match="w.npz"):
        dst.load_weights(tmp_path / "w")
    _assert_unchanged(dst, snap)


def test_lazy_parameters_take_the_stored_shape_and_floating_dtype(tmp_path):
    src = L.Linear(4, dtype=np.float64)
    src(np.ones((1, 3)))
    # the original saved float64 Linear weights under NumPy 2; b stays float32 there
    dezero.io.save_arrays(tmp_path / "w", {"W": src.W.data, "b": np.zeros(4, np.float32)})
    dst = L.Linear(4)
    dst.load_weights(tmp_path / "w")
    assert dst.W.data.shape == (3, 4) and dst.W.data.dtype == np.float64

    dezero.io.save_arrays(tmp_path / "i", {"W": np.ones((3, 4), np.int32),
                                           "b": np.zeros(4, np.float32)})
    with pytest.raises(WeightFileError, match=r"'W': expected any shape floating, found"):
        L.Linear(4).load_weights(tmp_path / "i")


def test_loaded_data_is_owned_by_the_model(tmp_path):
    src = _trained()
    src.save_weights(tmp_path / "w.npz")
    dst = _trained(1)
    dst.load_weights(tmp_path / "w.npz")
    before = src.head.W.data.copy()
    assert dst.head.W.data.flags.writeable
    dst.head.W.data[...] = 123.0  # must not write into anything shared
    np.testing.assert_array_equal(src.head.W.data, before)
    dst.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(dst.head.W.data, before)


def test_running_statistics_are_saved(tmp_path):
    src = _trained()
    for _ in range(3):
        src(np.random.randn(4, 2).astype(np.float32))
    src.save_weights(tmp_path / "w")
    dst = Net()
    dst.load_weights(tmp_path / "w")
    np.testing.assert_array_equal(dst.block.bn.avg_mean.data, src.block.bn.avg_mean.data)
    np.testing.assert_array_equal(dst.block.bn.avg_var.data, src.block.bn.avg_var.data)


def test_saving_never_moves_the_model(tmp_path, monkeypatch):
    # the original called self.to_cpu() in save_weights; the GPU case itself is below
    net = _trained()

    def moved(*args):
        raise AssertionError("save_weights moved a parameter")

    monkeypatch.setattr(L.Layer, "to_cpu", moved)
    monkeypatch.setattr(Variable, "to_cpu", moved)
    monkeypatch.setattr(Variable, "to_gpu", moved)
    data = [p.data for p in net.params()]
    net.save_weights(tmp_path / "w")
    assert all(p.data is d for p, d in zip(net.params(), data))


@pytest.mark.gpu
def test_saving_a_gpu_model_leaves_it_on_the_gpu(tmp_path):
    import cupy

    net = _trained().to_gpu()
    net.save_weights(tmp_path / "w")
    assert all(isinstance(p.data, cupy.ndarray) for p in net.params())
    other = _trained(1).to_gpu()
    other.load_weights(tmp_path / "w")
    assert all(isinstance(p.data, cupy.ndarray) for p in other.params())
    for a, b in zip(net.params(), other.params()):
        cupy.testing.assert_array_equal(a.data, b.data)


def test_pathlib_and_str_are_equivalent(tmp_path):
    net = _trained()
    net.save_weights(pathlib.Path(tmp_path) / "a")
    net.save_weights(str(tmp_path / "b"))
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz"]
