"""Sliding windows on images: the argument checks and the raw-array kernels (NumPy or
CuPy, no graph) behind convolution and pooling.

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
from dezero._typing import Shape
from dezero.utils import get_conv_outsize, pair

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
