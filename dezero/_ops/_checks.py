"""Input validation shared by the op wrappers.

Every check runs in a wrapper, before a graph node exists, and raises with the op name
first, then the argument, the expectation and what was found (shapes and dtypes):
``matmul: x.shape[-1] (3) != W.shape[0] (4); got x (2, 3) float32, W (4, 5) float32``.
The common case (a Variable holding a NumPy array) costs a couple of type checks.
"""
from __future__ import annotations

import builtins

import numpy as np

from dezero import cuda
from dezero._ops import _gpu_kernels as _gpu
from dezero.core import Variable

# Array kinds an op accepts: bool, signed/unsigned integers and floats.
_NUMERIC_KINDS = "biuf"
_REAL_SCALARS = (int, float, np.integer, np.floating)


def describe(a) -> str:
    """``(2, 3) float32`` for an array or a Variable, the type name for anything else."""
    data = a.data if isinstance(a, Variable) else a
    if hasattr(data, "shape") and hasattr(data, "dtype"):
        return f"{tuple(data.shape)} {data.dtype}"
    return type(a).__name__


def got(**named) -> str:
    """``got x (2, 3) float32, W (4, 5) float32`` for the named arguments."""
    return "got " + ", ".join(f"{k} {describe(v)}" for k, v in named.items())


def _array_kind_name(data) -> str:
    t = type(data)
    return f"{t.__module__.split('.')[0]}.{t.__name__}"


def as_input(op: str, name: str, x) -> Variable:
    """``x`` as a Variable holding a numeric NumPy or CuPy array.

    Raises TypeError naming ``op`` and ``name`` for anything else (lists, Python numbers,
    a Variable without data, strings or objects in the array).
    """
    if type(x) is Variable or isinstance(x, Variable):
        data = x.data
        if type(data) is np.ndarray:
            if data.dtype.kind not in _NUMERIC_KINDS:
                raise TypeError(f"{op}: {name} must hold a numeric (bool, integer or float) "
                                f"array; got {name} {describe(data)}")
            return x
        if data is None:
            raise TypeError(f"{op}: {name} is a Variable without data (data is None)")
    elif type(x) is np.ndarray or cuda.is_cupy_array(x):
        data = x
        x = Variable(x)
    else:
        raise TypeError(f"{op}: {name} must be a Variable or an ndarray; got "
                        f"{type(x).__name__}")
    if data.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{op}: {name} must hold a numeric (bool, integer or float) array; "
                        f"got {name} {describe(data)}")
    return x


def same_device(op: str, **named) -> None:
    """Raise TypeError when the named Variables/arrays live on different devices."""
    kinds = {}
    for k, v in named.items():
        data = v.data if isinstance(v, Variable) else v
        if type(data) is not np.ndarray:
            kinds[k] = data
    if not kinds:
        return
    on_gpu = {k: cuda.is_cupy_array(d) for k, d in kinds.items()}
    cpu = [k for k, v in named.items() if k not in kinds or not on_gpu[k]]
    gpu = [k for k, g in on_gpu.items() if g]
    if cpu and gpu:
        a, b = cpu[0], gpu[0]
        da = named[a].data if isinstance(named[a], Variable) else named[a]
        db = named[b].data if isinstance(named[b], Variable) else named[b]
        raise TypeError(f"{op}: {a} and {b} are on different devices: {a} is "
                        f"{_array_kind_name(da)} {describe(da)}, {b} is {_array_kind_name(db)} "
                        f"{describe(db)}; move them with to_gpu() or to_cpu() first")


def real_scalar(op: str, name: str, c, allow_none: bool = False):
    """``c`` as a Python number; TypeError for anything else (arrays included)."""
    if c is None and allow_none:
        return None
    if isinstance(c, bool) or not isinstance(c, _REAL_SCALARS):
        if isinstance(c, np.ndarray) and c.ndim == 0 and c.dtype.kind in "iuf":
            return c.item()
        raise TypeError(f"{op}: {name} must be a real number; got {type(c).__name__}")
    return c.item() if isinstance(c, np.generic) else c


def axis_tuple(op: str, axis, x, allow_none: bool = True, ndim: int | None = None):
    """Tuple of non-negative axes of ``x`` (None: all axes), in the order given.

    ``ndim`` overrides ``x.ndim`` (for axes of a result, as in expand_dims). Raises
    TypeError for a non-integer axis and ValueError for one out of range or repeated.
    """
    if ndim is None:
        ndim = x.ndim
    if axis is None:
        if not allow_none:
            raise TypeError(f"{op}: axis must be an int or a tuple of ints; got None")
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op}: axis must be an int, a tuple of ints or None; "
                            f"got {type(a).__name__} in axis={axis!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of bounds for {ndim} dimensions; "
                             f"got x {describe(x)}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in axis={axis!r}; got x {describe(x)}")
    return tuple(out)


def int_axis(op: str, axis, x, ndim: int | None = None) -> int:
    """A single axis of ``x`` (or of ``ndim`` dimensions), made non-negative."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int; got {type(axis).__name__}")
    return axis_tuple(op, axis, x, ndim=ndim)[0]


def clean_axis(op: str, axis, x):
    """``axis`` as given (int, tuple or None) once validated; lists become tuples."""
    if axis is None:
        return None
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        a = int(axis)
        ndim = x.ndim
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of bounds for {ndim} dimensions; "
                             f"got x {describe(x)}")
        return a
    axis_tuple(op, axis, x)
    return tuple(int(a) for a in axis)


def shape_tuple(op: str, name: str, shape) -> tuple:
    """``shape`` (an int or a sequence of ints) as a tuple; TypeError otherwise."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        return (int(shape),)
    try:
        out = tuple(shape)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a sequence of ints; got "
                        f"{type(shape).__name__}") from None
    for s in out:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{op}: {name} must contain ints; got {shape!r}")
    return tuple(int(s) for s in out)


def broadcast_shapes(op: str, **named) -> tuple:
    """The broadcast shape of the named operands; ValueError naming them when none exists."""
    shapes = [v.shape for v in named.values()]
    ndim = builtins.max(len(s) for s in shapes)
    out = []
    for i in range(-ndim, 0):
        size = 1
        for s in shapes:
            if -i <= len(s):
                d = s[i]
                if d != 1:
                    if size != 1 and d != size:
                        keys = list(named)
                        names = ", ".join(keys[:-1]) + " and " + keys[-1]
                        raise ValueError(f"{op}: {names} do not broadcast together; "
                                         f"{got(**named)}")
                    size = d
        out.append(size)
    return tuple(out)


def root_message(exc: BaseException) -> str:
    """The message of the error raised inside ``forward``, without the engine's context."""
    if getattr(exc, "_dezero_context", False) and exc.__context__ is not None:
        return str(exc.__context__)
    return str(exc)


def index_range(op: str, what: str, ids, size: int, where: str) -> None:
    """Raise ValueError unless every integer in ``ids`` lies in [0, size).

    One reduction (one device sync on CuPy) when all is well; the bounds are only
    computed for the message.
    """
    if not ids.size:
        return
    if _gpu.real_cupy(ids):
        bad = _gpu.labels_out_of_range(ids, size)  # one fused kernel
    else:
        bad = bool(((ids < 0) | (ids >= size)).any())
    if bad:
        lo, hi = int(ids.min()), int(ids.max())
        raise ValueError(f"{op}: {what} must be in [0, {size}) {where}; got {what} from "
                         f"{lo} to {hi}")
