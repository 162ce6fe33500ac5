"""Max and average pooling as Functions (their window helpers are in
``dezero._ops._im2col``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from dezero import cuda
from dezero._ops import _checks, _conv_gpu
from dezero._ops import _workspace as _ws
from dezero._ops._im2col import (
    IntPair,
    _axis_order,
    _out_size,
    _padded,
    _scatter_windows,
    _window_args,
    _window_slices,
    _zeros,
)
from dezero._ops.array import reshape, transpose
from dezero._ops.conv import im2col
from dezero._ops.reduce import max as _max
from dezero._typing import ArrayLike
from dezero.core import Function, Variable
from dezero.utils import get_conv_outsize, pair

# =============================================================================
# Pooling
# =============================================================================
# Pooling works on the KH*KW strided views ``x[:, :, i::sh, j::sw]`` with elementwise ops,
# and its results keep x's memory layout (``order='K'``): on the channels-last output of
# conv2d every operation then runs along contiguous channels.


def _index_dtype(kernel):
    return np.uint8 if kernel[0] * kernel[1] <= 256 else np.int32


def _pool_slices(x, kernel, stride, pad):
    """The window-offset views of the zero-padded ``x`` and the output size."""
    out_size = (get_conv_outsize(x.shape[2], kernel[0], stride[0], pad[0]),
                get_conv_outsize(x.shape[3], kernel[1], stride[1], pad[1]))
    return _window_slices(_padded(x, *pad), kernel, stride, out_size)


def _in_layout_of(ref, a):
    """``a``, copied into ``ref``'s memory layout if it has another: elementwise ops on
    operands of different layouts are many times slower."""
    if _axis_order(a) == _axis_order(ref):
        return a
    out = cuda.get_array_module(a).empty_like(ref, dtype=a.dtype)
    out[...] = a
    return out


def _times(mask, k, dtype):
    """``k * mask`` as ``dtype``, in place in ``mask``'s memory where ``dtype`` is uint8."""
    out = mask.view(np.uint8) if dtype == np.uint8 else mask.astype(dtype)
    out *= out.dtype.type(k)
    return out


class Pooling(Function):
    """y = max over each window; records the argmax (first maximum) of every window."""

    # gx is a new array (see Function.fresh_grads)
    fresh_grads = True

    def __init__(self, kernel_size: Any, stride: Any = 1, pad: Any = 0) -> None:
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride)
        self.pad = pair(pad)

    def forward(self, x):
        xp = cuda.get_array_module(x)
        self.input_shape = x.shape
        self.layout = _axis_order(x)
        if _conv_gpu.usable(x):
            out_hw = (get_conv_outsize(x.shape[2], self.kernel_size[0], self.stride[0],
                                       self.pad[0]),
                      get_conv_outsize(x.shape[3], self.kernel_size[1], self.stride[1],
                                       self.pad[1]))
            y, self.indexes = _conv_gpu.max_pool(x, self.kernel_size, self.stride, self.pad,
                                                 out_hw, _index_dtype(self.kernel_size))
            return y
        views = _pool_slices(x, self.kernel_size, self.stride, self.pad)
        y = _ws.empty_like("pooling.y", views[0], xp=xp)  # in x's layout, as copy(order="K")
        y[...] = views[0]
        indexes = _ws.empty_like("pooling.indexes", y, _index_dtype(self.kernel_size), xp)
        indexes.fill(0)
        greater = _ws.empty_like("pooling.greater", y, bool, xp)
        for k in range(1, len(views)):
            xp.greater(views[k], y, out=greater)  # strict: the first maximum wins, as argmax
            xp.maximum(y, views[k], out=y)
            # indexes = where(greater, k, indexes): k is the largest offset yet, so it is a
            # maximum with k * greater (faster than a mask)
            xp.maximum(indexes, _times(greater, k, indexes.dtype), out=indexes)
        self.indexes = indexes
        return y

    def backward(self, gy):
        return Pooling2DGrad(self)(gy)


class Pooling2DGrad(Function):
    """gx = gy routed to the recorded argmax of each window (windows may overlap)."""

    def __init__(self, mpool2d: Any) -> None:
        self.mpool2d = mpool2d
        self.kernel_size = mpool2d.kernel_size
        self.stride = mpool2d.stride
        self.pad = mpool2d.pad
        self.input_shape = mpool2d.input_shape
        self.layout = mpool2d.layout
        self.indexes = mpool2d.indexes

    def forward(self, gy):
        xp = cuda.get_array_module(gy)
        indexes = self.indexes
        if _conv_gpu.usable(gy):
            return _conv_gpu.max_pool_grad(gy, indexes, self.input_shape, self.layout,
                                           self.kernel_size, self.stride, self.pad)
        gy = _in_layout_of(indexes, gy)
        (kh, kw), (sh, sw), pad = self.kernel_size, self.stride, self.pad
        if sh >= kh and sw >= kw and pad == (0, 0):
            # windows do not overlap: write each offset's share straight into place
            oh, ow = gy.shape[2:]
            tiled = (sh, sw) == (kh, kw)  # the windows cover all but the last rows/columns
            gx = _zeros(self.input_shape, gy.dtype, self.layout, xp,
                        xp.empty if tiled else None, site="pooling.gx")
            if tiled:
                gx[:, :, oh * kh:] = 0
                gx[:, :, :, ow * kw:] = 0
            mask = _ws.empty_like("pooling.mask", indexes, bool, xp)
            for k, view in enumerate(_window_slices(gx, self.kernel_size, self.stride,
                                                    (oh, ow))):
                xp.equal(indexes, k, out=mask)
                xp.multiply(gy, mask, out=view)
            return gx

        def part(i, j):
            return gy * (indexes == i * kw + j)

        return _scatter_windows(part, self.input_shape, self.kernel_size, self.stride,
                                self.pad, gy.dtype, xp, self.layout)

    def backward(self, ggx):
        return Pooling2DWithIndexes(self.mpool2d)(ggx)


