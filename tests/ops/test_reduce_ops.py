"""Hand-written tests for reductions: ties, dtypes, argmax, logsumexp extremes."""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable


def test_max_ties_split_the_gradient_evenly():
    x = Variable(np.array([1.0, 3.0, 3.0, 2.0]))
    y = F.max(x)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5, 0.0])
    x.cleargrad()
    x.max().backward()  # the installed method
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5, 0.0])


def test_min_ties_along_an_axis():
    x = Variable(np.array([[1.0, 1.0, 1.0], [4.0, 2.0, 3.0]]))
    y = F.min(x, axis=1)
    y.grad = Variable(np.array([3.0, 1.0]))
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])


def test_max_keepdims_and_tuple_axis():
    x = Variable(np.random.randn(2, 3, 4))
    y = F.max(x, axis=(0, 2), keepdims=True)
    assert y.shape == (1, 3, 1)
    y.backward()
    np.testing.assert_array_equal(x.grad.data.sum(axis=(0, 2)), np.ones(3))


def test_sum_without_axis_gives_0d_and_keeps_float32():
    x = Variable(np.ones((2, 3), np.float32))
    y = F.sum(x)
    assert y.shape == () and y.dtype == np.float32
    assert F.sum(x, axis=-1, keepdims=True).shape == (2, 1)
    assert x.sum(axis=(0, 1)).shape == ()


def test_mean_is_average_and_keeps_float32():
    assert F.mean is F.average
    x = Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = F.mean(x, axis=0)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, [1.5, 2.5, 3.5])
    F.average(x).backward()
    np.testing.assert_allclose(x.grad.data, np.full((2, 3), 1 / 6))
    assert x.grad.dtype == np.float32


def test_argmax_is_an_integer_variable_without_a_node():
    x = Variable(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]))
    i = F.argmax(x, axis=1)
    assert isinstance(i, Variable) and i.creator is None
    assert i.dtype.kind == "i"
    np.testing.assert_array_equal(i.data, [1, 0])
    assert F.argmax(x).data.shape == () and int(F.argmax(x).data) == 3


@pytest.mark.parametrize("v", [1000.0, -1000.0])
def test_logsumexp_is_finite_at_extremes(v):
    x = Variable(np.array([[v, 0.0, v], [v, v, v]], np.float32))
    with np.errstate(over="raise", invalid="raise"):
        y = F.logsumexp(x, axis=1)
        y.backward()
    assert y.dtype == np.float32
    assert np.isfinite(y.data).all() and np.isfinite(x.grad.data).all()
    np.testing.assert_allclose(x.grad.data.sum(axis=1), [1.0, 1.0], rtol=1e-6)


def test_logsumexp_of_an_all_minus_inf_row_is_minus_inf_not_nan():
    x = np.array([[-np.inf, -np.inf], [0.0, 0.0]])
    with np.errstate(divide="ignore"):
        y = F.logsumexp(x, axis=1)
    assert y.data[0] == -np.inf
    np.testing.assert_allclose(y.data[1], np.log(2.0))


# -----------------------------------------------------------------------------
# empty inputs follow NumPy: what NumPy defines works, what it refuses raises naming the op
# -----------------------------------------------------------------------------

EMPTY_DEFINED = [
    # (op, numpy function, kwargs)
    ("max", np.max, {"axis": 1}),
    ("max", np.max, {"axis": -1, "keepdims": True}),
    ("min", np.min, {"axis": 1}),
    ("sum", np.sum, {"axis": 0}),
    ("sum", np.sum, {}),
    ("mean", np.mean, {"axis": 1}),
    ("average", np.mean, {"axis": (1,), "keepdims": True}),
]


@pytest.mark.parametrize("op, ref, kw", EMPTY_DEFINED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reductions_of_an_empty_array_that_numpy_defines(op, ref, kw, dtype):
    data = np.zeros((0, 3), dtype)
    x = Variable(data)
    y = getattr(F, op)(x, **kw)
    expected = ref(data, **kw)
    assert y.shape == expected.shape and y.dtype == dtype
    np.testing.assert_array_equal(y.data, expected)
    y.backward()
    assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("kw", [{"axis": 0}, {}, {"axis": (0, 1)}])
def test_mean_over_an_empty_axis_is_nan_with_numpys_warning(kw):
    data = np.zeros((0, 3), np.float32)
    with pytest.warns(RuntimeWarning):
        expected = np.mean(data, **kw)
    x = Variable(data)
    with pytest.warns(RuntimeWarning, match=r"^average: the mean of zero elements is nan"):
        y = F.mean(x, **kw)
    assert y.shape == expected.shape and y.dtype == np.float32
    assert np.isnan(y.data).all()
    y.backward()
    assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("op, what", [("max", "maximum"), ("min", "minimum")])
@pytest.mark.parametrize("shape, kw", [((0, 3), {"axis": 0}), ((0, 3), {}),
                                       ((2, 0), {"axis": (0, 1)}), ((0,), {"keepdims": True})])
def test_extremes_over_zero_elements_raise_as_numpy_does(op, what, shape, kw):
    data = np.zeros(shape)
    with pytest.raises(ValueError):
        getattr(np, op)(data, **kw)
    with pytest.raises(ValueError, match=rf"^{op}: there is no {what} of zero elements"):
        getattr(F, op)(data, **kw)


def test_argmax_of_empty_arrays_follows_numpy():
    data = np.zeros((0, 3))
    assert F.argmax(data, axis=1).shape == np.argmax(data, axis=1).shape == (0,)
    for kw in ({"axis": 0}, {}):
        with pytest.raises(ValueError):
            np.argmax(data, **kw)
        with pytest.raises(ValueError, match=r"^argmax: there is no maximum of zero elements"):
            F.argmax(data, **kw)


def test_logsumexp_and_softmax_over_an_empty_axis():
    data = np.zeros((0, 3), np.float32)
    y = F.logsumexp(data, axis=0)  # log of an empty sum, as in SciPy and PyTorch
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, [-np.inf] * 3)
    assert F.logsumexp(data, axis=1).shape == (0,)
    for f in (F.softmax, F.log_softmax):
        x = Variable(data)
        y = f(x, axis=0)
        assert y.shape == (0, 3) and y.dtype == np.float32
        F.sum(y).backward()
        assert x.grad.shape == (0, 3)
