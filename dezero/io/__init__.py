"""Saving and loading arrays: weight files and optimizer state.

``Layer.save_weights``/``load_weights`` and ``Optimizer.state_dict``/``load_state_dict``
build on these helpers. Two formats, chosen by the path's suffix:

* ``.npz`` (the default; a path with no known suffix gets ``.npz`` appended): a zip of
  ``<key>.npy`` members, the format of ``numpy.savez_compressed``.
* ``.safetensors``: through the optional ``safetensors`` package
  (``pip install -e '.[safetensors]'`` from a checkout, or ``pip install safetensors``).

Guarantees: saves are atomic (a temporary file in the same folder, fsync, rename), so an
interrupted save leaves the previous file intact; a re-save keeps the file's permission bits
(and owner where allowed), and the temporaries of killed saves are removed at the next save
of the same file. Loading never executes code from the file (no pickle) and refuses
truncated, corrupt or hostile files with ``WeightFileError`` before allocating what they
declare: every array's name, shape and dtype is read from the headers first and checked
against the model (``load_weights``) or against a total-size cap (``load_arrays``'s
``max_bytes``) before any data is decompressed or read. A FIFO, directory or device named
as a weight file is reported as such (never opened for blocking reads).

Examples
--------
>>> import dezero.io
>>> dezero.io.save_arrays("opt_state", optimizer.state_dict())      # doctest: +SKIP
>>> optimizer.load_state_dict(dezero.io.load_arrays("opt_state"))    # doctest: +SKIP
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from dezero import cuda
from dezero.errors import WeightFileError
from dezero.io._atomic import atomic_write
from dezero.io._files import open_regular
from dezero.io._npz import read_npz, write_npz
from dezero.io._safetensors import decode_safetensors, encode_safetensors, read_safetensors

_SUFFIXES = (".npz", ".safetensors")
_NUMERIC_KINDS = "biufc"

# load_arrays refuses a file whose arrays declare more than this in total (before reading
# any data); pass ``max_bytes=`` to raise it, or None for no cap. load_weights has no cap:
# the model's own shapes bound what it reads.
DEFAULT_MAX_BYTES = 2**30


def resolve_path(path: str | os.PathLike, op: str = "load_arrays") -> str:
    """``path`` as a ``str``, with ``.npz`` appended unless it ends in ``.npz``/``.safetensors``."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{op}: path must be a str or os.PathLike; got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path.lower().endswith(_SUFFIXES):
        path += ".npz"
    return path


def _is_safetensors(path: str) -> bool:
    return path.lower().endswith(".safetensors")


def save_arrays(path: str | os.PathLike, arrays: dict, *, op: str = "save_arrays") -> str:
    """Atomically write ``{key: array}`` (NumPy or CuPy) to ``path``; return the path written.

    CuPy arrays are copied to the host; the caller's arrays are not moved or modified.

    Raises
    ------
    TypeError
        A key that is not a non-empty string, or a value that is not a numeric array.
    """
    path = resolve_path(path, op)
    host = {}
    for key, array in arrays.items():
        if not isinstance(key, str) or not key or key == "__metadata__":
            raise TypeError(f"{op}: keys must be non-empty strings other than '__metadata__'; "
                            f"got {key!r}")
        if not (isinstance(array, np.ndarray) or cuda.is_cupy_array(array)):
            raise TypeError(f"{op}: {key!r} must be a NumPy or CuPy array; "
                            f"got {type(array).__name__}")
        if array.dtype.kind not in _NUMERIC_KINDS or array.dtype.fields is not None:
            raise TypeError(f"{op}: {key!r} has dtype {array.dtype}; only numeric arrays "
                            "can be saved")
        host[key] = cuda.as_numpy(array)
    if _is_safetensors(path):
        chunks = encode_safetensors(host, op)

        def write(f):
            for chunk in chunks:
                f.write(chunk)

        atomic_write(path, write, op=op)
    else:
        atomic_write(path, lambda f: write_npz(f, host), op=op)
    return path


def _read(path: str, source: str, op: str, inspect) -> dict:
    if _is_safetensors(path):
        return read_safetensors(path, source, op, inspect=inspect)
    return read_npz(path, source, inspect=inspect, op=op)


def load_arrays(path: str | os.PathLike, *, op: str = "load_arrays",
                max_bytes: int | None = DEFAULT_MAX_BYTES,
                expected: dict | None = None) -> dict:
    """``{key: numpy array}`` read from ``path`` without trusting it.

    Every array's name, shape and dtype is read from the file's headers before any data:
    the total declared size must not exceed ``max_bytes``, and when ``expected`` is given
    the arrays must match it (see :func:`check_arrays`), else nothing is read.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npz`` or ``.safetensors`` (``.npz`` is appended to a path with neither suffix).
    max_bytes : int or None
        Cap on the total size the arrays declare (default :data:`DEFAULT_MAX_BYTES`, 1 GiB);
        None for no cap.
    expected : dict, optional
        ``{key: (shape, dtype)}`` the file must hold exactly (``None`` shape: any shape,
        ``None`` dtype: any floating dtype).

    Raises
    ------
    FileNotFoundError
        Naming the path tried (after the ``.npz`` suffix rule).
    IsADirectoryError
        The path is a directory.
    WeightFileError
        The file is a FIFO or device, truncated, corrupt, not of its format, hostile (object
        arrays or pickles, declared sizes it cannot hold, overlapping offsets), larger than
        ``max_bytes``, or does not match ``expected`` (listing every problem).
    """
    path = resolve_path(path, op)
    source = f"{op}: {path!r}"

    def inspect(specs):
        if expected is not None:
            check_arrays(expected, {k: _Declared(*v) for k, v in specs.items()}, source)
        if max_bytes is not None:
            total = sum(math.prod(shape) * np.dtype(dtype).itemsize
                        for shape, dtype in specs.values())
            if total > max_bytes:
                raise WeightFileError(
                    f"{source}: its arrays declare {total} bytes in all, more than the "
                    f"max_bytes={max_bytes} cap; nothing was read. If the file is trusted, "
                    f"pass a larger max_bytes (or None)")

    return _read(path, source, op, inspect)


