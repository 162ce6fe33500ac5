"""Fused CUDA kernels for CuPy arrays: one launch where the generic code needs several.

On the GPU a small network's step time is mostly kernel launches: CuPy runs every
elementwise operation, slice copy and fancy index as its own kernel, at some microseconds
of host time each. The ops here replace such chains on real CuPy arrays (float32 and
float64) with one ``cupy.ElementwiseKernel`` each. Everything else (NumPy, other dtypes,
the tests' emulated CuPy) runs the generic array code, which stays the reference: the
GPU tests compare both.

Kernels are compiled on first use (CuPy caches them on disk). Raw arrays are read through
multi-indices, so they may have any strides; outputs are written through CuPy's indexer,
so they may be strided views too. Window kernels work in gather form (each output element
sums what lands on it), so they need no atomics and their results are deterministic.
"""
from __future__ import annotations

import functools

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def real_cupy(a) -> bool:
    """True for an array of the real CuPy (not NumPy, not the tests' emulated CuPy)."""
    return type(a).__module__.startswith("cupy") and hasattr(_cupy(), "ElementwiseKernel")


def usable(*arrays) -> bool:
    """True when every array (None is skipped) is a real CuPy float32/float64 array of
    one dtype."""
    first = arrays[0]
    if first.__class__ is np.ndarray:  # the CPU's every call: answered at once
        return False
    if first.dtype not in _FLOATS or not real_cupy(first):
        return False
    return all(a is None or (type(a) is type(first) and a.dtype == first.dtype)
               for a in arrays[1:])


def _cupy():
    import cupy

    return cupy


@functools.cache
def _kernel(name, in_params, out_params, body):
    return _cupy().ElementwiseKernel(in_params, out_params, body, f"dezero_{name}",
                                     reduce_dims=False)


_WINDOW_PARAMS = ("int32 H, int32 W, int32 KH, int32 KW, int32 OH, int32 OW, "
                  "int32 SH, int32 SW, int32 PH, int32 PW")


def _window_args(img_hw, kernel, stride, pad, out_hw):
    return (img_hw[0], img_hw[1], kernel[0], kernel[1], out_hw[0], out_hw[1],
            stride[0], stride[1], pad[0], pad[1])


def _gather_windows(init, add, store):
    """Body of a kernel over the image pixels (n, c, h, w) of an (N, C, H, W) output: ``init``
    declares ``T acc``, then ``add`` runs for each window (oh, ow) and kernel offset (kh, kw)
    that covers the pixel, and ``store`` writes ``acc``."""
    return """
    ptrdiff_t w = i %% W; ptrdiff_t r = i / W;
    ptrdiff_t h = r %% H; r /= H;
    ptrdiff_t c = r %% C; ptrdiff_t n = r / C;
    %s
    for (int kh = 0; kh < KH; ++kh) {
        ptrdiff_t t = h + PH - kh;
        if (t < 0 || t %% SH != 0) continue;
        ptrdiff_t oh = t / SH;
        if (oh >= OH) continue;
        for (int kw = 0; kw < KW; ++kw) {
            ptrdiff_t u = w + PW - kw;
            if (u < 0 || u %% SW != 0) continue;
            ptrdiff_t ow = u / SW;
            if (ow >= OW) continue;
            %s
        }
    }
    %s;
""" % (init, add, store)


# =============================================================================
# im2col / col2im
# =============================================================================

_IM2COL = ("im2col", "raw T img, int32 C, " + _WINDOW_PARAMS, "T col", """
    ptrdiff_t ow = i % OW; ptrdiff_t r = i / OW;
    ptrdiff_t oh = r % OH; r /= OH;
    ptrdiff_t kw = r % KW; r /= KW;
    ptrdiff_t kh = r % KH; r /= KH;
    ptrdiff_t c = r % C; ptrdiff_t n = r / C;
    ptrdiff_t h = oh * SH + kh - PH;
    ptrdiff_t w = ow * SW + kw - PW;
    if (h >= 0 && h < H && w >= 0 && w < W) {
        ptrdiff_t at[4] = {n, c, h, w};
        col = img[at];
    } else {
        col = (T)0;
    }
""")


def im2col(img, kernel, stride, pad, out_hw, out):
    """Write the windows of ``img (N, C, H, W)`` into ``out``, an array (or view) of shape
    ``(N, C, KH, KW, OH, OW)``; positions on the padding get 0."""
    _kernel(*_IM2COL)(img, img.shape[1],
                      *_window_args(img.shape[2:], kernel, stride, pad, out_hw), out)
    return out


_COL2IM = ("col2im", "raw T col, raw T b, int32 use_b, int32 C, " + _WINDOW_PARAMS, "T img",
           _gather_windows("ptrdiff_t bc[1] = {c}; T acc = use_b ? b[bc] : (T)0;",
                           "ptrdiff_t at[6] = {n, c, kh, kw, oh, ow}; acc += col[at];",
                           "img = acc"))


