"""Arithmetic Functions behind the operator overloads: + - * / ** and negation."""
from __future__ import annotations

import numpy as np

from dezero import cuda
from dezero.core import Function, Variable
from dezero._ops._operands import as_operand_pair, operand_array


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


def _binary(cls, x0, x1):
    x0, x1, need0, need1 = as_operand_pair(x0, x1)
    f = cls()
    if not (need0 and need1):
        f.needs_grad = (need0, need1)
    return f(x0, x1)


def add(x0, x1):
    """Elementwise ``x0 + x1`` with broadcasting."""
    return _binary(Add, x0, x1)


def sub(x0, x1):
    """Elementwise ``x0 - x1`` with broadcasting."""
    return _binary(Sub, x0, x1)


def rsub(x0, x1):
    """Elementwise ``x1 - x0`` (the reflected ``-``)."""
    x0, x1, need0, need1 = as_operand_pair(x0, x1)
    f = Sub()
    if not (need0 and need1):
        f.needs_grad = (need1, need0)
    return f(x1, x0)


def mul(x0, x1):
    """Elementwise ``x0 * x1`` with broadcasting."""
    return _binary(Mul, x0, x1)


def div(x0, x1):
    """Elementwise ``x0 / x1`` with broadcasting."""
    return _binary(Div, x0, x1)


def rdiv(x0, x1):
    """Elementwise ``x1 / x0`` (the reflected ``/``)."""
    x0, x1, need0, need1 = as_operand_pair(x0, x1)
    f = Div()
    if not (need0 and need1):
        f.needs_grad = (need1, need0)
    return f(x1, x0)


def neg(x):
    """Elementwise ``-x``."""
    return Neg()(x)


def _constant(c, x):
    """A power's constant: NumPy scalars become Python ones so float32 stays float32."""
    if isinstance(c, np.generic):
        return c.item()
    if isinstance(c, Variable):
        raise TypeError("pow: the exponent must be a constant (number or array), "
                        "not a Variable; use exp(c * log(x)) for a variable exponent")
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


def pow(x, c):
    """Elementwise ``x ** c`` for a constant ``c``."""
    return Pow(_constant(c, x))(x)


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


def rpow(x, c):
    """Elementwise ``c ** x`` (the reflected ``**``) for a constant base ``c``."""
    return RPow(_constant(c, x))(x)
