"""Turning the second operand of a binary op into an array, following dtype rule D2."""
from __future__ import annotations

import numpy as np

from dezero import cuda
from dezero.core import Variable

_REAL_SCALARS = (int, float, np.integer, np.floating, np.bool_)


def operand_array(c, like):
    """Array for a non-Variable operand ``c`` that meets the array ``like``.

    A Python or NumPy real scalar takes ``like``'s floating dtype, so ``float32 * 2.0``
    stays float32; with an integer ``like`` it follows NumPy's (weak scalar) promotion.
    Arrays pass through unchanged and follow NumPy promotion.
    """
    if isinstance(c, np.ndarray) or cuda.is_cupy_array(c):
        return c
    xp = cuda.get_array_module(like)
    if like is not None and isinstance(c, _REAL_SCALARS):
        dtype = like.dtype
        if dtype.kind != "f":
            if isinstance(c, np.generic):
                c = c.item()  # NumPy scalars promote like Python ones here
            dtype = np.result_type(dtype, c)
        return xp.asarray(c, dtype=dtype)
    return xp.asarray(c)


def as_operand_pair(x0, x1):
    """Variables for both operands and flags telling which were given as Variables."""
    v0 = x0 if isinstance(x0, Variable) else None
    if v0 is None:
        x0 = Variable(x0 if not isinstance(x0, _REAL_SCALARS) else np.asarray(x0))
    v1 = x1 if isinstance(x1, Variable) else None
    if v1 is None:
        x1 = Variable(operand_array(x1, x0.data))
    return x0, x1, v0 is not None, v1 is not None
