"""Backward without create_graph runs on raw arrays for Linear, MatMul, ReLU and Sigmoid:
it must give the same bits and dtypes as the differentiable path of create_graph=True."""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable

RNG = np.random.default_rng(0)


def _grads(fn, arrays, create_graph):
    vs = [Variable(a.copy()) if a is not None else None for a in arrays]
    y = fn(*vs)
    y.grad = Variable(np.linspace(-1, 1, y.size, dtype=y.dtype).reshape(y.shape))
    y.backward(create_graph=create_graph)
    return [None if v is None or v.grad is None else v.grad.data for v in vs]


CASES = {
    "linear": (lambda x, W, b: F.linear(x, W, b), [(5, 4), (4, 3), (3,)]),
    "linear_nobias": (lambda x, W: F.linear(x, W), [(5, 4), (4, 3)]),
    "linear_batched": (lambda x, W, b: F.linear(x, W, b), [(2, 5, 4), (4, 3), (3,)]),
    "linear_wide": (lambda x, W, b: F.linear(x, W, b), [(300, 70), (70, 60), (60,)]),
    "matmul": (lambda x, W: F.matmul(x, W), [(5, 4), (4, 3)]),
    "relu": (lambda x: F.relu(x), [(6, 7)]),
    "sigmoid": (lambda x: F.sigmoid(x), [(6, 7)]),
    "mlp": (lambda x, W, b: F.sigmoid(F.relu(F.linear(x, W, b))), [(5, 4), (4, 3), (3,)]),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raw_and_graph_backward_agree_bit_for_bit(name, dtype):
    fn, shapes = CASES[name]
    arrays = [RNG.standard_normal(s).astype(dtype) for s in shapes]
    raw = _grads(fn, arrays, create_graph=False)
    graph = _grads(fn, arrays, create_graph=True)
    for a, r, g in zip(arrays, raw, graph):
        assert r.dtype == g.dtype == dtype and r.shape == a.shape
        np.testing.assert_array_equal(r, g)


def test_raw_linear_backward_skips_inputs_given_as_arrays():
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    W = Variable(RNG.standard_normal((4, 3)).astype(np.float32))
    b = Variable(np.zeros(3, np.float32))
    y = F.linear(x, W, b)
    y.backward()
    assert W.grad.dtype == np.float32 and b.grad.dtype == np.float32
    np.testing.assert_array_equal(W.grad.data, x.T @ np.ones((5, 3), np.float32))
    np.testing.assert_array_equal(b.grad.data, np.full(3, 5, np.float32))
