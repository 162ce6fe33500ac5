"""Catalogue entries: convolution, pooling, im2col/col2im (dezero/functions_conv.py)."""
import numpy as np

import dezero.functions as F
from op_catalogue import Bad, OpSpec, input_errors, normal


def distinct_nonzero(rng, shape, dtype):
    """Distinct values at least 0.05 away from 0 and from each other: max pooling stays
    off ties, also with the zeros of its padding."""
    n = int(np.prod(shape))
    values = rng.permutation(n) - n / 2
    values = np.where(values >= 0, values + 0.5, values - 0.5) * 0.1
    return (values + rng.uniform(-0.01, 0.01, n)).reshape(shape).astype(dtype)


# -----------------------------------------------------------------------------
# NumPy references: plain loops over output pixels (slow, obviously right)
# -----------------------------------------------------------------------------


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pad(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _windows_ref(x, kernel_size, stride=1, pad=0):
    """(N, C, KH, KW, OH, OW) by a loop over output pixels."""
    (kh, kw), (sh, sw), p = _pair(kernel_size), _pair(stride), _pair(pad)
    n, c, h, w = x.shape
    oh, ow = _out(h, kh, sh, p[0]), _out(w, kw, sw, p[1])
    xp_ = _pad(x, p)
    col = np.zeros((n, c, kh, kw, oh, ow))
    for i in range(oh):
        for j in range(ow):
            col[:, :, :, :, i, j] = xp_[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
    return col


def _im2col_ref(x, kernel_size, stride=1, pad=0, to_matrix=True):
    col = _windows_ref(x, kernel_size, stride, pad)
    if to_matrix:
        n, c, kh, kw, oh, ow = col.shape
        col = col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)
    return col


def _col2im_ref(col, input_shape, kernel_size, stride=1, pad=0, to_matrix=True):
    (kh, kw), (sh, sw), p = _pair(kernel_size), _pair(stride), _pair(pad)
    n, c, h, w = input_shape
    oh, ow = _out(h, kh, sh, p[0]), _out(w, kw, sw, p[1])
    if to_matrix:
        col = col.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * p[0], w + 2 * p[1]))
    for i in range(oh):
        for j in range(ow):
            img[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += col[:, :, :, :, i, j]
    return img[:, :, p[0]:p[0] + h, p[1]:p[1] + w]


def _conv_ref(x, W, b=None, stride=1, pad=0):
    col = _windows_ref(x, W.shape[2:], stride, pad)
    y = np.einsum("nckluv,ockl->nouv", col, W)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def _deconv_ref(x, W, b=None, stride=1, pad=0, outsize=None):
    (sh, sw), (ph, pw) = _pair(stride), _pair(pad)
    n, c, h, w = x.shape
    _, oc, kh, kw = W.shape
    if outsize is None:
        outsize = (sh * (h - 1) + kh - 2 * ph, sw * (w - 1) + kw - 2 * pw)
    full = np.zeros((n, oc, outsize[0] + 2 * ph, outsize[1] + 2 * pw))
    for i in range(h):
        for j in range(w):
            full[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j], W)
    y = full[:, :, ph:ph + outsize[0], pw:pw + outsize[1]]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def _max_pool_ref(x, kernel_size, stride=1, pad=0):
    return _windows_ref(x, kernel_size, stride, pad).max(axis=(2, 3))


def _avg_pool_ref(x, kernel_size, stride=1, pad=0):
    return _windows_ref(x, kernel_size, stride, pad).mean(axis=(2, 3))


# -----------------------------------------------------------------------------
# PyTorch counterparts
# -----------------------------------------------------------------------------


def _torch_conv(t, x, W, b=None, stride=1, pad=0):
    return t.nn.functional.conv2d(x, W, b, stride=stride, padding=pad)


def _torch_deconv(t, x, W, b=None, stride=1, pad=0, outsize=None):
    (sh, sw), (ph, pw) = _pair(stride), _pair(pad)
    extra = (0, 0)
    if outsize is not None:
        h, w = x.shape[2:]
        kh, kw = W.shape[2:]
        extra = (outsize[0] - (sh * (h - 1) + kh - 2 * ph),
                 outsize[1] - (sw * (w - 1) + kw - 2 * pw))
    return t.nn.functional.conv_transpose2d(x, W, b, stride=stride, padding=pad,
                                            output_padding=extra)


