"""A strict stand-in for CuPy, so device-agnostic code can be exercised without a GPU.

It is not CUDA: arrays live in host memory. What it reproduces is what CuPy *refuses*,
the source of most "works on NumPy, breaks on the GPU" bugs:

* ``ndarray`` is not a ``numpy.ndarray`` subclass, so ``isinstance(x, np.ndarray)`` is False;
* implicit device-to-host conversion raises TypeError (``np.asarray(x)``, ``np.array(x)``,
  ``numpy.lib.stride_tricks.as_strided(x)``), as ``cupy.ndarray.__array__`` does;
* a NumPy array meeting a device array in arithmetic or a ufunc raises TypeError;
* reductions and scalar indexing return 0-d device arrays, never NumPy scalars.

What CuPy accepts is accepted: NumPy ufuncs and functions on device arrays dispatch to
the device module (``__array_ufunc__``/``__array_function__``), NumPy arrays are copied to
the device by ``asarray``, in ``__setitem__`` values and as index arrays, and ``float()``,
``int()``, ``bool()`` and ``.item()`` synchronise and return Python values. ``add.at`` is
available (CuPy >= 12.1). ``get()`` returns a NumPy copy. ``cupy.random`` is its own
generator, as in CuPy: seeding ``numpy.random`` does not fix it.

``install(monkeypatch)`` registers the module as ``cupy`` and makes ``dezero.cuda`` see a
usable device; pytest's monkeypatch undoes both.
"""
from __future__ import annotations

import operator
import sys
import types

import numpy as np

_ARRAY_PRIORITY = 100.0  # CuPy's: a dezero Variable (200) wins reflected operators


class EmulatedDeviceError(TypeError):
    """What CuPy raises for an implicit device-to-host conversion or mixed operands."""


def _unwrap(obj, *, allow_host: bool):
    """Device arrays become their NumPy payload, recursively through lists and tuples."""
    if isinstance(obj, ndarray):
        return obj._a
    if isinstance(obj, np.ndarray) and not allow_host:
        raise EmulatedDeviceError(
            f"Unsupported type {type(obj)}: a numpy.ndarray met a device array "
            "(move it with cupy.asarray first)")
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(o, allow_host=allow_host) for o in obj)
    return obj


def _wrap(obj):
    """NumPy results become device arrays; NumPy scalars become 0-d device arrays."""
    if isinstance(obj, np.ndarray):
        return ndarray(obj)
    if isinstance(obj, np.generic):
        return ndarray(np.asarray(obj))
    if isinstance(obj, tuple):
        return tuple(_wrap(o) for o in obj)
    if isinstance(obj, list):
        return [_wrap(o) for o in obj]
    return obj


def _binary(op, reflected=False):
    def method(self, other):
        if not isinstance(other, (ndarray, np.ndarray, np.generic, int, float, bool, complex)):
            if getattr(other, "__array_priority__", 0) > _ARRAY_PRIORITY:
                return NotImplemented  # e.g. a dezero Variable: its reflected operator runs
        o = _unwrap(other, allow_host=False)
        return _wrap(op(o, self._a) if reflected else op(self._a, o))
    return method


def _inplace(op):
    def method(self, other):
        op(self._a, _unwrap(other, allow_host=False))
        return self
    return method


