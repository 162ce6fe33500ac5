"""Activations: sigmoid, relu, leaky_relu, softplus, gelu, softmax, log_softmax, logsumexp
and the composed ``*_simple`` twins kept as test oracles."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from dezero import _arrays as _ua
from dezero import cuda
from dezero._ops import _checks
from dezero._ops import _gpu_kernels as _gpu
from dezero._ops import _workspace as _ws
from dezero._ops.array import reshape
from dezero._ops.math import Clip, exp, tanh
from dezero._ops.reduce import _keepdims, sum
from dezero._typing import ArrayLike, Axis
from dezero.core import Function, Variable, _state

# =============================================================================
# sigmoid
# =============================================================================


class Sigmoid(Function):
    """y = tanh(x / 2) / 2 + 1/2 (= 1 / (1 + exp(-x)) without overflow)."""

    def forward(self, x):
        if _gpu.usable(x):
            return _gpu.sigmoid(x)
        xp = cuda.get_array_module(x)
        y = _ua.inplace(xp.tanh, x * 0.5)  # one new array, then everything in place
        y *= 0.5
        y += 0.5
        return y

    def backward(self, gy):
        if not _state.enable_backprop:  # no graph wanted: the fused kernel on raw arrays
            return Sigmoid.backward_raw(self, gy.data)
        return SigmoidGrad()(self._y(), gy)

    def backward_raw(self, g):
        return _sigmoid_grad(self._y().data, g)

    def jvp(self, t):
        y = self._y()
        return t * (y * (1 - y))


def _sigmoid_grad(y, gy):
    if _gpu.usable(y, gy):
        return _gpu.sigmoid_grad(y, gy)
    gx = 1 - y  # the one new array; the products go in place
    gx *= y
    if getattr(gx, "dtype", None) == gy.dtype:
        gx *= gy
    else:  # mixed dtypes: promote as NumPy does rather than cast into gx
        gx = gx * gy
    return gx


class SigmoidGrad(Function):
    """gx = gy * y * (1 - y) for y = sigmoid(x), fused; differentiable in y and gy."""

    def forward(self, y, gy):
        return _sigmoid_grad(y, gy)

    def backward(self, ggx):
        y, gy = self._x0, self._x1
        # d/dy [gy y (1 - y)] = gy (1 - 2y); d/dgy = y (1 - y)
        return ggx * gy * (1 - 2 * y), SigmoidGrad()(y, ggx)


def sigmoid(x: ArrayLike) -> Variable:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed as ``tanh(x/2)/2 + 1/2``.

    Finite for any input (no overflow in ``exp``). Backward: ``gy * y * (1 - y)``.
    """
    return Sigmoid()(_checks.as_input("sigmoid", "x", x))


def sigmoid_simple(x: ArrayLike) -> Variable:
    """The composed ``1 / (1 + exp(-x))`` (overflows for x below about -88 in float32)."""
    x = _checks.as_input("sigmoid_simple", "x", x)
    return 1 / (1 + exp(-x))


# =============================================================================
# ReLU family
# =============================================================================


class ReLU(Function):
    """y = max(x, 0); the gradient mask is x > 0, so relu'(0) = 0."""

    # backward returns a new array (or, from backward_inplace, the pass's own gy)
    fresh_grads = True

    def forward(self, x):
        if _gpu.usable(x):
            return _gpu.relu(x)
        if x.__class__ is np.ndarray and x.dtype.kind == "f":
            # a cached buffer in x's layout (see _workspace): no page faults per step
            return np.maximum(x, 0, out=_ws.empty_like("relu.y", x))
        return cuda.get_array_module(x).maximum(x, 0)

    def backward(self, gy):
        if not _state.enable_backprop:  # no graph wanted: the product on raw arrays
            return ReLU.backward_raw(self, gy.data)
        return ReLUGrad(self._x0.data > 0)(gy)

    def backward_raw(self, g):
        x = self._x0.data
        if _gpu.usable(x, g):
            return _gpu.relu_grad(g, x)
        return g * _relu_mask(x)

    def backward_inplace(self, gy: Any) -> Any:
        """``backward`` writing into ``gy``, which the engine says belongs to this pass."""
        g, x = gy.data, self._x0.data
        if (_state.enable_backprop or g.__class__ is not np.ndarray or x.__class__ is not np.ndarray
                or g.dtype.kind != "f" or g.shape != x.shape or not g.flags.writeable):
            return self.backward(gy)
        np.multiply(g, _relu_mask(x), out=g)
        return gy


