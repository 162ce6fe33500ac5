"""Differentiable functions (``import dezero.functions as F``).

A facade: the implementations live in ``dezero._ops`` grouped by family.
"""
from dezero.core import add, div, mul, neg, pow, rdiv, rpow, rsub, sub
from dezero._ops.array import (
    BroadcastTo,
    GetItem,
    GetItemGrad,
    Reshape,
    SumTo,
    Transpose,
    broadcast_to,
    get_item,
    reshape,
    sum_to,
    transpose,
)
from dezero._ops.linalg import MatMul, matmul
from dezero._ops.math import Abs, Cos, Exp, Log, Sin, Tanh, abs, cos, exp, log, sin, tanh
from dezero._ops.reduce import Max, Min, Sum, max, min, sum

__all__ = [
    # arithmetic (core)
    "add", "sub", "rsub", "mul", "div", "rdiv", "neg", "pow", "rpow",
    # math
    "Exp", "exp", "Log", "log", "Sin", "sin", "Cos", "cos", "Tanh", "tanh", "Abs", "abs",
    # shape
    "Reshape", "reshape", "Transpose", "transpose", "BroadcastTo", "broadcast_to",
    "SumTo", "sum_to", "GetItem", "GetItemGrad", "get_item",
    # reductions
    "Sum", "sum", "Max", "max", "Min", "min",
    # linear algebra
    "MatMul", "matmul",
]

# --- losses and normalisation (dezero/_ops/loss.py, dezero/_ops/norm.py) --------------
# (appended below by their owner, with `__all__ += [...]`)

# --- convolution and pooling (dezero/functions_conv.py) -------------------------------
# (appended below by their owner, with `__all__ += [...]`)
