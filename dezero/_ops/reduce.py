"""Reductions: sum, average/mean, max and min (ties share the gradient), argmax.

``logsumexp`` lives with softmax in ``activation`` (its gradient is the softmax)."""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from dezero import _arrays as _ua
from dezero import cuda
from dezero._ops import _checks
from dezero._ops._sums import sum_array
from dezero._ops.array import broadcast_to, reshape
from dezero._typing import ArrayLike, Axis
from dezero.core import Function, Variable


def _keepdims(op, keepdims):
    if not isinstance(keepdims, (bool, np.bool_)):
        raise TypeError(f"{op}: keepdims must be a bool; got {type(keepdims).__name__}")
    return bool(keepdims)


class Sum(Function):
    """y = x summed over ``axis``."""

    def __init__(self, axis: Any = None, keepdims: bool = False) -> None:
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        self.x_shape = x.shape
        return sum_array(x, self.axis, self.keepdims)

    def backward(self, gy):
        if not self.keepdims:
            gy = reshape(gy, _ua.kept_shape(self.x_shape, self.axis))
        return broadcast_to(gy, self.x_shape)

    def backward_raw(self, g):
        if not self.keepdims:
            g = g.reshape(_ua.kept_shape(self.x_shape, self.axis))
        return cuda.get_array_module(g).broadcast_to(g, self.x_shape)

    def jvp(self, t):
        return sum(t, axis=self.axis, keepdims=self.keepdims)


def sum(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Variable:
    """Sum over ``axis``: an int, a tuple, negative, or None for all (0-d result).

    Raises
    ------
    ValueError
        An axis out of range or repeated.
    """
    x = _checks.as_input("sum", "x", x)
    return Sum(_checks.clean_axis("sum", axis, x), _keepdims("sum", keepdims))(x)


def _sizes(shape, axis):
    """(elements reduced into each output, number of outputs) for a reduction over ``axis``."""
    axes = set(_ua.normalize_axis(axis, len(shape)))
    reduced = math.prod(s for i, s in enumerate(shape) if i in axes)
    return reduced, math.prod(s for i, s in enumerate(shape) if i not in axes)


def _over(axis):
    return "x is empty" if axis is None else f"axis {axis} has length 0"


def average(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Variable:
    """Mean over ``axis``, computed as ``sum(x) / count``; float32 stays float32.

    Empty inputs follow NumPy: over an axis of length 0 each mean is NaN (with a
    ``RuntimeWarning``, as ``numpy.mean`` gives), and an empty result is just empty.

    Raises
    ------
    ValueError
        An axis out of range or repeated.
    """
    x = _checks.as_input("average", "x", x)
    axis = _checks.clean_axis("average", axis, x)
    y = sum(x, axis, _keepdims("average", keepdims))
    count, n_out = _sizes(x.shape, axis)
    if count == 0:
        if n_out:
            warnings.warn(f"average: the mean of zero elements is nan ({_over(axis)}), as in "
                          f"NumPy; got x {_checks.describe(x)}", RuntimeWarning, stacklevel=2)
        return y * math.nan
    return y * (1 / count)


mean = average


class _Extreme(Function):
    """Max or min over ``axis``; tied extremes split the gradient evenly."""

    def __init__(self, axis: Any = None, keepdims: bool = False) -> None:
        self.axis = axis
        self.keepdims = keepdims

    def backward(self, gy):
        x = self._x0.data
        y = self._y().data
        shape = _ua.kept_shape(x.shape, self.axis)
        mask = x == y.reshape(shape)
        # Each tied extreme gets an equal share; the shares of a slice sum to 1.
        weights = mask / mask.sum(axis=self.axis, keepdims=True)
        if gy.dtype.kind == "f":
            weights = weights.astype(gy.dtype, copy=False)
        return broadcast_to(reshape(gy, shape), x.shape) * weights


class Max(_Extreme):
    """y = max(x, axis)"""

    def forward(self, x):
        return x.max(axis=self.axis, keepdims=self.keepdims)


class Min(_Extreme):
    """y = min(x, axis)"""

    def forward(self, x):
        return x.min(axis=self.axis, keepdims=self.keepdims)


def _check_extreme(op, x, axis, keepdims):
    x = _checks.as_input(op, "x", x)
    axis = _checks.clean_axis(op, axis, x)
    _not_over_empty(op, f"{op}imum", x, axis)
    return x, axis, _keepdims(op, keepdims)


def _not_over_empty(op, what, x, axis):
    """Refuse what NumPy refuses: an extreme over no elements (an empty result is fine)."""
    if x.size:
        return
    count, n_out = _sizes(x.shape, axis)
    if count == 0 and n_out:
        raise ValueError(f"{op}: there is no {what} of zero elements ({_over(axis)}; NumPy "
                         f"refuses it too); got x {_checks.describe(x)}")


def max(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Variable:
    """Maximum over ``axis``; tied maxima share the gradient evenly.

    ``max([1, 3, 3, 2])`` has the gradient ``[0, .5, .5, 0]``.
    """
    x, axis, keepdims = _check_extreme("max", x, axis, keepdims)
    return Max(axis, keepdims)(x)


def min(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Variable:
    """Minimum over ``axis``; tied minima share the gradient evenly."""
    x, axis, keepdims = _check_extreme("min", x, axis, keepdims)
    return Min(axis, keepdims)(x)


def argmax(x: ArrayLike, axis: int | None = None) -> Variable:
    """Indices of the maxima along ``axis`` (over the flattened array when None).

    Not differentiable: returns an integer Variable with no graph node.
    """
    x = _checks.as_input("argmax", "x", x)
    if axis is not None:
        axis = _checks.int_axis("argmax", axis, x)
    if x.size == 0 and (axis is None or x.shape[axis] == 0):
        raise ValueError(f"argmax: there is no maximum of zero elements ({_over(axis)}; "
                         f"NumPy refuses it too); got x {_checks.describe(x)}")
    xp = cuda.get_array_module(x.data)
    return Variable(xp.asarray(x.data.argmax(axis=axis)))
