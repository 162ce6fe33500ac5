"""The engine on every array module of the ``xp`` fixture (NumPy, emulated CuPy, CuPy)."""
import numpy as np
import pytest

from dezero import Function, Variable, cuda


def _host(a):
    return cuda.as_numpy(a)


def test_backward_stays_on_the_device(xp):
    x = Variable(xp.asarray(np.array([1.0, 2.0, 3.0], dtype=np.float32)))
    assert cuda.get_array_module(x) is xp
    assert cuda.get_array_module(x.data) is xp
    y = (x * x * 2.0 + 1 - x / 2) ** 2
    y.backward()
    assert cuda.get_array_module(x.grad) is xp
    assert x.grad.dtype == np.float32 and y.dtype == np.float32
    a = np.array([1.0, 2.0, 3.0])
    expected = 2 * (2 * a * a + 1 - a / 2) * (4 * a - 0.5)
    np.testing.assert_allclose(_host(x.grad.data), expected, rtol=1e-5)


def test_scalar_graph_accumulates_on_the_device(xp):
    x = Variable(xp.asarray(np.array(0.5)))
    y = x
    for _ in range(9):
        y = y + x
    y.backward()
    assert cuda.get_array_module(x.grad) is xp
    assert float(x.grad.data) == 10.0
    y.backward(create_graph=True)
    assert float(x.grad.data) == 20.0


def test_leaf_seed_and_unused_outputs_on_the_device(xp):
    class Split(Function):
        def forward(self, x):
            return x[:2] * 1.0, x[2:] * 1.0

        def backward(self, g0, g1):
            mod = cuda.get_array_module(g0.data)
            return Variable(mod.concatenate([g0.data, g1.data]))

    x = Variable(xp.asarray(np.arange(4.0)))
    x.backward()
    assert cuda.get_array_module(x.grad) is xp
    x.cleargrad()
    a = Split()(x)[0]
    (a * 3.0).backward()
    np.testing.assert_array_equal(_host(x.grad.data), [3.0, 3.0, 0.0, 0.0])


def test_higher_order_on_the_device(xp):
    x = Variable(xp.asarray(np.array(2.0)))
    y = x ** 4 - 2 * x ** 2
    y.backward(create_graph=True)
    gx = x.grad
    x.cleargrad()
    gx.backward()
    assert (float(gx.data), float(x.grad.data)) == (24.0, 44.0)


def test_mixing_devices_raises_type_error_naming_both(xp):
    if xp is np:
        pytest.skip("needs a second array module")
    x = Variable(xp.asarray(np.ones(3)))
    h = Variable(np.ones(3))

    class Plain(Function):
        def forward(self, a, b):
            return a + b

    with pytest.raises(TypeError) as info:
        Plain()(x, h)
    msg = str(info.value)
    assert "numpy.ndarray" in msg and type(x.data).__name__ in msg


def test_to_gpu_and_to_cpu_round_trip(xp):
    if xp is np:
        pytest.skip("needs a device")
    x = Variable(np.arange(3.0))
    (x * 2.0).backward()
    x.to_gpu()
    assert cuda.get_array_module(x) is xp and cuda.get_array_module(x.grad) is xp
    x.to_cpu()
    assert type(x.data) is np.ndarray and type(x.grad.data) is np.ndarray
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 2.0])


def test_get_array_module_and_conversions(xp):
    a = xp.asarray(np.arange(3.0))
    assert cuda.get_array_module(a) is xp
    assert cuda.get_array_module(Variable(a)) is xp
    assert cuda.get_array_module(np.ones(2)) is np
    host = cuda.as_numpy(Variable(a))
    assert type(host) is np.ndarray
    np.testing.assert_array_equal(host, [0.0, 1.0, 2.0])
    assert type(cuda.as_numpy(1.5)) is np.ndarray
