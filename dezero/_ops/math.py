"""Elementwise math: sin, cos, tan, tanh, exp, log, sqrt, abs, square, clip, maximum,
minimum and where."""
from __future__ import annotations

from typing import Any

import numpy as np

from dezero import cuda
from dezero._ops import _checks
from dezero._ops._operands import _REAL_SCALARS, operand_array
from dezero._ops.arith import _Binary, _binary, _operand_error
from dezero._ops.array import sum_to
from dezero._typing import ArrayLike
from dezero.core import Function, Variable, _add_context, _record, _state

# =============================================================================
# Unary functions
# =============================================================================
# A chain of small ops pays mostly per-op overhead (benchmarks/bench_engine.py), so:
#
# - NumPy input is computed with ``out=...``, which returns a 0-d array where a plain ufunc
#   call returns a NumPy scalar that must be wrapped again (the same loop, so the same bits).
# - The public functions run the ufunc on a Variable of numeric NumPy data themselves and
#   record the result with ``_record``: no ``Function.__call__``, no ``forward`` call.
# - Without ``create_graph`` a backward computes on raw arrays (NumPy scalars when 0-d, as
#   in arith.py) with the expression of its differentiable path, so the bits agree.


def _array_out():
    """``...`` where ufuncs take ``out=...`` to keep 0-d results arrays (NumPy >= 2.3)."""
    try:
        y = np.negative(np.zeros(()), out=...)
    except TypeError:
        return None  # a 0-d result comes as a NumPy scalar, to be wrapped again
    return ... if y.__class__ is np.ndarray else None


_ARRAY_OUT = _array_out()
_ndarray = np.ndarray
# The dtypes as_input accepts, in native byte order: the fast path of the public functions.
_NUMERIC_DTYPES = frozenset(np.dtype(c) for c in "?" + np.typecodes["AllInteger"]
                            + np.typecodes["Float"])


class _Ufunc(Function):
    """Base of the unary ops whose forward is one ufunc (``ufunc``, or CuPy's namesake)."""

    ufunc: np.ufunc

    def forward(self, x):
        if x.__class__ is _ndarray:
            return self.ufunc(x, out=_ARRAY_OUT)
        return getattr(cuda.get_array_module(x), self.ufunc.__name__)(x)


