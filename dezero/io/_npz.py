"""``.npz`` weight files, read without NumPy's loader so nothing in the file is trusted.

The reader opens the zip itself and, before it decompresses any array data or allocates
anything, checks every member: a ``.npy`` name, a supported compression, no encryption, no
overlap with another member, a declared size deflate can produce from the compressed size,
then the ``.npy`` header of *every* member: a numeric dtype (never an object dtype, so never
pickle) and a declared shape whose byte size is exactly what the member holds. The caller
then sees all the names, shapes and dtypes (``inspect``) and may refuse the file (a model
that expects other arrays, a total size above a cap) before any data is decompressed. Only
then are the arrays allocated and read, each member's stream bounded by its declared size;
zipfile checks the CRC-32 when the member's last byte has been read.

A member's compression ratio is *not* a criterion: a legitimate all-zero parameter compresses
about 1000:1, exactly like a zip bomb; what matters is what the file declares.
"""
from __future__ import annotations

import math
import os
import struct
import zipfile
import zlib
from typing import IO, Any, Callable, NamedTuple

import numpy as np
from numpy.lib import format as npy_format

from dezero.errors import WeightFileError
from dezero.io._files import open_regular

# Deflate cannot expand data by more than ~1032:1; a member that declares more is lying.
_MAX_RATIO = 1100
_READ_CHUNK = 2**20
_ZIP_LOCAL_HEADER = 30
_ALLOWED_KINDS = "biufc"


def write_npz(fileobj: IO[bytes], arrays: dict, compress: bool = True) -> None:
    """Write ``{key: numpy array}`` as an ``.npz`` archive (members ``<key>.npy``).

    The result is what ``numpy.savez_compressed`` writes, readable by ``numpy.load``;
    object arrays are refused, so the file never holds a pickle.
    """
    compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    # Level 1: weights are near-random floats, so higher levels cost time and save ~nothing.
    with zipfile.ZipFile(fileobj, "w", compression=compression, compresslevel=1,
                         allowZip64=True) as zf:
        for key, array in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                npy_format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _fail(source: str, problem: str):
    return WeightFileError(f"{source}: {problem}")


def _check_members(source: str, infos: list, archive_size: int) -> None:
    """Structure checks on the central directory, before any member is decompressed."""
    names = set()
    total = 0
    spans = []
    for info in infos:
        name = info.filename
        if name in names:
            raise _fail(source, f"member {name!r} appears twice")
        names.add(name)
        if not name.endswith(".npy"):
            raise _fail(source, f"member {name!r} is not a .npy array")
        if info.flag_bits & 0x1:
            raise _fail(source, f"member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _fail(source, f"member {name!r} uses unsupported compression "
                                f"method {info.compress_type}")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise _fail(source, f"member {name!r} is stored uncompressed but declares "
                                f"{info.file_size} bytes in {info.compress_size}")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _MAX_RATIO * info.compress_size + 1024:
            raise _fail(source, f"member {name!r} declares {info.file_size} bytes from "
                                f"{info.compress_size} compressed bytes ({ratio:.0f}:1), more "
                                "than deflate can produce (zip bomb or corrupt header)")
        start = info.header_offset
        end = start + _ZIP_LOCAL_HEADER + len(info.orig_filename.encode("utf-8", "replace")) \
            + info.compress_size
        if start < 0 or end > archive_size:
            raise _fail(source, f"member {name!r} lies outside the file (truncated?)")
        spans.append((start, end, name))
        total += info.file_size
    if total > _MAX_RATIO * archive_size + 1024 * len(infos):
        raise _fail(source, f"members declare {total} bytes in a {archive_size}-byte file "
                            "(zip bomb or corrupt directory)")
    spans.sort()
    for (s0, e0, n0), (s1, _, n1) in zip(spans, spans[1:]):
        if s1 < e0:
            raise _fail(source, f"members {n0!r} and {n1!r} overlap (zip bomb or corrupt "
                                "directory)")


def _check_entry_count(source: str, raw, n_found: int) -> None:
    """The end record's entry count must match the entries parsed (a flipped bit in the
    directory's size would otherwise silently drop members)."""
    end_record = getattr(zipfile, "_EndRecData", None)  # private but stable since Python 2
    if end_record is None:
        return
    rec = end_record(raw)
    if rec is None:
        return
    # zipfile's private field indices (typeshed does not list them)
    declared = {rec[zipfile._ECD_ENTRIES_TOTAL],  # type: ignore[attr-defined]
                rec[zipfile._ECD_ENTRIES_THIS_DISK]}  # type: ignore[attr-defined]
    if declared != {n_found}:
        raise _fail(source, f"the directory lists {sorted(declared)} entries but {n_found} "
                            "were found (corrupt file)")


