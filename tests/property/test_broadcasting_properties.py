"""Properties of the broadcasting core over random shapes and dtypes (hypothesis).

``sum_to`` and ``broadcast_to`` are adjoint, ``get_item``'s gradient scatter-adds, and
``reshape``/``transpose`` gradients undo the forward; float32 stays float32 throughout.
"""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import dezero.functions as F  # noqa: E402
from dezero import Variable  # noqa: E402

FLOATS = st.sampled_from([np.float32, np.float64])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


def _values(dtype, shape):
    # small integers: every sum is exact in float32, so the checks can be exact
    return hnp.arrays(dtype, shape, elements=st.integers(-8, 8).map(float))


@st.composite
def reducible(draw):
    """(x, shape): ``shape`` broadcasts to ``x.shape`` (leading axes dropped, some set to 1)."""
    dtype = draw(FLOATS)
    xshape = draw(SHAPES)
    drop = draw(st.integers(0, len(xshape)))
    kept = xshape[drop:]
    target = tuple(1 if draw(st.booleans()) else n for n in kept)
    return draw(_values(dtype, xshape)), target


def _sum_to_ref(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and x.shape[lead + i] != 1)
    return x.sum(axis=axes, keepdims=True).reshape(shape) if axes else x.reshape(shape)


@given(reducible())
def test_sum_to_matches_summing_the_broadcast_axes(case):
    x, shape = case
    y = F.sum_to(Variable(x), shape)
    assert y.shape == shape and y.dtype == x.dtype
    np.testing.assert_array_equal(y.data, _sum_to_ref(x, shape))


@given(reducible(), st.data())
def test_sum_to_and_broadcast_to_are_adjoint(case, data):
    # <sum_to(a), b> == <a, broadcast_to(b)>, and each is the other's gradient
    a, shape = case
    b = data.draw(_values(a.dtype, shape))
    xa, xb = Variable(a), Variable(b)
    s = F.sum_to(xa, shape)
    t = F.broadcast_to(xb, a.shape)
    assert t.shape == a.shape and t.dtype == a.dtype
    assert float((s.data * b).sum()) == float((a * t.data).sum())

    s.grad = Variable(b.copy())
    s.backward()
    np.testing.assert_array_equal(xa.grad.data, np.broadcast_to(b, a.shape))
    assert xa.grad.dtype == a.dtype
    t.grad = Variable(a.copy())
    t.backward()
    np.testing.assert_array_equal(xb.grad.data, _sum_to_ref(a, shape))
    assert xb.grad.dtype == b.dtype


@given(reducible())
def test_broadcast_then_sum_to_multiplies_by_the_copies(case):
    x, shape = case
    small = _sum_to_ref(x, shape)
    v = Variable(small)
    y = F.sum_to(F.broadcast_to(v, x.shape), shape)
    copies = x.size // small.size
    np.testing.assert_array_equal(y.data, small * copies)
    y.backward()
    np.testing.assert_array_equal(v.grad.data, np.full(shape, copies, dtype=x.dtype))


@st.composite
def indexed(draw):
    """(x, index): a basic index (ints, slices, None, Ellipsis) or integer arrays with repeats."""
    dtype = draw(FLOATS)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    x = draw(_values(dtype, shape))
    if draw(st.booleans()):
        index = draw(hnp.basic_indices(shape, allow_newaxis=True))
    else:
        n = draw(st.integers(1, 6))
        index = draw(hnp.arrays(np.int64, n, elements=st.integers(-shape[0], shape[0] - 1)))
    return x, index


@given(indexed(), st.data())
def test_get_item_matches_numpy_and_its_gradient_scatter_adds(case, data):
    x, index = case
    v = Variable(x)
    y = F.get_item(v, index)
    expected = x[index]
    assert y.shape == expected.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(y.data, expected)

    gy = data.draw(_values(x.dtype, expected.shape))
    y.grad = Variable(gy)
    y.backward()
    want = np.zeros_like(x)
    np.add.at(want, index, gy)  # repeated indices accumulate
    np.testing.assert_array_equal(v.grad.data, want)
    assert v.grad.dtype == x.dtype


@given(FLOATS.flatmap(lambda d: _values(d, SHAPES)), st.data())
def test_reshape_gradient_is_the_gradient_reshaped_back(x, data):
    sizes = [d for d in range(1, x.size + 1) if x.size % d == 0]
    first = data.draw(st.sampled_from(sizes))
    shape = (first, x.size // first)
    v = Variable(x)
    y = F.reshape(v, shape)
    assert y.shape == shape and y.dtype == x.dtype
    gy = data.draw(_values(x.dtype, shape))
    y.grad = Variable(gy)
    y.backward()
    np.testing.assert_array_equal(v.grad.data, gy.reshape(x.shape))
    assert v.grad.dtype == x.dtype


@given(FLOATS.flatmap(lambda d: _values(d, SHAPES)), st.data())
def test_transpose_gradient_is_the_inverse_permutation(x, data):
    axes = data.draw(st.permutations(range(x.ndim)))
    v = Variable(x)
    y = F.transpose(v, axes)
    np.testing.assert_array_equal(y.data, np.transpose(x, axes))
    assert y.dtype == x.dtype
    gy = data.draw(_values(x.dtype, y.shape))
    y.grad = Variable(gy)
    y.backward()
    np.testing.assert_array_equal(v.grad.data, np.transpose(gy, np.argsort(axes)))
    assert v.grad.dtype == x.dtype


@given(FLOATS.flatmap(lambda d: _values(d, SHAPES)))
def test_second_order_through_reshape_and_transpose_keeps_the_dtype(x):
    assume(x.size > 0)
    v = Variable(x)
    y = F.sum(F.transpose(F.reshape(v, (x.size,)) ** 2))
    y.backward(create_graph=True)
    g = v.grad
    v.cleargrad()
    F.sum(g).backward()
    np.testing.assert_array_equal(v.grad.data, np.full(x.shape, 2, dtype=x.dtype))
    assert g.dtype == x.dtype and v.grad.dtype == x.dtype
