"""Function: the protocol a reader's subclass relies on, recording, outputs, errors."""
import gc
import weakref

import numpy as np
import pytest

import dezero
from dezero import Function, Variable, as_array, as_variable, no_grad


# The book's own way of writing functions: forward on arrays, backward on gradients.
class Square(Function):
    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        x = self.inputs[0].data
        gx = 2 * x * gy
        return gx


class Add(Function):
    def forward(self, x0, x1):
        y = x0 + x1
        return y

    def backward(self, gy):
        return gy, gy


def square(x):
    return Square()(x)


def add(x0, x1):
    return Add()(x0, x1)


class Split(Function):
    """Two outputs: the first and second halves of a 1-D array."""

    def forward(self, x):
        n = len(x) // 2
        return x[:n].copy(), x[n:].copy()

    def backward(self, g0, g1):
        return Variable(np.concatenate([g0.data, g1.data]))


# -----------------------------------------------------------------------------
# the seed's scenarios
# -----------------------------------------------------------------------------


def test_add_of_squares():
    x = Variable(np.array(2.0))
    y = Variable(np.array(3.0))
    z = add(square(x), square(y))
    z.backward()
    assert z.data == 13.0
    assert x.grad.data == 4.0
    assert y.grad.data == 6.0


def test_same_variable_twice_then_cleargrad():
    x = Variable(np.array(3.0))
    y = add(x, x)
    y.backward()
    assert x.grad.data == 2.0
    x.cleargrad()
    y = add(add(x, x), x)
    y.backward()
    assert x.grad.data == 3.0


def test_backward_returning_one_gradient_or_a_tuple_or_a_list():
    class TupleSquare(Square):
        def backward(self, gy):
            return (super().backward(gy),)

    class ListAdd(Add):
        def backward(self, gy):
            return [gy, gy]

    x = Variable(np.array(3.0))
    TupleSquare()(x).backward()
    assert x.grad.data == 6.0
    x.cleargrad()
    ListAdd()(x, x).backward()
    assert x.grad.data == 2.0


def test_backward_may_return_ndarrays_and_numpy_scalars():
    class RawSquare(Function):
        def forward(self, x):
            return x ** 2

        def backward(self, gy):
            return 2 * self.inputs[0].data * gy.data  # an ndarray, or a NumPy scalar for 0-d

    for data in (np.array(3.0), np.array([1.0, 2.0])):
        x = Variable(data)
        RawSquare()(x).backward()
        assert isinstance(x.grad, Variable) and isinstance(x.grad.data, np.ndarray)
        np.testing.assert_array_equal(x.grad.data, 2 * data)


# -----------------------------------------------------------------------------
# __call__: conversion, outputs, recording
# -----------------------------------------------------------------------------


def test_forward_gets_arrays_and_outputs_are_variables_of_arrays():
    seen = []

    class Probe(Function):
        def forward(self, *xs):
            seen.extend(type(x) for x in xs)
            return xs[0].sum()  # a NumPy scalar

    y = Probe()(Variable(np.ones(3)), np.ones(2))
    assert seen == [np.ndarray, np.ndarray]
    assert type(y) is Variable
    assert type(y.data) is np.ndarray and y.data.shape == () and y.data == 3.0


def test_scalar_results_become_0d_arrays_of_the_same_dtype():
    x = Variable(np.array(3.0, dtype=np.float32))
    y = square(x)
    assert type(y.data) is np.ndarray and y.dtype == np.float32


def test_forward_returning_a_python_number_is_wrapped():
    class Half(Function):
        def forward(self, x):
            return float(x) / 2

    y = Half()(Variable(np.array(3.0)))
    assert type(y.data) is np.ndarray and y.data == 1.5


def test_forward_returning_a_list_is_rejected():
    class Bad(Function):
        def forward(self, x):
            return [1.0, 2.0]

    with pytest.raises(TypeError, match="list"):
        Bad()(Variable(np.array(1.0)))


def test_inputs_outputs_generation_are_recorded():
    x = Variable(np.array(2.0))
    a = square(x)
    b = square(a)
    c = add(a, b)
    f = c.creator
    assert isinstance(f.inputs, list) and f.inputs[0] is a and f.inputs[1] is b
    assert isinstance(f.outputs, list) and len(f.outputs) == 1
    assert isinstance(f.outputs[0], weakref.ref) and f.outputs[0]() is c
    assert (x.generation, a.generation, b.generation, c.generation) == (0, 1, 2, 3)
    assert (a.creator.generation, b.creator.generation, f.generation) == (0, 1, 2)


def test_zero_inputs_function():
    class Const(Function):
        def forward(self):
            return np.array(7.0)

        def backward(self, gy):
            return ()

    y = Const()()
    assert y.data == 7.0 and y.generation == 1 and y.creator.inputs == []
    y.backward()  # walks the function, which has nothing to differentiate
    assert y.grad is None


