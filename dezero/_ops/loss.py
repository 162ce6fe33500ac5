"""Losses and accuracy: mean squared error, softmax / sigmoid / binary cross-entropy.

Every loss is a mean over the first dimension (``len(x)``), as in the book. The cross
entropies are computed from logits or in log space so they stay finite at the extremes
(API.md D8); their backward passes are built from dezero functions, so they can be
differentiated again.
"""
from __future__ import annotations

import numpy as np

from dezero import _arrays as _ua
from dezero import cuda
from dezero._ops import _checks
from dezero._ops import _gpu_kernels as _gpu
from dezero._ops.activation import sigmoid, softmax
from dezero._ops.array import get_item, reshape, sum_to
from dezero._ops.math import clip, log
from dezero._ops.reduce import sum
from dezero._typing import ArrayLike
from dezero.core import Function, Variable, _state, as_array

# =============================================================================
# checks shared by the losses
# =============================================================================


def _floating(op, name, x):
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must hold floating-point values; "
                        f"{_checks.got(**{name: x})}")


def _batched(op, name, x):
    """The loss divides by ``len(x)``: ``x`` needs a first dimension that is not empty."""
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{op}: {name} must have a non-empty first dimension (the loss is "
                         f"divided by len({name})); {_checks.got(**{name: x})}")


def _targets_like(op, x, t, xname="x"):
    """``t`` with ``x``'s shape: reshaped when its ndim differs, as in the book.

    Integer targets are reshaped as raw arrays (they get no gradient); floating ones
    through ``reshape`` so that a gradient can flow to them.
    """
    if t.shape == x.shape:
        return t
    if t.ndim == x.ndim or t.size != x.size:
        raise ValueError(f"{op}: t must have the shape of {xname} {tuple(x.shape)} (or its "
                         f"size, to be reshaped); {_checks.got(**{xname: x, 't': t})}")
    if t.dtype.kind == "f":
        return reshape(t, x.shape)
    return Variable(t.data.reshape(x.shape))


def _as_dtype_of(t, x):
    """``t`` for arithmetic with ``x``: itself when it shares x's floating dtype (so it
    stays differentiable), else its data cast to x's dtype (a constant)."""
    if t.dtype == x.dtype:
        return t
    return t.data.astype(x.dtype)


# =============================================================================
# mean squared error
# =============================================================================


class MeanSquaredError(Function):
    """y = sum((x0 - x1)**2) / len(x0 - x1)"""

    def forward(self, x0, x1):
        diff = x0 - x1
        return (diff * diff).sum() / len(diff)

    def backward(self, gy):
        x0, x1 = self.inputs
        diff = x0 - x1
        gx0 = gy * diff * (2.0 / len(diff))
        return sum_to(gx0, x0.shape), sum_to(-gx0, x1.shape)


def _check_mse(op, x0, x1):
    x0 = _checks.as_input(op, "x0", x0)
    x1 = _checks.as_input(op, "x1", x1)
    _checks.same_device(op, x0=x0, x1=x1)
    shape = _checks.broadcast_shapes(op, x0=x0, x1=x1)
    if len(shape) == 0 or shape[0] == 0:
        raise ValueError(f"{op}: x0 - x1 must have a non-empty first dimension (the loss is "
                         f"divided by its length); {_checks.got(x0=x0, x1=x1)}")
    return x0, x1


