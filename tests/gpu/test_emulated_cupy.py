"""The CuPy stand-in refuses what CuPy refuses, so the emulated runs can be trusted."""
import emulated_cupy
import numpy as np
import pytest

cp = emulated_cupy.make_module()
Refused = emulated_cupy.EmulatedDeviceError


def test_device_arrays_are_not_numpy_arrays():
    a = cp.asarray(np.ones((2, 3)))
    assert isinstance(a, cp.ndarray) and not isinstance(a, np.ndarray)
    assert f"{type(a).__module__}.{type(a).__name__}" == "cupy.ndarray"
    assert not np.isscalar(a)


@pytest.mark.parametrize("convert", [
    np.asarray, np.array, np.ascontiguousarray,
    lambda a: np.lib.stride_tricks.as_strided(a, (2, 2), (8, 8)),
    lambda a: a + np.ones(3), lambda a: np.ones(3) * a, lambda a: np.add(a, np.ones(3)),
    lambda a: np.concatenate([a, np.ones(3)]),
], ids=["asarray", "array", "ascontiguousarray", "as_strided", "add-host", "host-mul",
        "ufunc-with-host", "concatenate-with-host"])
def test_host_conversion_and_mixed_operands_are_refused(convert):
    with pytest.raises(Refused):
        convert(cp.asarray(np.ones(3)))


def test_numpy_functions_dispatch_to_the_device_and_reductions_stay_arrays():
    a = cp.asarray(np.arange(6.0).reshape(2, 3))
    for result in (np.exp(a), np.zeros_like(a), a.sum(), a[0, 1], a.max(axis=0), a * 2.0,
                   np.float32(2) * a):
        assert isinstance(result, cp.ndarray)
    assert a.sum().ndim == 0 and float(a.sum()) == 15.0
    a[np.array([0, 0])] += 1.0  # host index arrays and values go over, as in CuPy
    cp.add.at(a, (np.array([1, 1]), np.array([0, 0])), 1.0)
    np.testing.assert_array_equal(a.get(), [[1, 2, 3], [5, 4, 5]])
    assert cp.result_type(a, np.float32) == np.float64


def test_its_random_generator_is_not_numpys():
    np.random.seed(0)
    first = np.random.rand(4)
    np.random.seed(0)
    assert not np.array_equal(cp.random.rand(4).get(), first)
