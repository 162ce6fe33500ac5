"""Hand-made zip archives and .npy members, for hostile-file tests.

``zipfile`` cannot write archives that lie about sizes or share data between members, so
these helpers lay out the bytes themselves (local headers, central directory, end record).
"""
import struct
import zlib

NPY_MAGIC = b"\x93NUMPY\x01\x00"


def npy_bytes(descr, shape: tuple, payload: bytes = b"", fortran: bool = False) -> bytes:
    """A version-1.0 .npy file with the given header and raw payload."""
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    total = len(NPY_MAGIC) + 2 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return NPY_MAGIC + struct.pack("<H", len(header)) + header.encode("latin1") + payload


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def make_zip(members, central=None) -> bytes:
    """Build an archive.

    members : list of dict(name, data, method=8, crc=None, file_size=None)
        ``data`` is the already-compressed payload; ``crc`` and ``file_size`` default to
        those of the uncompressed content given as ``raw`` (or may lie).
    central : list of (name, member index), optional
        Central-directory entries; several may point at the same local header.
    """
    out = bytearray()
    records = []
    for m in members:
        name = m["name"].encode()
        method = m.get("method", 8)
        raw = m.get("raw", b"")
        crc = m.get("crc", zlib.crc32(raw))
        file_size = m.get("file_size", len(raw))
        data = m["data"]
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data),
                           file_size, len(name), 0)
        out += name + data
        records.append((method, crc, len(data), file_size, offset))
    if central is None:
        central = [(m["name"], i) for i, m in enumerate(members)]
    cd_offset = len(out)
    for name, i in central:
        method, crc, csize, usize, offset = records[i]
        name_b = name.encode()
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc,
                           csize, usize, len(name_b), 0, 0, 0, 0, 0, offset)
        out += name_b
    cd_size = len(out) - cd_offset
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), cd_size,
                       cd_offset, 0)
    return bytes(out)


def member(name: str, raw: bytes, **overrides) -> dict:
    """A deflated member holding ``raw``; ``overrides`` can make it lie."""
    m = {"name": name, "raw": raw, "data": deflate(raw), "method": 8}
    m.update(overrides)
    return m