def col2im(col, kernel, stride, pad, out, bias=None):
    """``out (N, C, H, W)`` = the windows of ``col (N, C, KH, KW, OH, OW)`` summed back into
    place (plus ``bias[c]`` when given); what falls on the padding is dropped."""
    n, c, kh, kw, oh, ow = col.shape
    b = bias if bias is not None else _cupy().empty(1, dtype=out.dtype)  # never read
    _kernel(*_COL2IM)(col, b, int(bias is not None), c,
                      *_window_args(out.shape[2:], kernel, stride, pad, (oh, ow)), out)
    return out


# =============================================================================
# Max pooling
# =============================================================================

_MAXPOOL = ("max_pool", "raw T x, int32 C, " + _WINDOW_PARAMS, "T y, I index", """
    ptrdiff_t ow = i % OW; ptrdiff_t r = i / OW;
    ptrdiff_t oh = r % OH; r /= OH;
    ptrdiff_t c = r % C; ptrdiff_t n = r / C;
    T best = (T)0;
    int arg = 0;
    for (int kh = 0; kh < KH; ++kh) {
        ptrdiff_t h = oh * SH + kh - PH;
        for (int kw = 0; kw < KW; ++kw) {
            ptrdiff_t w = ow * SW + kw - PW;
            T v = (T)0;
            if (h >= 0 && h < H && w >= 0 && w < W) {
                ptrdiff_t at[4] = {n, c, h, w};
                v = x[at];
            }
            int k = kh * KW + kw;
            // the generic code's semantics: the first maximum wins, and a NaN
            // makes the maximum NaN without moving the index
            if (k == 0) {
                best = v;
            } else if (v > best) {
                best = v;
                arg = k;
            } else if (v != v) {
                best = v;
            }
        }
    }
    y = best;
    index = (I)arg;
""")


def max_pool(x, kernel, stride, pad, out_hw, index_dtype):
    """Max pooling of ``x (N, C, H, W)`` with zero padding: ``(y, argmax index)``, both
    C-contiguous ``(N, C, OH, OW)``."""
    cp = _cupy()
    n, c = x.shape[:2]
    y = cp.empty((n, c) + tuple(out_hw), dtype=x.dtype)
    index = cp.empty(y.shape, dtype=index_dtype)
    _kernel(*_MAXPOOL)(x, c, *_window_args(x.shape[2:], kernel, stride, pad, out_hw),
                       y, index)
    return y, index


_MAXPOOL_GRAD = ("max_pool_grad", "raw T gy, raw I index, int32 C, " + _WINDOW_PARAMS,
                 "T gx", _gather_windows(
                     "T acc = (T)0;",
                     "ptrdiff_t at[4] = {n, c, oh, ow}; "
                     "if ((int)index[at] == kh * KW + kw) acc += gy[at];",
                     "gx = acc"))


def max_pool_grad(gy, index, kernel, stride, pad, out):
    """``out (N, C, H, W)`` = ``gy`` routed to each window's recorded argmax."""
    _kernel(*_MAXPOOL_GRAD)(gy, index, out.shape[1],
                            *_window_args(out.shape[2:], kernel, stride, pad, gy.shape[2:]),
                            out)
    return out


_MAXPOOL_PICK = ("max_pool_pick", "raw T x, I index, int32 C, " + _WINDOW_PARAMS, "T y", """
    ptrdiff_t ow = i % OW; ptrdiff_t r = i / OW;
    ptrdiff_t oh = r % OH; r /= OH;
    ptrdiff_t c = r % C; ptrdiff_t n = r / C;
    int k = (int)index;
    ptrdiff_t h = oh * SH + k / KW - PH;
    ptrdiff_t w = ow * SW + k % KW - PW;
    T v = (T)0;
    if (h >= 0 && h < H && w >= 0 && w < W) {
        ptrdiff_t at[4] = {n, c, h, w};
        v = x[at];
    }
    y = v;
""")


def max_pool_pick(x, index, kernel, stride, pad):
    """``x`` read at the argmax ``index (N, C, OH, OW)`` of each window (padding reads 0)."""
    y = _cupy().empty(index.shape, dtype=x.dtype)
    _kernel(*_MAXPOOL_PICK)(x, index, x.shape[1],
                            *_window_args(x.shape[2:], kernel, stride, pad, index.shape[2:]),
                            y)
    return y


# =============================================================================
# Activations
# =============================================================================

# The outputs keep x's memory layout: conv2d's output is channels-first, and its backward
# reads a channels-first gradient without a copy.
_RELU = ("relu", "T x", "T y", "y = x > (T)0 ? x : (T)0")


def relu(x):
    """``max(x, 0)`` in x's memory layout."""
    return _kernel(*_RELU)(x, _cupy().empty_like(x))


_RELU_GRAD = ("relu_grad", "T gy, T x", "T gx", "gx = x > (T)0 ? gy : (T)0")


def relu_grad(gy, x):
    """``gy * (x > 0)`` in one pass, in x's memory layout."""
    return _kernel(*_RELU_GRAD)(gy, x, _cupy().empty_like(x))


_SIGMOID = ("sigmoid", "T x", "T y", "y = tanh(x * (T)0.5) * (T)0.5 + (T)0.5")


