"""Arithmetic Functions behind the operator overloads: + - * / ** and negation."""
from __future__ import annotations

from typing import Any

import numpy as np

from dezero import cuda
from dezero._ops import _checks
from dezero._ops._operands import _REAL_SCALARS, as_operand_pair, operand_array
from dezero._typing import ArrayLike
from dezero.core import Function, Variable, _apply, _state, _wrap

# The per-op overhead of these ops is what a Python-level loop of small ops pays (see
# benchmarks/bench_engine.py). Two measured choices keep it low, without changing a value:
#
# - 0-d operands are computed as NumPy scalars (``x[()]``): NumPy's scalar arithmetic is
#   several times faster than its 0-d array arithmetic, and gives the same value and dtype
#   (NumPy 2 promotes scalars like 0-d arrays). The engine turns the result back into a
#   0-d array.
# - Without ``create_graph`` (``enable_backprop`` is off inside the backward pass) a
#   backward computes its gradients on raw arrays, with the same expressions as the
#   differentiable path that ``create_graph=True`` takes; the engine wraps them.
# - A Variable of NumPy floats meeting a number (``x * 2.0``) records the op with one input
#   and the number held as ``c`` (see ``_with_constant``): no constant Variable is built.
#   ``c`` is a NumPy scalar of the Variable's dtype (rule D2), which computes as the 0-d
#   array that the number would otherwise become.


def _sum_to(gx, shape):
    from dezero._ops.array import sum_to

    return sum_to(gx, shape)


def _to_input_shapes(f, gx0, gx1):
    """The gradients of a binary op, each summed down to its input's shape (broadcasting)."""
    shape0, shape1 = f.x0_shape, f.x1_shape
    if shape0 != shape1:
        if gx0 is not None and gx0.shape != shape0:
            gx0 = _sum_to(gx0, shape0)
        if gx1 is not None and gx1.shape != shape1:
            gx1 = _sum_to(gx1, shape1)
    return gx0, gx1


class _Elementwise(Function):
    """Base of the elementwise binary ops: the attributes that wrappers and backward read."""

    # Set by the wrappers: an operand that was not given as a Variable needs no gradient.
    needs_grad = (True, True)
    # The operands' shapes, for reducing broadcast gradients; forward records them unless
    # both operands are 0-d.
    x0_shape = x1_shape = ()
    # Set by _with_constant: the number that replaces the second operand (the first with
    # ``swap``); the op then has one input.
    c: Any = None
    swap = False


class _Binary(_Elementwise):
    """Elementwise binary op written as ``_compute`` and ``_grads`` (maximum, minimum)."""

    def forward(self, x0, x1):
        self.x0_shape, self.x1_shape = x0.shape, x1.shape
        return self._compute(x0, x1)

    def backward(self, gy):
        gx0, gx1 = self._grads(gy)
        return _to_input_shapes(self, gx0, gx1)


class Add(_Elementwise):
    """y = x0 + x1"""

    def forward(self, x0, x1=None):
        if x1 is None:
            return (x0 if x0.ndim else x0[()]) + self.c
        if x0.ndim or x1.ndim:
            self.x0_shape, self.x1_shape = x0.shape, x1.shape
            return x0 + x1
        return x0[()] + x1[()]  # 0-d: NumPy scalars are faster (see above)

    def backward(self, gy):
        if self.c is not None:
            return gy
        return _to_input_shapes(self, gy, gy)

    backward_raw = backward  # the same code on arrays (see Function.backward_raw)

    def jvp(self, t0, t1=None):
        if self.c is not None or t1 is None:
            return t0
        return t1 if t0 is None else t0 + t1


class Sub(_Elementwise):
    """y = x0 - x1"""

    def forward(self, x0, x1=None):
        if x1 is None:
            x = x0 if x0.ndim else x0[()]
            return self.c - x if self.swap else x - self.c
        if x0.ndim or x1.ndim:
            self.x0_shape, self.x1_shape = x0.shape, x1.shape
            return x0 - x1
        return x0[()] - x1[()]

    def backward(self, gy):
        if not _state.enable_backprop:
            return Sub.backward_raw(self, gy.data)
        if self.c is not None:
            return -gy if self.swap else gy
        if not self.needs_grad[1]:
            return _to_input_shapes(self, gy, None)
        return _to_input_shapes(self, gy, -gy)

    def backward_raw(self, g):
        if self.c is not None:
            return -g if self.swap else g
        if not self.needs_grad[1]:
            return _to_input_shapes(self, g, None)
        return _to_input_shapes(self, g, -g)

    def jvp(self, t0, t1=None):
        if self.c is not None:
            return -t0 if self.swap else t0
        if t1 is None:
            return t0
        return -t1 if t0 is None else t0 - t1


