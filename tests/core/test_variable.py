"""Variable: construction, array-like attributes, repr, graph bookkeeping, devices."""
import copy
import pickle
import re

import numpy as np
import pytest

import dezero
from dezero import Parameter, Variable, cuda

# -----------------------------------------------------------------------------
# construction
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1.0, 1, [1.0, 2.0], (1.0,), "x", np.float64(1.0), np.int64(3)])
def test_non_array_data_raises_type_error_naming_the_type(bad):
    with pytest.raises(TypeError, match="^" + re.escape(f"{type(bad)} is not supported")):
        Variable(bad)


def test_float_message_keeps_the_book_wording():
    with pytest.raises(TypeError) as info:
        Variable(1.0)
    assert str(info.value).startswith("<class 'float'> is not supported")


def test_none_is_allowed():
    x = Variable(None)
    assert x.data is None
    assert x.grad is None and x.creator is None and x.generation == 0
    assert repr(x) == "variable(None)"


def test_integer_and_float32_arrays_are_kept_as_is():
    i = np.array([1, 2, 3])
    f = np.array([1.0], dtype=np.float32)
    assert Variable(i).data is i
    assert Variable(f).data is f


def test_ndarray_subclass_is_accepted():
    data = np.ma.masked_array([1.0, 2.0])
    assert Variable(data).data is data


def test_name_and_defaults():
    x = Variable(np.array(1.0), "x")
    assert x.name == "x"
    assert x.grad is None and x.creator is None and x.generation == 0
    assert Variable(np.array(1.0), name="w").name == "w"


def test_parameter_is_a_variable_marker():
    p = Parameter(np.ones((2, 3)), name="W")
    assert isinstance(p, Variable)
    assert type(p) is Parameter
    assert p.name == "W" and p.shape == (2, 3)
    y = p * 2.0
    y.backward()
    assert type(y) is Variable
    np.testing.assert_array_equal(p.grad.data, np.full((2, 3), 2.0))


# -----------------------------------------------------------------------------
# array-like attributes
# -----------------------------------------------------------------------------


def test_shape_ndim_size_dtype_len():
    x = Variable(np.zeros((2, 3, 4), dtype=np.float32))
    assert x.shape == (2, 3, 4)
    assert x.ndim == 3
    assert x.size == 24
    assert x.dtype == np.float32
    assert len(x) == 2


def test_len_of_0d_raises_like_numpy():
    with pytest.raises(TypeError):
        len(Variable(np.array(1.0)))


def test_iteration_yields_variables_with_a_graph():
    x = Variable(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    rows = list(x)
    assert len(rows) == 3
    assert all(type(r) is Variable for r in rows)
    np.testing.assert_array_equal(rows[1].data, [3.0, 4.0])
    total = rows[0] + rows[2]
    total.backward()
    np.testing.assert_array_equal(x.grad.data, [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]])


def test_item():
    assert Variable(np.array(2.5)).item() == 2.5
    assert type(Variable(np.array([3], dtype=np.int64)).item()) is int
    assert Variable(np.array([[1.5]], dtype=np.float32)).item() == 1.5


@pytest.mark.parametrize("data", [np.zeros(2), np.zeros((0,)), None])
def test_item_of_other_sizes_raises_value_error(data):
    with pytest.raises(ValueError, match="item"):
        Variable(data).item()


def test_array_priority_makes_ndarray_op_variable_a_variable():
    assert Variable.__array_priority__ == 200
    x = Variable(np.array([1.0, 2.0]))
    for y in (np.ones(2) + x, np.ones(2) * x, np.ones(2) - x, np.ones(2) / x):
        assert type(y) is Variable


def test_hash_and_eq_are_by_identity():
    a = Variable(np.array(1.0))
    b = Variable(np.array(1.0))
    assert a == a and a != b
    assert len({a, b, a}) == 2
    d = {a: 1, b: 2}
    assert d[a] == 1 and d[b] == 2


def test_no_comparison_operators():
    a = Variable(np.array(1.0))
    with pytest.raises(TypeError):
        a < a  # noqa: B015


# -----------------------------------------------------------------------------
# repr
# -----------------------------------------------------------------------------


def test_repr_scalar():
    assert repr(Variable(np.array(1.0))) == "variable(1.0)"
    assert repr(Variable(np.array(16.0))) == "variable(16.0)"


def test_repr_1d():
    assert repr(Variable(np.array([11, 12, 13]))) == "variable([11 12 13])"


def test_repr_2d_indents_rows_by_nine_spaces():
    x = Variable(np.array([[1, 2, 3], [4, 5, 6]]))
    assert repr(x) == "variable([[1 2 3]\n          [4 5 6]])"
    first, second = repr(x).split("\n")
    assert second.startswith(" " * 10 + "[")
    assert first.index("[[") + 1 == second.index("[")


def test_repr_3d_and_print():
    x = Variable(np.arange(8).reshape(2, 2, 2))
    body = str(x.data).replace("\n", "\n" + " " * 9)
    assert repr(x) == "variable(" + body + ")"
    assert str(x) == repr(x)


