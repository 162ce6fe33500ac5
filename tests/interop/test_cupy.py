"""Interop on a real GPU: CuPy through DLPack, and NumPy refusing device data."""
import numpy as np
import pytest

import dezero
from dezero import Variable, cuda

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda.gpu_enable, reason="no usable GPU (CuPy + CUDA device)"),
]


def test_cupy_from_dlpack_shares_device_memory():
    import cupy

    v = Variable(cupy.arange(4, dtype=cupy.float32))
    assert v.__dlpack_device__()[0] == 2  # kDLCUDA
    a = cupy.from_dlpack(v)
    a[0] = 7.0
    assert float(v.data[0]) == 7.0


def test_dezero_from_dlpack_of_cupy_stays_on_the_device():
    import cupy

    a = cupy.ones((2, 3), dtype=cupy.float32)
    v = dezero.from_dlpack(a)
    assert cuda.is_cupy_array(v.data)
    a[0, 0] = 5.0
    assert float(v.data[0, 0]) == 5.0


def test_numpy_refuses_device_data_and_numbers_work():
    import cupy

    v = Variable(cupy.ones(3))
    with pytest.raises(TypeError, match="CuPy"):
        np.asarray(v)
    assert float(Variable(cupy.array([1.5]))) == 1.5
    assert bool(Variable(cupy.array(1.0)))


def test_manual_seed_makes_gpu_dropout_repeat():
    import cupy

    x = Variable(cupy.ones((4, 5), dtype=cupy.float32))
    dezero.manual_seed(3)
    a = dezero.functions.dropout(x).data
    dezero.manual_seed(3)
    b = dezero.functions.dropout(x).data
    assert bool((a == b).all())
