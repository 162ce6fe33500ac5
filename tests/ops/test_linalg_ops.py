"""Hand-written tests for matmul, linear and linear_simple."""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable


def test_matmul_error_message_follows_the_contract():
    x = np.ones((2, 3), np.float32)
    W = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError) as info:
        F.matmul(x, W)
    assert str(info.value) == ("matmul: x.shape[-1] (3) != W.shape[0] (4); "
                               "got x (2, 3) float32, W (4, 5) float32")


def test_matmul_operators_and_vector_shapes():
    x = Variable(np.random.randn(2, 3))
    W = Variable(np.random.randn(3, 4))
    assert (x @ W).shape == (2, 4)
    assert (x.data @ W).shape == (2, 4)  # __rmatmul__
    assert x.dot(W).shape == (2, 4) and x.matmul(W).shape == (2, 4)
    v = Variable(np.random.randn(3))
    assert F.matmul(v, W).shape == (4,)
    assert F.matmul(x, v).shape == (2,)
    assert F.matmul(v, v).shape == ()


def test_batched_matmul_reduces_broadcast_gradients():
    x = Variable(np.random.randn(2, 1, 2, 3))
    W = Variable(np.random.randn(3, 3, 2))
    y = F.matmul(x, W)
    assert y.shape == (2, 3, 2, 2)
    y.backward()
    assert x.grad.shape == x.shape and W.grad.shape == W.shape
    np.testing.assert_allclose(W.grad.data, np.einsum("abik,abij->bkj",
                                                      np.broadcast_to(x.data, (2, 3, 2, 3)),
                                                      np.ones((2, 3, 2, 2))))


def test_linear_is_one_node_and_without_bias_returns_two_gradients():
    x = Variable(np.random.randn(4, 3))
    W = Variable(np.random.randn(3, 2))
    y = F.linear(x, W)
    assert isinstance(y.creator, F.Linear)
    assert len(y.creator.inputs) == 2
    grads = y.creator.backward(Variable(np.ones((4, 2))))
    assert len(grads) == 2
    b = Variable(np.random.randn(2))
    y = F.linear(x, W, b)
    assert isinstance(y.creator, F.Linear) and y.creator.inputs[2] is b
    y.backward()
    np.testing.assert_allclose(b.grad.data, [4.0, 4.0])
    np.testing.assert_allclose(W.grad.data, x.data.T @ np.ones((4, 2)))


def test_linear_float32_end_to_end_and_raw_input():
    x = np.random.randn(5, 3).astype(np.float32)  # raw data: no gradient is needed for it
    W = Variable(np.random.randn(3, 2).astype(np.float32))
    b = Variable(np.zeros(2, np.float32))
    y = F.linear(x, W, b)
    assert y.dtype == np.float32
    y.backward()
    assert W.grad.dtype == np.float32 and b.grad.dtype == np.float32
    np.testing.assert_allclose(W.grad.data, x.T @ np.ones((5, 2), np.float32), rtol=1e-6)


def test_linear_simple_frees_the_product_and_matches_linear():
    x = Variable(np.random.randn(4, 3))
    W = Variable(np.random.randn(3, 2))
    b = Variable(np.random.randn(2))
    y = F.linear_simple(x, W, b)
    t = y.creator.inputs[0]
    assert t.data is None  # the (N, O) product was released
    y.backward()
    gW, gb = W.grad.data.copy(), b.grad.data.copy()
    W.cleargrad()
    b.cleargrad()
    z = F.linear(x, W, b)
    np.testing.assert_allclose(y.data, z.data)
    z.backward()
    np.testing.assert_allclose(W.grad.data, gW)
    np.testing.assert_allclose(b.grad.data, gb)
    assert F.linear_simple(x, W).creator.__class__ is F.MatMul
