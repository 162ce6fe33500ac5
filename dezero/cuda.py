"""Device helpers: the only module that imports CuPy.

CuPy is imported lazily, the first time ``gpu_enable`` or ``cupy`` is read or an
array must go to the GPU, so ``import dezero`` never pays for it.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from dezero._install_hint import install_hint
from dezero._log import logger

_GPU_STATE: dict = {}

_INSTALL_HINT = ("CuPy for your CUDA version is needed, and a visible CUDA device: for CUDA 12 "
                 + install_hint("gpu-cuda12", "cupy-cuda12x")
                 + "; for CUDA 13 the gpu-cuda13 extra or cupy-cuda13x (docs/gpu.md)")


def _probe():
    """Import CuPy once and remember whether a CUDA device is usable."""
    if not _GPU_STATE:
        try:
            import cupy
        except Exception as e:  # ImportError, or a broken CUDA install raising at import
            logger.info("no GPU: CuPy cannot be imported (%s: %s)", type(e).__name__, e)
            _GPU_STATE.update(cupy=None, enabled=False)
        else:
            try:
                usable = bool(cupy.is_available())
            except Exception as e:
                logger.info("no GPU: cupy.is_available() raised %s: %s", type(e).__name__, e)
                usable = False
            else:
                logger.info("CuPy %s: a usable CUDA device %s",
                            getattr(cupy, "__version__", "?"), "found" if usable else "not found")
            _GPU_STATE.update(cupy=cupy if usable else None, enabled=usable)
    return _GPU_STATE


def __getattr__(name):
    # Module-level lazy attributes: `cuda.gpu_enable` and `cuda.cupy`.
    if name == "gpu_enable":
        return _probe()["enabled"]
    if name == "cupy":
        return _probe()["cupy"]
    raise AttributeError(f"module 'dezero.cuda' has no attribute {name!r}")


def is_cupy_array(x: Any) -> bool:
    """True for a ``cupy.ndarray``; never imports CuPy."""
    cp = sys.modules.get("cupy")
    return cp is not None and isinstance(x, cp.ndarray)


def get_array_module(x: Any) -> Any:
    """Return ``cupy`` for CuPy data (a Variable or an array), else ``numpy``."""
    if x.__class__ is np.ndarray:
        return np
    cp = sys.modules.get("cupy")
    if cp is None:
        return np  # no CuPy array can exist before CuPy is imported
    # NOTE: test the array first: cupy.ndarray.data is a memory pointer, not an array.
    if isinstance(x, cp.ndarray) or isinstance(getattr(x, "data", None), cp.ndarray):
        return cp
    return np


def as_numpy(x: Any) -> np.ndarray:
    """Host array for a Variable, a scalar, a NumPy or a CuPy array."""
    from dezero.core import Variable

    if isinstance(x, Variable):
        x = x.data
    if np.isscalar(x):
        return np.array(x)
    if isinstance(x, np.ndarray):
        return x
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def require_gpu(what: str = "to_gpu") -> Any:
    """Return the CuPy module, or raise RuntimeError naming CuPy and the gpu extra."""
    state = _probe()
    if not state["enabled"]:
        raise RuntimeError(f"{what}: no usable GPU (CuPy missing or no CUDA device); "
                           f"{_INSTALL_HINT}")
    return state["cupy"]


def as_cupy(x: Any) -> Any:
    """Device copy of a Variable's data or an array. Raises RuntimeError without a GPU."""
    from dezero.core import Variable

    if isinstance(x, Variable):
        x = x.data
    cp = require_gpu("as_cupy")
    return cp.asarray(x)