class ndarray:
    """Device array stand-in: a NumPy payload that refuses implicit host conversion."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = _ARRAY_PRIORITY

    def __init__(self, a):
        self._a = a

    # -- what CuPy refuses -----------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise EmulatedDeviceError(
            "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
            "construct a NumPy array explicitly.")

    # -- NumPy protocols: dispatch to the device module --------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = _unwrap(inputs, allow_host=False)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _unwrap(out, allow_host=False)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_unwrap(args, allow_host=False),
                          **{k: _unwrap(v, allow_host=False) for k, v in kwargs.items()}))

    # -- explicit transfer ---------------------------------------------------------
    def get(self):
        return self._a.copy()

    # -- attributes and methods: forwarded, results kept on the device -----------
    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__ / __array_struct__: CuPy has none
            raise AttributeError(name)
        value = getattr(self._a, name)
        if callable(value):
            def method(*args, **kwargs):
                return _wrap(value(*_unwrap(args, allow_host=False),
                                   **{k: _unwrap(v, allow_host=False)
                                      for k, v in kwargs.items()}))
            method.__name__ = name
            return method
        return _wrap(value)

    @property
    def T(self):
        return ndarray(self._a.T)

    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size

    @property
    def strides(self):
        return self._a.strides

    @property
    def device(self):
        # CuPy's Device of the array; one emulated device (NumPy 1.x arrays have no .device)
        return "emulated:0"

    @property
    def base(self):
        return None if self._a.base is None else ndarray(self._a.base)

    def item(self):
        return self._a.item()

    def astype(self, dtype, copy=True, **kwargs):
        return ndarray(self._a.astype(dtype, copy=copy, **kwargs))

    def copy(self, order="C"):
        return ndarray(self._a.copy(order=order))

    # -- indexing (host index arrays and values are copied over, as in CuPy) -----
    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index, allow_host=True)])

    def __setitem__(self, index, value):
        self._a[_unwrap(index, allow_host=True)] = _unwrap(value, allow_host=True)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- synchronising conversions ------------------------------------------------
    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return operator.index(self._a)

    def __bool__(self):
        return bool(self._a)

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    # -- operators ------------------------------------------------------------------
    __add__, __radd__ = _binary(operator.add), _binary(operator.add, True)
    __sub__, __rsub__ = _binary(operator.sub), _binary(operator.sub, True)
    __mul__, __rmul__ = _binary(operator.mul), _binary(operator.mul, True)
    __truediv__, __rtruediv__ = _binary(operator.truediv), _binary(operator.truediv, True)
    __floordiv__, __rfloordiv__ = _binary(operator.floordiv), _binary(operator.floordiv, True)
    __mod__, __rmod__ = _binary(operator.mod), _binary(operator.mod, True)
    __pow__, __rpow__ = _binary(operator.pow), _binary(operator.pow, True)
    __matmul__, __rmatmul__ = _binary(operator.matmul), _binary(operator.matmul, True)
    __and__, __rand__ = _binary(operator.and_), _binary(operator.and_, True)
    __or__, __ror__ = _binary(operator.or_), _binary(operator.or_, True)
    __xor__, __rxor__ = _binary(operator.xor), _binary(operator.xor, True)
    __lt__, __le__ = _binary(operator.lt), _binary(operator.le)
    __gt__, __ge__ = _binary(operator.gt), _binary(operator.ge)
    __eq__, __ne__ = _binary(operator.eq), _binary(operator.ne)
    __iadd__, __isub__ = _inplace(operator.iadd), _inplace(operator.isub)
    __imul__, __itruediv__ = _inplace(operator.imul), _inplace(operator.itruediv)
    __ipow__ = _inplace(operator.ipow)
    __iand__, __ior__ = _inplace(operator.iand), _inplace(operator.ior)
    __hash__ = None

    def __neg__(self):
        return ndarray(-self._a)

    def __pos__(self):
        return ndarray(+self._a)

    def __abs__(self):
        return ndarray(abs(self._a))

    def __invert__(self):
        return ndarray(~self._a)


# The class reads as CuPy's in messages: "cupy.ndarray".
ndarray.__module__ = "cupy"
ndarray.__qualname__ = "ndarray"


class _Ufunc:
    """A NumPy ufunc on device arrays, with ``at`` (CuPy >= 12.1 has ``add.at``)."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _unwrap(out, allow_host=False)
        result = self._ufunc(*_unwrap(args, allow_host=False), **kwargs)
        if out is None:
            return _wrap(result)
        return out[0] if isinstance(out, tuple) and len(out) == 1 else out

    def at(self, a, indices, b=None):
        if not isinstance(a, ndarray):
            raise EmulatedDeviceError(f"{self.__name__}.at: target must be a device array")
        args = () if b is None else (_unwrap(b, allow_host=False),)
        self._ufunc.at(a._a, _unwrap(indices, allow_host=True), *args)


# Functions that accept host data and copy it to the device.
_FROM_HOST = {"asarray", "array", "asanyarray", "ascontiguousarray"}


def _function(name, fn):
    allow_host = name in _FROM_HOST

    def device_fn(*args, **kwargs):
        return _wrap(fn(*_unwrap(args, allow_host=allow_host),
                        **{k: _unwrap(v, allow_host=allow_host) for k, v in kwargs.items()}))
    device_fn.__name__ = name
    return device_fn


class _Namespace(types.ModuleType):
    """A module whose functions come from a NumPy namespace, working on device arrays."""

    def __init__(self, name, source):
        super().__init__(name)
        self._source = source

    def __getattr__(self, name):
        value = getattr(self._source, name)
        if isinstance(value, np.ufunc):
            value = _Ufunc(value)
        elif isinstance(value, types.ModuleType) or isinstance(value, type):
            return value  # dtypes (cupy.float32 is numpy.float32), submodules handled below
        elif callable(value):
            value = _function(name, value)
        setattr(self, name, value)
        return value


def _host_assert(check):
    def assert_fn(actual, desired, *args, **kwargs):
        def to_host(a):
            return a.get() if isinstance(a, ndarray) else a
        check(to_host(actual), to_host(desired), *args, **kwargs)
    assert_fn.__name__ = check.__name__
    return assert_fn


def make_module():
    """A fresh ``cupy`` stand-in module."""
    cp = _Namespace("cupy", np)
    cp.ndarray = ndarray
    # CuPy's generator is not NumPy's global one: seeding numpy.random does not fix it.
    # (Seeded apart from any seed a test gives NumPy, so the streams never coincide.)
    cp.random = _Namespace("cupy.random", np.random.RandomState(20240229))
    lib = types.ModuleType("cupy.lib")
    lib.stride_tricks = _Namespace("cupy.lib.stride_tricks", np.lib.stride_tricks)
    cp.lib = lib
    cp.testing = types.ModuleType("cupy.testing")  # compares device and host arrays alike
    for name in ("assert_array_equal", "assert_allclose", "assert_array_almost_equal"):
        setattr(cp.testing, name, _host_assert(getattr(np.testing, name)))
    cp.is_available = lambda: True
    cp.asnumpy = lambda a, *args, **kwargs: a.get() if isinstance(a, ndarray) else np.asarray(a)
    cp.get_array_module = lambda *args: cp if any(isinstance(a, ndarray) for a in args) else np
    cp.emulated = True
    return cp


def install(monkeypatch):
    """Register the stand-in as ``cupy`` and make ``dezero.cuda`` report a usable GPU."""
    from dezero import cuda

    cp = make_module()
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setattr(cuda, "_GPU_STATE", {"cupy": cp, "enabled": True})
    return cp
