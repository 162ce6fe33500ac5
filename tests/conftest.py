"""Shared fixtures: the array-module parameter and markers that skip with a reason."""
import os
import shutil
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # op_catalogue and catalogue_* modules

os.environ.setdefault("MPLBACKEND", "Agg")


def _gpu_usable():
    from dezero import cuda

    return cuda.gpu_enable


def _xp_params():
    # "emulated-cupy" (tests/gpu/emulated_cupy.py) runs on the CPU and refuses what CuPy
    # refuses, so device hazards show up without a GPU; real CuPy runs where usable.
    params = [pytest.param(np, id="numpy"), pytest.param("emulated", id="emulated-cupy")]
    try:
        usable = _gpu_usable()
    except Exception:
        usable = False
    if usable:
        import cupy

        params.append(pytest.param(cupy, id="cupy", marks=pytest.mark.gpu))
    else:
        params.append(pytest.param(None, id="cupy", marks=pytest.mark.skip(
            reason="CuPy with a usable CUDA device is not available")))
    return params


@pytest.fixture(params=_xp_params())
def xp(request, monkeypatch):
    """numpy, the emulated CuPy, and cupy when a GPU is usable: one body for every device."""
    if isinstance(request.param, str):
        from gpu import emulated_cupy

        return emulated_cupy.install(monkeypatch)
    return request.param


@pytest.fixture(autouse=True)
def _seed_and_defaults():
    np.random.seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    has_dot = shutil.which("dot") is not None
    for item in items:
        # get_closest_marker, not item.keywords: folder names (tests/gpu) are keywords too.
        if item.get_closest_marker("graphviz") is not None and not has_dot:
            item.add_marker(pytest.mark.skip(reason="Graphviz 'dot' is not installed"))
        if item.get_closest_marker("gpu") is not None:
            try:
                usable = _gpu_usable()
            except Exception:
                usable = False
            if not usable:
                item.add_marker(pytest.mark.skip(reason="no usable GPU (CuPy + CUDA device)"))
