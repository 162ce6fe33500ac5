"""``.safetensors`` weight files: read header-first, through the ``safetensors`` package
when it is installed, else by a pure-Python reader.

The 8-byte header length is read and checked against the file size before anything else;
then the header alone is read and validated: it is a JSON object without duplicate keys,
every tensor has a known dtype, a non-negative shape and ``data_offsets`` inside the data
section whose length matches shape x itemsize, and the tensors tile the data section exactly
(no overlap, no gap). The caller then sees the names, shapes and dtypes (``inspect``) and may
refuse the file before any tensor is read.

Files written by dezero carry the SHA-256 of their data section in the metadata
(``dezero.sha256``) and say that they are dezero files in a second key (``dezero.format``),
so a damaged key name cannot turn the check off silently: a file with one key and not the
other, or with a key name one or two characters away from ours, is refused. The digest is
computed over the arrays actually loaded (they tile the data section), so what is checked is
what is returned.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from typing import Any

import numpy as np

from dezero.errors import WeightFileError

_MAX_HEADER = 100 * 2**20  # the safetensors library's own limit
_CHECKSUM_KEY = "dezero.sha256"
_FORMAT_KEY = "dezero.format"
_FORMAT_VERSION = "1"
_READ_CHUNK = 16 * 2**20
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
        from dezero._install_hint import install_hint

        raise ImportError(f"{op}: .safetensors files need the safetensors package; "
                          f"{install_hint('safetensors', 'safetensors')}") from exc
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
    metadata[_FORMAT_KEY] = _FORMAT_VERSION  # the second place that says "a dezero file"
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


def _check_header(source: str, text: bytes, size: int):
    """``(metadata, {key: (shape, dtype, begin, end)})`` of a fully validated header.

    ``text`` is the JSON header (its length already checked against ``size``, the length
    of the whole file).
    """
    n = len(text)
    try:
        header = json.loads(bytes(text).decode("utf-8"), object_pairs_hook=_no_duplicates)
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
    tensors = {}
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
        tensors[key] = (tuple(shape), dtype, begin, end)
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
    return metadata or {}, tensors


def _near(key: str, target: str) -> bool:
    """``key`` is ``target`` with one or two characters changed (a damaged key name)."""
    return (key != target and len(key) == len(target)
            and sum(a != b for a, b in zip(key, target)) <= 2)


def _expected_digest(source: str, metadata: dict):
    """The recorded SHA-256 of a dezero file; None for a file another program wrote."""
    for key in metadata:
        for ours in (_CHECKSUM_KEY, _FORMAT_KEY):
            if _near(key, ours):
                raise _fail(source, f"metadata key {key!r} looks like a damaged {ours!r} "
                                    "(corrupt file)")
    digest = metadata.get(_CHECKSUM_KEY)
    written_by_dezero = _FORMAT_KEY in metadata
    if digest is None:
        if written_by_dezero:
            raise _fail(source, f"written by dezero ({_FORMAT_KEY!r} is set) but its checksum "
                                f"{_CHECKSUM_KEY!r} is missing (corrupt or altered file)")
        return None
    if not written_by_dezero:
        raise _fail(source, f"has a {_CHECKSUM_KEY!r} checksum but no {_FORMAT_KEY!r} key "
                            "(corrupt or altered file)")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise _fail(source, f"checksum {digest!r} is not a SHA-256 digest (corrupt file)")
    return digest


def read_header(f, source: str):
    """Read and validate the header of the open file ``f`` (positioned at 0).

    Returns ``(metadata, tensors, data_start)``; only the 8-byte length and the header
    itself are read.
    """
    size = os.fstat(f.fileno()).st_size
    if size < 8:
        raise _fail(source, f"only {size} bytes; not a .safetensors file (truncated?)")
    n = int.from_bytes(f.read(8), "little")
    if n > _MAX_HEADER or 8 + n > size:
        raise _fail(source, f"header length {n} does not fit in the {size}-byte file "
                            "(truncated or not a .safetensors file)")
    text = f.read(n)
    if len(text) != n:
        raise _fail(source, "the file ended inside its header (truncated?)")
    metadata, tensors = _check_header(source, text, size)
    return metadata, tensors, 8 + n


def _ordered(tensors: dict) -> list:
    return sorted(tensors, key=lambda k: tensors[k][2])


def _read_with_library(path: str, tensors: dict, source: str, st_numpy) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(path, framework="numpy") as f:
            if set(f.keys()) != set(tensors):
                raise _fail(source, "the safetensors library read other tensors than the "
                                    "header lists")
            return {key: f.get_tensor(key) for key in _ordered(tensors)}
    except WeightFileError:
        raise
    except Exception as exc:  # SafetensorError and friends
        raise _fail(source, f"the safetensors library refused the file: {exc}") from None


def _read_pure(f, tensors: dict, data_start: int, source: str) -> dict:
    out = {}
    for key in _ordered(tensors):
        shape, dtype, begin, end = tensors[key]
        array = np.empty(math.prod(shape), dtype=dtype.newbyteorder("<"))
        buf = array.view(np.uint8).data  # a writable memoryview
        f.seek(data_start + begin)
        pos = 0
        while pos < end - begin:
            got = f.readinto(buf[pos:pos + min(_READ_CHUNK, end - begin - pos)])
            if not got:
                raise _fail(source, f"tensor {key!r}: the file ended early (truncated?)")
            pos += got
        out[key] = array
    return out


def read_safetensors(path: str, source: str, op: str = "load_weights", *,
                     inspect: Any = None, use_library: bool | None = None) -> dict:
    """``{key: numpy array}`` from a ``.safetensors`` file, fully validated.

    Parameters
    ----------
    path : str
    source : str
        Prefix of error messages.
    op : str
        Name of the calling function, for messages.
    inspect : callable, optional
        Called with ``{key: (shape, dtype)}`` after the header is validated and before any
        tensor is read; it raises to refuse the file.
    use_library : bool, optional
        Read through the ``safetensors`` package (default: when it is installed) or with
        the pure-Python reader (False).
    """
    from dezero.io._files import open_regular

    with open_regular(path, op) as f:
        metadata, tensors, data_start = read_header(f, source)
        digest = _expected_digest(source, metadata)
        if inspect is not None:
            inspect({key: (shape, dtype) for key, (shape, dtype, _, _) in tensors.items()})
        st_numpy: Any
        if use_library is None:
            try:
                import safetensors.numpy as st_numpy
            except ImportError:
                st_numpy = None
        else:
            st_numpy = _library(op) if use_library else None
        if st_numpy is not None:
            loaded = _read_with_library(path, tensors, source, st_numpy)
        else:
            loaded = _read_pure(f, tensors, data_start, source)
    out = {}
    h = hashlib.sha256() if digest is not None else None
    for key in _ordered(tensors):  # offset order: the arrays tile the data section
        shape, dtype, _, _ = tensors[key]
        array = loaded[key]
        if array.size != math.prod(shape):
            raise _fail(source, f"tensor {key!r}: read {array.size} elements for shape {shape}")
        if h is not None:
            little = np.ascontiguousarray(array).astype(dtype.newbyteorder("<"), copy=False)
            h.update(little.reshape(-1).view(np.uint8).data)
        # owned, writable, native arrays of the validated shape and dtype
        if array.dtype != dtype or not array.flags.writeable or not array.flags.c_contiguous:
            array = np.array(array, dtype=dtype, copy=True)
        out[key] = array.reshape(shape)
    if h is not None and h.hexdigest() != digest:
        raise _fail(source, f"data section SHA-256 {h.hexdigest()} does not match the "
                            f"{digest} recorded when it was saved (corrupt file)")
    return out


def decode_safetensors(blob: bytes, source: str, op: str = "load_weights") -> dict:
    """``{key: numpy array}`` from the bytes of a ``.safetensors`` file, fully validated
    (for bytes already in memory; files are read header-first by :func:`read_safetensors`)."""
    size = len(blob)
    if size < 8:
        raise _fail(source, f"only {size} bytes; not a .safetensors file (truncated?)")
    n = int.from_bytes(blob[:8], "little")
    if n > _MAX_HEADER or 8 + n > size:
        raise _fail(source, f"header length {n} does not fit in the {size}-byte file "
                            "(truncated or not a .safetensors file)")
    metadata, tensors = _check_header(source, blob[8:8 + n], size)
    digest = _expected_digest(source, metadata)
    if digest is not None:
        found = hashlib.sha256(memoryview(blob)[8 + n:]).hexdigest()
        if found != digest:
            raise _fail(source, f"data section SHA-256 {found} does not match the "
                                f"{digest} recorded when it was saved (corrupt file)")
    out = {}
    for key, (shape, dtype, begin, end) in tensors.items():
        array = np.frombuffer(blob, dtype=dtype.newbyteorder("<"), count=math.prod(shape),
                              offset=8 + n + begin)
        out[key] = np.array(array, dtype=dtype, copy=True).reshape(shape)
    return out
