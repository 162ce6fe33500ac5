"""The device parameter of the GPU tests.

``xp`` here extends the top-level fixture with a third device: it is ``numpy``, the strict
CuPy stand-in of ``emulated_cupy.py`` (always, on the CPU: it catches NumPy calls and host
arrays that real CuPy would refuse), and real CuPy when a CUDA device is usable (marked
``gpu``, so ``benchmarks/gpu_check.sh`` runs it; skipped with a reason otherwise).
"""
import emulated_cupy
import numpy as np
import pytest


def _cupy_param():
    from dezero import cuda

    try:
        usable = cuda.gpu_enable
    except Exception:  # a broken CUDA install must not break collection
        usable = False
    if usable:
        import cupy

        return pytest.param(cupy, id="cupy", marks=pytest.mark.gpu)
    return pytest.param(None, id="cupy", marks=pytest.mark.skip(
        reason="CuPy with a usable CUDA device is not available"))


@pytest.fixture(params=[pytest.param(np, id="numpy"),
                        pytest.param("emulated", id="emulated-cupy"),
                        _cupy_param()])
def xp(request, monkeypatch):
    """numpy, the emulated CuPy, or CuPy on a real GPU: one test body for every device."""
    if isinstance(request.param, str):
        return emulated_cupy.install(monkeypatch)
    return request.param
