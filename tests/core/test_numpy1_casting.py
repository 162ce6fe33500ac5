"""float32 stays float32 under NumPy 1.x's value-based casting too.

NumPy 1.x promotes a 0-d float32 combined with a Python number to float64 (its value-based
casting spares only arrays with dimensions); NumPy 2 keeps float32 (NEP 50). The engine casts
such 0-d results back (``core._narrow_0d``). The end-to-end tests run on both NumPys in CI (the
floor venv has NumPy 1.26); these check the rule itself on whichever NumPy is installed.
"""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable, core


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_a_wider_0d_float_result_is_cast_to_the_inputs_dtype(dtype):
    y = core._narrow_0d(np.asarray(1.5), [np.ones((), dtype)])
    assert y.dtype == dtype and y == 1.5


def test_a_float64_input_keeps_a_float64_result():
    # float32 meeting a float64 array is float64 under both NumPys: nothing to narrow
    y = core._narrow_0d(np.asarray(1.5), [np.ones((), np.float32), np.ones((), np.float64)])
    assert y.dtype == np.float64


def test_integer_inputs_and_arrays_with_dimensions_are_left_alone():
    assert core._narrow_0d(np.asarray(0.5), [np.ones((), np.int64)]).dtype == np.float64
    y = np.ones(3)
    assert core._narrow_0d(y, [np.ones(3, np.float32)]) is y


@pytest.mark.parametrize("op", [
    lambda x: x * 0.5, lambda x: 1 - x, lambda x: x / 3, lambda x: 2.0 ** x,
    lambda x: F.leaky_relu(x, 0.1), lambda x: F.maximum(x, 0.0), lambda x: F.clip(x, 0.1, 0.9),
    lambda x: F.sigmoid(x), lambda x: F.sum(x * x) / 2, lambda x: abs(-x) ** 0.5,
])
def test_0d_float32_through_python_numbers_stays_float32_with_its_gradient(op):
    x = Variable(np.array(0.25, np.float32))
    y = op(x)
    assert y.dtype == np.float32 and type(y.data) is np.ndarray
    y.backward()
    assert x.grad.dtype == np.float32
