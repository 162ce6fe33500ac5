"""Matrix products: matmul (2-D and batched)."""
from __future__ import annotations

from dezero._ops.array import reshape, sum_to, transpose
from dezero.core import Function, as_variable


def _swap_last(x):
    if x.ndim < 2:
        return x
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, axes)


class MatMul(Function):
    """y = x @ W (2-D, or batched with broadcast leading dimensions)."""

    def forward(self, x, W):
        return x @ W

    def backward(self, gy):
        x, W = self.inputs
        gx = matmul(gy, _swap_last(W))
        gW = matmul(_swap_last(x), gy)
        if gx.shape != x.shape:
            gx = sum_to(gx, x.shape)
        if gW.shape != W.shape:
            gW = sum_to(gW, W.shape)
        return gx, gW


def matmul(x, W):
    """Matrix product ``x @ W``; 1-D operands are treated as in NumPy."""
    x, W = as_variable(x), as_variable(W)
    if x.ndim == 0 or W.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension; got x "
                         f"{tuple(x.shape)} {x.dtype}, W {tuple(W.shape)} {W.dtype}")
    if x.shape[-1] != W.shape[-2 if W.ndim > 1 else 0]:
        k = W.shape[-2 if W.ndim > 1 else 0]
        raise ValueError(f"matmul: x.shape[-1] ({x.shape[-1]}) != W.shape[{-2 if W.ndim > 1 else 0}]"
                         f" ({k}); got x {tuple(x.shape)} {x.dtype}, W {tuple(W.shape)} {W.dtype}")
    if x.ndim == 1 or W.ndim == 1:
        # Promote vectors to matrices so the backward stays a matrix product.
        x2 = reshape(x, (1, x.shape[0])) if x.ndim == 1 else x
        W2 = reshape(W, (W.shape[0], 1)) if W.ndim == 1 else W
        y = MatMul()(x2, W2)
        out_shape = y.shape[:-2] + (() if x.ndim == 1 else y.shape[-2:-1]) + \
            (() if W.ndim == 1 else y.shape[-1:])
        return reshape(y, out_shape)
    return MatMul()(x, W)
