"""Book checkpoints of API.md section 15 that need only the engine (steps 23-36).

Each test does what the step's script does and compares the printed lines.
"""
import numpy as np

import dezero
from dezero import Variable


def test_step23_first_package_use():
    x = Variable(np.array(1.0))
    y = (x + 3) ** 2
    y.backward()
    assert [str(y), str(x.grad)] == ["variable(16.0)", "variable(8.0)"]


def test_step24_goldstein_price():
    def goldstein(x, y):
        a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x ** 2 - 14 * y + 6 * x * y + 3 * y ** 2)
        b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x ** 2 + 48 * y - 36 * x * y
                                         + 27 * y ** 2)
        return a * b

    x = Variable(np.array(1.0))
    y = Variable(np.array(1.0))
    z = goldstein(x, y)
    z.backward()
    assert f"{x.grad} {y.grad}" == "variable(-5376.0) variable(8064.0)"


def _simple_core():
    """What steps 28-29 do at the top of their scripts."""
    if not dezero.is_simple_core:
        from dezero.core_simple import Variable as SimpleVariable
        from dezero.core_simple import setup_variable

        setup_variable()
        return SimpleVariable
    return Variable  # pragma: no cover


def test_step28_rosenbrock_descent():
    V = _simple_core()

    def rosenbrock(x0, x1):
        return 100 * (x1 - x0 ** 2) ** 2 + (x0 - 1) ** 2

    x0 = V(np.array(0.0))
    x1 = V(np.array(2.0))
    lines = []
    for _ in range(1000):
        lines.append(f"{x0} {x1}")
        y = rosenbrock(x0, x1)
        x0.cleargrad()
        x1.cleargrad()
        y.backward()
        x0.data -= 0.001 * x0.grad
        x1.data -= 0.001 * x1.grad
    assert len(lines) == 1000
    assert lines[0] == "variable(0.0) variable(2.0)"
    last = lines[-1].replace("variable(", "").replace(")", "").split()
    np.testing.assert_allclose([float(v) for v in last],
                               [0.6834917840420289, 0.46565059996514135], rtol=1e-6)


def _check_newton(lines):
    assert lines[0] == "0 variable(2.0)"
    assert lines[1] == "1 variable(1.4545454545454546)"
    value6 = float(lines[6].split("(")[1].rstrip(")"))
    np.testing.assert_allclose(value6, 1.000000000002289, rtol=1e-6)
    assert lines[7:] == ["7 variable(1.0)", "8 variable(1.0)", "9 variable(1.0)"]


def test_step29_newton_with_manual_second_derivative():
    V = _simple_core()

    def f(x):
        return x ** 4 - 2 * x ** 2

    def gx2(x):
        return 12 * x ** 2 - 4

    x = V(np.array(2.0))
    lines = []
    for i in range(10):
        lines.append(f"{i} {x}")
        y = f(x)
        x.cleargrad()
        y.backward()
        x.data -= x.grad / gx2(x.data)
    _check_newton(lines)


def test_step33_newton_with_double_backprop():
    def f(x):
        return x ** 4 - 2 * x ** 2

    x = Variable(np.array(2.0))
    lines = []
    for i in range(10):
        lines.append(f"{i} {x}")
        y = f(x)
        x.cleargrad()
        y.backward(create_graph=True)
        gx = x.grad
        x.cleargrad()
        gx.backward()
        gx2 = x.grad
        x.data -= gx.data / gx2.data
    _check_newton(lines)


def test_step36_double_backprop_expression():
    x = Variable(np.array(2.0))
    y = x ** 2
    y.backward(create_graph=True)
    gx = x.grad
    x.cleargrad()
    z = gx ** 3 + y
    z.backward()
    assert str(x.grad) == "variable(100.0)"


def test_step40_broadcast_add_gradient():
    x0 = Variable(np.array([1, 2, 3]))
    x1 = Variable(np.array([10]))
    y = x0 + x1
    y.backward()
    assert [str(y), str(x1.grad)] == ["variable([11 12 13])", "variable([3])"]