class Mul(_Elementwise):
    """y = x0 * x1"""

    def forward(self, x0, x1=None):
        if x1 is None:
            return (x0 if x0.ndim else x0[()]) * self.c
        if x0.ndim or x1.ndim:
            self.x0_shape, self.x1_shape = x0.shape, x1.shape
            return x0 * x1
        return x0[()] * x1[()]

    def backward(self, gy):
        if not _state.enable_backprop:
            return Mul.backward_raw(self, gy.data)
        c = self.c
        if c is not None:
            return gy * c
        x0, x1 = self._x0, self._x1
        need0, need1 = self.needs_grad
        gx0 = gy * x1 if need0 else None
        gx1 = gy * x0 if need1 else None
        return _to_input_shapes(self, gx0, gx1)

    def backward_raw(self, g):
        c = self.c
        if c is not None:
            return (g if g.ndim else g[()]) * c
        g, x0, x1 = _raw_operands(g, self._x0.data, self._x1.data)
        need0, need1 = self.needs_grad
        gx0 = g * x1 if need0 else None
        gx1 = g * x0 if need1 else None
        return _to_input_shapes(self, gx0, gx1)

    def jvp(self, t0, t1=None):
        if self.c is not None:
            return t0 * self.c
        x0, x1 = self._x0, self._x1
        terms = [t * x for t, x in ((t0, x1), (t1, x0)) if t is not None]
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]


class Div(_Elementwise):
    """y = x0 / x1"""

    def forward(self, x0, x1=None):
        if x1 is None:
            x = x0 if x0.ndim else x0[()]
            return self.c / x if self.swap else x / self.c
        if x0.ndim or x1.ndim:
            self.x0_shape, self.x1_shape = x0.shape, x1.shape
            return x0 / x1
        return x0[()] / x1[()]

    def backward(self, gy):
        if not _state.enable_backprop:
            return Div.backward_raw(self, gy.data)
        if self.c is not None:
            return self._constant_backward(gy, self._x0)
        return self._grads(gy, self._x0, self._x1)

    def backward_raw(self, g):
        if self.c is not None:
            x = self._x0.data
            if not (g.ndim or x.ndim):
                g, x = g[()], x[()]
            return self._constant_backward(g, x)
        return self._grads(*_raw_operands(g, self._x0.data, self._x1.data))

    def _grads(self, gy, x0, x1):
        # The same expressions on Variables (backward) and on arrays (backward_raw).
        need0, need1 = self.needs_grad
        gx0 = gy / x1 if need0 else None
        # x1 * x1, not x1 ** 2: NumPy 1.x computes float32 scalar ** int in float64
        gx1 = gy * (-x0 / (x1 * x1)) if need1 else None
        return _to_input_shapes(self, gx0, gx1)

    def _constant_backward(self, gy, x):
        c = self.c
        if self.swap:
            return gy * (-c / (x * x))
        return gy / c

    def jvp(self, t0, t1=None):
        if self.c is not None:
            x = self._x0
            return t0 * (-self.c / (x * x)) if self.swap else t0 / self.c
        x0, x1 = self._x0, self._x1
        out = None if t0 is None else t0 / x1
        if t1 is not None:
            term = t1 * (-x0 / (x1 * x1))
            out = term if out is None else out + term
        return out


def _raw_operands(gy, x0, x1):
    """The arrays of a raw binary backward, as NumPy scalars when all are 0-d."""
    if not (gy.ndim or x0.ndim or x1.ndim):
        return gy[()], x0[()], x1[()]
    return gy, x0, x1


class Neg(Function):
    """y = -x"""

    def forward(self, x):
        return -x

    def backward(self, gy):
        if _state.enable_backprop:
            return -gy
        return -gy.data

    def backward_raw(self, g):
        return -g

    def jvp(self, t):
        return -t


# Python and NumPy numbers that take a float Variable's dtype (rule D2), and the scalar
# type of each float dtype.
_NUMBERS = frozenset((float, int, np.float16, np.float32, np.float64, np.int32, np.int64))
_FLOAT_SCALARS = {np.dtype(t): t for t in (np.float16, np.float32, np.float64, np.longdouble)}


def _with_constant(cls, x, c, swap=False):
    """``cls`` applied to ``x`` and the number ``c`` it holds (``c`` first with ``swap``).

    None unless ``x`` holds NumPy floats: the caller takes the general path then.
    """
    data = x.data
    if data.__class__ is np.ndarray:
        scalar = _FLOAT_SCALARS.get(data.dtype)
        if scalar is not None:
            f = cls()
            f.c = scalar(c)
            if swap:
                f.swap = True
            return _apply(f, x)
    return None


