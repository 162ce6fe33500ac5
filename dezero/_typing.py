"""Shared type aliases for public signatures."""
from __future__ import annotations

from typing import Any, Union

import numpy as np

ArrayLike = Any  # numpy.ndarray, cupy.ndarray or a Variable
Shape = tuple[int, ...]
Axis = Union[int, tuple[int, ...], None]
DType = Union[np.dtype, type, str]