def _torch_im2col(t, x, kernel_size, stride=1, pad=0, to_matrix=True):
    (kh, kw), (sh, sw), p = _pair(kernel_size), _pair(stride), _pair(pad)
    n, c, h, w = x.shape
    oh, ow = _out(h, kh, sh, p[0]), _out(w, kw, sw, p[1])
    cols = t.nn.functional.unfold(x, (kh, kw), padding=p, stride=(sh, sw))  # (N, CKK, L)
    if to_matrix:
        return cols.transpose(1, 2).reshape(n * oh * ow, c * kh * kw)
    return cols.reshape(n, c, kh, kw, oh, ow)


def _torch_col2im(t, col, input_shape, kernel_size, stride=1, pad=0, to_matrix=True):
    (kh, kw), (sh, sw), p = _pair(kernel_size), _pair(stride), _pair(pad)
    n, c, h, w = input_shape
    oh, ow = _out(h, kh, sh, p[0]), _out(w, kw, sw, p[1])
    if to_matrix:
        cols = col.reshape(n, oh * ow, c * kh * kw).transpose(1, 2)
    else:
        cols = col.reshape(n, c * kh * kw, oh * ow)
    return t.nn.functional.fold(cols, (h, w), (kh, kw), padding=p, stride=(sh, sw))


def _torch_max_pool(t, x, kernel_size, stride=1, pad=0):
    # dezero pads with zeros (as the book's im2col does); PyTorch would pad with -inf
    p = _pair(pad)
    x = t.nn.functional.pad(x, (p[1], p[1], p[0], p[0]))
    return t.nn.functional.max_pool2d(x, kernel_size, stride)


def _torch_avg_pool(t, x, kernel_size, stride=1, pad=0):
    return t.nn.functional.avg_pool2d(x, kernel_size, stride, pad, count_include_pad=True)


# -----------------------------------------------------------------------------
# error cases
# -----------------------------------------------------------------------------


def _conv_errors(name):
    def xwb():
        return (np.ones((2, 3, 8, 8)), np.ones((5, 3, 3, 3)), np.ones(5))
    return [
        Bad(ValueError, rf"^{name}: x.shape\[1\] \(3\) != W.shape\[1\] \(4\); got x "
            r"\(2, 3, 8, 8\) float32, W \(5, 4, 3, 3\) float32",
            shapes=((2, 3, 8, 8), (5, 4, 3, 3)), dtypes=(np.float32, np.float32)),
        Bad(ValueError, rf"^{name}: x must be 4-D \(N, C, H, W\); got x \(3, 8, 8\) float64",
            shapes=((3, 8, 8), (5, 3, 3, 3))),
        Bad(ValueError, rf"^{name}: W must be 4-D \(N, C, H, W\); got W \(5, 3, 3\) float64",
            shapes=((2, 3, 8, 8), (5, 3, 3))),
        Bad(ValueError, rf"^{name}: kernel \(5, 5\) does not fit the input \(4, 4\) with pad "
            r"\(0, 0\) \(stride \(1, 1\)\); the output size would be \(0, 0\)",
            shapes=((1, 1, 4, 4), (2, 1, 5, 5))),
        Bad(ValueError, rf"^{name}: b must have shape \(5,\) for W \(5, 3, 3, 3\) float64; got "
            r"b \(3,\) float64", shapes=((2, 3, 8, 8), (5, 3, 3, 3), (3,))),
        Bad(ValueError, rf"^{name}: stride must be >= 1; got 0", shapes=((2, 3, 8, 8),
            (5, 3, 3, 3)), kwargs={"stride": 0}),
        Bad(ValueError, rf"^{name}: pad must be an int or a pair of ints; got \(1, 1, 1\)",
            shapes=((2, 3, 8, 8), (5, 3, 3, 3)), kwargs={"pad": (1, 1, 1)}),
        *input_errors(name, xwb),
        *input_errors(name, xwb, position=1, arg="W"),
        *input_errors(name, xwb, position=2, arg="b"),
    ]


