"""Hand-written tests for arithmetic and elementwise math: kinks, ties, dtypes, scalars."""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable
from dezero.testing import check_grad


def test_float32_with_python_scalars_stays_float32():
    x = Variable(np.ones(3, np.float32))
    for y in (x * 2.0, 2.0 * x, x + 1, 1 - x, x / 3.0, 3.0 / x, x ** 2.0, 2.0 ** x,
              x * np.float64(2.0)):
        assert y.dtype == np.float32


def test_broadcast_add_reduces_each_gradient_to_its_input():
    x0 = Variable(np.array([1.0, 2.0, 3.0]))
    x1 = Variable(np.array([10.0]))
    y = x0 + x1
    y.backward()
    np.testing.assert_array_equal(x1.grad.data, [3.0])
    np.testing.assert_array_equal(x0.grad.data, [1.0, 1.0, 1.0])


def test_operand_of_the_wrong_kind_is_refused():
    x = Variable(np.ones(2))
    with pytest.raises(TypeError, match=r"^add: x1 must be a Variable or an ndarray .*got list"):
        x + [1.0, 2.0]
    with pytest.raises(TypeError, match=r"^mul: x1 must be .*got str"):
        x * "a"


def test_sin_of_integers_works_as_in_step_37():
    x = Variable(np.array([[1, 2, 3], [4, 5, 6]]))
    y = F.sin(x)
    y.backward()
    np.testing.assert_allclose(y.data, np.sin(x.data))
    np.testing.assert_allclose(x.grad.data, np.cos(x.data))


def test_abs_subgradient_at_zero_is_zero():
    x = Variable(np.array([-2.0, 0.0, 3.0]))
    F.abs(x).backward()
    np.testing.assert_array_equal(x.grad.data, [-1.0, 0.0, 1.0])
    assert abs(x).creator is not None  # __abs__ maps to F.abs


def test_clip_gradient_is_inclusive_at_both_bounds():
    x = Variable(np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32))
    y = F.clip(x, -0.5, 0.5)
    y.backward()
    np.testing.assert_array_equal(y.data, [-0.5, -0.5, 0.0, 0.5, 0.5])
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 1.0, 1.0, 0.0])
    assert y.dtype == x.grad.dtype == np.float32


def test_clip_with_numpy_float64_bounds_keeps_float32():
    x = Variable(np.linspace(-1, 1, 5, dtype=np.float32))
    assert F.clip(x, np.float64(1e-15), np.float64(1.0)).dtype == np.float32


def test_maximum_and_minimum_split_ties_evenly():
    a = Variable(np.array([1.0, 2.0, 3.0]))
    b = Variable(np.array([1.0, 0.0, 4.0]))
    F.maximum(a, b).backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 0.0, 1.0])
    a.cleargrad()
    b.cleargrad()
    F.minimum(a, b).backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 1.0, 0.0])


def test_maximum_with_a_scalar_keeps_dtype_and_broadcasts():
    x = Variable(np.array([[-1.0, 2.0], [0.5, -3.0]], np.float32))
    y = F.maximum(x, 0.0)
    assert y.dtype == np.float32
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 1.0], [1.0, 0.0]])
    c = Variable(np.array([0.0, 1.0], np.float32))
    x.cleargrad()
    F.maximum(x, c).backward()  # c broadcast over rows: its gradient sums them
    np.testing.assert_array_equal(c.grad.data, [1.0, 1.0])


def test_where_with_scalar_branch_and_integer_condition():
    x = Variable(np.array([[1.0, -2.0], [3.0, -4.0]], np.float32))
    y = F.where(x.data > 0, x, 0.0)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, [[1.0, 0.0], [3.0, 0.0]])
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [[1.0, 0.0], [1.0, 0.0]])
    z = F.where(np.array([1, 0]), x, -x)  # integer condition: non-zero is true
    np.testing.assert_array_equal(z.data, [[1.0, 2.0], [3.0, 4.0]])


def test_where_reduces_branch_gradients_to_their_shapes():
    cond = np.array([[True, False], [False, False], [True, True]])
    x = Variable(np.array([1.0, 2.0]))
    y = Variable(np.array(5.0))
    F.where(cond, x, y).backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 1.0])
    np.testing.assert_array_equal(y.grad.data, 3.0)


def test_pow_with_array_exponent_and_rpow():
    x = Variable(np.array([[1.5, 2.0], [0.5, 3.0]]))
    c = np.array([2.0, 3.0])
    check_grad(lambda v: F.pow(v, c), x.data, order=2)
    check_grad(lambda v: 2.0 ** v, x.data, order=2)
    y = 2.0 ** x
    np.testing.assert_allclose(y.data, 2.0 ** x.data)


def test_pow_refuses_a_variable_exponent():
    x = Variable(np.ones(2))
    with pytest.raises(TypeError, match=r"^pow: c must be a constant"):
        x ** Variable(np.array(2.0))


def test_sqrt_square_tan_second_derivatives():
    x = Variable(np.array([0.5, 1.0]))
    y = F.sqrt(x)
    y.backward(create_graph=True)
    gx = x.grad
    np.testing.assert_allclose(gx.data, 0.5 / np.sqrt(x.data))
    x.cleargrad()
    gx.backward()
    np.testing.assert_allclose(x.grad.data, -0.25 * x.data ** -1.5)
    check_grad(F.square, np.array([1.0, -2.0]), order=3)
    check_grad(F.tan, np.array([0.3, -0.7]), order=3)


def test_variable_without_data_is_refused():
    with pytest.raises(TypeError, match=r"^exp: x is a Variable without data"):
        F.exp(Variable(None))
