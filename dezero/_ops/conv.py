"""Convolution: im2col/col2im, conv2d and deconv2d as Functions (their kernels are in
``dezero._ops._im2col``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from dezero._ops import _checks
from dezero._ops._im2col import (
    IntPair,
    _check_image,
    _conv_forward,
    _conv_grad_w,
    _deconv_forward,
    _desc,
    _out_size,
    _pair_arg,
    _window_args,
    col2im_array,
    im2col_array,
)
from dezero._ops.array import reshape, transpose
from dezero._ops.linalg import linear
from dezero._ops.reduce import sum as _sum
from dezero._typing import ArrayLike, Shape
from dezero.core import Function, Variable, _state
from dezero.utils import get_conv_outsize, get_deconv_outsize, pair

# =============================================================================
# im2col / col2im
# =============================================================================


class Im2col(Function):
    """y = im2col(x): every window of x as columns; backward is col2im."""

    def __init__(self, kernel_size: Any, stride: Any, pad: Any, to_matrix: bool) -> None:
        self.kernel_size = kernel_size
        self.stride = stride
        self.pad = pad
        self.to_matrix = to_matrix

    def forward(self, x):
        self.input_shape = x.shape
        return im2col_array(x, self.kernel_size, self.stride, self.pad, self.to_matrix)

    def backward(self, gy):
        return Col2im(self.input_shape, self.kernel_size, self.stride, self.pad,
                      self.to_matrix)(gy)


class Col2im(Function):
    """y = col2im(x): windows summed back into an image; backward is im2col."""

    def __init__(self, input_shape: tuple[int, ...], kernel_size: Any, stride: Any, pad: Any,
                 to_matrix: bool) -> None:
        self.input_shape = tuple(input_shape)
        self.kernel_size = kernel_size
        self.stride = stride
        self.pad = pad
        self.to_matrix = to_matrix

    def forward(self, x):
        return col2im_array(x, self.input_shape, self.kernel_size, self.stride, self.pad,
                            self.to_matrix)

    def backward(self, gy):
        return Im2col(self.kernel_size, self.stride, self.pad, self.to_matrix)(gy)


def im2col(x: ArrayLike, kernel_size: IntPair, stride: IntPair = 1, pad: IntPair = 0,
           to_matrix: bool = True) -> Variable:
    """Extract the sliding windows of an image batch.

    Parameters
    ----------
    x : Variable or ndarray, shape (N, C, H, W)
    kernel_size, stride, pad : int or (int, int)
    to_matrix : bool
        True: ``(N*OH*OW, C*KH*KW)``, rows (n, oh, ow) and columns (c, kh, kw).
        False: ``(N, C, KH, KW, OH, OW)``.

    Returns
    -------
    Variable
    """
    x = _checks.as_input("im2col", "x", x)
    kernel, stride, pad = _window_args("im2col", x, kernel_size, stride, pad)
    return Im2col(kernel, stride, pad, bool(to_matrix))(x)


def col2im(x: ArrayLike, input_shape: Shape, kernel_size: IntPair, stride: IntPair = 1,
           pad: IntPair = 0, to_matrix: bool = True) -> Variable:
    """Sum windows back into an image of ``input_shape`` (the adjoint of :func:`im2col`).

    Parameters
    ----------
    x : Variable or ndarray
        ``(N*OH*OW, C*KH*KW)`` when ``to_matrix``, else ``(N, C, KH, KW, OH, OW)``.
    input_shape : tuple (N, C, H, W)
    kernel_size, stride, pad : int or (int, int)

    Returns
    -------
    Variable, shape ``input_shape``
    """
    x = _checks.as_input("col2im", "x", x)
    kernel = _pair_arg("col2im", "kernel_size", kernel_size, 1)
    stride = _pair_arg("col2im", "stride", stride, 1)
    pad = _pair_arg("col2im", "pad", pad, 0)
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 4:
        raise ValueError(f"col2im: input_shape must be (N, C, H, W); got {input_shape}")
    n, c, h, w = input_shape
    oh, ow = _out_size("col2im", (h, w), kernel, stride, pad)
    expected: tuple[int, ...]
    if to_matrix:
        expected = (n * oh * ow, c * kernel[0] * kernel[1])
    else:
        expected = (n, c, kernel[0], kernel[1], oh, ow)
    if tuple(x.shape) != expected:
        raise ValueError(f"col2im: x must have shape {expected} for input_shape {input_shape}, "
                         f"kernel {kernel}, stride {stride}, pad {pad}; got x {_desc(x)}")
    return Col2im(input_shape, kernel, stride, pad, bool(to_matrix))(x)


# =============================================================================
# conv2d / deconv2d
# =============================================================================


class Conv2d(Function):
    """y = conv2d(x, W) + b, as im2col followed by one contraction over (C, KH, KW)."""

    # Set by the wrapper: an operand given as a raw array needs no gradient.
    needs_grad = (True, True, True)
    # gx, gW and gb are new arrays (see Function.fresh_grads)
    fresh_grads = True

    def __init__(self, stride: Any = 1, pad: Any = 0) -> None:
        self.stride = pair(stride)
        self.pad = pair(pad)

    def forward(self, x, W, b=None):
        self.kernel_size = W.shape[2:]
        return _conv_forward(x, W, b, self.stride, self.pad)

    def backward(self, gy):
        x, W = self.inputs[:2]
        need = self.needs_grad
        gx = Deconv2d(self.stride, self.pad, x.shape[2:])(gy, W) if need[0] else None
        gW = Conv2DGradW(self)(x, gy) if need[1] else None
        if len(self.inputs) == 2:
            return gx, gW
        if not need[2]:
            return gx, gW, None
        if _state.enable_backprop:
            return gx, gW, _sum(gy, axis=(0, 2, 3))
        return gx, gW, _bias_grad(gy.data)


_ONES: dict = {}  # (length, dtype) -> a vector of ones, for bias gradients


def _ones(n, dtype):
    key = (n, np.dtype(dtype))
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) >= 8:
            _ONES.clear()
        ones = _ONES[key] = np.ones(n, dtype=dtype)
        ones.flags.writeable = False
    return ones


def _bias_grad(gy):
    """``gy.sum(axis=(0, 2, 3))`` as a BLAS matrix-vector product where the layout allows
    (batch-last or C-contiguous NumPy arrays; a plain sum otherwise)."""
    if gy.__class__ is not np.ndarray or gy.dtype.kind != "f":
        return gy.sum(axis=(0, 2, 3))
    n, oc, oh, ow = gy.shape
    t = gy.transpose(1, 2, 3, 0)
    if t.flags.c_contiguous:  # conv2d's batch-last layout: one (OC, OH*OW*N) matrix
        return t.reshape(oc, -1) @ _ones(oh * ow * n, gy.dtype)
    if gy.flags.c_contiguous:  # (N, OC, OH*OW) @ ones, then the sum over N
        return (gy.reshape(n, oc, -1) @ _ones(oh * ow, gy.dtype)).sum(axis=0)
    return gy.sum(axis=(0, 2, 3))


class Deconv2d(Function):
    """y = deconv2d(x, W) + b, the transpose of conv2d: one GEMM, then col2im."""

    def __init__(self, stride: Any = 1, pad: Any = 0, outsize: Any = None) -> None:
        self.stride = pair(stride)
        self.pad = pair(pad)
        self.outsize = None if outsize is None else pair(tuple(outsize))

    def forward(self, x, W, b=None):
        n, _, h, w = x.shape
        kh, kw = W.shape[2:]
        self.kernel_size = (kh, kw)
        if self.outsize is None:
            self.outsize = (get_deconv_outsize(h, kh, self.stride[0], self.pad[0]),
                            get_deconv_outsize(w, kw, self.stride[1], self.pad[1]))
        return _deconv_forward(x, W, b, self.stride, self.pad, self.outsize)

    def backward(self, gy):
        x, W = self.inputs[:2]
        gx = Conv2d(self.stride, self.pad)(gy, W)
        gW = Conv2DGradW(self)(gy, x)
        if len(self.inputs) == 2:
            return gx, gW
        return gx, gW, _sum(gy, axis=(0, 2, 3))


class Conv2DGradW(Function):
    """gW = d conv2d / d W: sum over (n, oh, ow) of gy times the windows of x.

    Built from a ``Conv2d`` (inputs ``x, gy``) or a ``Deconv2d`` (inputs ``gy, x``),
    whose kernel size, stride and pad it takes. It is bilinear in its inputs, so its
    backward is a deconv2d and a conv2d with the incoming gradient ``ggW``.
    """

    def __init__(self, conv2d: Any) -> None:
        self.kernel_size = tuple(conv2d.kernel_size)
        self.stride = conv2d.stride
        self.pad = conv2d.pad

    def forward(self, x, gy):
        return _conv_grad_w(x, gy, self.kernel_size, self.stride, self.pad)

    def backward(self, ggW):
        x, gy = self.inputs
        gx = Deconv2d(self.stride, self.pad, x.shape[2:])(gy, ggW)
        ggy = Conv2d(self.stride, self.pad)(x, ggW)
        return gx, ggy


def _check_bias(op, b, channels, W):
    if b is None:
        return None
    b = _checks.as_input(op, "b", b)
    if tuple(b.shape) != (channels,):
        raise ValueError(f"{op}: b must have shape ({channels},) for W {_desc(W)}; "
                         f"got b {_desc(b)}")
    return b


def conv2d(x: ArrayLike, W: ArrayLike, b: ArrayLike | None = None, stride: IntPair = 1,
           pad: IntPair = 0) -> Variable:
    """2-D convolution (cross-correlation) of an image batch.

    Parameters
    ----------
    x : Variable or ndarray, shape (N, C, H, W)
    W : Variable or ndarray, shape (OC, C, KH, KW)
    b : Variable or ndarray, shape (OC,), optional
    stride, pad : int or (int, int)
        Padding is with zeros.

    Returns
    -------
    Variable, shape (N, OC, OH, OW) with ``OH = (H + 2*PH - KH) // SH + 1``. It is a
    view of a channels-last buffer, as Chainer's ``rollaxis`` gives, or, for larger
    problems on NumPy, of a batch-last ``(OC, OH, OW, N)`` one.

    Notes
    -----
    Computed as Chainer does (6-D im2col, ``tensordot`` over (C, KH, KW), bias, channel
    axis moved), so small problems, the book's tests among them, give Chainer's float32
    bits exactly. Larger ones are computed in blocks of output rows without the full
    column matrix; their results can differ from Chainer's in the last bits. Operands
    given as raw arrays get no gradient (``x``'s, a deconv2d, is then not computed).

    Raises
    ------
    ValueError
        For inputs that are not 4-D, mismatched channels, a bad bias shape or a kernel
        larger than the padded input.
    """
    need = (isinstance(x, Variable), isinstance(W, Variable), isinstance(b, Variable))
    x, W = _checks.as_input("conv2d", "x", x), _checks.as_input("conv2d", "W", W)
    stride = _pair_arg("conv2d", "stride", stride, 1)
    pad = _pair_arg("conv2d", "pad", pad, 0)
    _check_image("conv2d", "x", x)
    _check_image("conv2d", "W", W)
    if x.shape[1] != W.shape[1]:
        raise ValueError(f"conv2d: x.shape[1] ({x.shape[1]}) != W.shape[1] ({W.shape[1]}); "
                         f"got x {_desc(x)}, W {_desc(W)}")
    _out_size("conv2d", x.shape[2:], W.shape[2:], stride, pad)
    b = _check_bias("conv2d", b, W.shape[0], W)
    f = Conv2d(stride, pad)
    if not all(need[:2] if b is None else need):
        f.needs_grad = need
    return f(x, W) if b is None else f(x, W, b)


def deconv2d(x: ArrayLike, W: ArrayLike, b: ArrayLike | None = None, stride: IntPair = 1,
             pad: IntPair = 0, outsize: IntPair | None = None) -> Variable:
    """2-D transposed convolution, the adjoint of :func:`conv2d` with respect to ``x``.

    Parameters
    ----------
    x : Variable or ndarray, shape (N, C, H, W)
    W : Variable or ndarray, shape (C, OC, KH, KW)
    b : Variable or ndarray, shape (OC,), optional
    stride, pad : int or (int, int)
    outsize : (int, int), optional
        Output size; by default ``SH*(H - 1) + KH - 2*PH``. A given size must map back
        to (H, W) under conv2d with the same kernel, stride and pad.

    Returns
    -------
    Variable, shape (N, OC, OH, OW)
    """
    x, W = _checks.as_input("deconv2d", "x", x), _checks.as_input("deconv2d", "W", W)
    stride = _pair_arg("deconv2d", "stride", stride, 1)
    pad = _pair_arg("deconv2d", "pad", pad, 0)
    _check_image("deconv2d", "x", x)
    _check_image("deconv2d", "W", W)
    if x.shape[1] != W.shape[0]:
        raise ValueError(f"deconv2d: x.shape[1] ({x.shape[1]}) != W.shape[0] ({W.shape[0]}); "
                         f"got x {_desc(x)}, W {_desc(W)}")
    kh, kw = W.shape[2:]
    h, w = x.shape[2:]
    if outsize is None:
        outsize = (get_deconv_outsize(h, kh, stride[0], pad[0]),
                   get_deconv_outsize(w, kw, stride[1], pad[1]))
        if min(outsize) < 1:
            raise ValueError(f"deconv2d: the output size would be {outsize} for x {_desc(x)}, "
                             f"W {_desc(W)}, stride {stride}, pad {pad}")
    else:
        outsize = _pair_arg("deconv2d", "outsize", outsize, 1)
        back = (get_conv_outsize(outsize[0], kh, stride[0], pad[0]),
                get_conv_outsize(outsize[1], kw, stride[1], pad[1]))
        if back != (h, w):
            raise ValueError(f"deconv2d: outsize {outsize} does not match x: conv2d would map "
                             f"it to {back}, not {(h, w)} (kernel {(kh, kw)}, stride {stride}, "
                             f"pad {pad}); got x {_desc(x)}")
    b = _check_bias("deconv2d", b, W.shape[1], W)
    f = Deconv2d(stride, pad, outsize)
    return f(x, W) if b is None else f(x, W, b)


def conv2d_simple(x: ArrayLike, W: ArrayLike, b: ArrayLike | None = None,
                  stride: IntPair = 1, pad: IntPair = 0) -> Variable:
    """conv2d composed of im2col, ``linear`` and reshapes, as the book builds it (a test oracle).

    On one image its float32 result has the bits of :func:`conv2d` (and Chainer's
    ``convolution_2d``): im2col gives the book's memory layout, so the GEMM sums in the same
    order.
    """
    x, W = _checks.as_input("conv2d_simple", "x", x), _checks.as_input("conv2d_simple", "W", W)
    _check_image("conv2d_simple", "W", W)
    n = x.shape[0]
    oc, c, kh, kw = W.shape
    stride = _pair_arg("conv2d_simple", "stride", stride, 1)
    pad = _pair_arg("conv2d_simple", "pad", pad, 0)
    _check_image("conv2d_simple", "x", x)
    if x.shape[1] != c:
        raise ValueError(f"conv2d_simple: x.shape[1] ({x.shape[1]}) != W.shape[1] ({c}); "
                         f"got x {_desc(x)}, W {_desc(W)}")
    oh, ow = _out_size("conv2d_simple", x.shape[2:], (kh, kw), stride, pad)
    b = _check_bias("conv2d_simple", b, oc, W)
    # As the book: im2col, then one linear node (GEMM, bias added in place), then reshapes.
    col = im2col(x, (kh, kw), stride, pad, to_matrix=True)
    t = linear(col, transpose(reshape(W, (oc, c * kh * kw))), b)
    return transpose(reshape(t, (n, oh, ow, oc)), (0, 3, 1, 2))


__all__ = [
    "im2col_array", "col2im_array",
    "Im2col", "Col2im", "im2col", "col2im",
    "Conv2d", "Deconv2d", "Conv2DGradW", "conv2d", "deconv2d", "conv2d_simple",
]
