"""Without a usable GPU: clear errors, CuPy never imported by ``import dezero``, and a
TypeError naming both array types when devices are mixed.

These tests need no GPU. The ways a GPU can be missing are simulated by resetting the
probe of ``dezero.cuda`` (``_GPU_STATE``) and planting a stand-in for the ``cupy`` module.
"""
import importlib.util
import re
import subprocess
import sys
import types

import numpy as np
import pytest

import dezero.functions as F
import dezero.layers as L
from dezero import DataLoader, SeqDataLoader, Variable, cuda
from dezero.core import Add
from dezero.models import MLP


def _cupy_without_device():
    fake = types.ModuleType("cupy")
    fake.ndarray = type("ndarray", (), {})
    fake.probes = 0

    def is_available():
        fake.probes += 1
        return False
    fake.is_available = is_available
    return fake


def _cupy_with_broken_driver():
    fake = types.ModuleType("cupy")
    fake.ndarray = type("ndarray", (), {})

    def is_available():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")
    fake.is_available = is_available
    return fake


_NO_GPU = {
    "cupy-missing": lambda: None,  # None in sys.modules: `import cupy` raises ImportError
    "no-device": _cupy_without_device,
    "broken-driver": _cupy_with_broken_driver,
}


@pytest.fixture(params=sorted(_NO_GPU))
def no_gpu(request, monkeypatch):
    """A fresh probe that finds no usable GPU, for each way of missing one."""
    module = _NO_GPU[request.param]()
    monkeypatch.setitem(sys.modules, "cupy", module)
    monkeypatch.setattr(cuda, "_GPU_STATE", {})
    return module


def _assert_clear(exc_info, op=None):
    """The message names CuPy and the ``gpu`` extra (API.md section 13), and the op."""
    msg = str(exc_info.value)
    assert "CuPy" in msg, msg
    assert re.search(r"\bgpu\b", msg), f"the gpu extra is not named: {msg}"
    if op is not None:
        assert op in msg, msg


# -----------------------------------------------------------------------------
# the probe
# -----------------------------------------------------------------------------


def test_gpu_enable_is_false_and_cupy_is_none(no_gpu):
    assert cuda.gpu_enable is False
    assert cuda.cupy is None
    assert cuda.get_array_module(np.ones(2)) is np
    assert cuda.get_array_module(Variable(np.ones(2))) is np


def test_the_probe_runs_once():
    fake = _cupy_without_device()
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "cupy", fake)
        mp.setattr(cuda, "_GPU_STATE", {})
        assert fake.probes == 0  # nothing is probed before gpu_enable is read
        assert not cuda.gpu_enable and not cuda.gpu_enable and cuda.cupy is None
        assert fake.probes == 1


def test_unknown_attribute_of_cuda_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'gpu_enabled'"):
        _ = cuda.gpu_enabled


_IMPORT_CHECK = """
import sys
import numpy as np
import dezero
import dezero.functions, dezero.functions_conv, dezero.layers, dezero.models
import dezero.optimizers, dezero.dataloaders, dezero.datasets, dezero.utils, dezero.io
from dezero import Variable, cuda
x = Variable(np.ones((2, 3), np.float32))
y = dezero.functions.sum(x * 2.0)
y.backward()
cuda.get_array_module(x); cuda.as_numpy(x); cuda.is_cupy_array(x.data)
assert "cupy" not in sys.modules, "importing and using dezero on the CPU imported cupy"
print("gpu_enable", cuda.gpu_enable)
"""


