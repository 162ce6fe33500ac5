"""Saving and loading arrays: weight files and optimizer state.

``Layer.save_weights``/``load_weights`` and ``Optimizer.state_dict``/``load_state_dict``
build on these helpers. Two formats, chosen by the path's suffix:

* ``.npz`` (the default; a path with no known suffix gets ``.npz`` appended): a zip of
  ``<key>.npy`` members, the format of ``numpy.savez_compressed``.
* ``.safetensors``: through the optional ``safetensors`` package
  (``pip install 'dezero-framework[safetensors]'``).

Guarantees: saves are atomic (a temporary file in the same folder, fsync, rename), so an
interrupted save leaves the previous file intact; loading never executes code from the
file (no pickle) and refuses truncated, corrupt or hostile files with ``WeightFileError``
before allocating what they declare; matching arrays against a model checks every key,
shape and dtype before anything is assigned.

Examples
--------
>>> import dezero.io
>>> dezero.io.save_arrays("opt_state", optimizer.state_dict())      # doctest: +SKIP
>>> optimizer.load_state_dict(dezero.io.load_arrays("opt_state"))    # doctest: +SKIP
"""
from __future__ import annotations

import errno
import os

import numpy as np

from dezero import cuda
from dezero.errors import WeightFileError
from dezero.io._atomic import atomic_write
from dezero.io._npz import read_npz, write_npz
from dezero.io._safetensors import decode_safetensors, encode_safetensors

_SUFFIXES = (".npz", ".safetensors")
_NUMERIC_KINDS = "biufc"


def resolve_path(path, op: str = "load_arrays") -> str:
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


def save_arrays(path, arrays: dict, *, op: str = "save_arrays") -> str:
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


def load_arrays(path, *, op: str = "load_arrays") -> dict:
    """``{key: numpy array}`` read from ``path`` without trusting it.

    Raises
    ------
    FileNotFoundError
        Naming the path tried (after the ``.npz`` suffix rule).
    WeightFileError
        The file is truncated, corrupt, not of its format, or hostile (object arrays or
        pickles, declared sizes it cannot hold, zip bombs, overlapping offsets).
    """
    path = resolve_path(path, op)
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, f"{op}: no such weight file", path)
    source = f"{op}: {path!r}"
    if _is_safetensors(path):
        with open(path, "rb") as f:
            blob = f.read()
        return decode_safetensors(blob, source, op)
    return read_npz(path, source)


def describe(shape, dtype) -> str:
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
]