def mean_squared_error(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """``sum((x0 - x1)**2) / len(x0 - x1)``, one graph node.

    NOTE: divided by the first dimension (the batch size), not by the number of elements,
    as in the book. The operands broadcast; each gradient is summed to its input's shape.

    Raises
    ------
    ValueError
        Operands that do not broadcast, or a difference without a first dimension.
    """
    x0, x1 = _check_mse("mean_squared_error", x0, x1)
    return MeanSquaredError()(x0, x1)


def mean_squared_error_simple(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """The composed ``sum((x0 - x1)**2) / len(x0 - x1)`` (a test oracle)."""
    x0, x1 = _check_mse("mean_squared_error_simple", x0, x1)
    diff = x0 - x1
    return sum(diff * diff) / len(diff)


# =============================================================================
# softmax cross entropy
# =============================================================================


class SoftmaxCrossEntropy(Function):
    """y = -mean_i log softmax(x)[i, t_i] for logits x (N, C) and integer labels t (N,)."""

    def forward(self, x, t):
        if _gpu.usable(x):
            loss, self.lse_parts = _gpu.softmax_cross_entropy(x, t)
            return loss
        xp = cuda.get_array_module(x)
        n = x.shape[0]
        m = _ua.max_shift(x, 1)[:, 0]  # max-shifted: finite for logits of +-1000
        log_s = _ua.inplace(xp.log, _ua.inplace(xp.exp, x - m[:, None]).sum(axis=1))
        self.lse_parts = (m, log_s)  # N numbers each, for the raw backward
        # NOTE: (x[t] - m) - log_s, not x[t] - (m + log_s): the sum m + log_s rounds to the
        # spacing of m (8 at logits of 1e8 in float32), which would erase log_s entirely.
        log_p = x[xp.arange(n), t] - m
        log_p -= log_s
        return -log_p.sum() / n

    def backward(self, gy):
        if not _state.enable_backprop:
            return SoftmaxCrossEntropy.backward_raw(self, gy.data)
        x, t = self.inputs
        n, c = x.shape
        xp = cuda.get_array_module(x.data)
        onehot = xp.eye(c, dtype=x.dtype)[t.data]
        return (softmax(x, axis=1) - onehot) * (gy / n)

    def backward_raw(self, gy):
        """``(softmax(x) - onehot(t)) * gy / N`` from the forward's shift and log-sum, in
        place in one new array (a fused kernel on the GPU)."""
        x, t = self._x0.data, self._x1.data
        if _gpu.usable(x, gy):
            return _gpu.softmax_cross_entropy_grad(x, t, self.lse_parts, gy)
        m, log_s = self.lse_parts
        n = x.shape[0]
        xp = cuda.get_array_module(x)
        gx = x - m[:, None]  # (x - m) - log_s, as the forward: exact for huge logits
        gx -= log_s[:, None]
        _ua.inplace(xp.exp, gx)
        gx[xp.arange(n), t] -= 1
        gx *= gy / n
        return gx


def _check_labels(op, x, t):
    """``t`` raveled to (N,) integer labels in [0, C) for logits ``x`` (N, C)."""
    x = _checks.as_input(op, "x", x)
    t = _checks.as_input(op, "t", t)
    _checks.same_device(op, x=x, t=t)
    _floating(op, "x", x)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: t must hold integer labels; {_checks.got(t=t)}")
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{op}: x must be 2-D logits (N, C) with N > 0; {_checks.got(x=x)}")
    n, c = x.shape
    if t.size != n:
        raise ValueError(f"{op}: t must hold one label per row of x ({n}); "
                         f"{_checks.got(x=x, t=t)}")
    labels = t.data.ravel()
    _checks.index_range(op, "labels", labels, c, f"for x with {c} classes")
    return x, Variable(labels)


def softmax_cross_entropy(x: ArrayLike, t: ArrayLike) -> Variable:
    """Mean over the batch of ``-log softmax(x)[i, t_i]``, one graph node.

    Parameters
    ----------
    x : Variable or ndarray, shape (N, C)
        Logits; the loss stays finite for logits of +-1000 in float32.
    t : Variable or ndarray of integers, N elements
        Labels in [0, C), raveled to (N,). They get no gradient.

    Returns
    -------
    Variable, 0-d, in x's dtype. Backward: ``(softmax(x) - onehot(t)) * gy / N``.

    Raises
    ------
    TypeError
        Float labels, or integer logits.
    ValueError
        ``x`` not 2-D, a label count other than N, or a label outside [0, C).
    """
    x, t = _check_labels("softmax_cross_entropy", x, t)
    return SoftmaxCrossEntropy()(x, t)


def softmax_cross_entropy_simple(x: ArrayLike, t: ArrayLike) -> Variable:
    """The composed loss: softmax, clip to [1e-15, 1], log, pick ``[arange(N), t]``,
    ``-sum / N`` (a test oracle; the clip makes it saturate where the fused one does not)."""
    x, t = _check_labels("softmax_cross_entropy_simple", x, t)
    n = x.shape[0]
    xp = cuda.get_array_module(x.data)
    p = clip(softmax(x, axis=1), 1e-15, 1.0)
    tlog_p = get_item(log(p), (xp.arange(n), t.data))
    return -1 * sum(tlog_p) / n


# =============================================================================
# sigmoid and binary cross entropy
# =============================================================================


class SigmoidCrossEntropy(Function):
    """y = sum(max(x, 0) - x*t + log1p(exp(-|x|))) / len(x), from the logits x."""

    def forward(self, x, t):
        xp = cuda.get_array_module(x)
        t = t.astype(x.dtype, copy=False)
        loss = xp.maximum(x, 0) - x * t
        loss += xp.log1p(xp.exp(-xp.abs(x)))
        return loss.sum() / len(x)

    def backward(self, gy):
        x, t = self.inputs
        g = gy / len(x)
        gx = (sigmoid(x) - _as_dtype_of(t, x)) * g
        if t.dtype.kind != "f":
            return gx
        return gx, -x * g


def sigmoid_cross_entropy(x: ArrayLike, t: ArrayLike) -> Variable:
    """Binary cross entropy from logits, ``-sum(t log s(x) + (1-t) log(1-s(x))) / len(x)``.

    Computed stably as ``max(x, 0) - x*t + log1p(exp(-|x|))`` (API.md D8): at ``x = -100``,
    ``t = 1`` the loss is 100 and the gradient ``(sigmoid(x) - t) / N`` is -1 / N.

    Parameters
    ----------
    x : Variable or ndarray, shape (N, ...)
        Logits.
    t : Variable or ndarray
        Targets in [0, 1] (labels 0/1, integers or floats); reshaped to ``x.shape`` when its
        ndim differs. Floating targets get the gradient ``-x / N``.

    Returns
    -------
    Variable, 0-d, in x's dtype.
    """
    op = "sigmoid_cross_entropy"
    x = _checks.as_input(op, "x", x)
    t = _checks.as_input(op, "t", t)
    _checks.same_device(op, x=x, t=t)
    _floating(op, "x", x)
    _batched(op, "x", x)
    t = _targets_like(op, x, t)
    return SigmoidCrossEntropy()(x, t)


# log terms are clamped here, as PyTorch does, so p = 0 or 1 stays finite
_LOG_FLOOR = -100.0
# floor of the gradient's denominator p (1 - p)
_DENOM_FLOOR = 1e-12


def _clamped_log(xp, a, plus_one=False):
    """``max(log(a), -100)``, or ``max(log1p(a), -100)`` with ``plus_one``."""
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped right after
        v = xp.log1p(a) if plus_one else xp.log(a)
    return xp.maximum(v, _LOG_FLOOR)


def _clamped_log_variable(v):
    """``max(log(v), -100)`` on a Variable; where clamped the gradient is 0."""
    xp = cuda.get_array_module(v.data)
    with np.errstate(divide="ignore"):
        keep = xp.log(v.data) > _LOG_FLOOR
    if keep.all():
        return log(v)
    k = keep.astype(v.dtype)
    # log(1) = 0 where clamped (no -inf, no gradient), plus the floor there
    return log(v * k + (1 - k)) + (1 - k) * _LOG_FLOOR


class BinaryCrossEntropy(Function):
    """y = -sum(t*log(p) + (1-t)*log(1-p)) / len(p), each log clamped at -100."""

    def forward(self, p, t):
        xp = cuda.get_array_module(p)
        t = t.astype(p.dtype, copy=False)
        log_p = _clamped_log(xp, p)
        log_q = _clamped_log(xp, -p, plus_one=True)  # log(1 - p), exact near p = 0
        loss = t * log_p
        loss += (1 - t) * log_q
        return -loss.sum() / len(p)

    def backward(self, gy):
        p, t = self.inputs
        g = gy / len(p)
        tv = _as_dtype_of(t, p)
        denom = p * (1 - p)
        small = denom.data < _DENOM_FLOOR
        if small.any():
            # the floor is a constant: no gradient flows through it
            keep = (~small).astype(p.dtype)
            denom = denom * keep + (1 - keep) * _DENOM_FLOOR
        gp = (p - tv) / denom * g
        if t.dtype.kind != "f":
            return gp
        gt = (_clamped_log_variable(1 - p) - _clamped_log_variable(p)) * g
        return gp, gt


def binary_cross_entropy(p: ArrayLike, t: ArrayLike) -> Variable:
    """Binary cross entropy of probabilities, ``-sum(t log p + (1-t) log(1-p)) / len(t)``.

    Computed in log space without clipping ``p`` (exact for 0 < p < 1, API.md D8); each
    log term is clamped at -100 so ``p = 0`` or ``1`` stays finite, and the gradient
    ``(p - t) / (p (1 - p)) / N`` has its denominator floored at 1e-12, as PyTorch does.

    Parameters
    ----------
    p : Variable or ndarray, shape (N, ...)
        Probabilities in [0, 1].
    t : Variable or ndarray
        Targets in [0, 1]; reshaped to ``p.shape`` when its ndim differs. Floating
        targets get a gradient too.

    Returns
    -------
    Variable, 0-d, in p's dtype.

    Raises
    ------
    ValueError
        A probability outside [0, 1] (or NaN).
    """
    op = "binary_cross_entropy"
    p = _checks.as_input(op, "p", p)
    t = _checks.as_input(op, "t", t)
    _checks.same_device(op, p=p, t=t)
    _floating(op, "p", p)
    _batched(op, "p", p)
    t = _targets_like(op, p, t, xname="p")
    data = p.data
    if not bool(((data >= 0) & (data <= 1)).all()):
        bad = data[~((data >= 0) & (data <= 1))]
        raise ValueError(f"{op}: p must hold probabilities in [0, 1]; found "
                         f"{float(bad.ravel()[0])} in p {_checks.describe(p)}")
    return BinaryCrossEntropy()(p, t)


# =============================================================================
# accuracy
# =============================================================================


def accuracy(y: ArrayLike, t: ArrayLike) -> Variable:
    """Fraction of rows where ``argmax(y, axis=1)`` (reshaped to ``t.shape``) equals ``t``.

    Not differentiable: returns a Variable holding a 0-d float64 array (the exact
    fraction, as in the book), with no graph node.

    Raises
    ------
    ValueError
        ``y`` with fewer than 2 dimensions, or a prediction count other than ``t.size``.
    """
    op = "accuracy"
    y = _checks.as_input(op, "y", y)
    t = _checks.as_input(op, "t", t)
    _checks.same_device(op, y=y, t=t)
    if y.ndim < 2:
        raise ValueError(f"accuracy: y must have a class axis 1 (at least 2-D); "
                         f"{_checks.got(y=y)}")
    pred = y.data.argmax(axis=1)
    if pred.size != t.size or t.size == 0:
        raise ValueError(f"accuracy: y has {pred.size} predictions (argmax over axis 1) but "
                         f"t has {t.size} labels; {_checks.got(y=y, t=t)}")
    result = pred.reshape(t.shape) == t.data
    xp = cuda.get_array_module(y.data)
    return Variable(as_array(result.mean(dtype=np.float64), xp))


__all__ = [
    "MeanSquaredError", "mean_squared_error", "mean_squared_error_simple",
    "SoftmaxCrossEntropy", "softmax_cross_entropy", "softmax_cross_entropy_simple",
    "SigmoidCrossEntropy", "sigmoid_cross_entropy",
    "BinaryCrossEntropy", "binary_cross_entropy",
    "accuracy",
]