def _relu_mask(x):
    """``x > 0``, into a cached buffer on NumPy (it lives until the product is done)."""
    if x.__class__ is np.ndarray:
        return np.greater(x, 0, out=_ws.empty_like("relu.mask", x, bool))
    return x > 0


class ReLUGrad(Function):
    """gx = gy * mask for a constant 0/1 ``mask`` (relu's x > 0): one node, one product.

    Linear in gy, so its backward is itself with the same mask (relu'' = 0).
    """

    def __init__(self, mask: Any) -> None:
        self.mask = mask

    def forward(self, gy):
        return gy * self.mask

    def backward(self, ggx):
        return ReLUGrad(self.mask)(ggx)


def relu(x: ArrayLike) -> Variable:
    """Rectified linear unit ``max(x, 0)``; its gradient at 0 is 0."""
    return ReLU()(_checks.as_input("relu", "x", x))


class LeakyReLU(Function):
    """y = x where x > 0, slope * x elsewhere."""

    def __init__(self, slope: float = 0.2) -> None:
        self.slope = slope

    def forward(self, x):
        xp = cuda.get_array_module(x)
        # the slope in x's dtype: under NumPy 1.x a Python float would make a 0-d x float64
        slope = x.dtype.type(self.slope) if x.dtype.kind == "f" else self.slope
        return xp.where(x > 0, x, x * slope)

    def backward(self, gy):
        x = self._x0.data
        xp = cuda.get_array_module(x)
        dtype = gy.dtype if gy.dtype.kind == "f" else np.float64
        mask = xp.where(x > 0, xp.asarray(1, dtype=dtype), xp.asarray(self.slope, dtype=dtype))
        return gy * mask


def leaky_relu(x: ArrayLike, slope: float = 0.2) -> Variable:
    """Leaky ReLU: ``x`` where ``x > 0``, ``slope * x`` elsewhere (gradient ``slope`` at 0)."""
    x = _checks.as_input("leaky_relu", "x", x)
    return LeakyReLU(_checks.real_scalar("leaky_relu", "slope", slope))(x)


class Softplus(Function):
    """y = log(1 + exp(x)), computed without overflow."""

    def forward(self, x):
        return cuda.get_array_module(x).logaddexp(0, x)

    def backward(self, gy):
        x = self._x0
        return gy * sigmoid(x)


def softplus(x: ArrayLike) -> Variable:
    """Softplus ``log(1 + exp(x))`` via ``logaddexp(0, x)``: finite for large ``|x|``."""
    return Softplus()(_checks.as_input("softplus", "x", x))


_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715
# Past |x| = 10 the tanh argument is beyond 43, where tanh is exactly +-1 even in float64:
# clipping x there changes no result, and keeps x^2 and x^3 from overflowing (x^2 does in
# float32 above 1.8e19, which made the backward 0 * inf = nan), also in the terms of the
# second derivative (float16 overflows at 65504).
_GELU_CLIP = 10.0


class GELU(Function):
    """y = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), the tanh approximation."""

    def forward(self, x):
        xp = cuda.get_array_module(x)
        xc = xp.clip(x, -_GELU_CLIP, _GELU_CLIP)
        u = xc * xc
        u *= _GELU_A
        u += 1
        u *= xc
        u *= _GELU_C  # u = c (x + a x^3)
        u = _ua.inplace(xp.tanh, u)
        u += 1
        u *= 0.5  # before the product: (1 + t) x overflows at x near the dtype's max
        u *= x
        return u

    def backward(self, gy):
        x = self._x0
        xc = Clip(-_GELU_CLIP, _GELU_CLIP)(x)  # identity (gradient 1) where it matters
        x2 = xc * xc
        t = tanh((x2 * _GELU_A + 1) * xc * _GELU_C)
        # d/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 a x^2); past the clip the second term
        # is exactly 0 (1 - t^2 = 0), so xc stands for x there too
        dt = (1 - t * t) * (x2 * (3 * _GELU_A) + 1) * (_GELU_C * 0.5)
        return gy * ((t + 1) * 0.5 + xc * dt)


def gelu(x: ArrayLike) -> Variable:
    """Gaussian error linear unit, tanh approximation.

    ``x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``: NumPy has no ``erf``, so the
    tanh form (PyTorch's ``gelu(x, approximate="tanh")``) keeps one body for NumPy and
    CuPy. It differs from the exact erf form by less than 1e-3.
    """
    return GELU()(_checks.as_input("gelu", "x", x))


