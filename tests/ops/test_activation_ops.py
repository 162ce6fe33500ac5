"""Hand-written tests for activations: stability at +-1000, kinks, formulas."""
import math

import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable
from dezero.testing import check_grad

EXTREME = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0],
                    [1000.0, 1000.0, 3.0]], np.float32)


@pytest.mark.parametrize("op", [F.softmax, F.log_softmax])
def test_softmax_family_is_finite_at_plus_minus_1000(op):
    x = Variable(EXTREME.copy())
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = op(x)
        y.grad = Variable(np.random.randn(*y.shape).astype(np.float32))
        y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    assert np.isfinite(y.data).all()
    assert np.isfinite(x.grad.data).all()


def test_softmax_at_extremes_has_the_right_values():
    y = F.softmax(EXTREME)
    np.testing.assert_allclose(y.data.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y.data[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(y.data[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(y.data[2], [0.5, 0.5, 0.0])
    ls = F.log_softmax(EXTREME)
    np.testing.assert_allclose(ls.data[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(np.exp(ls.data), y.data, atol=1e-7)


def test_softmax_matches_its_simple_twin_and_backward_formula():
    x = np.random.randn(3, 4)
    y = F.softmax(x, axis=1)
    np.testing.assert_allclose(y.data, F.softmax_simple(x, axis=1).data)
    xv = Variable(x)
    y = F.softmax(xv)
    gy = np.random.randn(3, 4)
    y.grad = Variable(gy)
    y.backward()
    s = y.data
    expected = s * gy - s * (s * gy).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(xv.grad.data, expected)
    check_grad(lambda v: F.softmax(v, axis=0), x, order=3)


def test_sigmoid_is_stable_and_uses_y_in_backward():
    x = Variable(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], np.float32))
    with np.errstate(over="raise", invalid="raise"):
        y = F.sigmoid(x)
        y.backward()
    np.testing.assert_allclose(y.data, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-7)
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.data, y.data * (1 - y.data))
    z = np.random.randn(5)
    np.testing.assert_allclose(F.sigmoid(z).data, F.sigmoid_simple(z).data)
    check_grad(F.sigmoid, z, order=3)


def test_relu_gradient_at_zero_is_zero_and_leaky_slope():
    x = Variable(np.array([-1.0, 0.0, 2.0]))
    F.relu(x).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])
    x.cleargrad()
    y = F.leaky_relu(x)
    np.testing.assert_allclose(y.data, [-0.2, 0.0, 2.0])
    y.backward()
    np.testing.assert_allclose(x.grad.data, [0.2, 0.2, 1.0])


def test_softplus_is_finite_for_large_inputs():
    x = Variable(np.array([-1000.0, 0.0, 1000.0], np.float32))
    y = F.softplus(x)
    y.backward()
    np.testing.assert_allclose(y.data, [0.0, np.log(2.0), 1000.0], rtol=1e-6)
    np.testing.assert_allclose(x.grad.data, [0.0, 0.5, 1.0])


def test_gelu_is_the_tanh_approximation_close_to_the_erf_form():
    x = np.linspace(-4, 4, 33)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    y = F.gelu(x).data
    assert np.abs(y - exact).max() < 1e-3
    assert F.gelu(x.astype(np.float32)).dtype == np.float32


def test_sigmoid_grad_is_differentiable_in_both_inputs():
    y = np.random.uniform(0.1, 0.9, (2, 3))
    gy = np.random.randn(2, 3)
    check_grad(lambda a, b: F.SigmoidGrad()(a, b), y, gy, order=2)


# -----------------------------------------------------------------------------
# huge inputs: forward, backward and double backward stay finite (no 0 * inf)
# -----------------------------------------------------------------------------

def _huge(dtype):
    big = float(np.finfo(dtype).max)
    values = [big, -big, big / 2, -big / 2, 1e4, -1e4, 100.0, -100.0, 12.0, -12.0, 0.0]
    if dtype != np.float16:
        values += [2e19, -2e19, 1.8e19, 1e13, -1e13]
    return np.array(values, dtype)


ACTIVATIONS = {
    "sigmoid": F.sigmoid, "relu": F.relu, "leaky_relu": F.leaky_relu, "softplus": F.softplus,
    "gelu": F.gelu, "tanh": F.tanh,
    # each value beside a 0 (x - max between -max and +max overflows, rightly, to -inf)
    "softmax": lambda x: F.softmax(F.stack([x, x * 0], axis=1), axis=1),
    "log_softmax": lambda x: F.log_softmax(F.stack([x * 0, x], axis=0), axis=0),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_activations_stay_finite_for_huge_inputs(name, dtype):
    f = ACTIVATIONS[name]
    x = Variable(_huge(dtype))
    with np.errstate(over="raise", invalid="raise"):
        y = f(x)
        y.backward(create_graph=True)
        gx = x.grad
        x.cleargrad()
        gx.backward()
    assert y.dtype == gx.dtype == dtype
    assert np.isfinite(y.data).all(), y.data
    assert np.isfinite(gx.data).all(), gx.data
    assert x.grad is None or np.isfinite(x.grad.data).all(), x.grad.data


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_at_huge_inputs_has_the_limits_of_x_and_0(dtype):
    # The backward gave nan above about 1.8e19 in float32 (x^2 overflowed, times 1 - t^2 = 0).
    x = Variable(_huge(dtype))
    y = F.gelu(x)
    y.backward()
    big = np.abs(x.data) >= 100
    pos = big & (x.data > 0)
    np.testing.assert_array_equal(y.data[pos], x.data[pos])  # gelu(x) = x exactly there
    np.testing.assert_array_equal(y.data[big & ~pos], 0)
    np.testing.assert_array_equal(x.grad.data[pos], 1)
    np.testing.assert_array_equal(x.grad.data[big & ~pos], 0)


def test_gelu_agrees_with_torch_across_the_clip_point():
    torch = pytest.importorskip("torch")
    data = np.concatenate([np.linspace(-14, 14, 281), [9.999, 10.0, 10.001, -10.0, 1e6]])
    x = Variable(data.copy())
    y = F.gelu(x)
    y.backward(create_graph=True)
    g1 = x.grad
    x.cleargrad()
    g1.backward()
    tx = torch.tensor(data, requires_grad=True)
    ty = torch.nn.functional.gelu(tx, approximate="tanh")
    (tg1,) = torch.autograd.grad(ty.sum(), tx, create_graph=True)
    (tg2,) = torch.autograd.grad(tg1.sum(), tx)
    # (1 - t^2) cancels where gelu' is tiny: absolute tolerances of a few ulps of 1
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(g1.data, tg1.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(x.grad.data, tg2.numpy(), rtol=1e-9, atol=1e-13)
