"""Normalisation and friends: dropout, batch_norm (alias batch_nrom), layer_norm, embed_id.

The normalisations share one backward: with ``xhat = (x - mean) * inv_std`` over the
normalised axes (m elements each) and ``gxhat`` the gradient reaching ``xhat``,

    gx = inv_std * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)).

When the gradient must itself be differentiable (``backward(create_graph=True)``),
``xhat`` and ``inv_std`` are rebuilt from ``x`` with dezero functions; otherwise the
statistics saved by the forward pass are used as constants.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dezero import cuda
from dezero._ops import _checks
from dezero._ops.array import get_item, reshape, sum_to
from dezero._ops.reduce import sum
from dezero._typing import ArrayLike
from dezero.core import Config, Function, Variable

# =============================================================================
# dropout
# =============================================================================


class Dropout(Function):
    """y = x * mask / (1 - ratio) for a fixed boolean mask."""

    def __init__(self, mask: Any, scale: Any) -> None:
        self.mask = mask
        self.scale = scale

    def forward(self, x):
        return x * self.mask / self.scale

    def backward(self, gy):
        return gy * self.mask / self.scale


def dropout(x: ArrayLike, dropout_ratio: float = 0.5) -> Variable:
    """Inverted dropout: in train mode zero each element with probability ``dropout_ratio``
    and scale the rest by ``1 / (1 - dropout_ratio)``.

    The mask is ``xp.random.rand(*x.shape) > dropout_ratio``, drawn from the global RNG
    (``numpy.random`` or ``cupy.random``), so seeded runs repeat the book's numbers. The
    scale is in x's dtype. In test mode (``dezero.test_mode()``) the input itself is
    returned, with no graph node.

    Raises
    ------
    ValueError
        ``dropout_ratio`` outside [0, 1).
    """
    x = _checks.as_input("dropout", "x", x)
    ratio = _checks.real_scalar("dropout", "dropout_ratio", dropout_ratio)
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"dropout: dropout_ratio must be in [0, 1); got {dropout_ratio!r}")
    if not Config.train:
        return x
    xp = cuda.get_array_module(x.data)
    mask = xp.asarray(xp.random.rand(*x.shape) > ratio)
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    scale = xp.asarray(1.0 - ratio, dtype=dtype)
    return Dropout(mask, scale)(x)


# =============================================================================
# the shared normalisation backward
# =============================================================================


def _normalized_variables(x, axes, eps):
    """(xhat, inv_std) rebuilt from the Variable ``x`` with dezero functions (keepdims)."""
    m = 1
    for a in axes:
        m *= x.shape[a]
    mu = sum(x, axis=axes, keepdims=True) / m
    xc = x - mu
    var = sum(xc * xc, axis=axes, keepdims=True) / m
    inv_std = (var + eps) ** -0.5
    return xc * inv_std, inv_std


def _normalize_backward(gxhat, xhat, inv_std, axes):
    """gx from the gradient reaching xhat (see the module docstring)."""
    m = 1
    for a in axes:
        m *= gxhat.shape[a]
    mean_g = sum(gxhat, axis=axes, keepdims=True) / m
    mean_gx = sum(gxhat * xhat, axis=axes, keepdims=True) / m
    return (gxhat - mean_g - xhat * mean_gx) * inv_std


# =============================================================================
# batch normalisation
# =============================================================================


def _channel_axes(x):
    """Reduced axes and the broadcast shape of per-channel arrays for (N, C) or (N, C, H, W)."""
    if x.ndim == 2:
        return (0,), (1, x.shape[1])
    return (0, 2, 3), (1, x.shape[1], 1, 1)


class BatchNorm(Function):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta per channel; batch statistics in
    train mode (the running ``mean``/``var`` updated in place), the running ones in test mode."""

    def __init__(self, mean: Any, var: Any, decay: float = 0.9, eps: float = 2e-5) -> None:
        self.avg_mean = mean
        self.avg_var = var
        self.decay = decay
        self.eps = eps

    def forward(self, x, gamma, beta):
        self.train = bool(Config.train)
        axes, shape = _channel_axes(x)
        if self.train:
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(shape)
            var = (xc * xc).mean(axis=axes)  # biased: the batch's own variance
            m = x.size // x.shape[1]
            adjust = m / max(m - 1, 1)  # unbiased estimate for the running variance
            self.avg_mean *= self.decay
            self.avg_mean += (1 - self.decay) * mean
            self.avg_var *= self.decay
            self.avg_var += (1 - self.decay) * adjust * var
        else:
            # copies: the running arrays may change (in place) before backward runs
            mean = self.avg_mean.astype(x.dtype, copy=True)
            var = self.avg_var.astype(x.dtype, copy=True)
            xc = x - mean.reshape(shape)
        self.mean = mean
        self.inv_std = 1 / (cuda.get_array_module(x).sqrt(var + self.eps))
        xhat = xc
        xhat *= self.inv_std.reshape(shape)
        return gamma.reshape(shape) * xhat + beta.reshape(shape)

    def backward(self, gy):
        x, gamma, beta = self.inputs
        axes, shape = _channel_axes(x)
        gbeta = sum(gy, axis=axes)
        gxhat = gy * reshape(gamma, shape)
        if self.train and Config.enable_backprop:  # create_graph: statistics depend on x
            xhat, inv_std = _normalized_variables(x, axes, self.eps)
        else:
            inv_std = self.inv_std.reshape(shape)
            xhat = (x - self.mean.reshape(shape)) * inv_std
        ggamma = sum(gy * xhat, axis=axes)
        if self.train:
            gx = _normalize_backward(gxhat, xhat, inv_std, axes)
        else:
            gx = gxhat * inv_std  # the running statistics are constants
        return gx, ggamma, gbeta


