"""Convolution and pooling: im2col/col2im, conv2d, deconv2d, max and average pooling.

Layouts
-------
Images are ``(N, C, H, W)``; conv weights ``(OC, C, KH, KW)``; deconv weights
``(C, OC, KH, KW)``. ``im2col`` gives ``(N, C, KH, KW, OH, OW)``, or as a matrix
``(N*OH*OW, C*KH*KW)`` with rows ordered (n, oh, ow) and columns (c, kh, kw).

How it is fast
--------------
``im2col_array`` is one ``as_strided`` window view of the zero-padded image and one copy;
``col2im_array`` adds KH*KW slices into the image. The only Python loops are over the
kernel window (and, inside the convolutions, over blocks of output rows), never over
pixels.

conv2d follows Chainer: 6-D im2col, a contraction over (C, KH, KW), the bias, then the
channel axis moved. A small problem (``_SMALL_ELEMENTS`` column elements, the book's
tests included) runs exactly that, ``tensordot`` and all, so float32 results have
Chainer's bits. A bigger one (on NumPy) works batch-last: its result is the
(N, OC, OH, OW) view of an (OC, OH, OW, N) buffer, so every slice copy of im2col and
col2im, and every pooling and elementwise op after it, runs along whole rows of
OW*N contiguous values. It never builds the whole column matrix: block by block of output
rows, KH*KW slice copies fill a small reused buffer ``(C, KH, KW, r, OW, N)`` (padding
positions are zeroed, so no padded image is made) and GEMMs ``W (OC, C*KH*KW) @ cols``
write the result in place while the block is in cache. Each output element is the same
dot product, though BLAS may sum it in another order (a last-bit difference from
Chainer). The backward GEMMs read such a batch-last gradient without a copy (deconv2d
and the gradient of W go through the same blocks), and pooling and its gradient keep
whatever layout they are given (``order='K'``).
"""
from __future__ import annotations

from typing import Any, Union

import numpy as np

from dezero import cuda
from dezero._ops import _checks, _conv_gpu
from dezero._ops import _workspace as _ws
from dezero._ops.array import reshape, transpose
from dezero._ops.linalg import linear
from dezero._ops.reduce import max as _max
from dezero._ops.reduce import sum as _sum
from dezero._typing import ArrayLike, Shape
from dezero.core import Function, Variable, _state
from dezero.utils import get_conv_outsize, get_deconv_outsize, pair

IntPair = Union[int, tuple[int, int]]  # a size or stride for both axes, or (height, width)

# =============================================================================
# Argument checks (in the wrappers, before a graph node exists)
# =============================================================================


def _desc(a):
    return _checks.describe(a)


def _pair_arg(op, name, value, minimum) -> tuple[int, int]:
    """``utils.pair(value)`` as two Python ints >= ``minimum``, or a ValueError naming ``op``."""
    if isinstance(value, list):
        value = tuple(value)
    try:
        p = pair(value)
    except ValueError:
        p = None
    ok = p is not None and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                               for v in p)
    if not ok or p is None:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints; got {value!r}")
    p = (int(p[0]), int(p[1]))
    if min(p) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}; got {value!r}")
    return p


def _check_image(op, name, x):
    if x.ndim != 4:
        raise ValueError(f"{op}: {name} must be 4-D (N, C, H, W); got {name} {_desc(x)}")


def _out_size(op, hw, kernel, stride, pad):
    """Conv output size, or a ValueError when a window does not fit."""
    oh = get_conv_outsize(hw[0], kernel[0], stride[0], pad[0])
    ow = get_conv_outsize(hw[1], kernel[1], stride[1], pad[1])
    if oh < 1 or ow < 1 or hw[0] + 2 * pad[0] < kernel[0] or hw[1] + 2 * pad[1] < kernel[1]:
        raise ValueError(f"{op}: kernel {kernel} does not fit the input {tuple(hw)} with pad "
                         f"{pad} (stride {stride}); the output size would be ({oh}, {ow})")
    return oh, ow