class Pooling2DWithIndexes(Function):
    """y = x picked at the argmax indexes recorded by a max pooling (a linear map)."""

    def __init__(self, mpool2d: Any) -> None:
        self.mpool2d = mpool2d
        self.kernel_size = mpool2d.kernel_size
        self.stride = mpool2d.stride
        self.pad = mpool2d.pad
        self.indexes = mpool2d.indexes

    def forward(self, x):
        if _conv_gpu.usable(x):
            return _conv_gpu.max_pool_pick(x, self.indexes, self.kernel_size, self.stride,
                                           self.pad)
        views = _pool_slices(x, self.kernel_size, self.stride, self.pad)
        y = views[0] * (self.indexes == 0)
        for k in range(1, len(views)):
            y += views[k] * (self.indexes == k)
        return y

    def backward(self, gy):
        return Pooling2DGrad(self.mpool2d)(gy)


class AveragePooling(Function):
    """y = mean over each window (zero padding counts as part of the window)."""

    def __init__(self, kernel_size: Any, stride: Any = 1, pad: Any = 0) -> None:
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride)
        self.pad = pair(pad)

    def forward(self, x):
        self.input_shape = x.shape
        self.layout = _axis_order(x)
        views = _pool_slices(x, self.kernel_size, self.stride, self.pad)
        y = views[0].copy(order="K")
        for v in views[1:]:
            y += v
        y *= y.dtype.type(1.0 / len(views))
        return y

    def backward(self, gy):
        return AveragePooling2DGrad(self)(gy)


class AveragePooling2DGrad(Function):
    """gx = gy / (KH*KW) spread over each window; its adjoint is average pooling."""

    def __init__(self, apool2d: Any) -> None:
        self.kernel_size = apool2d.kernel_size
        self.stride = apool2d.stride
        self.pad = apool2d.pad
        self.input_shape = apool2d.input_shape
        self.layout = apool2d.layout

    def forward(self, gy):
        xp = cuda.get_array_module(gy)
        kh, kw = self.kernel_size
        g = gy * gy.dtype.type(1.0 / (kh * kw))
        return _scatter_windows(lambda i, j: g, self.input_shape, self.kernel_size,
                                self.stride, self.pad, gy.dtype, xp, self.layout)

    def backward(self, ggx):
        return AveragePooling(self.kernel_size, self.stride, self.pad)(ggx)


def pooling(x: ArrayLike, kernel_size: IntPair, stride: IntPair = 1,
            pad: IntPair = 0) -> Variable:
    """2-D max pooling.

    Parameters
    ----------
    x : Variable or ndarray, shape (N, C, H, W)
    kernel_size, stride, pad : int or (int, int)
        Padding is with zeros (as in the book), so a padded window of negative values
        has maximum 0; PyTorch pads with -inf.

    Returns
    -------
    Variable, shape (N, C, OH, OW)

    Notes
    -----
    Where a window holds several equal maxima the first one (in (kh, kw) order) gets
    the gradient, as ``argmax`` picks it.
    """
    x = _checks.as_input("pooling", "x", x)
    kernel, stride, pad = _window_args("pooling", x, kernel_size, stride, pad)
    return Pooling(kernel, stride, pad)(x)


def average_pooling(x: ArrayLike, kernel_size: IntPair, stride: IntPair = 1,
                    pad: IntPair = 0) -> Variable:
    """2-D average pooling: the mean over each window (padding zeros included).

    Parameters
    ----------
    x : Variable or ndarray, shape (N, C, H, W)
    kernel_size, stride, pad : int or (int, int)

    Returns
    -------
    Variable, shape (N, C, OH, OW)
    """
    x = _checks.as_input("average_pooling", "x", x)
    kernel, stride, pad = _window_args("average_pooling", x, kernel_size, stride, pad)
    return AveragePooling(kernel, stride, pad)(x)


def pooling_simple(x: ArrayLike, kernel_size: IntPair, stride: IntPair = 1,
                   pad: IntPair = 0) -> Variable:
    """Max pooling composed of im2col, ``max`` and reshapes (a test oracle).

    Tied maxima share the gradient here, as ``max`` does, where :func:`pooling` gives
    it to the first one.
    """
    x = _checks.as_input("pooling_simple", "x", x)
    kernel, stride, pad = _window_args("pooling_simple", x, kernel_size, stride, pad)
    n, c, h, w = x.shape
    oh, ow = _out_size("pooling_simple", (h, w), kernel, stride, pad)
    col = im2col(x, kernel, stride, pad, to_matrix=True)
    col = reshape(col, (-1, kernel[0] * kernel[1]))
    y = _max(col, axis=1)
    return transpose(reshape(y, (n, oh, ow, c)), (0, 3, 1, 2))


__all__ = [
    "Pooling", "Pooling2DGrad", "Pooling2DWithIndexes", "pooling", "pooling_simple",
    "AveragePooling", "AveragePooling2DGrad", "average_pooling",
]
