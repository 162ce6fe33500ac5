"""Operator overloads, broadcasting gradients and the scalar dtype rule."""
import operator

import numpy as np
import pytest

import dezero
from dezero import Variable
from dezero.core import Add, Div, Mul, Neg, Pow, Sub, add, div, mul, neg, pow, rdiv, rsub, sub

BINARY = [
    ("+", operator.add, lambda a, b: (np.ones_like(a), np.ones_like(b))),
    ("-", operator.sub, lambda a, b: (np.ones_like(a), -np.ones_like(b))),
    ("*", operator.mul, lambda a, b: (b, a)),
    ("/", operator.truediv, lambda a, b: (1 / b, -a / b ** 2)),
]


@pytest.mark.parametrize("name,op,grads", BINARY, ids=[b[0] for b in BINARY])
def test_variable_op_variable(name, op, grads):
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    x0, x1 = Variable(a), Variable(b)
    y = op(x0, x1)
    y.backward()
    np.testing.assert_allclose(y.data, op(a, b))
    ga, gb = grads(a, b)
    np.testing.assert_allclose(x0.grad.data, ga)
    np.testing.assert_allclose(x1.grad.data, gb)


@pytest.mark.parametrize("name,op,grads", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("other", [2.0, 3, np.float64(2.5), np.int32(2), np.array(1.5),
                                   np.array([1.0, 2.0, 4.0])],
                         ids=["float", "int", "np.float64", "np.int32", "0d", "1d"])
def test_mixed_operands_on_both_sides(name, op, grads, other):
    a = np.array([1.0, 2.0, 3.0])
    x = Variable(a)
    for y, expected, which in ((op(x, other), op(a, other), 0), (op(other, x), op(other, a), 1)):
        assert type(y) is Variable
        np.testing.assert_allclose(y.data, expected)
        x.cleargrad()
        y.backward()
        pair = (a, np.asarray(other, dtype=float))
        ga = grads(*pair)[0] if which == 0 else grads(*pair[::-1])[1]
        np.testing.assert_allclose(x.grad.data, np.broadcast_to(ga, a.shape))


def test_neg_and_pow():
    x = Variable(np.array([1.0, -2.0]))
    y = -x
    y.backward()
    np.testing.assert_array_equal(y.data, [-1.0, 2.0])
    np.testing.assert_array_equal(x.grad.data, [-1.0, -1.0])
    x.cleargrad()
    y = x ** 3
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 12.0])


def test_pow_with_numpy_and_array_exponents():
    x = Variable(np.array([2.0, 3.0]))
    y = x ** np.float64(2)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 6.0])
    x.cleargrad()
    y = x ** np.array([1.0, 2.0])
    y.backward()
    np.testing.assert_array_equal(y.data, [2.0, 9.0])
    np.testing.assert_array_equal(x.grad.data, [1.0, 6.0])


def test_rpow():
    x = Variable(np.array(3.0))
    y = 2 ** x
    y.backward()
    assert y.data == 8.0
    np.testing.assert_allclose(x.grad.data, 8.0 * np.log(2.0))


def test_matmul_both_sides():
    rng = np.random.default_rng(0)
    a, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    x, W = Variable(a), Variable(w)
    y = x @ W
    y.backward()
    np.testing.assert_allclose(y.data, a @ w)
    np.testing.assert_allclose(x.grad.data, np.ones((2, 4)) @ w.T)
    np.testing.assert_allclose(W.grad.data, a.T @ np.ones((2, 4)))
    x.cleargrad()
    y = x @ w  # ndarray on the right
    assert type(y) is Variable
    z = a.T @ x  # ndarray on the left: __rmatmul__
    assert type(z) is Variable and z.shape == (3, 3)
    np.testing.assert_allclose(z.data, a.T @ a)


def test_abs_and_getitem():
    x = Variable(np.array([-1.0, 2.0, -3.0]))
    y = abs(x)
    y.backward()
    np.testing.assert_array_equal(y.data, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x.grad.data, [-1.0, 1.0, -1.0])
    x.cleargrad()
    y = x[np.array([0, 0, 2])]
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 0.0, 1.0])
    assert x[1:].shape == (2,)


