"""conv2d, deconv2d, im2col/col2im and max pooling on CuPy, through the fused kernels.

The same math as the array code of ``conv.py`` (with its own layouts), in fewer launches: the
columns are written by one im2col kernel (padding included) into a ``(C*KH*KW, N*OH*OW)``
matrix, each direction is one cuBLAS GEMM, col2im is one gather kernel (with the bias
fused), and a max pooling step is one kernel. ``conv.py`` calls these only when
``_gpu_kernels.usable`` says the arrays are real CuPy float arrays of one dtype.
"""
from __future__ import annotations

import numpy as np

from dezero._ops import _gpu_kernels as K


def usable(*arrays) -> bool:
    """True when the fused kernels take these arrays (see ``_gpu_kernels.usable``)."""
    return K.usable(*arrays)


def empty_in_layout(shape, dtype, order):
    """An uninitialised array of ``shape`` laid out in the axis ``order`` (largest stride
    first), so a gradient can keep its input's memory layout."""
    buf = K._cupy().empty(tuple(shape[a] for a in order), dtype=dtype)
    if tuple(order) == tuple(range(len(shape))):
        return buf
    return buf.transpose(tuple(int(i) for i in np.argsort(order)))


def _columns(x, kernel, stride, pad, out_hw):
    """The ``(C*KH*KW, N*OH*OW)`` column matrix of ``x``: rows (c, kh, kw), columns
    (n, oh, ow)."""
    n, c = x.shape[:2]
    buf = K._cupy().empty((c,) + tuple(kernel) + (n,) + tuple(out_hw), dtype=x.dtype)
    K.im2col(x, kernel, stride, pad, out_hw, buf.transpose(3, 0, 1, 2, 4, 5))
    return buf.reshape(c * kernel[0] * kernel[1], -1)


def _channel_rows(a):
    """``a (N, C, H, W)`` as ``(C, N*H*W)``: a view for a channels-first array, else a copy."""
    return a.transpose(1, 0, 2, 3).reshape(a.shape[1], -1)


def conv_forward(x, W, b, stride, pad, out_hw):
    """``(N, OC, OH, OW)`` view of an ``(OC, N, OH, OW)`` buffer: ``W @ cols (+ b)``."""
    n = x.shape[0]
    oc, _, kh, kw = W.shape
    y = W.reshape(oc, -1) @ _columns(x, (kh, kw), stride, pad, out_hw)
    if b is not None:
        y += b.reshape(-1, 1)
    return y.reshape((oc, n) + tuple(out_hw)).transpose(1, 0, 2, 3)


def conv_grad_w(x, gy, kernel, stride, pad):
    """``gW (OC, C, KH, KW) = gy (OC, N*OH*OW) @ cols(x)^T``."""
    oc = gy.shape[1]
    cols = _columns(x, kernel, stride, pad, gy.shape[2:])
    return (_channel_rows(gy) @ cols.T).reshape((oc, x.shape[1]) + tuple(kernel))


def deconv_forward(x, W, b, stride, pad, outsize):
    """``(N, OC, OH, OW)`` view of an ``(OC, N, OH, OW)`` buffer: col2im of
    ``W^T @ x`` with the bias fused in."""
    n, c, h, w = x.shape
    _, oc, kh, kw = W.shape
    cols = W.reshape(c, -1).T @ _channel_rows(x)  # (OC*KH*KW, N*H*W)
    col6 = cols.reshape(oc, kh, kw, n, h, w).transpose(3, 0, 1, 2, 4, 5)
    y = K._cupy().empty((oc, n) + tuple(outsize), dtype=x.dtype).transpose(1, 0, 2, 3)
    return K.col2im(col6, (kh, kw), stride, pad, y, bias=b)


def im2col_array(img, kernel, stride, pad, out_hw, to_matrix):
    """``im2col_array`` of conv.py: ``(N*OH*OW, C*KH*KW)`` or ``(N, C, KH, KW, OH, OW)``."""
    cp = K._cupy()
    n, c = img.shape[:2]
    (kh, kw), (oh, ow) = kernel, out_hw
    if not to_matrix:
        return K.im2col(img, kernel, stride, pad, out_hw,
                        cp.empty((n, c, kh, kw, oh, ow), dtype=img.dtype))
    col = cp.empty((n * oh * ow, c * kh * kw), dtype=img.dtype)
    K.im2col(img, kernel, stride, pad, out_hw,
             col.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2))
    return col


def col2im_array(col, img_shape, kernel, stride, pad, out_hw, to_matrix):
    """``col2im_array`` of conv.py: a new C-contiguous image of ``img_shape``."""
    n, c = img_shape[:2]
    (kh, kw), (oh, ow) = kernel, out_hw
    if to_matrix:
        col = col.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    out = K._cupy().empty(tuple(img_shape), dtype=col.dtype)
    return K.col2im(col, kernel, stride, pad, out)


max_pool = K.max_pool
max_pool_pick = K.max_pool_pick


def max_pool_grad(gy, index, input_shape, layout, kernel, stride, pad):
    """gx in the input's memory layout ``layout``: ``gy`` routed to each argmax."""
    gx = empty_in_layout(input_shape, gy.dtype, layout)
    return K.max_pool_grad(gy, index, kernel, stride, pad, gx)
