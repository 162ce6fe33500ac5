"""Device helpers: the only module that imports CuPy.

CuPy is imported lazily, the first time ``gpu_enable`` or ``cupy`` is read or an
array must go to the GPU, so ``import dezero`` never pays for it.
"""
from __future__ import annotations

import sys

import numpy as np

_GPU_STATE: dict = {}

_INSTALL_HINT = ("install CuPy for your CUDA version (pip install "
                 "'dezero-framework[gpu-cuda12]' or 'dezero-framework[gpu-cuda13]', "
                 "see docs/gpu.md) and make sure a CUDA device is visible")


def _probe():
    """Import CuPy once and remember whether a CUDA device is usable."""
    if not _GPU_STATE:
        try:
            import cupy
        except Exception:  # ImportError, or a broken CUDA install raising at import
            _GPU_STATE.update(cupy=None, enabled=False)
        else:
            try:
                usable = bool(cupy.is_available())
            except Exception:
                usable = False
            _GPU_STATE.update(cupy=cupy if usable else None, enabled=usable)
    return _GPU_STATE


def __getattr__(name):
    # Module-level lazy attributes: `cuda.gpu_enable` and `cuda.cupy`.
    if name == "gpu_enable":
        return _probe()["enabled"]
    if name == "cupy":
        return _probe()["cupy"]
    raise AttributeError(f"module 'dezero.cuda' has no attribute {name!r}")


def is_cupy_array(x) -> bool:
    """True for a ``cupy.ndarray``; never imports CuPy."""
    cp = sys.modules.get("cupy")
    return cp is not None and isinstance(x, cp.ndarray)


def get_array_module(x):
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


def as_numpy(x):
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


def require_gpu(what: str = "to_gpu"):
    """Return the CuPy module, or raise RuntimeError naming CuPy and the gpu extra."""
    state = _probe()
    if not state["enabled"]:
        raise RuntimeError(f"{what}: no usable GPU (CuPy missing or no CUDA device); "
                           f"{_INSTALL_HINT}")
    return state["cupy"]


def as_cupy(x):
    """Device copy of a Variable's data or an array. Raises RuntimeError without a GPU."""
    from dezero.core import Variable

    if isinstance(x, Variable):
        x = x.data
    cp = require_gpu("as_cupy")
    return cp.asarray(x)