def test_methods_installed_by_setup_variable():
    x = Variable(np.array([[1.0, 5.0], [3.0, 2.0]]))
    np.testing.assert_array_equal(x.max().data, 5.0)
    np.testing.assert_array_equal(x.min(axis=0).data, [1.0, 2.0])
    np.testing.assert_array_equal(x.matmul(x).data, x.data @ x.data)
    np.testing.assert_array_equal(x.dot(x).data, x.data @ x.data)


def test_in_place_operators_rebind():
    x = Variable(np.array(1.0))
    y = x
    y += 2.0
    assert y is not x and x.data == 1.0 and y.data == 3.0
    y *= x
    y -= 1.0
    y /= 2.0
    y.backward()
    assert x.grad.data == 2.0  # y = ((x + 2) * x - 1) / 2 -> (2x + 2) / 2


def test_broadcast_gradients_reduce_to_each_input_shape():
    x0 = Variable(np.array([1, 2, 3]))
    x1 = Variable(np.array([10]))
    y = x0 + x1
    y.backward()
    np.testing.assert_array_equal(y.data, [11, 12, 13])
    np.testing.assert_array_equal(x1.grad.data, [3])
    a = Variable(np.ones((2, 3)))
    b = Variable(np.ones((3,)))
    c = Variable(np.ones((2, 1)))
    (a * b - c / a).backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,) and c.grad.shape == (2, 1)
    np.testing.assert_array_equal(b.grad.data, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(c.grad.data, [[-3.0], [-3.0]])


def test_ndarray_op_variable_is_a_variable_with_gradient():
    x = Variable(np.array([1.0, 2.0]))
    y = np.array([3.0, 4.0]) * x + np.array([1.0, 1.0])
    assert type(y) is Variable
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


def test_functions_and_classes_of_core():
    x0, x1 = Variable(np.array(6.0)), Variable(np.array(3.0))
    assert add(x0, x1).data == 9.0 and sub(x0, x1).data == 3.0
    assert rsub(x0, x1).data == -3.0 and mul(x0, x1).data == 18.0
    assert div(x0, x1).data == 2.0 and rdiv(x0, x1).data == 0.5
    assert neg(x0).data == -6.0 and pow(x1, 2).data == 9.0
    assert add(x0, 1.0).creator.__class__ is Add
    for cls in (Add, Sub, Mul, Div, Neg, Pow):
        assert issubclass(cls, dezero.Function)
    assert Pow(3)(x1).data == 27.0


# -----------------------------------------------------------------------------
# dtype rule [D2]: a scalar operand takes the floating Variable's dtype
# -----------------------------------------------------------------------------

SCALARS = [2.0, 2, np.float64(2.0), np.float32(2.0), np.int64(2), np.array(2.0).item()]


@pytest.mark.parametrize("c", SCALARS, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow])
def test_float32_stays_float32_with_scalars(op, c):
    x = Variable(np.array([1.0, 2.0], dtype=np.float32))
    ys = [op(x, c)]
    if op is not operator.pow or isinstance(c, (int, float)):
        ys.append(op(c, x))
    for y in ys:
        assert y.dtype == np.float32, (op, c)
        x.cleargrad()
        y.backward()
        assert x.grad.dtype == np.float32


def test_float32_chain_of_mixed_ops_stays_float32():
    x = Variable(np.array(2.0, dtype=np.float32))
    y = (x ** 4 - 2 * x ** 2) / 3.0 + np.float64(1.0) - abs(-x) * 0.5
    assert y.dtype == np.float32
    y.backward(create_graph=True)
    assert x.grad.dtype == np.float32
    gx = x.grad
    x.cleargrad()
    gx.backward()
    assert x.grad.dtype == np.float32


def test_array_operands_follow_numpy_promotion():
    x = Variable(np.array([1.0], dtype=np.float32))
    assert (x + np.array([1.0])).dtype == np.float64
    assert (x + np.array([1.0], dtype=np.float16)).dtype == np.float32


def test_integer_variable_with_float_scalar_promotes():
    x = Variable(np.array([1, 2]))
    assert (x * 1.5).dtype == np.float64
    assert (x + 1).dtype == x.dtype