def test_three_inputs_generation_is_the_max():
    class Sum3(Function):
        def forward(self, a, b, c):
            return a + b + c

        def backward(self, gy):
            return gy, gy, gy

    x = Variable(np.array(1.0))
    deep = square(square(square(x)))
    y = Sum3()(x, deep, square(x))
    assert y.generation == deep.generation + 1
    y.backward()
    assert x.grad.data == 8.0 + 2.0 + 1.0


def test_outputs_are_held_weakly():
    x = Variable(np.array(2.0))
    y = square(x)
    f = y.creator
    ref = weakref.ref(y)
    del y
    assert ref() is None
    assert f.outputs[0]() is None


def test_multiple_outputs_return_a_list():
    x = Variable(np.arange(4.0))
    outs = Split()(x)
    assert isinstance(outs, list) and len(outs) == 2
    a, b = outs
    assert a.creator is b.creator
    assert a.generation == b.generation == 1
    np.testing.assert_array_equal(b.data, [2.0, 3.0])


def test_a_one_tuple_forward_returns_one_variable():
    class One(Function):
        def forward(self, x):
            return (x * 2,)

        def backward(self, gy):
            return gy * 2

    x = Variable(np.array(1.5))
    y = One()(x)
    assert isinstance(y, Variable) and y.data == 3.0
    y.backward()
    assert x.grad.data == 2.0


def test_no_grad_records_nothing():
    x = Variable(np.array(2.0))
    with no_grad():
        f = Square()
        y = f(x)
        outs = Split()(Variable(np.arange(4.0)))
    assert y.creator is None and y.generation == 0
    assert not hasattr(f, "inputs") and not hasattr(f, "outputs")
    assert all(o.creator is None for o in outs)
    assert dezero.Config.enable_backprop is True


def test_no_grad_keeps_no_input_alive():
    x = Variable(np.ones(1000))
    ref = weakref.ref(x)
    with no_grad():
        y = square(x)
    del x
    assert ref() is None
    assert y.data.shape == (1000,)


def test_non_variable_inputs_are_wrapped():
    y = add(np.array(1.0), np.array(2.0))
    assert y.data == 3.0
    a, b = y.creator.inputs
    assert type(a) is Variable and type(b) is Variable


def test_base_methods_raise_not_implemented():
    class Nothing(Function):
        pass

    with pytest.raises(NotImplementedError, match="Nothing"):
        Nothing()(Variable(np.array(1.0)))

    class ForwardOnly(Function):
        def forward(self, x):
            return x

    y = ForwardOnly()(Variable(np.array(1.0)))
    with pytest.raises(NotImplementedError, match="ForwardOnly"):
        y.backward()


def test_as_array_and_as_variable():
    a = as_array(1.5)
    assert type(a) is np.ndarray and a.shape == () and a == 1.5
    assert type(as_array(np.float32(2))) is np.ndarray
    assert as_array(np.float32(2)).dtype == np.float32
    arr = np.ones(2)
    assert as_array(arr) is arr
    assert as_array(2, np).dtype.kind == "i"
    v = Variable(arr)
    assert as_variable(v) is v
    w = as_variable(arr)
    assert type(w) is Variable and w.data is arr


# -----------------------------------------------------------------------------
# errors escaping forward / backward get the op name and the shapes
# -----------------------------------------------------------------------------


class Broken(Function):
    def forward(self, x0, x1):
        return np.dot(x0, x1)  # shapes (2, 3) and (2, 3) do not align

    def backward(self, gy):
        return gy, gy


def test_forward_errors_name_the_op_and_input_shapes():
    x0 = Variable(np.ones((2, 3)))
    x1 = Variable(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError) as info:
        Broken()(x0, x1)
    msg = str(info.value)
    assert "Broken.forward" in msg
    assert "(2, 3) float64" in msg and "(2, 3) float32" in msg
    assert "not aligned" in msg  # NumPy's own reason is kept


def test_backward_errors_name_the_op_and_gradient_shapes():
    class BadBackward(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            raise RuntimeError("boom")

    y = BadBackward()(Variable(np.ones(4)))
    with pytest.raises(RuntimeError, match=r"boom.*BadBackward\.backward.*\(4,\) float64"):
        y.backward()


def test_unusual_exceptions_keep_their_type_and_get_a_note():
    class MyError(Exception):
        pass

    class Raises(Function):
        def forward(self, x):
            raise MyError("custom")

    with pytest.raises(MyError) as info:
        Raises()(Variable(np.ones(2)))
    notes = getattr(info.value, "__notes__", [])
    assert any("Raises.forward" in n for n in notes)


def test_nested_functions_are_wrapped_once():
    class Outer(Function):
        def forward(self, x):
            return Broken()(Variable(x), Variable(x)).data

    with pytest.raises(ValueError) as info:
        Outer()(Variable(np.ones((2, 3))))
    assert str(info.value).count("failed on") == 1


def test_failed_forward_leaves_no_graph_and_no_state():
    x = Variable(np.ones((2, 3)))
    f = Broken()
    with pytest.raises(ValueError):
        f(x, x)
    assert not hasattr(f, "inputs")
    gc.collect()
