"""Comparisons that accept Variables, NumPy and CuPy arrays."""
from __future__ import annotations

from typing import Any

import numpy as np

from dezero import cuda


def _host(a):
    return cuda.as_numpy(a)


def array_equal(a: Any, b: Any) -> bool:
    """True when both have the same shape and elements."""
    return bool(np.array_equal(_host(a), _host(b)))


def array_allclose(a: Any, b: Any, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """True when both have the same shape and ``|a - b| <= atol + rtol * |b|``."""
    a, b = _host(a), _host(b)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def assert_allclose(actual: Any, expected: Any, rtol: float = 1e-7, atol: float = 0.0,
                    err_msg: str = "") -> None:
    """``numpy.testing.assert_allclose`` for Variables and device arrays."""
    np.testing.assert_allclose(_host(actual), _host(expected), rtol=rtol, atol=atol,
                               err_msg=err_msg)