def _window_args(op, x, kernel_size, stride, pad):
    kernel = _pair_arg(op, "kernel_size", kernel_size, 1)
    stride = _pair_arg(op, "stride", stride, 1)
    pad = _pair_arg(op, "pad", pad, 0)
    _check_image(op, "x", x)
    _out_size(op, x.shape[2:], kernel, stride, pad)
    return kernel, stride, pad


# =============================================================================
# Raw-array kernels (NumPy or CuPy, no graph)
# =============================================================================

# The convolutions go through the output in blocks of whole rows (of all images) whose
# columns take about this many elements (2 MiB of float32): each block is filled and read
# back while in cache, and the whole (C*KH*KW, OH*OW*N) matrix is never allocated (a block
# holds one row at least). Within a block a GEMM writes at most _BLOCK_COLUMNS columns at a
# time, so that its output stays in cache: on the benchmark's first layer (inner dimension
# 9) that halves the GEMM time, and chunks of 8192 lose it again. Every output element of
# conv2d and deconv2d is the same dot product as without blocks (the inner dimension of
# their GEMMs is never split); the gradient of W adds one product per chunk. Measured on
# the benchmark's problem, blocks of 2 MiB and of 4 MiB run equally fast.
_BLOCK_ELEMENTS = 1 << 19
_BLOCK_COLUMNS = 1 << 12

# conv2d runs Chainer's exact computation (one tensordot) up to this many column elements.
_SMALL_ELEMENTS = 1 << 16


def _axis_order(a):
    """Axes of ``a`` from the largest stride to the smallest: its memory layout."""
    return tuple(int(i) for i in np.argsort([-abs(s) for s in a.strides], kind="stable"))


def _zeros(shape, dtype, order, xp, make=None, site=None):
    """Zeros of ``shape`` laid out in memory in the axis ``order`` (see ``_axis_order``);
    ``make=xp.empty`` leaves them uninitialised. With ``site`` the buffer comes from the
    workspace cache (``_workspace``)."""
    if site is not None:
        buf = _ws.empty(site, tuple(shape[a] for a in order), dtype, xp)
        if make is None:
            buf.fill(0)
    else:
        buf = (make or xp.zeros)(tuple(shape[a] for a in order), dtype=dtype)
    if tuple(order) == tuple(range(len(shape))):
        return buf  # not a view: the engine need not copy it as a leaf's gradient
    return buf.transpose(tuple(int(i) for i in np.argsort(order)))


def _padded(img, ph, pw):
    """``img`` with ``ph``/``pw`` zeros around H and W, in img's memory layout
    (``img`` itself when there is no padding)."""
    if ph == 0 and pw == 0:
        return img
    xp = cuda.get_array_module(img)
    n, c, h, w = img.shape
    out = _zeros((n, c, h + 2 * ph, w + 2 * pw), img.dtype, _axis_order(img), xp)
    out[:, :, ph:ph + h, pw:pw + w] = img
    return out


def _windows(img, kernel, stride, pad):
    """Read-only view ``(N, C, KH, KW, OH, OW)`` of every window of the padded ``img``.

    One ``as_strided`` call: only the padding copies. Never write into the result (its
    elements overlap).
    """
    xp = cuda.get_array_module(img)
    kh, kw = kernel
    sh, sw = stride
    n, c, h, w = img.shape
    oh = get_conv_outsize(h, kh, sh, pad[0])
    ow = get_conv_outsize(w, kw, sw, pad[1])
    img = _padded(img, *pad)
    s_n, s_c, s_h, s_w = img.strides
    return xp.lib.stride_tricks.as_strided(
        img, (n, c, kh, kw, oh, ow), (s_n, s_c, s_h, s_w, s_h * sh, s_w * sw))


