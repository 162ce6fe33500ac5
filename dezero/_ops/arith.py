"""Arithmetic Functions behind the operator overloads: + - * / ** and negation."""
from __future__ import annotations

from typing import Any

import numpy as np

from dezero import cuda
from dezero._ops import _checks
from dezero._ops._operands import _REAL_SCALARS, as_operand_pair, operand_array
from dezero._typing import ArrayLike
from dezero.core import Function, Variable


def _sum_to(gx, shape):
    from dezero._ops.array import sum_to

    return sum_to(gx, shape)


class _Binary(Function):
    """Elementwise binary op; gradients are reduced to each input's shape."""

    # Set by the wrappers: an operand that was not given as a Variable needs no gradient.
    needs_grad = (True, True)

    def forward(self, x0, x1):
        self.x0_shape = x0.shape
        self.x1_shape = x1.shape
        return self._compute(x0, x1)

    def backward(self, gy):
        gx0, gx1 = self._grads(gy)
        if self.x0_shape != self.x1_shape:
            if gx0 is not None:
                gx0 = _sum_to(gx0, self.x0_shape)
            if gx1 is not None:
                gx1 = _sum_to(gx1, self.x1_shape)
        return gx0, gx1


class Add(_Binary):
    """y = x0 + x1"""

    def _compute(self, x0, x1):
        return x0 + x1

    def _grads(self, gy):
        return gy, gy


class Sub(_Binary):
    """y = x0 - x1"""

    def _compute(self, x0, x1):
        return x0 - x1

    def _grads(self, gy):
        return gy, (-gy if self.needs_grad[1] else None)


class Mul(_Binary):
    """y = x0 * x1"""

    def _compute(self, x0, x1):
        return x0 * x1

    def _grads(self, gy):
        x0, x1 = self.inputs
        need0, need1 = self.needs_grad
        return (gy * x1 if need0 else None), (gy * x0 if need1 else None)


class Div(_Binary):
    """y = x0 / x1"""

    def _compute(self, x0, x1):
        return x0 / x1

    def _grads(self, gy):
        x0, x1 = self.inputs
        need0, need1 = self.needs_grad
        gx0 = gy / x1 if need0 else None
        gx1 = gy * (-x0 / x1 ** 2) if need1 else None
        return gx0, gx1


class Neg(Function):
    """y = -x"""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


def _operand_error(op, exc, **named):
    """The error to raise when ``forward`` of a binary op failed: op name and operands first.

    Checked in order: devices, dtypes, broadcasting; anything else keeps NumPy's reason.
    """
    _checks.same_device(op, **named)
    for name, v in named.items():
        _checks.as_input(op, name, v)
    _checks.broadcast_shapes(op, **named)
    return type(exc)(f"{op}: {_checks.root_message(exc)}; {_checks.got(**named)}")


def _check_operand(op, name, c):
    if isinstance(c, (Variable, np.ndarray, _REAL_SCALARS)) or cuda.is_cupy_array(c):
        return
    raise TypeError(f"{op}: {name} must be a Variable or an ndarray (or a number); got "
                    f"{type(c).__name__}")


def _binary(cls, x0, x1, op, swap=False):
    f = cls()
    # Fast paths for the two commonest cases (per-op overhead, see benchmarks/bench_engine.py):
    # two Variables, and a Variable of floats with a Python number (rule D2: the number takes
    # the Variable's dtype, as in operand_array).
    if type(x0) is Variable and type(x1) is Variable:
        v0, v1 = x0, x1
    elif (type(x0) is Variable and type(x1) in (float, int) and type(x0.data) is np.ndarray
          and x0.data.dtype.kind == "f"):
        v0, v1 = x0, Variable(np.asarray(x1, dtype=x0.data.dtype))
        f.needs_grad = (False, True) if swap else (True, False)
    else:
        if type(x1) is not Variable:
            _check_operand(op, "x1", x1)
        if type(x0) is not Variable:
            _check_operand(op, "x0", x0)
        v0, v1, need0, need1 = as_operand_pair(x0, x1)
        if not (need0 and need1):
            f.needs_grad = (need1, need0) if swap else (need0, need1)
    try:
        return f(v1, v0) if swap else f(v0, v1)
    except (TypeError, ValueError) as exc:
        # Bad operands are reported here, where the op's public name is known; forward
        # failed, so no graph node was recorded.
        raise _operand_error(op, exc, x0=v0, x1=v1) from None


def add(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """Elementwise ``x0 + x1`` with broadcasting."""
    return _binary(Add, x0, x1, "add")


def sub(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """Elementwise ``x0 - x1`` with broadcasting."""
    return _binary(Sub, x0, x1, "sub")


def rsub(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """Elementwise ``x1 - x0`` (the reflected ``-``)."""
    return _binary(Sub, x0, x1, "rsub", swap=True)


def mul(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """Elementwise ``x0 * x1`` with broadcasting."""
    return _binary(Mul, x0, x1, "mul")


def div(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """Elementwise ``x0 / x1`` with broadcasting."""
    return _binary(Div, x0, x1, "div")


def rdiv(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """Elementwise ``x1 / x0`` (the reflected ``/``)."""
    return _binary(Div, x0, x1, "rdiv", swap=True)


def neg(x: ArrayLike) -> Variable:
    """Elementwise ``-x``."""
    return Neg()(_checks.as_input("neg", "x", x))


def _constant(op, name, c, x):
    """A power's constant: NumPy scalars become Python ones so float32 stays float32."""
    if isinstance(c, np.generic):
        return c.item()
    if isinstance(c, (bool, int, float)):
        return c
    if isinstance(c, Variable):
        raise TypeError(f"{op}: {name} must be a constant (number or array), not a Variable; "
                        "use exp(c * log(x)) for a variable exponent")
    if not (isinstance(c, np.ndarray) or cuda.is_cupy_array(c)):
        raise TypeError(f"{op}: {name} must be a number or an ndarray; got {type(c).__name__}")
    _checks.same_device(op, x=x, **{name: c})
    if c.dtype.kind not in "biuf":
        raise TypeError(f"{op}: {name} must be a numeric constant; got {name} "
                        f"{_checks.describe(c)}")
    _checks.broadcast_shapes(op, x=x, **{name: c})
    return c


class Pow(Function):
    """y = x ** c for a constant c (no gradient with respect to c)."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        self.x_shape = x.shape
        return x ** self.c

    def backward(self, gy):
        x, = self.inputs
        c = self.c
        gx = c * x ** (c - 1) * gy
        if gx.shape != self.x_shape:
            gx = _sum_to(gx, self.x_shape)
        return gx


def pow(x: ArrayLike, c: Any) -> Variable:
    """Elementwise ``x ** c`` for a constant ``c`` (number or array, no gradient for it)."""
    x = _checks.as_input("pow", "x", x)
    return Pow(_constant("pow", "c", c, x))(x)


class RPow(Function):
    """y = c ** x for a constant base c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        self.x_shape = x.shape
        c = operand_array(self.c, x)
        self.log_c = cuda.get_array_module(x).log(c)
        return c ** x

    def backward(self, gy):
        y = self.outputs[0]()
        gx = gy * y * self.log_c
        if gx.shape != self.x_shape:
            gx = _sum_to(gx, self.x_shape)
        return gx


def rpow(x: ArrayLike, c: Any) -> Variable:
    """Elementwise ``c ** x`` (the reflected ``**``) for a constant base ``c``."""
    x = _checks.as_input("rpow", "x", x)
    return RPow(_constant("rpow", "c", c, x))(x)