def _window_errors(name):
    return [
        Bad(ValueError, rf"^{name}: x must be 4-D \(N, C, H, W\); got x \(3, 4, 4\) float64",
            shapes=((3, 4, 4),), kwargs={"kernel_size": 2}),
        Bad(ValueError, rf"^{name}: kernel \(5, 5\) does not fit the input \(4, 4\)",
            shapes=((1, 2, 4, 4),), kwargs={"kernel_size": 5}),
        Bad(ValueError, rf"^{name}: kernel_size must be an int or a pair of ints; got 2.0",
            shapes=((1, 2, 4, 4),), kwargs={"kernel_size": 2.0}),
        Bad(ValueError, rf"^{name}: kernel_size must be >= 1; got \(0, 2\)",
            shapes=((1, 2, 4, 4),), kwargs={"kernel_size": (0, 2)}),
        Bad(ValueError, rf"^{name}: pad must be >= 0; got -1", shapes=((1, 2, 4, 4),),
            kwargs={"kernel_size": 2, "pad": -1}),
        *input_errors(name, lambda: (np.ones((1, 2, 4, 4)),), kernel_size=2),
    ]


CONV_SHAPES = [((2, 3, 5, 5), (4, 3, 3, 3), (4,)), ((1, 2, 4, 5), (3, 2, 2, 3), (3,))]
CONV_GRID = [{}, {"stride": 2, "pad": 1}]
CONV_EXTRA = [(((1, 2, 5, 6), (2, 2, 3, 3)), {"stride": (1, 2), "pad": (2, 1)})]

POOL_SHAPES = [((2, 3, 4, 4),), ((1, 2, 5, 6),)]
POOL_GRID = [{"kernel_size": 2, "stride": 2}, {"kernel_size": 3, "stride": 1, "pad": 1},
             {"kernel_size": (2, 3), "stride": (1, 2)}]

