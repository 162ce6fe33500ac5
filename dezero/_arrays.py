"""Raw-array helpers shared by the ops and by ``dezero.utils`` (no graph, NumPy or CuPy)."""
from __future__ import annotations

import numpy as np

from dezero import cuda


def sum_to(x, shape):
    """Sum the leading extra axes of ``x`` and the axes where ``shape`` has 1."""
    shape = tuple(shape)
    ndim = len(shape)
    lead = x.ndim - ndim
    lead_axis = tuple(range(lead))
    axis = tuple(i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1)
    y = x.sum(lead_axis + axis, keepdims=True)
    if lead > 0:
        y = y.squeeze(lead_axis)
    return y


def normalize_axis(axis, ndim):
    """Tuple of non-negative axes for ``axis`` (int, tuple or None)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim if ndim else 0)
    return tuple(out)


def reshape_sum_backward(gy, x_shape, axis, keepdims):
    """Reshape ``gy`` so it broadcasts back over the axes a reduction removed."""
    ndim = len(x_shape)
    tupled_axis = axis
    if axis is None:
        tupled_axis = None
    elif not isinstance(axis, tuple):
        tupled_axis = (axis,)
    if not (ndim == 0 or tupled_axis is None or keepdims):
        actual_axis = [a if a >= 0 else a + ndim for a in tupled_axis]
        shape = list(gy.shape)
        for a in sorted(actual_axis):
            shape.insert(a, 1)
    else:
        shape = gy.shape
    return gy.reshape(shape)


def inplace(ufunc, a):
    """``ufunc(a)``, written into ``a`` when it is an array.

    NumPy arithmetic on 0-d arrays returns scalars, which cannot take ``out=``.
    """
    if isinstance(a, np.generic):
        return ufunc(a)
    return ufunc(a, out=a)


def _shift(x, axis):
    """The max of ``x`` over ``axis`` (kept dims, floating, finite) to subtract before exp."""
    xp = cuda.get_array_module(x)
    if x.size == 0:  # no max over an empty axis (NumPy raises); nothing to shift either
        m = x.sum(axis=axis, keepdims=True)
        return m.astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)
    m = x.max(axis=axis, keepdims=True)
    if x.dtype.kind != "f":
        m = m.astype(np.float64)
    # A row that is all -inf (or holds +inf) would give inf - inf = nan below. Always
    # applied (on the small reduced array) so that CuPy needs no device-to-host sync.
    return xp.where(xp.isfinite(m), m, 0).astype(m.dtype, copy=False)


max_shift = _shift  # for the ops that need the shift itself (softmax_cross_entropy)


def logsumexp(x, axis=1):
    """``log(sum(exp(x), axis, keepdims=True))``, max-shifted so it never overflows."""
    xp = cuda.get_array_module(x)
    m = _shift(x, axis)
    y = inplace(xp.exp, x - m)
    if x.size == 0:  # the log of an empty sum is -inf, as in SciPy and PyTorch
        return xp.full_like(m, -np.inf)
    s = inplace(xp.log, y.sum(axis=axis, keepdims=True))
    m += s
    return m


def log_softmax(x, axis=1):
    """``x - logsumexp(x, axis)``, written as ``(x - max) - log(sum(exp(x - max)))``.

    Subtracting in this order keeps float32 exact where ``x - max`` is: at logits of
    1000, ``max + log(sum)`` would round to the float32 spacing there (6e-5).
    """
    xp = cuda.get_array_module(x)
    y = x - _shift(x, axis)
    if y.size == 0:
        return y
    s = inplace(xp.exp, y.copy()).sum(axis=axis, keepdims=True)
    y -= inplace(xp.log, s)
    return y


def kept_shape(x_shape, axis):
    """``x_shape`` with the reduced axes (int, tuple, negative or None) set to 1."""
    ndim = len(x_shape)
    if axis is None:
        return (1,) * ndim
    if not isinstance(axis, tuple):
        axis = (axis,)
    axes = [a % ndim for a in axis] if ndim else []
    return tuple(1 if i in axes else s for i, s in enumerate(x_shape))


def max_backward_shape(x, axis):
    """``x.shape`` with the reduced axes set to 1, as a list (the book's helper)."""
    return list(kept_shape(x.shape, axis))


def scatter_add(target, index, values):
    """``target[index] += values`` with repeated indices accumulating (NumPy or CuPy)."""
    xp = cuda.get_array_module(target)
    if xp is np or hasattr(xp.add, "at"):
        xp.add.at(target, index, values)
    else:  # CuPy before ufunc.at
        import cupyx

        cupyx.scatter_add(target, index, values)
    return target
