"""``.safetensors`` weight files through the optional ``safetensors`` package.

The header is validated here before the library sees the bytes: its length fits the
file, it is a JSON object without duplicate keys, every tensor has a known dtype, a
non-negative shape and ``data_offsets`` inside the data section whose length matches
shape × itemsize, and the tensors tile the data section exactly (no overlap, no gap).
Files written by dezero also carry the SHA-256 of their data section in the metadata,
so a flipped bit in the data is refused too (the format itself has no checksum).
"""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from dezero.errors import WeightFileError

_INSTALL_HINT = "pip install 'dezero-framework[safetensors]'"
_MAX_HEADER = 100 * 2**20  # the safetensors library's own limit
_CHECKSUM_KEY = "dezero.sha256"
_DTYPES = {
    "BOOL": np.dtype(np.bool_), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
    "U16": np.dtype(np.uint16), "I16": np.dtype(np.int16), "F16": np.dtype(np.float16),
    "U32": np.dtype(np.uint32), "I32": np.dtype(np.int32), "F32": np.dtype(np.float32),
    "U64": np.dtype(np.uint64), "I64": np.dtype(np.int64), "F64": np.dtype(np.float64),
}


def _library(op: str):
    try:
        import safetensors.numpy as st_numpy
    except ImportError as exc:
        raise ImportError(f"{op}: .safetensors files need the safetensors package; "
                          f"install it with {_INSTALL_HINT}") from exc
    return st_numpy


def _fail(source: str, problem: str):
    return WeightFileError(f"{source}: {problem}")


def _data_start(blob) -> int:
    return 8 + int.from_bytes(blob[:8], "little")


def encode_safetensors(arrays: dict, op: str = "save_weights") -> list:
    """The bytes of a ``.safetensors`` file holding ``{key: numpy array}``, as chunks.

    The library lays out the tensors; the header is then rewritten with the SHA-256 of the
    data section added to ``__metadata__`` (offsets are relative to the data section, so
    they do not change), and the data section is passed on without another copy.
    """
    st = _library(op)
    # (not np.ascontiguousarray: it turns 0-d arrays into shape (1,))
    tensors = {k: a if a.flags.c_contiguous else a.copy(order="C") for k, a in arrays.items()}
    plain = st.save(tensors)
    start = _data_start(plain)
    data = memoryview(plain)[start:]
    header = json.loads(bytes(plain[8:start]).decode("utf-8"))
    metadata = dict(header.get("__metadata__") or {})
    metadata[_CHECKSUM_KEY] = hashlib.sha256(data).hexdigest()
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # keep the data section 8-byte aligned, as the library does
    return [len(text).to_bytes(8, "little"), text, data]


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_header(source: str, blob: bytes):
    """``(metadata, {key: (shape, dtype)})`` of a fully validated header."""
    size = len(blob)
    if size < 8:
        raise _fail(source, f"only {size} bytes; not a .safetensors file (truncated?)")
    n = int.from_bytes(blob[:8], "little")
    if n > _MAX_HEADER or 8 + n > size:
        raise _fail(source, f"header length {n} does not fit in the {size}-byte file "
                            "(truncated or not a .safetensors file)")
    try:
        header = json.loads(bytes(blob[8:8 + n]).decode("utf-8"),
                            object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(source, f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _fail(source, "header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and (not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise _fail(source, "__metadata__ must map strings to strings")
    data_len = size - 8 - n
    spans = []
    shapes = {}
    for key, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _fail(source, f"tensor {key!r}: expected dtype, shape and data_offsets")
        dtype = _DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
        if dtype is None:
            raise _fail(source, f"tensor {key!r}: unsupported dtype {entry['dtype']!r}")
        shape, offsets = entry["shape"], entry["data_offsets"]
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise _fail(source, f"tensor {key!r}: invalid shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_int(o) for o in offsets)):
            raise _fail(source, f"tensor {key!r}: invalid data_offsets {offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            raise _fail(source, f"tensor {key!r}: data_offsets [{begin}, {end}] outside the "
                                f"{data_len}-byte data section (truncated?)")
        nbytes = math.prod(shape) * dtype.itemsize
        if end - begin != nbytes:
            raise _fail(source, f"tensor {key!r}: shape {tuple(shape)} {dtype} needs {nbytes} "
                                f"bytes but data_offsets span {end - begin}")
        spans.append((begin, end, key))
        shapes[key] = (tuple(shape), dtype)
    spans.sort()
    pos, prev = 0, None
    for begin, end, key in spans:
        if begin < pos:
            raise _fail(source, f"tensors {prev!r} and {key!r} overlap")
        if begin > pos:
            raise _fail(source, f"{begin - pos} unused bytes before tensor {key!r}")
        pos, prev = end, key
    if pos != data_len:
        raise _fail(source, f"{data_len - pos} bytes after the last tensor (corrupt file?)")
    return metadata or {}, shapes


def decode_safetensors(blob: bytes, source: str, op: str = "load_weights") -> dict:
    """``{key: numpy array}`` from the bytes of a ``.safetensors`` file, fully validated."""
    metadata, shapes = _check_header(source, blob)
    expected = metadata.get(_CHECKSUM_KEY)
    if expected is not None:
        digest = hashlib.sha256(memoryview(blob)[_data_start(blob):]).hexdigest()
        if digest != expected:
            raise _fail(source, f"data section SHA-256 {digest} does not match the "
                                f"{expected} recorded when it was saved (corrupt file)")
    st = _library(op)
    try:
        arrays = st.load(bytes(blob))
    except Exception as exc:  # SafetensorError and friends
        raise _fail(source, f"the safetensors library refused the file: {exc}") from None
    if arrays.keys() != shapes.keys():
        raise _fail(source, "the safetensors library read other tensors than the header lists")
    # The library returns read-only views of the bytes (and 0-d tensors as shape (1,) in
    # some versions): the caller gets owned arrays of the validated shapes and dtypes.
    out = {}
    for key, (shape, dtype) in shapes.items():
        array = np.array(arrays[key], dtype=dtype, copy=True)
        if array.size != math.prod(shape):
            raise _fail(source, f"tensor {key!r}: the library read {array.size} elements "
                                f"for shape {shape}")
        out[key] = array.reshape(shape)
    return out