def _read_header(source: str, name: str, f):
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _fail(source, f"member {name!r} is corrupt: {exc}") from None
    except Exception as exc:  # ValueError / TypeError / SyntaxError from a bad header
        raise _fail(source, f"member {name!r} has no valid .npy header "
                            f"(a pickle or a corrupt file?): {exc}") from None
    if dtype.hasobject:
        raise _fail(source, f"member {name!r} holds Python objects (dtype {dtype}); "
                            "weight files may only hold numeric arrays, never pickles")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in _ALLOWED_KINDS:
        raise _fail(source, f"member {name!r} has dtype {dtype}; expected a numeric dtype")
    if any(d < 0 for d in shape):
        raise _fail(source, f"member {name!r} declares a negative shape {shape}")
    return shape, fortran_order, dtype


class ArraySpec(NamedTuple):
    """What a member declares: its shape and dtype (what ``inspect`` callbacks receive)."""

    shape: tuple
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize  # Python ints: no overflow


def _read_spec(source: str, zf: zipfile.ZipFile, info):
    """``(ArraySpec, fortran_order)`` of a member, from its header alone."""
    name = info.filename
    with zf.open(info) as f:
        shape, fortran_order, dtype = _read_header(source, name, f)
        header_size = f.tell()
    spec = ArraySpec(tuple(int(d) for d in shape), dtype)
    if header_size + spec.nbytes != info.file_size:
        raise _fail(source, f"member {name!r} declares shape {spec.shape} {dtype} "
                            f"({spec.nbytes} bytes) but holds {info.file_size - header_size} "
                            "bytes of data")
    return spec, fortran_order


def _read_member(source: str, zf: zipfile.ZipFile, info, spec, fortran_order) -> np.ndarray:
    name = info.filename
    nbytes = spec.nbytes
    with zf.open(info) as f:
        _read_header(source, name, f)
        # The declared size is tied to the member's size (checked in _read_spec) and the
        # caller has accepted it; zipfile never returns more than the declared file_size.
        flat = np.empty(math.prod(spec.shape), dtype=spec.dtype)
        buf = flat.view(np.uint8).data  # a writable memoryview
        pos = 0
        while pos < nbytes:
            chunk = f.read(min(_READ_CHUNK, nbytes - pos))
            if not chunk:
                raise _fail(source, f"member {name!r} ends after {pos} of {nbytes} bytes")
            buf[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
        if f.read(1):  # also completes the CRC check of the last chunk
            raise _fail(source, f"member {name!r} has data beyond its declared shape")
    array = flat.reshape(spec.shape, order="F" if fortran_order else "C")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def read_npz(path: str | os.PathLike, source: str | None = None, *,
             inspect: Callable[[dict], Any] | None = None, op: str = "load_arrays") -> dict:
    """``{key: numpy array}`` from an ``.npz`` file, or ``WeightFileError`` naming the problem.

    Parameters
    ----------
    path : str or file object
        A path (opened with :func:`open_regular`, so a FIFO or device is refused without
        blocking) or an open binary file.
    source : str, optional
        Prefix of error messages.
    inspect : callable, optional
        Called with ``{key: ArraySpec}`` once every header has been read and before any
        array data is decompressed; it raises to refuse the file.
    """
    source = source or repr(path)
    try:
        raw = open_regular(path, op) if isinstance(path, (str, os.PathLike)) else path
        with raw:
            archive_size = raw.seek(0, 2)
            raw.seek(0)
            try:
                zf = zipfile.ZipFile(raw)
            except zipfile.BadZipFile as exc:
                raise _fail(source, f"not a valid .npz archive (truncated or corrupt): "
                                    f"{exc}") from None
            with zf:
                infos = zf.infolist()
                _check_entry_count(source, raw, len(infos))
                _check_members(source, infos, archive_size)
                specs = {}
                for info in infos:
                    specs[info.filename[:-4]] = (info, *_read_spec(source, zf, info))
                if inspect is not None:
                    inspect({key: spec for key, (_, spec, _) in specs.items()})
                arrays = {}
                for key, (info, spec, fortran_order) in specs.items():
                    arrays[key] = _read_member(source, zf, info, spec, fortran_order)
    except (WeightFileError, FileNotFoundError, IsADirectoryError):
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, struct.error, NotImplementedError,
            ValueError, OverflowError) as exc:
        # BadZipFile: bad CRC-32, mismatched local header; zlib.error: corrupt deflate data.
        raise _fail(source, f"corrupt or truncated .npz: {exc}") from None
    except MemoryError:
        raise _fail(source, "the arrays declared in the file do not fit in memory") from None
    return arrays
