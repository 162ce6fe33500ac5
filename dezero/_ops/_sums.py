"""Raw-array sums over outer axes as one matrix-vector product (NumPy only, no graph).

NumPy sums an axis that is not the innermost in memory one slice at a time; when what is
left is short (the channels of a channels-last image, the 10 outputs of a classifier) that
loop dominates: summing a (64, 16, 28, 28) gradient over (0, 2, 3) in channels-last memory
takes about 1 ms, twenty times the ``ones @ matrix`` product that BLAS does in one pass
(and more accurately: BLAS accumulates in blocks where NumPy adds the slices in sequence).
``sum_array`` takes that route when the summed axes and the kept axes each collapse into one
dimension of a no-copy matrix view with contiguous rows; otherwise it is ``x.sum``.
"""
from __future__ import annotations

import numpy as np

# Below this many elements the plain sum is as fast (the product has a fixed cost of a few
# microseconds); with many kept elements per row NumPy's own loop is efficient, so only
# large arrays take the product then.
_MIN_SIZE = 1 << 14
_MIN_SIZE_WIDE = 1 << 18
_NARROW = 256
_BLAS_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_ONES: dict = {}  # dtype -> read-only ones, sliced to length (never written)


def _ones(n, dtype):
    ones = _ONES.get(dtype)
    if ones is None or ones.size < n:
        ones = np.ones(max(n, 1024), dtype=dtype)
        ones.flags.writeable = False
        _ONES[dtype] = ones
    return ones[:n]


def _merged_stride(shape, strides, axes):
    """The stride of ``axes`` (in this order) merged into one dimension, or None."""
    axes = [a for a in axes if shape[a] != 1]
    if not axes:
        return 0
    for outer, inner in zip(axes, axes[1:]):
        if strides[outer] != strides[inner] * shape[inner]:
            return None
    return strides[axes[-1]]


def _rows_by_strides(x, summed, kept, n_rows, n_cols):
    """``_rows_view`` for NumPy < 2.1 (no ``reshape(copy=False)``): strides checked here."""
    shape, strides = x.shape, x.strides
    s_rows = _merged_stride(shape, strides, summed)
    s_cols = _merged_stride(shape, strides, kept)
    if s_rows is None or s_cols is None:
        return None
    return np.lib.stride_tricks.as_strided(x, (n_rows, n_cols), (s_rows, s_cols))


def _rows_view(x, summed, kept, n_rows, n_cols):
    """``x`` as a no-copy (R, K) matrix that BLAS accepts, R the summed axes and K the kept
    ones (contiguous), or None."""
    strides, itemsize = x.strides, x.itemsize
    # The summed axes may merge in any order (a sum does not care): largest stride first.
    summed = sorted(summed, key=lambda a: -abs(strides[a]))
    try:
        rows = x.transpose(summed + kept).reshape((n_rows, n_cols), copy=False)
    except ValueError:  # the view does not exist
        return None
    except TypeError:  # NumPy < 2.1
        rows = _rows_by_strides(x, summed, kept, n_rows, n_cols)
        if rows is None:
            return None
    s_rows, s_cols = rows.strides
    if s_cols != itemsize or s_rows < n_cols * itemsize or s_rows % itemsize:
        return None  # BLAS needs contiguous rows that do not overlap
    return rows


def sum_array(x, axis, keepdims=False):
    """``x.sum(axis=axis, keepdims=keepdims)`` for a validated ``axis`` (an int, a tuple,
    negative, or None), through ``ones @ rows`` where that is a no-copy BLAS product."""
    if (type(x) is not np.ndarray or axis is None or x.size < _MIN_SIZE
            or x.dtype not in _BLAS_DTYPES):
        return x.sum(axis=axis, keepdims=keepdims)
    ndim = x.ndim
    summed = [a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))]
    kept = [a for a in range(ndim) if a not in summed]
    if not kept or not summed:
        return x.sum(axis=axis, keepdims=keepdims)
    n_cols = 1
    for a in kept:
        n_cols *= x.shape[a]
    n_rows = x.size // n_cols
    if n_rows < 2 or n_cols < 2 or (n_cols > _NARROW and x.size < _MIN_SIZE_WIDE):
        return x.sum(axis=axis, keepdims=keepdims)
    rows = _rows_view(x, summed, kept, n_rows, n_cols)
    if rows is None:
        return x.sum(axis=axis, keepdims=keepdims)
    y = _ones(rows.shape[0], x.dtype) @ rows
    if keepdims:
        return y.reshape(tuple(1 if a in summed else s for a, s in enumerate(x.shape)))
    shape = tuple(x.shape[a] for a in kept)
    # (a reshape is a view even to the same shape; the product itself is owned by nobody)
    return y if y.shape == shape else y.reshape(shape)
