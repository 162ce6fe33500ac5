"""dezero.core_simple: the engine of steps 23-32, independent of dezero.core."""
import threading

import numpy as np
import pytest

import dezero
import dezero.core
import dezero.core_simple as cs


@pytest.fixture(scope="module", autouse=True)
def _simple_operators():
    cs.setup_variable()


def test_is_simple_core_is_false():
    assert dezero.is_simple_core is False


def test_setup_variable_does_not_touch_dezero_core():
    before = {name: getattr(dezero.core.Variable, name) for name in
              ("__add__", "__radd__", "__mul__", "__rmul__", "__neg__", "__sub__", "__rsub__",
               "__truediv__", "__rtruediv__", "__pow__", "__getitem__")}
    import importlib

    importlib.reload(cs)  # importing again...
    cs.setup_variable()  # ...and installing again
    after = {name: getattr(dezero.core.Variable, name) for name in before}
    assert before == after
    assert cs.Variable is not dezero.core.Variable
    assert cs.Config is not dezero.core.Config
    x = dezero.Variable(np.array(2.0))
    y = x * x
    y.backward()
    assert isinstance(x.grad, dezero.Variable)


def test_grad_is_a_raw_ndarray():
    x = cs.Variable(np.array(3.0))
    y = (x + 3) ** 2
    y.backward()
    assert type(x.grad) is np.ndarray
    assert x.grad == 12.0
    x.data -= 0.1 * x.grad  # what step 28 does
    assert x.data == pytest.approx(1.8)


def test_accepts_only_ndarrays():
    with pytest.raises(TypeError, match="float"):
        cs.Variable(1.0)
    assert cs.Variable(None).data is None


def test_repr_and_attributes():
    x = cs.Variable(np.array([[1, 2, 3], [4, 5, 6]]))
    assert repr(x) == "variable([[1 2 3]\n          [4 5 6]])"
    assert (x.shape, x.ndim, x.size, len(x)) == ((2, 3), 2, 6, 2)
    assert x.dtype == np.int64 or x.dtype.kind == "i"
    assert repr(cs.Variable(None)) == "variable(None)"


def test_operators_and_reflected_forms():
    x = cs.Variable(np.array(2.0))
    for y, value, grad in ((x + 1, 3.0, 1.0), (1 + x, 3.0, 1.0), (x - 1, 1.0, 1.0),
                           (1 - x, -1.0, -1.0), (x * 3, 6.0, 3.0), (3 * x, 6.0, 3.0),
                           (x / 4, 0.5, 0.25), (4 / x, 2.0, -1.0), (-x, -2.0, -1.0),
                           (x ** 3, 8.0, 12.0), (np.array(3.0) * x, 6.0, 3.0)):
        assert isinstance(y, cs.Variable)
        x.cleargrad()
        y.backward()
        assert y.data == value and x.grad == grad


def test_diamond_order_and_retain_grad():
    class Square(cs.Function):
        calls = 0

        def forward(self, x):
            return x ** 2

        def backward(self, gy):
            type(self).calls += 1
            return 2 * self.inputs[0].data * gy

    x = cs.Variable(np.array(2.0))
    a = Square()(x)
    y = cs.add(Square()(a), Square()(a))
    y.backward()
    assert x.grad == 64.0 and Square.calls == 3
    assert a.grad is None and y.grad is None
    y.backward(retain_grad=True)
    assert x.grad == 128.0 and a.grad == 16.0 and y.grad == 1.0


def test_leaf_and_aliasing_and_seed_checks():
    x = cs.Variable(np.array([1.0, 2.0]))
    x.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    a, b = cs.Variable(np.ones(2)), cs.Variable(np.ones(2))
    y = a + b
    y.backward()
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    y.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"'Add': grad shape \(3,\) does not match shape \(2,\)"):
        y.backward()


def test_scalar_dtype_rule():
    x = cs.Variable(np.array(2.0, dtype=np.float32))
    for y in (x * 2.0, 2.0 * x, x + np.float64(1), x - 1, 1 / x, x ** 2):
        assert y.dtype == np.float32


def test_no_grad_and_using_config():
    x = cs.Variable(np.array(2.0))
    with cs.no_grad():
        assert cs.Config.enable_backprop is False
        assert dezero.Config.enable_backprop is True  # a separate switch
        y = x * x
    assert y.creator is None
    with cs.using_config("enable_backprop", False):
        assert cs.Config.enable_backprop is False
    assert cs.Config.enable_backprop is True


def test_config_is_per_thread():
    seen = []
    with cs.no_grad():
        t = threading.Thread(target=lambda: seen.append(cs.Config.enable_backprop))
        t.start()
        t.join()
    assert seen == [True]


def test_no_create_graph_and_no_extras():
    x = cs.Variable(np.array(2.0))
    y = x * x
    with pytest.raises(TypeError):
        y.backward(create_graph=True)
    for name in ("reshape", "transpose", "T", "sum", "unchain", "to_gpu", "item"):
        assert not hasattr(x, name)
    assert not hasattr(cs, "Parameter") and not hasattr(cs, "test_mode")


def test_as_array_and_as_variable():
    assert type(cs.as_array(1.0)) is np.ndarray
    v = cs.Variable(np.ones(1))
    assert cs.as_variable(v) is v
    assert isinstance(cs.as_variable(np.ones(1)), cs.Variable)


def test_deep_chain_has_no_recursion():
    x = cs.Variable(np.array(1.0))
    y = x
    for _ in range(20_000):
        y = y + x
    y.backward()
    assert x.grad == 20_001.0


def test_retained_gradients_never_alias():
    a, b = cs.Variable(np.ones(2)), cs.Variable(np.ones(2))
    t = a + b
    y = t + a
    y.backward(retain_grad=True)
    grads = [v.grad for v in (a, b, t, y)]
    for i, g in enumerate(grads):
        for h in grads[i + 1:]:
            assert g is not h and not np.shares_memory(g, h)


def test_unused_and_dropped_outputs_contribute_zeros():
    class Split(cs.Function):
        def forward(self, x):
            return x[:2] * 1.0, x[2:] * 1.0

        def backward(self, g0, g1):
            return np.concatenate([g0, g1])

    x = cs.Variable(np.arange(4.0))
    a = Split()(x)[0]  # the second output is dropped at once
    y = a * 2.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 0.0, 0.0])


def test_scalar_operands_with_arrays():
    x = cs.Variable(np.array([1.0, 2.0, 3.0]))
    w = cs.Variable(np.array(2.0))
    y = x * w + 1.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])
    assert w.grad.shape == () and w.grad == 6.0
    with pytest.raises(ValueError, match="invalid gradient"):
        (cs.Variable(np.ones((2, 3))) + cs.Variable(np.ones(3))).backward()
