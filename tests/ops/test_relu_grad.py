"""relu's fused backward node (ReLUGrad): values, dtype, double backward, no shared memory."""
import numpy as np

import dezero.functions as F
from dezero import Variable
from dezero._ops.activation import ReLUGrad
from dezero.testing import check_grad


def test_relu_backward_is_one_fused_node_with_the_mask_x_gt_0():
    x = Variable(np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, 1e-30]], np.float32))
    y = F.relu(x)
    gy = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    y.grad = Variable(gy)
    y.backward(create_graph=True)
    np.testing.assert_array_equal(x.grad.data, gy * (x.data > 0))
    assert x.grad.dtype == np.float32
    assert isinstance(x.grad.creator, ReLUGrad)
    assert not np.shares_memory(x.grad.data, gy)


def test_relu_second_derivative_is_zero_and_the_gradient_is_linear_in_gy():
    x = Variable(np.array([-1.5, 0.5, 2.0]))
    y = F.relu(x) * F.relu(x)  # d/dx = 2 relu(x) relu'(x); d2/dx2 = 2 relu'(x)^2
    y.backward(create_graph=True)
    gx = x.grad
    np.testing.assert_allclose(gx.data, [0.0, 1.0, 4.0])
    x.cleargrad()
    gx.backward()
    np.testing.assert_allclose(x.grad.data, [0.0, 2.0, 2.0])
    check_grad(lambda v: F.relu(v) ** 2, np.array([[-1.2, 0.7], [0.3, -0.4]]), order=2)


# -----------------------------------------------------------------------------
# The engine's ownership rule: relu's backward runs in place only on a gradient that the
# backward pass owns (see Function.fresh_grads and _run_backward in dezero/core.py).
# -----------------------------------------------------------------------------

import pytest  # noqa: E402

from dezero import Function  # noqa: E402
from dezero._ops.activation import ReLU  # noqa: E402


@pytest.fixture
def inplace_calls(monkeypatch):
    """Records the gradient arrays that ReLU.backward_inplace received."""
    calls = []
    original = ReLU.backward_inplace

    def spy(self, gy):
        calls.append(gy.data)
        return original(self, gy)

    monkeypatch.setattr(ReLU, "backward_inplace", spy)
    return calls


def _data(seed=0, shape=(3, 4)):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape)


def test_owned_gradient_is_overwritten_in_place(inplace_calls):
    """relu(relu(x)): the outer backward returns a new array, so the inner one owns it."""
    x = Variable(_data())
    h = F.relu(x)
    y = F.relu(h) * 3.0
    y.backward()
    assert len(inplace_calls) == 1
    np.testing.assert_array_equal(x.grad.data, 3.0 * (x.data > 0))


def test_engine_sum_is_owned(inplace_calls):
    """Two uses of h: the pass adds their gradients into a new array, which it owns."""
    x = Variable(_data())
    h = F.relu(x)
    y = F.relu(h) + F.relu(h) * 2.0
    y.backward()
    assert len(inplace_calls) == 1
    np.testing.assert_array_equal(x.grad.data, 3.0 * (x.data > 0))


def test_one_array_sent_to_two_relus_is_not_owned(inplace_calls):
    """Add hands the same gy to both relus: neither may write into it."""
    a, b = Variable(_data(1)), Variable(_data(2))
    y = F.relu(F.relu(a) + F.relu(b))
    gy = np.arange(12.0).reshape(3, 4) + 1
    seed = y.grad = Variable(gy.copy())
    y.backward()
    mask = (np.maximum(a.data, 0) + np.maximum(b.data, 0)) > 0  # the outer relu's
    np.testing.assert_array_equal(a.grad.data, gy * mask * (a.data > 0))
    np.testing.assert_array_equal(b.grad.data, gy * mask * (b.data > 0))
    assert len(inplace_calls) == 0  # the outer relu's gy is the seed: not owned either
    np.testing.assert_array_equal(seed.data, gy)


def test_seed_retained_and_hooked_gradients_are_never_overwritten(inplace_calls):
    x = Variable(_data())
    h = F.relu(x)
    y = F.relu(h) * 1.0
    y.backward(retain_grad=True)  # every gradient becomes some variable's .grad
    assert len(inplace_calls) == 0
    np.testing.assert_array_equal(h.grad.data, np.ones((3, 4)) * (h.data > 0))

    x = Variable(_data())
    h = F.relu(x)
    kept = []
    h.register_hook(lambda g: kept.append(g))  # keeps h's gradient object itself
    (F.relu(h) * 2.0).backward()
    assert len(inplace_calls) == 0
    np.testing.assert_array_equal(kept[0].data, 2.0 * (h.data > 0))
    np.testing.assert_array_equal(x.grad.data, 2.0 * (x.data > 0))


class _Twice(Function):
    """y = x0 + x1 whose backward (wrongly for an in-place consumer) returns one array twice
    while declaring fresh_grads: the engine must not give it to both as owned."""

    fresh_grads = True

    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        g = gy.data.copy()
        return g, g


def test_one_array_returned_twice_is_not_owned(inplace_calls):
    a, b = Variable(_data(1)), Variable(_data(2))
    ra, rb = F.relu(a), F.relu(b)
    y = _Twice()(ra, rb) * 1.0
    y.backward()
    assert len(inplace_calls) == 0
    np.testing.assert_array_equal(a.grad.data, (a.data > 0) * 1.0)
    np.testing.assert_array_equal(b.grad.data, (b.data > 0) * 1.0)


def test_create_graph_never_runs_in_place(inplace_calls):
    x = Variable(_data())
    y = F.relu(F.relu(x)) * 3.0
    y.backward(create_graph=True)
    assert len(inplace_calls) == 0
    np.testing.assert_array_equal(x.grad.data, 3.0 * (x.data > 0))


def test_cnn_step_relu_gradients_run_in_place(inplace_calls):
    """In a conv -> relu -> pooling stack the pooling gradient is owned: relu reuses it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    W = Variable(rng.standard_normal((3, 1, 3, 3)).astype(np.float32))
    h = F.pooling(F.relu(F.conv2d(x, W, pad=1)), 2, 2)
    F.sum(h).backward()
    assert len(inplace_calls) == 1
    assert inplace_calls[0].dtype == np.float32
    check = Variable(W.data.copy())
    F.sum(F.pooling(F.relu(F.conv2d(x, check, pad=1)), 2, 2)).backward(create_graph=True)
    np.testing.assert_allclose(W.grad.data, check.grad.data, rtol=1e-6)
