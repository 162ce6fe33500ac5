"""Shape functions: reshape, transpose, broadcast_to, sum_to, get_item."""
from __future__ import annotations

import numpy as np

from dezero import cuda
from dezero import _arrays as _ua
from dezero.core import Function, Variable, as_variable


class Reshape(Function):
    """y = x reshaped to ``shape``."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.x_shape)


def reshape(x, shape):
    """``x`` with a new shape; returns ``x`` itself (no node) when the shape is unchanged."""
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(shape)
    if x.shape == shape:
        return as_variable(x)
    return Reshape(shape)(x)


class Transpose(Function):
    """y = x with its axes permuted (reversed when ``axes`` is None)."""

    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return transpose(gy)
        ndim = len(self.axes)
        inverse = tuple(np.argsort([a % ndim for a in self.axes]))
        return transpose(gy, inverse)


def transpose(x, axes=None):
    """Permute the axes of ``x``; ``None`` reverses them. Negative axes are allowed."""
    if axes is not None:
        axes = tuple(int(a) for a in axes)
        ndim = x.ndim
        if sorted(a % ndim if -ndim <= a < ndim else a for a in axes) != list(range(ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the "
                             f"{ndim} axes of x {tuple(x.shape)}")
    return Transpose(axes)(x)


class BroadcastTo(Function):
    """y = x broadcast to ``shape``."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return cuda.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.x_shape)


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape``; returns ``x`` itself when the shapes are equal."""
    shape = tuple(shape)
    if x.shape == shape:
        return as_variable(x)
    return BroadcastTo(shape)(x)


class SumTo(Function):
    """y = x summed down to ``shape`` (the inverse of broadcasting)."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return _ua.sum_to(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.x_shape)


def sum_to(x, shape):
    """Sum ``x`` to ``shape``; returns ``x`` itself when the shapes are equal."""
    shape = tuple(shape)
    if x.shape == shape:
        return as_variable(x)
    return SumTo(shape)(x)


def _index_data(slices):
    """Replace Variables inside an index by their arrays."""
    if isinstance(slices, Variable):
        return slices.data
    if isinstance(slices, tuple):
        return tuple(s.data if isinstance(s, Variable) else s for s in slices)
    if isinstance(slices, list):
        return np.asarray(slices)
    return slices


def _is_basic_index(slices):
    items = slices if isinstance(slices, tuple) else (slices,)
    return all(s is None or s is Ellipsis or isinstance(s, (int, np.integer, slice))
               for s in items)


class GetItem(Function):
    """y = x[slices] for any NumPy index."""

    def __init__(self, slices):
        self.slices = slices

    def forward(self, x):
        return x[self.slices]

    def backward(self, gy):
        x, = self.inputs
        return GetItemGrad(self.slices, x.shape)(gy)


class GetItemGrad(Function):
    """gx = zeros(in_shape) with gy scatter-added at ``slices`` (repeats accumulate)."""

    def __init__(self, slices, in_shape):
        self.slices = slices
        self.in_shape = in_shape

    def forward(self, gy):
        xp = cuda.get_array_module(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        if _is_basic_index(self.slices):
            gx[self.slices] = gy  # basic indexing cannot repeat an element
        else:
            _ua.scatter_add(gx, self.slices, gy)
        return gx

    def backward(self, ggx):
        return get_item(ggx, self.slices)


def get_item(x, slices):
    """``x[slices]`` for any NumPy index; the backward scatter-adds."""
    return GetItem(_index_data(slices))(x)