def test_import_dezero_does_not_import_cupy():
    out = subprocess.run([sys.executable, "-c", _IMPORT_CHECK], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    if importlib.util.find_spec("cupy") is None:  # this machine: no CuPy at all
        assert "gpu_enable False" in out.stdout


# -----------------------------------------------------------------------------
# to_gpu without a usable GPU
# -----------------------------------------------------------------------------


def test_variable_to_gpu_raises_and_keeps_the_data(no_gpu):
    v = Variable(np.arange(3.0))
    v.grad = Variable(np.ones(3))
    data, grad = v.data, v.grad.data
    with pytest.raises(RuntimeError) as exc_info:
        v.to_gpu()
    _assert_clear(exc_info)
    assert v.data is data and v.grad.data is grad


def test_layer_to_gpu_raises_and_leaves_the_parameters_on_the_cpu(no_gpu):
    model = MLP((4, 2))
    model(np.ones((1, 3), np.float32))
    with pytest.raises(RuntimeError) as exc_info:
        model.to_gpu()
    _assert_clear(exc_info, "MLP.to_gpu")
    assert all(type(p.data) is np.ndarray for p in model.params())


def test_lazy_layer_to_gpu_raises_before_it_has_weights(no_gpu):
    with pytest.raises(RuntimeError) as exc_info:
        L.Linear(3).to_gpu()
    _assert_clear(exc_info, "Linear.to_gpu")


def _pairs(n=5):
    return [(np.full(2, i, np.float32), i % 2) for i in range(n)]


def test_dataloader_gpu_true_raises(no_gpu):
    with pytest.raises(RuntimeError) as exc_info:
        DataLoader(_pairs(), batch_size=2, gpu=True)
    _assert_clear(exc_info, "DataLoader")
    with pytest.raises(RuntimeError) as exc_info:
        SeqDataLoader(_pairs(), batch_size=2, gpu=True)
    _assert_clear(exc_info)


def test_dataloader_to_gpu_raises_and_keeps_cpu_batches(no_gpu):
    loader = DataLoader(_pairs(), batch_size=2, shuffle=False)
    with pytest.raises(RuntimeError) as exc_info:
        loader.to_gpu()
    _assert_clear(exc_info, "to_gpu")
    assert loader.gpu is False
    x, t = next(loader)
    assert type(x) is np.ndarray and type(t) is np.ndarray


def test_as_cupy_raises(no_gpu):
    for value in (np.ones(2), Variable(np.ones(2))):
        with pytest.raises(RuntimeError) as exc_info:
            cuda.as_cupy(value)
        _assert_clear(exc_info, "as_cupy")


def test_as_numpy_works_without_a_gpu(no_gpu):
    a = np.ones(3)
    assert cuda.as_numpy(a) is a
    assert cuda.as_numpy(Variable(a)) is a
    assert cuda.as_numpy(2.5).shape == () and cuda.as_numpy(2.5) == 2.5
    assert cuda.as_numpy([1, 2]).tolist() == [1, 2]


def test_the_install_hint_does_not_point_to_the_old_pypi_project(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(cuda, "_GPU_STATE", {})
    with pytest.raises(RuntimeError) as exc_info:
        cuda.as_cupy(np.ones(2))
    message = str(exc_info.value)
    assert "'dezero[" not in message  # the old PyPI project must never be installed
    assert "dezero-framework[" not in message  # a name on no package index
    assert "pip install -e '.[gpu-cuda12]'" in message and "cupy-cuda12x" in message
    assert "CuPy" in message


# -----------------------------------------------------------------------------
# mixed devices: a stand-in "cupy" whose ndarray is a NumPy subclass (the checks run
# before any computation, so it never has to compute on a device)
# -----------------------------------------------------------------------------


class FakeDeviceArray(np.ndarray):
    pass


@pytest.fixture
def on_gpu(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.ndarray = FakeDeviceArray
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return lambda a: np.asarray(a).view(FakeDeviceArray)


BOTH = r"numpy\.ndarray.*FakeDeviceArray|FakeDeviceArray.*numpy\.ndarray"


def _gpu_linear(on_gpu):
    layer = L.Linear(2, in_size=3)
    layer.W.data = on_gpu(layer.W.data)
    layer.b.data = on_gpu(layer.b.data)
    return layer


@pytest.mark.parametrize("call", [
    pytest.param(lambda g: _gpu_linear(g)(np.ones((4, 3), np.float32)), id="Linear-layer"),
    pytest.param(lambda g: Variable(np.ones(3)) + Variable(g(np.ones(3))), id="operator"),
    pytest.param(lambda g: Add()(Variable(np.ones(3)), Variable(g(np.ones(3)))),
                 id="Function-called-directly"),
    pytest.param(lambda g: F.conv2d(np.ones((1, 2, 4, 4)), g(np.ones((3, 2, 3, 3)))),
                 id="conv2d"),
    pytest.param(lambda g: F.deconv2d(g(np.ones((1, 2, 4, 4))), np.ones((2, 3, 3, 3))),
                 id="deconv2d"),
    pytest.param(lambda g: F.softmax_cross_entropy(np.ones((2, 3)), g(np.array([0, 1]))),
                 id="softmax_cross_entropy"),
    pytest.param(lambda g: F.mean_squared_error(g(np.ones((2, 3))), np.ones((2, 3))),
                 id="mean_squared_error"),
    pytest.param(lambda g: F.embed_id(np.array([0, 1]), g(np.ones((3, 2)))), id="embed_id"),
    pytest.param(lambda g: F.batch_norm(g(np.ones((2, 3))), np.ones(3), np.zeros(3),
                                        np.zeros(3), np.ones(3)), id="batch_norm"),
])
def test_mixed_devices_raise_type_error_naming_both(on_gpu, call):
    with pytest.raises(TypeError, match=BOTH):
        call(on_gpu)
