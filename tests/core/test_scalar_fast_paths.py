"""The per-op fast paths of the unary math ops and of arithmetic with a number.

- ``sin``, ``exp`` etc. run their ufunc in the public function and record the node with
  ``_record``; ``Function.__call__`` (a Parameter input) takes the general path. Both must
  give the same bits, dtypes and graph records, and 0-d results stay 0-d ndarrays.
- ``x op c`` for a Variable of NumPy floats and a number records ``Add``/``Sub``/``Mul``/
  ``Div`` with one input and ``c`` held by the op; it must match the op with ``c`` as a
  constant 0-d array of ``x``'s dtype.
- Without ``create_graph`` their backward runs on raw arrays: the same bits as with it.
"""
import operator
import weakref

import numpy as np
import pytest

import dezero.functions as F
from dezero import Parameter, Variable, no_grad
from dezero._ops import math as math_ops
from dezero._ops.arith import Add, Div, Mul, Sub
from dezero.core import _apply, _record
from dezero.testing import check_grad

UNARY = {"sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "exp": np.exp,
         "log": np.log, "sqrt": np.sqrt}
SHAPES = [(), (3,), (2, 3)]
DTYPES = [np.float16, np.float32, np.float64, np.int64, np.bool_]


def _input(shape, dtype):
    a = np.random.default_rng(0).uniform(0.2, 1.2, shape)
    return np.asarray(a > 0.7 if dtype is np.bool_ else a * 3 + 1 if dtype is np.int64 else a,
                      dtype=dtype)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
def test_unary_forward_is_the_ufunc_as_an_ndarray(name, shape, dtype):
    a = _input(shape, dtype)
    with np.errstate(divide="ignore"):  # log(False)
        expected = np.asarray(UNARY[name](a))
        y = getattr(F, name)(Variable(a))
        slow = getattr(F, name)(Parameter(a))  # Function.__call__
    for v in (y, slow):
        assert type(v.data) is np.ndarray and v.shape == shape and v.dtype == expected.dtype
        np.testing.assert_array_equal(v.data, expected)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_fast_path_records_what_call_records(name):
    x = Variable(np.array(0.5)) * 1.0  # generation 1
    y = getattr(F, name)(x)
    f = y.creator
    assert type(f).__name__ == name.capitalize() and isinstance(f, math_ops._Ufunc)
    assert f.generation == 1 and y.generation == 2
    assert type(f.inputs) is list and f.inputs == [x]
    assert type(f.outputs) is list and type(f.outputs[0]) is weakref.ref and f.outputs[0]() is y
    with no_grad():
        z = getattr(F, name)(x)
    assert z.creator is None and z.generation == 0


def test_record_records_what_apply_records():
    x = Variable(np.array(0.5)) * 1.0
    y, z = _apply(F.Exp(), x), _record(F.Exp(), x, np.exp(x.data, out=np.empty(())))
    for v in (y, z):
        f = v.creator
        assert f.inputs == [x] and f.generation == 1 and v.generation == 2
        assert f.outputs[0]() is v and v.name is None and v.grad is None
    with no_grad():
        z = _record(F.Exp(), x, np.exp(x.data, out=np.empty(())))
    assert z.creator is None and z.generation == 0


def _unary_grads(name, a, create_graph):
    x = Variable(a.copy())
    y = getattr(F, name)(x)
    y.backward(create_graph=create_graph)
    return x.grad


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_unary_raw_backward_matches_the_differentiable_one(name, shape, dtype):
    a = _input(shape, dtype)
    raw = _unary_grads(name, a, create_graph=False)
    graph = _unary_grads(name, a, create_graph=True)
    assert type(raw.data) is np.ndarray and raw.creator is None and raw.shape == shape
    assert graph.creator is not None and raw.dtype == graph.dtype
    np.testing.assert_array_equal(raw.data, graph.data)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(), (3,)], ids=str)
def test_unary_second_order(name, shape):
    check_grad(getattr(F, name), np.random.default_rng(1).uniform(0.3, 1.2, shape), order=2)


def test_unary_without_out_ellipsis_wraps_the_scalar(monkeypatch):
    monkeypatch.setattr(math_ops, "_ARRAY_OUT", None)  # NumPy < 2.3
    x = Variable(np.array(0.5, np.float32))
    y = F.sin(x)
    assert type(y.data) is np.ndarray and y.dtype == np.float32
    assert y.data == np.sin(np.float32(0.5))
    assert type(F.Sin()(x).data) is np.ndarray


