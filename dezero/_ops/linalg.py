"""Matrix products: matmul (2-D and batched), linear (fused x @ W + b) and linear_simple."""
from __future__ import annotations

import numpy as np

from dezero._ops import _checks
from dezero._ops.array import _broadcasts_to, reshape, sum_to, sum_to_array, transpose
from dezero._typing import ArrayLike
from dezero.core import Function, Variable, _as_grad, _state

# Without create_graph (``enable_backprop`` is off inside the backward pass) MatMul and
# Linear compute their gradients on the raw arrays, with the same products as the
# differentiable path (so the same bits), and return arrays for the engine to wrap: the
# transpose, product and sum_to nodes of that path are then never built.


def _swap_last(x):
    if x.ndim < 2:
        return x
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, axes)


class MatMul(Function):
    """y = x @ W (2-D, or batched with broadcast leading dimensions)."""

    # Set by the wrapper: an operand given as a raw array needs no gradient.
    needs_grad = (True, True)

    def forward(self, x, W):
        return x @ W

    def backward(self, gy):
        x, W = self._x0, self._x1
        need_x, need_W = self.needs_grad
        gx = gW = None
        if x.ndim == 2 and W.ndim == 2:
            if not _state.enable_backprop:
                return MatMul.backward_raw(self, gy.data)
            if need_x:
                gx = MatMul()(gy, transpose(W))
            if need_W:
                gW = MatMul()(transpose(x), gy)
            return gx, gW
        if need_x:
            gx = sum_to(matmul(gy, _swap_last(W)), x.shape)
        if need_W:
            gW = sum_to(matmul(_swap_last(x), gy), W.shape)
        return gx, gW

    def backward_raw(self, g):
        x, W = self._x0.data, self._x1.data
        if x.ndim == 2 and W.ndim == 2:
            need_x, need_W = self.needs_grad
            return (g @ W.T if need_x else None), (x.T @ g if need_W else None)
        return MatMul.backward(self, _as_grad(g))  # batched: sums over broadcast dimensions

    def jvp(self, t0, t1=None):
        x, W = self.inputs
        terms = [matmul(t0, W) if t0 is not None else None,
                 matmul(x, t1) if t1 is not None else None]
        terms = [a for a in terms if a is not None]
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def _mismatch(op, xs, ws, **named):
    k_axis = 0 if len(ws) < 2 else (-2 if len(ws) > 2 else 0)
    return ValueError(f"{op}: x.shape[-1] ({xs[-1]}) != W.shape[{k_axis}] ({ws[k_axis]}); "
                      f"{_checks.got(**named)}")