def _unary(cls, name, doc):
    """The public function of the ``_Ufunc`` op ``cls``; its input is checked as ``x``."""
    ufunc = cls.ufunc

    def op(x: ArrayLike) -> Variable:
        if x.__class__ is Variable:
            data = x.data
            if data.__class__ is _ndarray and data.dtype in _NUMERIC_DTYPES:
                f = cls()
                try:  # cls.forward, inline
                    y = ufunc(data, out=_ARRAY_OUT)
                except Exception as exc:
                    _add_context(exc, f, "forward", [data])
                return _record(f, x, y if y.__class__ is _ndarray else np.asarray(y))
        return cls()(_checks.as_input(name, "x", x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _raw(g, a):
    """``(xp, g, a)``: the array module and the arrays ``g`` and ``a`` of a raw backward.

    0-d NumPy arrays come as NumPy scalars.
    """
    if a.__class__ is not _ndarray:
        return cuda.get_array_module(a), g, a
    if not (g.ndim or a.ndim):
        return np, g[()], a[()]
    return np, g, a


class Exp(_Ufunc):
    """y = exp(x)"""

    ufunc = np.exp

    def backward(self, gy):
        if not _state.enable_backprop:
            return Exp.backward_raw(self, gy.data)
        y = self._y()
        return gy * y

    def backward_raw(self, g):
        _, g, y = _raw(g, self._y().data)
        return g * y

    def jvp(self, t):
        return t * self._y()


class Log(_Ufunc):
    """y = log(x)"""

    ufunc = np.log

    def backward(self, gy):
        if not _state.enable_backprop:
            return Log.backward_raw(self, gy.data)
        x = self._x0
        return gy / x

    def backward_raw(self, g):
        _, g, x = _raw(g, self._x0.data)
        return g / x

    def jvp(self, t):
        return t / self._x0


class Sin(_Ufunc):
    """y = sin(x)"""

    ufunc = np.sin

    def backward(self, gy):
        if not _state.enable_backprop:
            return Sin.backward_raw(self, gy.data)
        x = self._x0
        return gy * cos(x)

    def backward_raw(self, g):
        xp, g, x = _raw(g, self._x0.data)
        return g * xp.cos(x)

    def jvp(self, t):
        return t * cos(self._x0)


class Cos(_Ufunc):
    """y = cos(x)"""

    ufunc = np.cos

    def backward(self, gy):
        if not _state.enable_backprop:
            return Cos.backward_raw(self, gy.data)
        x = self._x0
        return gy * -sin(x)

    def backward_raw(self, g):
        xp, g, x = _raw(g, self._x0.data)
        return g * -xp.sin(x)

    def jvp(self, t):
        return t * -sin(self._x0)


class Tan(_Ufunc):
    """y = tan(x)"""

    ufunc = np.tan

    def backward(self, gy):
        if not _state.enable_backprop:
            return Tan.backward_raw(self, gy.data)
        y = self._y()
        return gy * (1 + y * y)

    def backward_raw(self, g):
        _, g, y = _raw(g, self._y().data)
        return g * (1 + y * y)

    def jvp(self, t):
        y = self._y()
        return t * (1 + y * y)


class Tanh(_Ufunc):
    """y = tanh(x)"""

    ufunc = np.tanh

    def backward(self, gy):
        if not _state.enable_backprop:
            return Tanh.backward_raw(self, gy.data)
        y = self._y()
        return gy * (1 - y * y)

    def backward_raw(self, g):
        _, g, y = _raw(g, self._y().data)
        return g * (1 - y * y)

    def jvp(self, t):
        y = self._y()
        return t * (1 - y * y)


class Sqrt(_Ufunc):
    """y = sqrt(x)"""

    ufunc = np.sqrt

    def backward(self, gy):
        if not _state.enable_backprop:
            return Sqrt.backward_raw(self, gy.data)
        y = self._y()
        return gy / (y * 2)

    def backward_raw(self, g):
        _, g, y = _raw(g, self._y().data)
        return g / (y * 2)

    def jvp(self, t):
        return t / (self._y() * 2)


exp = _unary(Exp, "exp", "Elementwise exponential.")
log = _unary(Log, "log", "Elementwise natural logarithm.")
sin = _unary(Sin, "sin", "Elementwise sine.")
cos = _unary(Cos, "cos", "Elementwise cosine.")
tan = _unary(Tan, "tan", "Elementwise tangent.")
tanh = _unary(Tanh, "tanh", "Elementwise hyperbolic tangent.")
sqrt = _unary(Sqrt, "sqrt", "Elementwise square root.")


class Square(Function):
    """y = x ** 2"""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        x = self._x0
        return gy * (x * 2)

    def jvp(self, t):
        return t * (self._x0 * 2)


def square(x: ArrayLike) -> Variable:
    """Elementwise square."""
    return Square()(_checks.as_input("square", "x", x))


class Abs(Function):
    """y = |x| (subgradient 0 at 0)."""

    def forward(self, x):
        return cuda.get_array_module(x).abs(x)

    def backward(self, gy):
        x = self._x0
        return gy * cuda.get_array_module(x.data).sign(x.data)


def abs(x: ArrayLike) -> Variable:
    """Elementwise absolute value; its gradient at 0 is 0."""
    return Abs()(_checks.as_input("abs", "x", x))


class Clip(Function):
    """y = min(max(x, x_min), x_max); the gradient passes where x_min <= x <= x_max."""

    def __init__(self, x_min: Any, x_max: Any) -> None:
        self.x_min = x_min
        self.x_max = x_max

    def forward(self, x):
        return cuda.get_array_module(x).clip(x, self.x_min, self.x_max)

    def backward(self, gy):
        x = self._x0.data
        if self.x_min is None:
            mask = x <= self.x_max
        elif self.x_max is None:
            mask = x >= self.x_min
        else:
            mask = (x >= self.x_min) & (x <= self.x_max)
        return gy * mask


def clip(x: ArrayLike, x_min: float | None, x_max: float | None) -> Variable:
    """Clip ``x`` to ``[x_min, x_max]``.

    The gradient passes where ``x_min <= x <= x_max`` (inclusive at both ends) and is 0
    elsewhere. Either bound may be None. Bounds are numbers, taken in ``x``'s dtype.

    Raises
    ------
    TypeError
        A bound that is not a real number.
    ValueError
        ``x_min > x_max``, or both bounds None.
    """
    x = _checks.as_input("clip", "x", x)
    x_min = _checks.real_scalar("clip", "x_min", x_min, allow_none=True)
    x_max = _checks.real_scalar("clip", "x_max", x_max, allow_none=True)
    if x_min is None and x_max is None:
        raise ValueError("clip: x_min and x_max are both None; give at least one bound")
    if x_min is not None and x_max is not None and x_min > x_max:
        raise ValueError(f"clip: x_min ({x_min}) > x_max ({x_max}); {_checks.got(x=x)}")
    return Clip(x_min, x_max)(x)


# =============================================================================
# maximum, minimum, where
# =============================================================================


class Maximum(_Binary):
    """y = maximum(x0, x1); tied elements split the gradient evenly."""

    def _compute(self, x0, x1):
        return cuda.get_array_module(x0).maximum(x0, x1)

    def _grads(self, gy):
        x0, x1 = self._x0, self._x1
        return _tie_split(gy, x0.data, x1.data, self.needs_grad)


class Minimum(_Binary):
    """y = minimum(x0, x1); tied elements split the gradient evenly."""

    def _compute(self, x0, x1):
        return cuda.get_array_module(x0).minimum(x0, x1)

    def _grads(self, gy):
        x0, x1 = self._x0, self._x1
        return _tie_split(gy, x1.data, x0.data, self.needs_grad)


def _tie_split(gy, a, b, needs_grad):
    """Gradients of max(a, b): weight 1 to the larger, 1/2 each on a tie, 0 to the smaller."""
    xp = cuda.get_array_module(a)
    w0 = xp.sign(a - b)
    w0 += 1
    w0 *= 0.5  # 1 where a > b, 1/2 on ties, 0 where a < b
    if gy.dtype.kind == "f" and w0.dtype != gy.dtype:
        w0 = w0.astype(gy.dtype)
    gx0 = gy * w0 if needs_grad[0] else None
    gx1 = gy * (w0.dtype.type(1) - w0) if needs_grad[1] else None  # 1 in w0's dtype (NumPy 1.x)
    return gx0, gx1


def maximum(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """Elementwise maximum with broadcasting; ties split the gradient evenly.

    ``x1`` may be a Python number (taken in ``x0``'s dtype), e.g. ``maximum(x, 0.0)``.
    """
    return _binary(Maximum, x0, x1, "maximum")


def minimum(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """Elementwise minimum with broadcasting; ties split the gradient evenly."""
    return _binary(Minimum, x0, x1, "minimum")


class Where(Function):
    """y = x where cond else y (cond is a constant boolean array)."""

    def __init__(self, cond: Any, needs_grad: tuple[bool, bool] = (True, True)) -> None:
        self.cond = cond
        self.needs_grad = needs_grad

    def forward(self, x, y):
        self.x_shape = x.shape
        self.y_shape = y.shape
        return cuda.get_array_module(x).where(self.cond, x, y)

    def backward(self, gy):
        gx0 = gx1 = None  # for the inputs x and y
        if self.needs_grad[0]:
            gx0 = sum_to(where(self.cond, gy, 0), self.x_shape)
        if self.needs_grad[1]:
            gx1 = sum_to(where(self.cond, 0, gy), self.y_shape)
        return gx0, gx1


def _condition(cond):
    if isinstance(cond, Variable):
        cond = cond.data
    if isinstance(cond, bool):
        return cond
    if not (hasattr(cond, "dtype") and hasattr(cond, "shape")):
        raise TypeError(f"where: cond must be a boolean ndarray or Variable; got "
                        f"{type(cond).__name__}")
    if cond.dtype.kind == "b":
        return cond
    if cond.dtype.kind in "iu":
        return cond != 0
    raise TypeError(f"where: cond must hold booleans (or integers); got cond "
                    f"{_checks.describe(cond)}")


def _branch(name, v, other):
    """(Variable, needs_grad) for a branch of where; a number takes the other's dtype."""
    if isinstance(v, Variable):
        return _checks.as_input("where", name, v), True
    if isinstance(v, _REAL_SCALARS):
        like = other.data if isinstance(other, Variable) else other
        if not hasattr(like, "dtype"):
            like = None
        return Variable(operand_array(v, like)), False
    return _checks.as_input("where", name, v), False


def where(cond: ArrayLike, x: ArrayLike, y: ArrayLike) -> Variable:
    """Elementwise ``x if cond else y`` with broadcasting over ``cond``, ``x`` and ``y``.

    ``cond`` is a boolean array (not differentiated). ``x`` or ``y`` may be a Python
    number, taken in the other branch's dtype; each gradient is reduced to its branch's
    shape.

    Raises
    ------
    TypeError
        ``cond`` is not boolean (or integer), a branch is not numeric, or the devices differ.
    ValueError
        ``cond``, ``x`` and ``y`` do not broadcast together.
    """
    cond = _condition(cond)
    vx, need_x = _branch("x", x, y)
    vy, need_y = _branch("y", y, vx)
    xp = cuda.get_array_module(vx.data)
    if isinstance(cond, bool):
        cond = xp.asarray(cond)
    _checks.same_device("where", cond=cond, x=vx, y=vy)
    _checks.broadcast_shapes("where", cond=cond, x=vx, y=vy)
    f = Where(cond, (need_x, need_y))
    try:
        return f(vx, vy)
    except (TypeError, ValueError) as exc:
        raise _operand_error("where", exc, x=vx, y=vy) from None
