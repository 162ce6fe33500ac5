"""sum / sum_to on large arrays in every memory layout: the BLAS route of
``dezero._ops._sums.sum_array`` must give NumPy's result, shape and dtype."""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable
from dezero._ops._sums import _rows_view, sum_array
from dezero.testing import check_grad

RNG = np.random.default_rng(0)


def _layouts(dtype):
    """(name, array) pairs of shape (8, 16, 12, 12) (18,432 elements, above the cut-off)."""
    base = RNG.standard_normal((8, 12, 12, 16)).astype(dtype)
    channels_last = base.transpose(0, 3, 1, 2)  # what conv2d returns
    contiguous = np.ascontiguousarray(channels_last)
    return [
        ("contiguous", contiguous),
        ("channels_last", channels_last),
        ("reversed", channels_last[::-1]),
        ("sliced", RNG.standard_normal((8, 16, 12, 24)).astype(dtype)[..., ::2]),
        ("broadcast", np.broadcast_to(contiguous[:1], contiguous.shape)),
        ("fortran", np.asfortranarray(contiguous)),
    ]


AXES = [(0, 2, 3), (0,), (2, 3), (0, 2), (-1,), 0, (1,), (0, 1, 2), (1, 2, 3), (-4, -2, -1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_array_matches_numpy_in_every_layout(dtype, keepdims):
    for name, x in _layouts(dtype):
        for axis in AXES:
            got = sum_array(x, axis, keepdims)
            ref = x.astype(np.float64).sum(axis=axis, keepdims=keepdims)
            assert got.shape == ref.shape, (name, axis)
            assert got.dtype == x.dtype, (name, axis)
            rtol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * 100,
                                       err_msg=f"{name} axis={axis}")


def test_the_blas_route_is_taken_only_for_no_copy_row_views():
    channels_last = RNG.standard_normal((8, 12, 12, 16)).astype(np.float32).transpose(0, 3, 1, 2)
    assert _rows_view(channels_last, [0, 2, 3], [1], 8 * 12 * 12, 16).shape == (8 * 12 * 12, 16)
    matrix = RNG.standard_normal((256, 512)).astype(np.float32)
    assert _rows_view(matrix, [0], [1], 256, 512).shape == (256, 512)
    # summing the contiguous axis, or axes that do not merge: NumPy's own sum
    assert _rows_view(matrix, [1], [0], 512, 256) is None
    assert _rows_view(np.ascontiguousarray(channels_last), [0, 2, 3], [1], 1152, 16) is None
    assert _rows_view(matrix[::-1], [0], [1], 256, 512) is None
    assert _rows_view(np.broadcast_to(matrix[:1], matrix.shape), [0], [1], 256, 512) is None


def test_small_integer_and_cupy_free_inputs_keep_numpy_semantics():
    ints = np.arange(40000).reshape(200, 200)
    np.testing.assert_array_equal(sum_array(ints, (0,)), ints.sum(axis=0))
    assert sum_array(ints, (0,)).dtype == ints.sum(axis=0).dtype
    small = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(sum_array(small, (0,), True), small.sum(0, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_F_sum_and_sum_to_on_a_channels_last_gradient(dtype):
    x = RNG.standard_normal((8, 12, 12, 16)).astype(dtype).transpose(0, 3, 1, 2)
    y = F.sum(x, axis=(0, 2, 3))
    assert y.dtype == dtype and y.shape == (16,)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.data, x.astype(np.float64).sum(axis=(0, 2, 3)),
                               rtol=tol, atol=tol * 100)
    z = F.sum_to(x, (1, 16, 1, 1))
    assert z.dtype == dtype and z.shape == (1, 16, 1, 1)
    np.testing.assert_allclose(z.data[0, :, 0, 0], y.data, rtol=tol, atol=tol * 100)
    m = RNG.standard_normal((300, 70)).astype(dtype)
    w = F.sum_to(m, (70,))
    assert w.shape == (70,) and w.dtype == dtype
    np.testing.assert_allclose(w.data, m.astype(np.float64).sum(axis=0), rtol=tol,
                               atol=tol * 100)


def test_gradients_through_the_blas_route():
    x = Variable(RNG.standard_normal((8, 12, 12, 16)).transpose(0, 3, 1, 2))
    y = F.sum(x, axis=(0, 2, 3))
    y.backward()
    np.testing.assert_array_equal(x.grad.data, np.ones(x.shape))
    check_grad(lambda v: F.sum(v, axis=(0, 2, 3)), RNG.standard_normal((4, 3, 5, 5)))


def test_the_strided_route_of_old_numpy_gives_the_same_view():
    from dezero._ops._sums import _rows_by_strides

    channels_last = RNG.standard_normal((8, 12, 12, 16)).astype(np.float32).transpose(0, 3, 1, 2)
    rows = _rows_by_strides(channels_last, [0, 2, 3], [1], 8 * 12 * 12, 16)
    np.testing.assert_array_equal(rows, channels_last.transpose(0, 2, 3, 1).reshape(-1, 16))
    assert _rows_by_strides(np.ascontiguousarray(channels_last), [0, 2, 3], [1], 1152, 16) is None