def _window_slices(img, kernel, stride, out_size):
    """The ``(N, C, OH, OW)`` views ``img[:, :, i::sh, j::sw]`` for each kernel offset (i, j)
    of an already padded ``img``, in (i, j) order."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_size
    return [img[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]


def _span(k, s, p, size, out_size):
    """Window positions whose kernel offset ``k`` falls inside the image (not the padding).

    Returns the slice of window positions and the matching slice of image positions
    (``o*s + k - p``), or None when there is none.
    """
    lo = max(0, -((k - p) // s))  # ceil((p - k) / s)
    hi = min(out_size, (size - 1 + p - k) // s + 1)
    if hi <= lo:
        return None
    first = lo * s + k - p
    return slice(lo, hi), slice(first, first + s * (hi - lo - 1) + 1, s)


def _offsets(kernel, stride, pad, size, out_size):
    """``(i, j, window slices, image slices)`` for each kernel offset that meets the image."""
    out = []
    for i in range(kernel[0]):
        rows = _span(i, stride[0], pad[0], size[0], out_size[0])
        for j in range(kernel[1]):
            cols = _span(j, stride[1], pad[1], size[1], out_size[1])
            if rows is not None and cols is not None:
                out.append((i, j, (rows[0], cols[0]), (rows[1], cols[1])))
    return out


def _scatter_windows(part, shape, kernel, stride, pad, dtype, xp, order=(0, 1, 2, 3)):
    """Image of ``shape`` (laid out in axis ``order``) with each window's values
    ``part(i, j) (N, C, OH, OW)`` added at kernel offset (i, j); what falls on the padding
    is dropped. A loop over the kernel window only."""
    n, c, h, w = shape
    out_size = (get_conv_outsize(h, kernel[0], stride[0], pad[0]),
                get_conv_outsize(w, kernel[1], stride[1], pad[1]))
    img = _zeros(shape, dtype, order, xp)
    for i, j, (wh, ww), (ih, iw) in _offsets(kernel, stride, pad, (h, w), out_size):
        img[:, :, ih, iw] += part(i, j)[:, :, wh, ww]
    return img


def _blocks(n, per_item, xp):
    """``(r0, r1)`` ranges splitting ``n`` output rows into near-equal blocks of about
    ``_BLOCK_ELEMENTS`` column elements (``per_item`` per row); one block off NumPy."""
    if xp is not np:
        return [(0, n)]
    count = max(1, min(n, -(-n * per_item // _BLOCK_ELEMENTS)))
    bounds = [n * k // count for k in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _chunks(n, xp):
    """Near-equal slices of ``range(n)`` columns, at most ``_BLOCK_COLUMNS`` each on NumPy:
    a GEMM goes chunk by chunk so that its output chunk stays in cache."""
    count = max(1, -(-n // _BLOCK_COLUMNS)) if xp is np else 1
    bounds = [n * k // count for k in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _batch_last(a, site="batch_last"):
    """``a (N, C, H, W)`` as a contiguous ``(C, H, W, N)`` array: a view of conv2d's own
    results, else one copy (into a workspace buffer: the caller must not let it escape)."""
    t = a.transpose(1, 2, 3, 0)
    if t.flags.c_contiguous:
        return t
    out = _ws.empty(site, t.shape, t.dtype, cuda.get_array_module(a))
    out[...] = t
    return out


def _spans(kernel, stride, pad, size, out_size):
    """``_span`` of every kernel row offset and of every kernel column offset."""
    return ([_span(i, stride[0], pad[0], size[0], out_size[0]) for i in range(kernel[0])],
            [_span(j, stride[1], pad[1], size[1], out_size[1]) for j in range(kernel[1])])


def _block_offsets(spans, stride, r0, r1):
    """``(i, j, rows, cols)`` for each kernel offset (i, j), for the window rows r0..r1.

    ``rows`` is (window rows relative to r0, image rows) and ``cols`` (window columns,
    image columns): the windows whose offset (i, j) falls inside the image, or None when
    no window of the block has one.
    """
    for i, span in enumerate(spans[0]):
        rows = None
        if span is not None:
            lo, hi = max(span[0].start, r0), min(span[0].stop, r1)
            first = span[1].start + (lo - span[0].start) * stride
            if lo < hi:
                rows = slice(lo - r0, hi - r0), slice(first, first + stride * (hi - lo - 1) + 1,
                                                      stride)
        for j, cols in enumerate(spans[1]):
            yield i, j, rows, cols


def _zero_outside(dst, rows, cols):
    """Zero ``dst (C, R, OW, N)`` outside its ``rows`` x ``cols`` window."""
    if rows.start:
        dst[:, :rows.start] = 0
    if rows.stop < dst.shape[1]:
        dst[:, rows.stop:] = 0
    if cols.start:
        dst[:, rows, :cols.start] = 0
    if cols.stop < dst.shape[2]:
        dst[:, rows, cols.stop:] = 0


class _Cols:
    """Column blocks ``(C*KH*KW, r*OW*N)`` of an image batch, for output rows r0..r1: rows
    (c, kh, kw), columns (oh, ow, n). KH*KW slice copies from the batch-last image (runs
    of whole OW*N rows) fill one reused buffer; positions on the padding are zeroed, so no
    padded image is made."""

    def __init__(self, x, kernel, stride, pad, out_size, dtype):
        self.xp = cuda.get_array_module(x)
        self.x_t = _batch_last(x)
        c, h, w, n = self.x_t.shape
        self.shape = (c,) + tuple(kernel) + (out_size[1], n)
        self.ckk = c * kernel[0] * kernel[1]
        self.per_row = self.ckk * out_size[1] * n
        self.blocks = _blocks(out_size[0], self.per_row, self.xp)
        self.spans = _spans(kernel, stride, pad, (h, w), out_size)
        self.row_stride = stride[0]
        self.dtype = dtype
        self.buf = None

    def __iter__(self):
        for r0, r1 in self.blocks:
            yield r0, r1, self.fill(r0, r1)

    def fill(self, r0, r1):
        if self.buf is None:
            rows = max(b - a for a, b in self.blocks)
            self.buf = _ws.empty("im2col.cols", (rows * self.per_row,), self.dtype, self.xp)
        c, kh, kw, ow, n = self.shape
        col = self.buf[:(r1 - r0) * self.per_row].reshape(c, kh, kw, r1 - r0, ow, n)
        for i, j, rows, cols in _block_offsets(self.spans, self.row_stride, r0, r1):
            dst = col[:, i, j]
            if rows is None or cols is None:
                dst[...] = 0
                continue
            _zero_outside(dst, rows[0], cols[0])
            dst[:, rows[0], cols[0]] = self.x_t[:, rows[1], cols[1]]
        return col.reshape(self.ckk, -1)


def _matmul_into(xp, a, b, out):
    """``out[...] = a @ b`` for 2-D operands, by column chunks (``_chunks``), written in
    place by BLAS on NumPy."""
    if xp is not np:
        out[...] = a @ b
        return
    for c in _chunks(out.shape[1], xp):
        np.matmul(a, b[:, c], out=out[:, c])


def _result_type(xp, *arrays):
    return xp.result_type(*[a for a in arrays if a is not None])


def _conv_forward(x, W, b, stride, pad):
    """conv2d on arrays: ``(N, OC, OH, OW)``, a view of a channels-last or a batch-last
    ``(OC, OH, OW, N)`` buffer.

    A small problem (columns up to ``_SMALL_ELEMENTS``), and any off NumPy, runs exactly
    Chainer's ``tensordot(col, W, ((1, 2, 3), (1, 2, 3)))`` on the 6-D columns plus
    ``rollaxis``, so its float32 result has the same bits (the book's tests compare with
    Chainer). A bigger one goes block by block of output rows,
    ``W (OC, C*KH*KW) @ cols (C*KH*KW, r*OW*N)`` into the batch-last buffer: each output
    element is the same dot product over (c, kh, kw), but BLAS may sum it in another
    order, so it can differ from Chainer's in the last bits.
    """
    xp = cuda.get_array_module(x)
    n = x.shape[0]
    oc, c, kh, kw = W.shape
    out_size = (get_conv_outsize(x.shape[2], kh, stride[0], pad[0]),
                get_conv_outsize(x.shape[3], kw, stride[1], pad[1]))
    if _conv_gpu.usable(x, W, b):
        return _conv_gpu.conv_forward(x, W, b, stride, pad, out_size)
    if xp is not np or n * c * kh * kw * out_size[0] * out_size[1] <= _SMALL_ELEMENTS:
        col = xp.ascontiguousarray(_windows(x, (kh, kw), stride, pad))
        y = xp.tensordot(col, W, ((1, 2, 3), (1, 2, 3)))
        if b is not None:
            y += b
        return y.transpose(0, 3, 1, 2)
    dtype = _result_type(xp, x, W, b)
    y = _ws.empty("conv2d.y", (oc,) + out_size + (n,), dtype, xp)
    ym = y.reshape(oc, -1)
    Wm = W.reshape(oc, -1).astype(dtype, copy=False)
    step = out_size[1] * n
    for r0, r1, col in _Cols(x, (kh, kw), stride, pad, out_size, dtype):
        yb = ym[:, r0 * step:r1 * step]
        _matmul_into(xp, Wm, col, yb)
        if b is not None:
            yb += b.reshape(-1, 1)
    return y.transpose(3, 0, 1, 2)


def _conv_grad_w(x, gy, kernel, stride, pad):
    """gW (OC, C, KH, KW) = sum over blocks of cols (C*KH*KW, r*OW*N) @ gy (OC, r*OW*N)^T."""
    if _conv_gpu.usable(x, gy):
        return _conv_gpu.conv_grad_w(x, gy, kernel, stride, pad)
    xp = cuda.get_array_module(x)
    c = x.shape[1]
    n, oc, oh, ow = gy.shape
    kh, kw = kernel
    dtype = _result_type(xp, x, gy)
    gym = _batch_last(gy).reshape(oc, -1).astype(dtype, copy=False)
    step = ow * n
    gWt = None
    for r0, r1, col in _Cols(x, kernel, stride, pad, (oh, ow), dtype):
        g = gym[:, r0 * step:r1 * step]
        for cs in _chunks(col.shape[1], xp):
            part = col[:, cs] @ g[:, cs].T  # (C*KH*KW, OC)
            if gWt is None:
                gWt = part
            else:
                gWt += part
    return xp.ascontiguousarray(gWt.T).reshape(oc, c, kh, kw)


def _deconv_forward(x, W, b, stride, pad, outsize):
    """deconv2d on arrays: ``(N, OC, OH, OW)``, a view of an ``(OC, OH, OW, N)`` buffer.

    Per block of input rows, cols (OC*KH*KW, r*W*N) = W (C, OC*KH*KW)^T @ x (C, r*W*N),
    as Chainer's ``tensordot(W, x, (0, 1))``; then each kernel offset's slice is added
    into y (col2im), in runs of whole W*N rows.
    """
    if _conv_gpu.usable(x, W, b):
        return _conv_gpu.deconv_forward(x, W, b, stride, pad, outsize)
    xp = cuda.get_array_module(x)
    n, c, h, w = x.shape
    _, oc, kh, kw = W.shape
    dtype = _result_type(xp, x, W, b)
    xm = _batch_last(x).reshape(c, -1).astype(dtype, copy=False)
    Wt = W.reshape(c, -1).T.astype(dtype, copy=False)
    y = _ws.zeros("deconv2d.y", (oc,) + tuple(outsize) + (n,), dtype, xp)
    per_row = oc * kh * kw * w * n
    blocks = _blocks(h, per_row, xp)
    spans = _spans((kh, kw), stride, pad, outsize, (h, w))
    buf = _ws.empty("deconv2d.cols", (max(r1 - r0 for r0, r1 in blocks) * per_row,), dtype, xp)
    for r0, r1 in blocks:
        cols = buf[:(r1 - r0) * per_row].reshape(oc * kh * kw, -1)
        _matmul_into(xp, Wt, xm[:, r0 * w * n:r1 * w * n], cols)
        col = cols.reshape(oc, kh, kw, r1 - r0, w, n)
        for i, j, rows, cs in _block_offsets(spans, stride[0], r0, r1):
            if rows is not None and cs is not None:
                y[:, rows[1], cs[1]] += col[:, i, j, rows[0], cs[0]]
    if b is not None:
        y += b.reshape(-1, 1, 1, 1)
    return y.transpose(3, 0, 1, 2)


def im2col_array(img: Any, kernel_size: IntPair, stride: IntPair, pad: IntPair,
                 to_matrix: bool = True) -> Any:
    """Windows of ``img (N, C, H, W)`` on raw arrays (NumPy or CuPy), no graph.

    Returns ``(N, C, KH, KW, OH, OW)``, or with ``to_matrix`` the matrix
    ``(N*OH*OW, C*KH*KW)`` (rows (n, oh, ow), columns (c, kh, kw)). Always a new array:
    one strided window view of the zero-padded image, then one copy.
    """
    kernel, stride, pad = pair(kernel_size), pair(stride), pair(pad)
    if _conv_gpu.usable(img):
        out_hw = (get_conv_outsize(img.shape[2], kernel[0], stride[0], pad[0]),
                  get_conv_outsize(img.shape[3], kernel[1], stride[1], pad[1]))
        return _conv_gpu.im2col_array(img, kernel, stride, pad, out_hw, to_matrix)
    view = _windows(img, kernel, stride, pad)
    if to_matrix:
        n, c, kh, kw, oh, ow = view.shape
        if n == 1:
            # NOTE: the book's (and Chainer's) layout: the matrix is a transposed view of a
            # contiguous (C, KH, KW, OH, OW) copy. A GEMM reading it sums in the order
            # Chainer's tensordot does, so conv2d_simple has conv2d's float32 bits.
            return view.copy().transpose(0, 4, 5, 1, 2, 3).reshape(oh * ow, c * kh * kw)
        # several images: that reshape would copy again; one copy into place gives the same
        # C-contiguous matrix
        col = cuda.get_array_module(img).empty((n * oh * ow, c * kh * kw), dtype=img.dtype)
        col.reshape(n, oh, ow, c, kh, kw)[...] = view.transpose(0, 4, 5, 1, 2, 3)
        return col
    return view.copy()  # a new array even where a view of img would do (1x1 kernels)


def col2im_array(col: Any, img_shape: Shape, kernel_size: IntPair, stride: IntPair,
                 pad: IntPair, to_matrix: bool = True) -> Any:
    """Inverse of :func:`im2col_array` on raw arrays: overlapping windows are added.

    ``col`` is ``(N*OH*OW, C*KH*KW)`` with ``to_matrix``, else ``(N, C, KH, KW, OH, OW)``;
    the result is a new ``img_shape`` array. A loop over the kernel window only.
    """
    kernel, stride, pad = pair(kernel_size), pair(stride), pair(pad)
    n, c, h, w = img_shape
    oh = get_conv_outsize(h, kernel[0], stride[0], pad[0])
    ow = get_conv_outsize(w, kernel[1], stride[1], pad[1])
    if _conv_gpu.usable(col):
        return _conv_gpu.col2im_array(col, img_shape, kernel, stride, pad, (oh, ow), to_matrix)
    if to_matrix:
        col = col.reshape(n, oh, ow, c, kernel[0], kernel[1]).transpose(0, 3, 4, 5, 1, 2)
    return _scatter_windows(lambda i, j: col[:, :, i, j], tuple(img_shape), kernel, stride,
                            pad, col.dtype, cuda.get_array_module(col))


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
    "im2col_array", "col2im_array",
    "Im2col", "Col2im", "im2col", "col2im",
    "Conv2d", "Deconv2d", "Conv2DGradW", "conv2d", "deconv2d", "conv2d_simple",
    "Pooling", "Pooling2DGrad", "Pooling2DWithIndexes", "pooling", "pooling_simple",
    "AveragePooling", "AveragePooling2DGrad", "average_pooling",
]