def test_unary_errors_name_the_op():
    with pytest.raises(TypeError, match=r"^sin: x must hold a numeric"):
        F.sin(Variable(np.array(["a"])))
    with pytest.raises(TypeError, match=r"^exp: x must hold a numeric"):
        F.exp(Variable(np.array(1 + 2j)))
    with pytest.raises(TypeError, match=r"^cos: x must hold a numeric"):
        F.cos(Variable(np.array(1.0, dtype=object)))
    with pytest.raises(TypeError, match=r"^tanh: x is a Variable without data"):
        F.tanh(Variable(None))
    with pytest.raises(TypeError, match=r"^log: x must be a Variable or an ndarray; got float"):
        F.log(1.0)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError, match=r"Exp\.forward"):
        F.exp(Variable(np.array(1000.0)))


# -----------------------------------------------------------------------------
# a Variable with a number
# -----------------------------------------------------------------------------

OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
       "rsub": lambda x, c: c - x, "rdiv": lambda x, c: c / x}
CLASSES = {"add": Add, "sub": Sub, "mul": Mul, "div": Div, "rsub": Sub, "rdiv": Div}
NUMBERS = [2.5, 3, -0.0, np.float64(1.5), np.float32(0.1), np.int64(7)]


def _constant_grads(op, a, c, create_graph, seed=None):
    """y and x.grad, with ``c`` as a number or (``c`` a Variable) the general path."""
    x = Variable(a.copy())
    y = OPS[op](x, c)
    if seed is not None:
        y.grad = Variable(seed)
    y.backward(create_graph=create_graph)
    return y, x.grad


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("c", NUMBERS, ids=lambda c: f"{type(c).__name__}({c})")
@pytest.mark.parametrize("shape", [(), (3,)], ids=str)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_number_operand_matches_a_constant_array(op, c, shape, dtype):
    a = np.asarray(np.random.default_rng(0).uniform(0.5, 2.0, shape), dtype=dtype)
    with np.errstate(divide="ignore"):  # x / -0.0
        y, gx = _constant_grads(op, a, c, create_graph=False)
        y_ref, gx_ref = _constant_grads(op, a, Variable(np.asarray(c, dtype)), create_graph=False)
        y_graph, gx_graph = _constant_grads(op, a, c, create_graph=True)
    assert type(y.creator) is CLASSES[op] and len(y.creator.inputs) == 1
    for v, ref in ((y, y_ref), (gx, gx_ref), (y_graph, y_ref), (gx_graph, gx_ref)):
        assert type(v.data) is np.ndarray and v.shape == shape and v.dtype == dtype
        np.testing.assert_array_equal(v.data, ref.data)
    assert gx.creator is None and gx_graph.creator is not None


@pytest.mark.parametrize("op", sorted(OPS))
def test_number_operand_keeps_a_seed_of_another_dtype_as_before(op):
    a = np.array([0.5, 1.5])
    seed = np.array([1.0, 3.0], np.float32)
    _, gx = _constant_grads(op, a, 2.0, create_graph=False, seed=seed)
    _, gx_ref = _constant_grads(op, a, Variable(np.asarray(2.0)), create_graph=False, seed=seed)
    assert gx.dtype == gx_ref.dtype
    np.testing.assert_array_equal(gx.data, gx_ref.data)


@pytest.mark.parametrize("op", sorted(OPS))
def test_number_operand_higher_order(op):
    check_grad(lambda x: OPS[op](x, 1.5), np.array([0.5, 1.25, 2.0]), order=3)
    check_grad(lambda x: OPS[op](x, 2), np.array(0.75), order=2)


def test_number_operand_takes_the_general_path_otherwise():
    x = Variable(np.array([1, 2]))  # integers: NumPy promotion, a constant Variable
    y = x * 2.5
    assert y.dtype == np.float64 and len(y.creator.inputs) == 2
    p = Parameter(np.array(1.0, np.float32))
    assert (p * 2.0).dtype == np.float32 and len((p * 2.0).creator.inputs) == 2
    with no_grad():
        z = Variable(np.array(1.0)) * 2.0
    assert z.creator is None and type(z.data) is np.ndarray


def test_grads_of_number_ops_share_no_memory():
    x = Variable(np.array([1.0, 2.0]))
    y = x + 1.0
    y.backward(retain_grad=True)
    assert x.grad is not y.grad and not np.shares_memory(x.grad.data, y.grad.data)