def matmul(x: ArrayLike, W: ArrayLike) -> Variable:
    """Matrix product ``x @ W``.

    2-D operands give ``x·W``; more dimensions are batches whose leading dimensions
    broadcast, and 1-D operands are treated as in NumPy. Backward: ``gy·Wᵀ`` and ``xᵀ·gy``
    (summed over broadcast batch dimensions).

    Raises
    ------
    ValueError
        A 0-d operand, inner dimensions that differ, or batch dimensions that do not
        broadcast, e.g. ``matmul: x.shape[-1] (3) != W.shape[0] (4); got x (2, 3) float32,
        W (4, 5) float32``.
    """
    need = (isinstance(x, Variable), isinstance(W, Variable))
    x = _checks.as_input("matmul", "x", x)
    W = _checks.as_input("matmul", "W", W)
    xd, Wd = x.data, W.data
    if type(xd) is not type(Wd):
        _checks.same_device("matmul", x=x, W=W)
    xs, ws = xd.shape, Wd.shape
    f = MatMul()
    if not (need[0] and need[1]):
        f.needs_grad = need
    if len(xs) == 2 and len(ws) == 2:
        if xs[1] != ws[0]:
            raise _mismatch("matmul", xs, ws, x=x, W=W)
        return f(x, W)
    if not xs or not ws:
        raise ValueError(f"matmul: operands must have at least 1 dimension; "
                         f"{_checks.got(x=x, W=W)}")
    if xs[-1] != ws[-2 if len(ws) > 1 else 0]:
        raise _mismatch("matmul", xs, ws, x=x, W=W)
    try:
        np.broadcast_shapes(xs[:-2], ws[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions {xs[:-2]} of x and {ws[:-2]} of W do not "
                         f"broadcast; {_checks.got(x=x, W=W)}") from None
    if len(xs) == 1 or len(ws) == 1:
        # Promote vectors to matrices so the backward stays a matrix product.
        x2 = reshape(x, (1, xs[0])) if len(xs) == 1 else x
        W2 = reshape(W, (ws[0], 1)) if len(ws) == 1 else W
        y = f(x2, W2)
        out_shape = y.shape[:-2] + (() if len(xs) == 1 else y.shape[-2:-1]) + \
            (() if len(ws) == 1 else y.shape[-1:])
        return reshape(y, out_shape)
    return f(x, W)


class Linear(Function):
    """y = x @ W + b (b optional), fused into one node."""

    # Set by the wrapper: an operand given as a raw array needs no gradient.
    needs_grad = (True, True, True)

    def forward(self, x, W, b=None):
        y = x @ W
        if b is not None:
            if y.dtype == np.result_type(y, b) and y.ndim >= b.ndim:
                y += b  # y is a fresh array: add the bias in place
            else:
                y = y + b
        return y

    def backward(self, gy):
        if not _state.enable_backprop:
            return Linear.backward_raw(self, gy.data)
        x, W = self.inputs[0], self.inputs[1]
        need = self.needs_grad
        gx = gW = None
        if need[0]:
            gx = MatMul()(gy, transpose(W)) if gy.ndim == 2 else matmul(gy, transpose(W))
        if need[1]:
            if x.ndim == 2:
                gW = MatMul()(transpose(x), gy)
            else:  # fold the batch dimensions into rows
                x2 = reshape(x, (-1, W.shape[0]))
                gW = MatMul()(transpose(x2), reshape(gy, (-1, W.shape[1])))
        if len(self.inputs) == 2:
            return gx, gW
        gb = sum_to(gy, self.inputs[2].shape) if need[2] else None
        return gx, gW, gb

    def backward_raw(self, gy):
        """``backward`` on raw arrays: the same products and sums, no graph."""
        x, W = self.inputs[0].data, self.inputs[1].data
        need = self.needs_grad
        gx = gW = None
        if need[0]:
            gx = gy @ W.T  # batched gy broadcasts over W.T, as matmul(gy, transpose(W))
        if need[1]:
            if x.ndim == 2:
                gW = x.T @ gy
            else:  # fold the batch dimensions into rows
                gW = x.reshape(-1, W.shape[0]).T @ gy.reshape(-1, W.shape[1])
        if len(self.inputs) == 2:
            return gx, gW
        gb = sum_to_array(gy, self.inputs[2].shape) if need[2] else None
        return gx, gW, gb

    def jvp(self, t0, t1=None, t2=None):
        x, W = self.inputs[0], self.inputs[1]
        terms = [matmul(t0, W) if t0 is not None else None,
                 matmul(x, t1) if t1 is not None else None, t2]
        terms = [a for a in terms if a is not None]
        out = terms[0]
        for a in terms[1:]:
            out = out + a
        return out


def _check_linear(op, x, W, b):
    x = _checks.as_input(op, "x", x)
    W = _checks.as_input(op, "W", W)
    xd, Wd = x.data, W.data
    xs, ws = xd.shape, Wd.shape
    if b is not None:
        b = _checks.as_input(op, "b", b)
        bd = b.data
        if len(ws) == 2 and xs and xs[-1] == ws[0] and bd.shape == ws[1:] \
                and type(xd) is type(Wd) is type(bd):
            return x, W, b  # the common case, checked in one go
    elif len(ws) == 2 and xs and xs[-1] == ws[0] and type(xd) is type(Wd):
        return x, W, b
    named = {"x": x, "W": W}
    if b is not None:
        named["b"] = b
    _checks.same_device(op, **named)
    if len(ws) != 2:
        raise ValueError(f"{op}: W must be 2-D (in_size, out_size); {_checks.got(**named)}")
    if not xs:
        raise ValueError(f"{op}: x must have at least 1 dimension; {_checks.got(**named)}")
    if xs[-1] != ws[0]:
        raise ValueError(f"{op}: x.shape[-1] ({xs[-1]}) != W.shape[0] ({ws[0]}); "
                         f"{_checks.got(**named)}")
    if b is not None:
        out_shape = xs[:-1] + ws[1:]
        if not _broadcasts_to(b.shape, out_shape):
            raise ValueError(f"{op}: b of shape {tuple(b.shape)} does not broadcast to the "
                             f"output shape {out_shape}; {_checks.got(**named)}")
    return x, W, b


def linear(x: ArrayLike, W: ArrayLike, b: ArrayLike | None = None) -> Variable:
    """Affine map ``x @ W + b``, one graph node.

    Parameters
    ----------
    x : Variable or ndarray, shape (N, I) (or (..., I))
    W : Variable or ndarray, shape (I, O)
    b : Variable or ndarray, shape (O,), optional
        With None no bias is added and no gradient is returned for it.

    Returns
    -------
    Variable, shape (N, O)

    Raises
    ------
    ValueError
        ``W`` not 2-D, ``x.shape[-1] != W.shape[0]``, or ``b`` not broadcasting to (N, O).
    """
    need = (isinstance(x, Variable), isinstance(W, Variable), isinstance(b, Variable))
    x, W, b = _check_linear("linear", x, W, b)
    f = Linear()
    if not all(need[:2] if b is None else need):
        f.needs_grad = need
    if b is None:
        return f(x, W)
    return f(x, W, b)


def linear_simple(x: ArrayLike, W: ArrayLike, b: ArrayLike | None = None) -> Variable:
    """``matmul(x, W) + b`` composed of two nodes; the product's data is freed early.

    The product ``t`` is needed by no backward (``add`` only needs shapes), so its
    ``.data`` is set to None once ``b`` is added, to save memory.
    """
    x, W, b = _check_linear("linear_simple", x, W, b)
    t = matmul(x, W)
    if b is None:
        return t
    y = t + b
    t.data = None  # release the (N, O) product early
    return y
