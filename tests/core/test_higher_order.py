"""Book test functions (sphere, matyas, Goldstein-Price) and higher-order gradients."""
import numpy as np
import pytest

from dezero import Variable


def sphere(x, y):
    return x ** 2 + y ** 2


def matyas(x, y):
    return 0.26 * (x ** 2 + y ** 2) - 0.48 * x * y


def goldstein(x, y):
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x ** 2 - 14 * y + 6 * x * y + 3 * y ** 2)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x ** 2 + 48 * y - 36 * x * y
                                     + 27 * y ** 2)
    return a * b


def rosenbrock(x0, x1):
    return 100 * (x1 - x0 ** 2) ** 2 + (x0 - 1) ** 2


@pytest.mark.parametrize("f,point,expected", [
    (sphere, (1.0, 1.0), (2.0, 2.0)),
    (matyas, (1.0, 1.0), (0.040000000000000036, 0.040000000000000036)),
    (goldstein, (1.0, 1.0), (-5376.0, 8064.0)),
    (rosenbrock, (0.0, 2.0), (-2.0, 400.0)),
], ids=["sphere", "matyas", "goldstein", "rosenbrock"])
def test_book_functions(f, point, expected):
    x = Variable(np.array(point[0]))
    y = Variable(np.array(point[1]))
    z = f(x, y)
    z.backward()
    np.testing.assert_allclose([x.grad.item(), y.grad.item()], expected, rtol=1e-12)


def f4(x):
    return x ** 4 - 2 * x ** 2


def test_second_and_third_derivatives():
    x = Variable(np.array(2.0))
    y = f4(x)
    y.backward(create_graph=True)
    gx = x.grad
    assert gx.data == 24.0  # 4x^3 - 4x
    x.cleargrad()
    gx.backward(create_graph=True)
    gx2 = x.grad
    assert gx2.data == 44.0  # 12x^2 - 4
    x.cleargrad()
    gx2.backward()
    assert x.grad.data == 48.0  # 24x


def test_higher_order_of_sin_like_polynomial_series():
    # d^n/dx^n of x^5 at x=1: 5, 20, 60, 120, 120
    x = Variable(np.array(1.0))
    y = x ** 5
    expected = [5.0, 20.0, 60.0, 120.0, 120.0]
    for want in expected:
        x.cleargrad()
        y.backward(create_graph=True)
        y = x.grad
        assert y.data == want


def test_newton_method_with_double_backprop():
    x = Variable(np.array(2.0))
    history = []
    for _ in range(10):
        history.append(float(x.data))
        y = f4(x)
        x.cleargrad()
        y.backward(create_graph=True)
        gx = x.grad
        x.cleargrad()
        gx.backward()
        gx2 = x.grad
        x.data -= gx.data / gx2.data
    assert history[1] == pytest.approx(1.4545454545454546, rel=1e-12)
    assert history[6] == pytest.approx(1.000000000002289, rel=1e-6)
    assert history[7:] == [1.0, 1.0, 1.0]


def test_gradient_of_a_gradient_expression():
    # step 36: y = x^2, z = (dy/dx)^3 + y, dz/dx = 24x^2 + 2x = 100 at x = 2
    x = Variable(np.array(2.0))
    y = x ** 2
    y.backward(create_graph=True)
    gx = x.grad
    x.cleargrad()
    z = gx ** 3 + y
    z.backward()
    assert x.grad.data == 100.0


def test_create_graph_through_broadcast_and_division():
    x = Variable(np.array([1.0, 2.0]))
    w = Variable(np.array(3.0))
    y = ((x * w) / (x + 1.0)).sum()
    y.backward(create_graph=True)
    gw = w.grad  # sum(x / (x + 1))
    np.testing.assert_allclose(gw.data, 0.5 + 2 / 3)
    x.cleargrad()
    w.cleargrad()
    gw.backward()
    np.testing.assert_allclose(x.grad.data, [1 / 4, 1 / 9])  # d/dx x/(x+1) = 1/(x+1)^2


def test_rpow_and_matmul_second_order():
    x = Variable(np.array(1.5))
    y = 2 ** x
    y.backward(create_graph=True)
    gx = x.grad
    x.cleargrad()
    gx.backward()
    np.testing.assert_allclose(x.grad.data, 2 ** 1.5 * np.log(2) ** 2)
    W = Variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    v = Variable(np.array([[1.0, -1.0]]))
    q = (v @ W @ W).sum()
    q.backward(create_graph=True)
    gW = W.grad
    W.cleargrad()
    (gW * gW).sum().backward()
    assert W.grad.shape == (2, 2)