# -----------------------------------------------------------------------------
# graph bookkeeping
# -----------------------------------------------------------------------------


def test_set_creator_sets_generation():
    class Dummy(dezero.Function):
        pass

    f = Dummy()
    f.generation = 4
    x = Variable(np.array(1.0))
    x.set_creator(f)
    assert x.creator is f and x.generation == 5


def test_cleargrad():
    x = Variable(np.array(3.0))
    (x * x).backward()
    assert x.grad is not None
    x.cleargrad()
    assert x.grad is None


def test_unchain():
    x = Variable(np.array(3.0))
    y = x * 2.0
    y.unchain()
    assert y.creator is None


def test_unchain_backward_cuts_everything_behind_but_keeps_own_creator():
    x = Variable(np.array(1.0))
    a = x * 2.0
    b = a + 1.0
    c = b * b
    creator = c.creator
    c.unchain_backward()
    assert c.creator is creator
    assert a.creator is None and b.creator is None and x.creator is None
    c.backward()
    assert b.grad.item() == 2 * b.item()  # b is a leaf now
    assert x.grad is None


def test_unchain_backward_stops_gradients_at_the_cut():
    x = Variable(np.array(2.0))
    h = x * 3.0
    y = h * h
    y.unchain_backward()
    y.backward()
    assert x.grad is None
    assert h.grad.item() == 12.0


def test_unchain_backward_on_a_leaf_is_a_no_op():
    x = Variable(np.array(1.0))
    x.unchain_backward()
    assert x.creator is None


def test_unchain_backward_handles_shared_subgraphs():
    x = Variable(np.array(1.0))
    a = x + 1.0
    b = a * a
    c = a + b
    c.unchain_backward()
    assert a.creator is None and b.creator is None


# -----------------------------------------------------------------------------
# shape helpers (thin wrappers over dezero.functions)
# -----------------------------------------------------------------------------


def test_reshape_accepts_ints_tuple_and_list():
    x = Variable(np.arange(6.0))
    for y in (x.reshape(2, 3), x.reshape((2, 3)), x.reshape([2, 3])):
        assert y.shape == (2, 3)
    y = x.reshape(3, 2)
    y.backward()
    assert x.grad.shape == (6,)


def test_transpose_forms_and_T():
    x = Variable(np.zeros((2, 3, 4)))
    assert x.transpose().shape == (4, 3, 2)
    assert x.transpose(None).shape == (4, 3, 2)
    assert x.transpose(1, 0, 2).shape == (3, 2, 4)
    assert x.transpose((2, 0, 1)).shape == (4, 2, 3)
    assert x.transpose([2, 0, 1]).shape == (4, 2, 3)
    assert x.T.shape == (4, 3, 2)


def test_sum_method():
    x = Variable(np.arange(6.0).reshape(2, 3))
    assert x.sum().item() == 15.0
    np.testing.assert_array_equal(x.sum(axis=0).data, [3.0, 5.0, 7.0])
    assert x.sum(axis=1, keepdims=True).shape == (2, 1)


# -----------------------------------------------------------------------------
# devices and copies
# -----------------------------------------------------------------------------


def test_to_cpu_is_a_no_op_for_numpy_and_none():
    data = np.ones(3)
    x = Variable(data)
    x.to_cpu()
    assert x.data is data
    v = Variable(None)
    v.to_cpu()
    assert v.data is None


@pytest.mark.skipif(cuda.gpu_enable, reason="checks the error raised without a usable GPU")
def test_to_gpu_without_gpu_raises_runtime_error():
    x = Variable(np.ones(3))
    with pytest.raises(RuntimeError, match="CuPy"):
        x.to_gpu()
    Variable(None).to_gpu()  # a no-op when data is None


@pytest.mark.gpu
def test_to_gpu_and_back():
    x = Variable(np.arange(3.0))
    (x * 2.0).backward()
    x.to_gpu()
    assert cuda.get_array_module(x) is cuda.cupy
    assert cuda.get_array_module(x.grad) is cuda.cupy
    y = x * x
    y.backward()
    x.to_cpu()
    assert isinstance(x.data, np.ndarray)
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0, 6.0])


def test_get_array_module():
    assert cuda.get_array_module(np.ones(2)) is np
    assert cuda.get_array_module(Variable(np.ones(2))) is np
    assert cuda.get_array_module(1.0) is np


def test_variables_have_slots_but_copy_and_pickle():
    x = Variable(np.arange(3.0), name="x")
    with pytest.raises(AttributeError):
        x.some_new_attribute = 1
    for y in (copy.deepcopy(x), pickle.loads(pickle.dumps(x))):
        assert y.name == "x" and y.data is not x.data
        np.testing.assert_array_equal(y.data, x.data)
    p = copy.deepcopy(Parameter(np.ones(2), name="W"))
    assert type(p) is Parameter and p.name == "W"