ENTRIES = [
    OpSpec(
        "conv2d", lambda x, W, b=None, **kw: F.conv2d(x, W, b, **kw), ref=_conv_ref,
        shapes=CONV_SHAPES, kwargs_grid=CONV_GRID, extra_cases=CONV_EXTRA,
        torch=_torch_conv, rtol=1e-5, atol=1e-6, fwd_rtol=1e-12, fwd_atol=1e-12,
        torch_rtol=1e-12, torch_atol=1e-12, errors=_conv_errors("conv2d")),
    OpSpec(
        "conv2d_simple", lambda x, W, b=None, **kw: F.conv2d_simple(x, W, b, **kw),
        ref=_conv_ref, shapes=CONV_SHAPES[:1], kwargs_grid=CONV_GRID, torch=_torch_conv,
        rtol=1e-5, atol=1e-6, fwd_rtol=1e-12, fwd_atol=1e-12, torch_rtol=1e-12,
        torch_atol=1e-12, errors=_conv_errors("conv2d_simple")),
    OpSpec(
        "deconv2d", lambda x, W, b=None, **kw: F.deconv2d(x, W, b, **kw), ref=_deconv_ref,
        shapes=[((2, 3, 3, 3), (3, 2, 3, 3), (2,)), ((1, 2, 2, 3), (2, 3, 2, 2))],
        kwargs_grid=CONV_GRID,
        extra_cases=[(((1, 2, 3, 3), (2, 3, 3, 3)), {"stride": 2, "pad": 1, "outsize": (6, 6)}),
                     (((1, 2, 3, 4), (2, 1, 3, 2), (1,)), {"stride": (2, 1), "pad": (0, 1)})],
        torch=_torch_deconv, rtol=1e-5, atol=1e-6, fwd_rtol=1e-12, fwd_atol=1e-12,
        torch_rtol=1e-12, torch_atol=1e-12,
        errors=[
            Bad(ValueError, r"^deconv2d: x.shape\[1\] \(3\) != W.shape\[0\] \(4\); got x "
                r"\(1, 3, 4, 4\) float64, W \(4, 2, 3, 3\) float64",
                shapes=((1, 3, 4, 4), (4, 2, 3, 3))),
            Bad(ValueError, r"^deconv2d: outsize \(9, 9\) does not match x: conv2d would map "
                r"it to \(5, 5\), not \(3, 3\)", shapes=((1, 2, 3, 3), (2, 3, 3, 3)),
                kwargs={"stride": 2, "pad": 1, "outsize": (9, 9)}),
            Bad(ValueError, r"^deconv2d: the output size would be \(-1, -1\)",
                shapes=((1, 2, 1, 1), (2, 3, 1, 1)), kwargs={"pad": 1}),
            Bad(ValueError, r"^deconv2d: b must have shape \(3,\) for W \(2, 3, 3, 3\)",
                shapes=((1, 2, 3, 3), (2, 3, 3, 3), (2,))),
            *input_errors("deconv2d", lambda: (np.ones((1, 2, 3, 3)), np.ones((2, 3, 3, 3)))),
            *input_errors("deconv2d", lambda: (np.ones((1, 2, 3, 3)), np.ones((2, 3, 3, 3))),
                          position=1, arg="W"),
        ]),
    OpSpec(
        "im2col", lambda x, **kw: F.im2col(x, **kw), ref=_im2col_ref, shapes=[((2, 3, 4, 5),)],
        kwargs_grid=[{"kernel_size": 3}, {"kernel_size": (2, 3), "stride": 2, "pad": 1},
                     {"kernel_size": 2, "stride": (1, 2), "to_matrix": False}],
        torch=_torch_im2col, errors=_window_errors("im2col")),
    OpSpec(
        "col2im", lambda x, **kw: F.col2im(x, **kw), ref=_col2im_ref, shapes=[],
        extra_cases=[
            (((2 * 2 * 3, 3 * 9),), {"input_shape": (2, 3, 4, 5), "kernel_size": 3}),
            (((1 * 3 * 3, 2 * 6),), {"input_shape": (1, 2, 4, 5), "kernel_size": (2, 3),
                                    "stride": 2, "pad": 1}),
            (((2, 3, 2, 2, 3, 2),), {"input_shape": (2, 3, 4, 4), "kernel_size": 2,
                                     "stride": (1, 2), "to_matrix": False}),
        ],
        torch=_torch_col2im,
        errors=[
            Bad(ValueError, r"^col2im: x must have shape \(12, 27\) for input_shape "
                r"\(2, 3, 4, 5\), kernel \(3, 3\), stride \(1, 1\), pad \(0, 0\); got x "
                r"\(12, 26\) float64", shapes=((12, 26),),
                kwargs={"input_shape": (2, 3, 4, 5), "kernel_size": 3}),
            Bad(ValueError, r"^col2im: input_shape must be \(N, C, H, W\); got \(3, 4, 5\)",
                shapes=((12, 27),), kwargs={"input_shape": (3, 4, 5), "kernel_size": 3}),
            *input_errors("col2im", lambda: (np.ones((12, 27)),), input_shape=(2, 3, 4, 5),
                          kernel_size=3),
        ]),
    OpSpec(
        "pooling", lambda x, **kw: F.pooling(x, **kw), ref=_max_pool_ref, shapes=POOL_SHAPES,
        sample=distinct_nonzero, kwargs_grid=POOL_GRID, torch=_torch_max_pool,
        errors=_window_errors("pooling")),
    OpSpec(
        "pooling_simple", lambda x, **kw: F.pooling_simple(x, **kw), ref=_max_pool_ref,
        shapes=POOL_SHAPES[:1], sample=distinct_nonzero, kwargs_grid=POOL_GRID,
        torch=_torch_max_pool, errors=_window_errors("pooling_simple")),
    OpSpec(
        "average_pooling", lambda x, **kw: F.average_pooling(x, **kw), ref=_avg_pool_ref,
        shapes=POOL_SHAPES, sample=normal, kwargs_grid=POOL_GRID, torch=_torch_avg_pool,
        torch_rtol=1e-12, torch_atol=1e-12, errors=_window_errors("average_pooling")),
]
