"""Mixing devices in one call raises TypeError naming both array types.

Without a GPU the second device is a stand-in: a ``cupy`` module whose ``ndarray`` is a
NumPy subclass, so the checks see one NumPy and one "CuPy" array. The checks run before
any computation, so the stand-in never has to compute.
"""
import sys
import types

import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable


class FakeDeviceArray(np.ndarray):
    pass


@pytest.fixture
def on_gpu(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.ndarray = FakeDeviceArray
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return lambda a: np.asarray(a).view(FakeDeviceArray)


MESSAGE = r"are on different devices: .*numpy\.ndarray .*FakeDeviceArray"


@pytest.mark.parametrize("call, op", [
    (lambda a, g: F.add(Variable(a), g), "add"),
    (lambda a, g: Variable(a) * Variable(g), "mul"),
    (lambda a, g: F.maximum(a, g), "maximum"),
    (lambda a, g: F.matmul(a.reshape(2, 1), g.reshape(1, 2)), "matmul"),
    (lambda a, g: F.linear(a.reshape(1, 2), np.ones((2, 2)), g), "linear"),
    (lambda a, g: F.concat([a, g]), "concat"),
    (lambda a, g: F.stack([a, g]), "stack"),
    (lambda a, g: F.where(a > 0, a, g), "where"),
    (lambda a, g: F.pow(Variable(a), g), "pow"),
])
def test_mixed_devices_raise_type_error_naming_both(on_gpu, call, op):
    a = np.ones(2)
    g = on_gpu(np.ones(2))
    with pytest.raises(TypeError, match=rf"^{op}: .*{MESSAGE}"):
        call(a, g)
