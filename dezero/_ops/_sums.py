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

# Below this many elements the plain sum is as fast (the product has a fixed cost).
_MIN_SIZE = 1 << 14
_BLAS_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _merged_stride(shape, strides, axes):
    """The stride of ``axes`` (in this order) merged into one dimension, or None."""
    axes = [a for a in axes if shape[a] != 1]
    if not axes:
        return 0
    for outer, inner in zip(axes, axes[1:]):
        if strides[outer] != strides[inner] * shape[inner]:
            return None
    return strides[axes[-1]]


def _rows_view(x, summed, kept):
    """``x`` as a (R, K) view, R the summed axes and K the kept ones (contiguous), or None."""
    shape, strides, itemsize = x.shape, x.strides, x.itemsize
    # The summed axes may merge in any order (a sum does not care): largest stride first.
    summed = sorted(summed, key=lambda a: -abs(strides[a]))
    s_rows = _merged_stride(shape, strides, summed)
    s_cols = _merged_stride(shape, strides, kept)  # kept axes keep their order
    if s_rows is None or s_cols is None:
        return None
    n_rows = 1
    for a in summed:
        n_rows *= shape[a]
    n_cols = x.size // n_rows
    if n_cols > 1 and s_cols != itemsize:
        return None
    if n_rows > 1 and (s_rows < n_cols * itemsize or s_rows % itemsize):
        return None  # BLAS needs rows that do not overlap, at a whole number of elements
    return np.lib.stride_tricks.as_strided(x, (n_rows, n_cols), (s_rows or itemsize, itemsize))


def sum_array(x, axis, keepdims=False):
    """``x.sum(axis=axis, keepdims=keepdims)`` for a validated ``axis`` (an int, a tuple,
    negative, or None), through ``ones @ rows`` where that is a no-copy BLAS product."""
    if (type(x) is not np.ndarray or axis is None or x.size < _MIN_SIZE
            or x.dtype not in _BLAS_DTYPES):
        return x.sum(axis=axis, keepdims=keepdims)
    ndim = x.ndim
    summed = tuple(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    kept = [a for a in range(x.ndim) if a not in summed]
    if not kept or not summed:
        return x.sum(axis=axis, keepdims=keepdims)
    rows = _rows_view(x, summed, kept)
    if rows is None:
        return x.sum(axis=axis, keepdims=keepdims)
    y = np.ones(rows.shape[0], dtype=x.dtype) @ rows
    if keepdims:
        return y.reshape(tuple(1 if a in summed else s for a, s in enumerate(x.shape)))
    return y.reshape(tuple(x.shape[a] for a in kept))