_FLOAT_DTYPES = frozenset(np.dtype(t) for t in (np.float16, np.float32, np.float64, np.longdouble))


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
    """``cls()(x0, x1)`` (``(x1, x0)`` with ``swap``) for a binary op's public function.

    A non-Variable operand becomes an array following dtype rule D2 and gets no gradient.
    Errors name the op and its operands.
    """
    f = cls()
    # Fast paths for the two commonest cases: two Variables, and a Variable of floats with a
    # Python number (rule D2: the number takes the Variable's dtype, as in operand_array).
    if x0.__class__ is Variable and x1.__class__ is Variable:
        v0, v1 = x0, x1
    elif (x0.__class__ is Variable and x1.__class__ in (float, int)
          and x0.data.__class__ is np.ndarray and x0.data.dtype in _FLOAT_DTYPES):
        v0, v1 = x0, _wrap(np.asarray(x1, x0.data.dtype))
        f.needs_grad = (False, True) if swap else (True, False)
    else:
        if not isinstance(x1, Variable):
            _check_operand(op, "x1", x1)
        if not isinstance(x0, Variable):
            _check_operand(op, "x0", x0)
        v0, v1, need0, need1 = as_operand_pair(x0, x1)
        if not (need0 and need1):
            f.needs_grad = (need1, need0) if swap else (need0, need1)
    try:
        return _apply(f, v1, v0) if swap else _apply(f, v0, v1)
    except (TypeError, ValueError) as exc:
        # Bad operands are reported here, where the op's public name is known; forward
        # failed, so no graph node was recorded.
        raise _operand_error(op, exc, x0=v0, x1=v1) from None


def _operator(cls, name, doc):
    """The public wrapper of an elementwise binary op.

    NOTE: two Variables (the operators ``x + y`` etc.) go straight to ``_apply``: one call
    less than going through ``_binary``, about 5% of an op.
    """
    def op(x0: ArrayLike, x1: ArrayLike) -> Variable:
        if x0.__class__ is Variable:
            if x1.__class__ is Variable:
                try:
                    return _apply(cls(), x0, x1)
                except (TypeError, ValueError) as exc:
                    raise _operand_error(name, exc, x0=x0, x1=x1) from None
            if x1.__class__ in _NUMBERS:
                y = _with_constant(cls, x0, x1)
                if y is not None:
                    return y
        return _binary(cls, x0, x1, name)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


add = _operator(Add, "add", "Elementwise ``x0 + x1`` with broadcasting.")
sub = _operator(Sub, "sub", "Elementwise ``x0 - x1`` with broadcasting.")
mul = _operator(Mul, "mul", "Elementwise ``x0 * x1`` with broadcasting.")
div = _operator(Div, "div", "Elementwise ``x0 / x1`` with broadcasting.")


def rsub(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """Elementwise ``x1 - x0`` (the reflected ``-``)."""
    if x0.__class__ is Variable and x1.__class__ in _NUMBERS:
        y = _with_constant(Sub, x0, x1, swap=True)
        if y is not None:
            return y
    return _binary(Sub, x0, x1, "rsub", swap=True)


def rdiv(x0: ArrayLike, x1: ArrayLike) -> Variable:
    """Elementwise ``x1 / x0`` (the reflected ``/``)."""
    if x0.__class__ is Variable and x1.__class__ in _NUMBERS:
        y = _with_constant(Div, x0, x1, swap=True)
        if y is not None:
            return y
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

    def __init__(self, c: Any) -> None:
        self.c = c

    def forward(self, x):
        self.x_shape = x.shape
        return x ** self.c

    def backward(self, gy):
        x = self._x0
        c = self.c
        gx = c * x ** (c - 1) * gy
        if gx.shape != self.x_shape:
            gx = _sum_to(gx, self.x_shape)
        return gx

    def jvp(self, t):
        x = self._x0
        c = self.c
        return c * x ** (c - 1) * t


def pow(x: ArrayLike, c: Any) -> Variable:
    """Elementwise ``x ** c`` for a constant ``c`` (number or array, no gradient for it)."""
    x = _checks.as_input("pow", "x", x)
    return Pow(_constant("pow", "c", c, x))(x)


class RPow(Function):
    """y = c ** x for a constant base c."""

    def __init__(self, c: Any) -> None:
        self.c = c

    def forward(self, x):
        self.x_shape = x.shape
        c = operand_array(self.c, x)
        self.log_c = cuda.get_array_module(x).log(c)
        return c ** x

    def backward(self, gy):
        y = self._y()
        gx = gy * y * self.log_c
        if gx.shape != self.x_shape:
            gx = _sum_to(gx, self.x_shape)
        return gx


def rpow(x: ArrayLike, c: Any) -> Variable:
    """Elementwise ``c ** x`` (the reflected ``**``) for a constant base ``c``."""
    x = _checks.as_input("rpow", "x", x)
    return RPow(_constant("rpow", "c", c, x))(x)
