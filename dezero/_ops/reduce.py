"""Reductions: sum, max and min (ties share the gradient)."""
from __future__ import annotations

from dezero import cuda
from dezero import _arrays as _ua
from dezero._ops.array import broadcast_to, reshape
from dezero.core import Function


class Sum(Function):
    """y = x summed over ``axis``."""

    def __init__(self, axis=None, keepdims=False):
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        self.x_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        gy = reshape(gy, _ua.reshape_sum_backward(gy.data, self.x_shape, self.axis,
                                                   self.keepdims).shape)
        return broadcast_to(gy, self.x_shape)


def _axis(axis, x):
    if axis is None:
        return None
    if isinstance(axis, list):
        axis = tuple(axis)
    _ua.normalize_axis(axis, x.ndim)  # validates
    return axis


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (int, tuple, negative or None for all)."""
    return Sum(_axis(axis, x), keepdims)(x)


class _Extreme(Function):
    """Max or min over ``axis``; tied extremes split the gradient evenly."""

    def __init__(self, axis=None, keepdims=False):
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        return self._reduce(x)

    def backward(self, gy):
        x, = self.inputs
        y = self.outputs[0]()
        shape = _ua.max_backward_shape(x.data, self.axis)
        xp = cuda.get_array_module(x.data)
        mask = (x.data == y.data.reshape(shape))
        weights = mask / mask.sum(axis=self.axis, keepdims=True)
        weights = weights.astype(gy.dtype, copy=False)
        del xp
        return broadcast_to(reshape(gy, shape), x.shape) * weights


class Max(_Extreme):
    """y = max(x, axis)"""

    def _reduce(self, x):
        return x.max(axis=self.axis, keepdims=self.keepdims)


class Min(_Extreme):
    """y = min(x, axis)"""

    def _reduce(self, x):
        return x.min(axis=self.axis, keepdims=self.keepdims)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; tied maxima share the gradient evenly."""
    return Max(_axis(axis, x), keepdims)(x)


def min(x, axis=None, keepdims=False):
    """Minimum over ``axis``; tied minima share the gradient evenly."""
    return Min(_axis(axis, x), keepdims)(x)
