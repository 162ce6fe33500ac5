"""Book checkpoints of steps 41-47 (API.md section 15), written as the book's readers write them."""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable
from dezero.models import MLP


def test_step41_matmul_gradient_shapes():
    x = Variable(np.random.randn(2, 3))
    W = Variable(np.random.randn(3, 4))
    y = F.matmul(x, W)
    y.backward()
    assert x.grad.shape == (2, 3)
    assert W.grad.shape == (3, 4)


def test_step42_linear_regression():
    np.random.seed(0)
    x = np.random.rand(100, 1)
    y = 5 + 2 * x + np.random.rand(100, 1)
    x, y = Variable(x), Variable(y)
    W = Variable(np.zeros((1, 1)))
    b = Variable(np.zeros(1))

    def predict(x):
        return F.matmul(x, W) + b

    def mean_squared_error(x0, x1):
        diff = x0 - x1
        return F.sum(diff ** 2) / len(diff)

    lr = 0.1
    for _ in range(100):
        y_pred = predict(x)
        loss = mean_squared_error(y, y_pred)
        W.cleargrad()
        b.cleargrad()
        loss.backward()
        W.data -= lr * W.grad.data
        b.data -= lr * b.grad.data
    assert repr(W) == "variable([[2.11807369]])"
    assert repr(b) == "variable([5.46608905])"
    np.testing.assert_allclose(loss.data, 0.07908606512411756, rtol=1e-6)


def test_step43_two_layer_network_on_sine():
    np.random.seed(0)
    x = np.random.rand(100, 1)
    y = np.sin(2 * np.pi * x) + np.random.rand(100, 1)
    I, H, O = 1, 10, 1
    W1 = Variable(0.01 * np.random.randn(I, H))
    b1 = Variable(np.zeros(H))
    W2 = Variable(0.01 * np.random.randn(H, O))
    b2 = Variable(np.zeros(O))

    def predict(x):
        y = F.linear(x, W1, b1)
        y = F.sigmoid(y)
        return F.linear(y, W2, b2)

    lr = 0.2
    printed = []
    for i in range(10000):
        y_pred = predict(x)
        loss = F.mean_squared_error(y, y_pred)
        for p in (W1, b1, W2, b2):
            p.cleargrad()
        loss.backward()
        for p in (W1, b1, W2, b2):
            p.data -= lr * p.grad.data
        if i % 1000 == 0:
            printed.append(float(loss.data))
    np.testing.assert_allclose(printed[0], 0.8473695850105871, rtol=1e-6)
    np.testing.assert_allclose(printed[-1], 0.07722132399559317, rtol=1e-6)


def test_step47_softmax_and_cross_entropy():
    np.random.seed(0)
    model = MLP((10, 3))
    x = np.array([[0.2, -0.4]])
    y = model(x)
    np.testing.assert_allclose(y.data, [[-0.61505777, -0.42790161, 0.31733287]], rtol=1e-6)
    p = F.softmax(y)
    np.testing.assert_allclose(p.data, [[0.21068639, 0.25404893, 0.53526468]], rtol=1e-6)
    x = np.array([[0.2, -0.4], [0.3, 0.5], [1.3, -3.2], [2.1, 0.3]])
    t = np.array([2, 0, 1, 0])
    loss = F.softmax_cross_entropy(model(x), t)
    # The book shows "1.4967442..." (more digits follow, so no rounded comparison).
    assert str(float(loss.data)).startswith("1.4967442")


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "softmax_cross_entropy_simple"])
def test_step47_both_cross_entropies_agree(name):
    np.random.seed(0)
    model = MLP((10, 3))
    x = np.array([[0.2, -0.4], [0.3, 0.5], [1.3, -3.2], [2.1, 0.3]])
    t = np.array([2, 0, 1, 0])
    loss = getattr(F, name)(model(x), t)
    np.testing.assert_allclose(float(loss.data), 1.4967442, rtol=1e-6)
