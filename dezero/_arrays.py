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


def logsumexp(x, axis=1):
    """``log(sum(exp(x), axis, keepdims=True))``, max-shifted."""
    xp = cuda.get_array_module(x)
    m = x.max(axis=axis, keepdims=True)
    y = x - m
    xp.exp(y, out=y)
    s = y.sum(axis=axis, keepdims=True)
    xp.log(s, out=s)
    m += s
    return m


def max_backward_shape(x, axis):
    """``x.shape`` with the reduced axes set to 1."""
    if axis is None:
        axis = range(x.ndim)
    elif isinstance(axis, int):
        axis = (axis,)
    axis = [a % x.ndim for a in axis]
    return [s if ax not in axis else 1 for ax, s in enumerate(x.shape)]


def scatter_add(target, index, values):
    """``target[index] += values`` with repeated indices accumulating (NumPy or CuPy)."""
    xp = cuda.get_array_module(target)
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx

        cupyx.scatter_add(target, index, values)
    return target