# =============================================================================
# softmax family
# =============================================================================


def _softmax_axis(op, axis, x):
    if x.ndim == 0:
        raise ValueError(f"{op}: x must have at least 1 dimension; {_checks.got(x=x)}")
    if axis is None:
        raise TypeError(f"{op}: axis must be an int or a tuple of ints; got None")
    return _checks.clean_axis(op, axis, x)


class Softmax(Function):
    """y = exp(x - max) / sum(exp(x - max)) along ``axis``."""

    def __init__(self, axis: Any = 1) -> None:
        self.axis = axis

    def forward(self, x):
        xp = cuda.get_array_module(x)
        y = x - _ua.max_shift(x, self.axis)  # max-shifted: exp never overflows
        if y.dtype.kind != "f":
            y = y.astype(np.float64)
        y = _ua.inplace(xp.exp, y)
        y /= y.sum(axis=self.axis, keepdims=True)
        return y

    def backward(self, gy):
        y = self._y()
        gx = y * gy
        return gx - y * sum(gx, axis=self.axis, keepdims=True)

    def jvp(self, t):
        y = self._y()
        return y * (t - sum(y * t, axis=self.axis, keepdims=True))


def softmax(x: ArrayLike, axis: Axis = 1) -> Variable:
    """Softmax along ``axis`` (an int or a tuple), max-shifted so it stays finite for
    logits of +-1000 in float32. Backward: ``y*gy - y*sum(y*gy, axis, keepdims=True)``."""
    x = _checks.as_input("softmax", "x", x)
    return Softmax(_softmax_axis("softmax", axis, x))(x)


def softmax_simple(x: ArrayLike, axis: Axis = 1) -> Variable:
    """The composed ``exp(x) / sum(exp(x), axis)`` without the max shift (a test oracle;
    it overflows for logits above about 88 in float32)."""
    x = _checks.as_input("softmax_simple", "x", x)
    axis = _softmax_axis("softmax_simple", axis, x)
    y = exp(x)
    return y / sum(y, axis=axis, keepdims=True)


class LogSoftmax(Function):
    """y = x - logsumexp(x, axis)"""

    def __init__(self, axis: Any = 1) -> None:
        self.axis = axis

    def forward(self, x):
        return _ua.log_softmax(x, self.axis)

    def backward(self, gy):
        y = self._y()
        return gy - exp(y) * sum(gy, axis=self.axis, keepdims=True)

    def jvp(self, t):
        y = self._y()
        return t - sum(exp(y) * t, axis=self.axis, keepdims=True)


def log_softmax(x: ArrayLike, axis: Axis = 1) -> Variable:
    """``x - logsumexp(x, axis)``: the log of softmax without its underflow (finite for
    logits of +-1000 in float32)."""
    x = _checks.as_input("log_softmax", "x", x)
    return LogSoftmax(_softmax_axis("log_softmax", axis, x))(x)


# =============================================================================
# logsumexp (its gradient is the softmax)
# =============================================================================


class LogSumExp(Function):
    """y = log(sum(exp(x), axis)), max-shifted so it never overflows."""

    def __init__(self, axis: Any = 1, keepdims: bool = False) -> None:
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        y = _ua.logsumexp(x, self.axis)
        return y if self.keepdims else y.reshape(_squeezed(y.shape, self.axis))

    def backward(self, gy):
        x = self._x0
        shape = _ua.kept_shape(x.shape, self.axis)
        # d/dx logsumexp = softmax(x), recomputed from x: exp(x - y) would carry the
        # rounding of y (6e-5 at 1000 in float32) into every element.
        return reshape(gy, shape) * Softmax(self.axis)(x)


def _squeezed(shape, axis):
    ndim = len(shape)
    if axis is None:
        return ()
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = {a % ndim for a in axes}
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def logsumexp(x: ArrayLike, axis: Axis = 1, keepdims: bool = False) -> Variable:
    """``log(sum(exp(x), axis))`` computed stably (finite for logits of +-1000 in float32).

    ``axis`` is an int, a tuple or None (all axes). Unlike ``dezero.utils.logsumexp`` (the
    book's raw-array helper, which keeps the reduced axes), ``keepdims`` defaults to False.
    """
    x = _checks.as_input("logsumexp", "x", x)
    axis = _checks.clean_axis("logsumexp", axis, x)
    return LogSumExp(axis, _keepdims("logsumexp", keepdims))(x)