def sigmoid(x):
    """``tanh(x / 2) / 2 + 1/2``, finite for every input."""
    return _kernel(*_SIGMOID)(x)


_SIGMOID_GRAD = ("sigmoid_grad", "T y, T gy", "T gx", "gx = gy * y * ((T)1 - y)")


def sigmoid_grad(y, gy):
    """``gy * y * (1 - y)`` in one pass."""
    return _kernel(*_SIGMOID_GRAD)(y, gy)


# =============================================================================
# Softmax cross entropy
# =============================================================================

_SOFTMAX_CE_ROWS = ("softmax_ce_rows", "raw T x, raw S t, int32 C", "T loss, T shift, T log_s",
                    """
    T m = (T)0;
    for (ptrdiff_t j = 0; j < C; ++j) {
        ptrdiff_t at[2] = {i, j};
        T v = x[at];
        if (j == 0 || v > m || v != v) m = v;
    }
    if (!isfinite(m)) m = (T)0;  // all -inf (or +inf, nan): no shift, as the generic code
    T s = (T)0;
    for (ptrdiff_t j = 0; j < C; ++j) {
        ptrdiff_t at[2] = {i, j};
        s += exp(x[at] - m);
    }
    ptrdiff_t row[1] = {i};
    ptrdiff_t at[2] = {i, (ptrdiff_t)t[row]};
    // (x[t] - m) - log(s), never x[t] - (m + log(s)): m + log(s) rounds to the spacing
    // of m (8 at 1e8 in float32), which would leave nothing of log(s) in the difference.
    shift = m;
    log_s = log(s);
    loss = log_s - (x[at] - m);
""")


def softmax_cross_entropy(x, t):
    """``(mean loss (0-d), (shift, log_s))`` for logits ``x (N, C)`` and labels ``t (N,)``
    (already checked to lie in [0, C)): per row, the max ``shift`` and ``log(sum(exp(x -
    shift)))``, kept apart for the gradient (their sum loses log_s at large logits)."""
    cp = _cupy()
    n, c = x.shape
    loss = cp.empty(n, dtype=x.dtype)
    shift = cp.empty(n, dtype=x.dtype)
    log_s = cp.empty(n, dtype=x.dtype)
    _kernel(*_SOFTMAX_CE_ROWS)(x, t, c, loss, shift, log_s)
    return loss.mean(), (shift, log_s)


_SOFTMAX_CE_GRAD = ("softmax_ce_grad",
                    "T x, T gy, raw T shift, raw T log_s, raw S t, int32 C, T inv_n", "T gx", """
    ptrdiff_t row[1] = {i / C};
    T p = exp((x - shift[row]) - log_s[row]);
    if ((ptrdiff_t)t[row] == i % C) p -= (T)1;
    gx = p * (gy * inv_n);
""")


def softmax_cross_entropy_grad(x, t, lse_parts, gy):
    """``(softmax(x) - onehot(t)) * gy / N`` in one pass; ``lse_parts`` is the
    ``(shift, log_s)`` pair from ``softmax_cross_entropy``."""
    n, c = x.shape
    shift, log_s = lse_parts
    return _kernel(*_SOFTMAX_CE_GRAD)(x, gy, shift, log_s, t, c, x.dtype.type(1.0 / n))


_LABELS_BAD = None


def labels_out_of_range(ids, size) -> bool:
    """True when any integer of ``ids`` lies outside [0, size): one reduction, one sync."""
    global _LABELS_BAD
    if _LABELS_BAD is None:
        _LABELS_BAD = _cupy().ReductionKernel(
            "S x, int64 size", "int32 y", "(x < 0 || x >= size) ? 1 : 0", "max(a, b)",
            "y = a", "0", "dezero_labels_bad")
    return bool(_LABELS_BAD(ids, size))


# =============================================================================
# Optimizer updates (in place)
# =============================================================================

_SGD = ("sgd", "T g, T lr", "T p", "p -= lr * g")


def sgd_update(param, grad, lr):
    """``param -= lr * grad`` in one pass."""
    _kernel(*_SGD)(grad, param.dtype.type(lr), param)


_MOMENTUM = ("momentum_sgd", "T g, T lr, T momentum", "T p, T v", """
    v = v * momentum - lr * g;
    p += v;
""")


def momentum_update(param, grad, velocity, lr, momentum):
    """``v = momentum * v - lr * grad; param += v`` in one pass."""
    dt = param.dtype.type
    _kernel(*_MOMENTUM)(grad, dt(lr), dt(momentum), param, velocity)


_ADAM = ("adam", "T g, T one_minus_b1, T one_minus_b2, T lr, T eps", "T p, T m, T v", """
    m += one_minus_b1 * (g - m);
    v += one_minus_b2 * (g * g - v);
    p -= lr * m / (sqrt(v) + eps);
""")


def adam_update(param, grad, m, v, one_minus_b1, one_minus_b2, lr, eps):
    """The book's Adam step (bias correction folded into ``lr``) in one pass."""
    dt = param.dtype.type
    _kernel(*_ADAM)(grad, dt(one_minus_b1), dt(one_minus_b2), dt(lr), dt(eps), param, m, v)