class _Declared:
    """Shape and dtype read from a header (what :func:`array_problems` looks at)."""

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)


def load_params(params: dict, path: str | os.PathLike, *, op: str = "load_weights") -> None:
    """Load a weight file into ``{key: Parameter}``: headers checked against the parameters
    before any data is read, then all-or-nothing assignment (see :func:`assign_params`)."""
    path = resolve_path(path, op)
    expected = {}
    for key, param in params.items():
        data = param.data
        expected[key] = (None, None) if data is None else (data.shape, data.dtype)
    arrays = load_arrays(path, op=op, max_bytes=None, expected=expected)
    assign_params(params, arrays, f"{op}: {path!r}")


def describe(shape: tuple[int, ...], dtype: Any) -> str:
    """``(2, 3) float32``; ``None`` shape means any shape, ``None`` dtype any floating dtype."""
    shape_txt = "any shape" if shape is None else str(tuple(shape))
    dtype_txt = "floating" if dtype is None else str(np.dtype(dtype))
    return f"{shape_txt} {dtype_txt}"


def array_problems(expected: dict, found: dict) -> list:
    """One line per missing, unexpected or mismatched key (see :func:`check_arrays`)."""
    problems = []
    for key, (shape, dtype) in expected.items():
        array = found.get(key)
        if array is None:
            problems.append(f"missing key {key!r}: expected {describe(shape, dtype)}")
            continue
        shape_ok = shape is None or tuple(array.shape) == tuple(shape)
        dtype_ok = array.dtype.kind == "f" if dtype is None else array.dtype == dtype
        if not (shape_ok and dtype_ok):
            problems.append(f"{key!r}: expected {describe(shape, dtype)}, "
                            f"found {describe(array.shape, array.dtype)}")
    for key, array in found.items():
        if key not in expected:
            problems.append(f"unexpected key {key!r}: found "
                            f"{describe(array.shape, array.dtype)}")
    return problems


def check_arrays(expected: dict, found: dict, source: str, what: str = "the model") -> None:
    """Compare arrays with what a model expects; raise one error listing every mismatch.

    Parameters
    ----------
    expected : dict
        ``{key: (shape, dtype)}``; a ``None`` shape accepts any shape and a ``None``
        dtype any floating dtype (a parameter that has no data yet).
    found : dict
        ``{key: array}``, e.g. from :func:`load_arrays`.
    source : str
        Prefix of the message, such as ``"load_weights: 'ckpt.npz'"``.
    what : str
        What the arrays are matched against, for the message.

    Raises
    ------
    WeightFileError
        With ``.problems``, one line per missing, unexpected or mismatched key.
    """
    problems = array_problems(expected, found)
    if problems:
        raise_problems(source, what, problems)


def raise_problems(source: str, what: str, problems: list) -> None:
    """Raise ``WeightFileError`` listing ``problems`` (also kept as ``.problems``)."""
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    err = WeightFileError(f"{source} does not match {what} ({count}); nothing was loaded:\n  "
                          + "\n  ".join(problems))
    err.problems = list(problems)
    raise err


def assign_params(params: dict, arrays: dict, source: str, *, copy: bool = False) -> None:
    """Check ``arrays`` against ``{key: Parameter}`` and, only if all match, assign them.

    Parameters keep their device (CuPy parameters receive a device copy). A parameter
    without data accepts any shape with a floating dtype and goes where the others are: on
    the GPU when some parameter is there (a lazy layer of a model moved with ``to_gpu()``),
    else on the CPU.
    """
    expected = {}
    for key, param in params.items():
        data = param.data
        expected[key] = (None, None) if data is None else (data.shape, data.dtype)
    check_arrays(expected, arrays, source)
    model_on_gpu = any(param.data is not None and cuda.is_cupy_array(param.data)
                       for param in params.values())
    # Convert everything first, so a failing device copy cannot leave a half-loaded model.
    new_data = []
    for key, param in params.items():
        array = arrays[key]
        on_gpu = model_on_gpu if param.data is None else cuda.is_cupy_array(param.data)
        if on_gpu:
            source_array = array
            array = cuda.as_cupy(array)
            if copy and array is source_array:  # already on the device: as_cupy did not copy
                array = array.copy()
        elif copy or not isinstance(array, np.ndarray):
            array = np.array(cuda.as_numpy(array), copy=True)
        new_data.append((param, array))
    for param, array in new_data:
        param.data = array


__all__ = [
    "WeightFileError",
    "atomic_write",
    "save_arrays",
    "load_arrays",
    "load_params",
    "DEFAULT_MAX_BYTES",
    "open_regular",
    "read_safetensors",
    "resolve_path",
    "check_arrays",
    "array_problems",
    "raise_problems",
    "assign_params",
    "describe",
    "read_npz",
    "write_npz",
    "encode_safetensors",
    "decode_safetensors",
    "load_torch_state_dict",
]

from dezero.io._torch import load_torch_state_dict  # noqa: E402  (needs the helpers above)