def _stat_array(op, name, a, x):
    if isinstance(a, Variable):
        a = a.data
    if not (isinstance(a, np.ndarray) or cuda.is_cupy_array(a)):
        raise TypeError(f"{op}: {name} must be an ndarray (updated in place); got "
                        f"{type(a).__name__}")
    if tuple(a.shape) != (x.shape[1],) or a.dtype.kind != "f":
        raise ValueError(f"{op}: {name} must be a floating array of shape ({x.shape[1]},) "
                         f"(one value per channel); got {name} {_checks.describe(a)}, "
                         f"x {_checks.describe(x)}")
    return a


def batch_norm(x: ArrayLike, gamma: ArrayLike, beta: ArrayLike, mean: Any, var: Any,
               decay: float = 0.9, eps: float = 2e-5) -> Variable:
    """Batch normalisation per channel of ``x`` (N, C) or (N, C, H, W).

    Parameters
    ----------
    x : Variable or ndarray, shape (N, C) or (N, C, H, W)
    gamma, beta : Variable or ndarray, shape (C,)
        Scale and shift.
    mean, var : ndarray, shape (C,)
        Running statistics. In train mode they are updated **in place**:
        ``mean <- decay*mean + (1-decay)*mu`` and
        ``var <- decay*var + (1-decay) * m/max(m-1, 1) * sigma**2`` with the batch mean
        ``mu`` and biased variance ``sigma**2`` over ``m`` = N (2-D) or N*H*W values.
        In test mode (``dezero.test_mode()``) they normalise ``x`` and are not changed.
    decay, eps : float

    Returns
    -------
    Variable, the shape of x. Gradients flow to x, gamma and beta in both modes, and the
    backward is differentiable.
    """
    op = "batch_norm"
    x = _checks.as_input(op, "x", x)
    gamma = _checks.as_input(op, "gamma", gamma)
    beta = _checks.as_input(op, "beta", beta)
    _checks.same_device(op, x=x, gamma=gamma, beta=beta)
    if x.ndim not in (2, 4) or x.dtype.kind != "f":
        raise ValueError(f"{op}: x must be a floating (N, C) or (N, C, H, W) array; "
                         f"{_checks.got(x=x)}")
    c = x.shape[1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if tuple(p.shape) != (c,):
            raise ValueError(f"{op}: {name} must have shape ({c},) (one value per channel); "
                             f"{_checks.got(x=x, **{name: p})}")
    mean = _stat_array(op, "mean", mean, x)
    var = _stat_array(op, "var", var, x)
    _checks.same_device(op, x=x, mean=mean, var=var)
    decay = _checks.real_scalar(op, "decay", decay)
    eps = _checks.real_scalar(op, "eps", eps)
    if Config.train and x.size == 0:
        raise ValueError(f"{op}: x is empty, so there are no batch statistics; "
                         f"{_checks.got(x=x)}")
    return BatchNorm(mean, var, decay, eps)(x, gamma, beta)


# The book's spelling, kept as an alias.
batch_nrom = batch_norm


# =============================================================================
# layer normalisation
# =============================================================================


class LayerNorm(Function):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over the last axis."""

    def __init__(self, eps: float = 1e-5) -> None:
        self.eps = eps

    def forward(self, x, gamma, beta):
        xp = cuda.get_array_module(x)
        mean = x.mean(axis=-1, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=-1, keepdims=True)
        self.mean = mean
        self.inv_std = 1 / xp.sqrt(var + self.eps)
        xhat = xc
        xhat *= self.inv_std
        return gamma * xhat + beta

    def backward(self, gy):
        x, gamma, beta = self.inputs
        axes = (x.ndim - 1,)
        if Config.enable_backprop:  # create_graph: statistics depend on x
            xhat, inv_std = _normalized_variables(x, axes, self.eps)
        else:
            inv_std = self.inv_std
            xhat = (x - self.mean) * inv_std
        gx = _normalize_backward(gy * gamma, xhat, inv_std, axes)
        return gx, sum_to(gy * xhat, gamma.shape), sum_to(gy, beta.shape)


def layer_norm(x: ArrayLike, gamma: ArrayLike, beta: ArrayLike,
               eps: float = 1e-5) -> Variable:
    """Layer normalisation over the last axis of ``x``.

    ``y = gamma * (x - mean) / sqrt(var + eps) + beta`` with the mean and biased variance
    of each row ``x[..., :]``; ``gamma`` and ``beta`` have shape ``(x.shape[-1],)``, as
    ``torch.nn.functional.layer_norm(x, (D,), gamma, beta, eps)``. No running statistics:
    train and test mode agree. The backward is differentiable.
    """
    op = "layer_norm"
    x = _checks.as_input(op, "x", x)
    gamma = _checks.as_input(op, "gamma", gamma)
    beta = _checks.as_input(op, "beta", beta)
    _checks.same_device(op, x=x, gamma=gamma, beta=beta)
    if x.ndim == 0 or x.dtype.kind != "f":
        raise ValueError(f"{op}: x must be a floating array with at least 1 dimension; "
                         f"{_checks.got(x=x)}")
    d = x.shape[-1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if tuple(p.shape) != (d,):
            raise ValueError(f"{op}: {name} must have shape ({d},) (x.shape[-1]); "
                             f"{_checks.got(x=x, **{name: p})}")
    eps = _checks.real_scalar(op, "eps", eps)
    return LayerNorm(eps)(x, gamma, beta)


# =============================================================================
# embedding
# =============================================================================


def embed_id(x: Any, W: ArrayLike) -> Variable:
    """Rows of the embedding matrix: ``W[x]`` for integer ids ``x`` (any shape).

    The backward scatter-adds into ``W`` (repeated ids accumulate); the ids get no
    gradient.

    Raises
    ------
    TypeError
        Ids that are not integers.
    ValueError
        ``W`` without dimensions, or an id outside [0, len(W)).
    """
    op = "embed_id"
    x = _checks.as_input(op, "x", x)
    W = _checks.as_input(op, "W", W)
    _checks.same_device(op, x=x, W=W)
    if x.dtype.kind not in "iu":
        raise TypeError(f"{op}: x must hold integer ids; {_checks.got(x=x)}")
    if W.ndim == 0:
        raise ValueError(f"{op}: W must have at least 1 dimension; {_checks.got(W=W)}")
    _checks.index_range(op, "ids", x.data, W.shape[0], f"for W {_checks.describe(W)}")
    return get_item(W, x.data)


__all__ = [
    "Dropout", "dropout",
    "BatchNorm", "batch_norm", "batch_nrom",
    "LayerNorm", "layer_norm",
    "embed_id",
]
