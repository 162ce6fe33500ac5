""".safetensors weight files: round trips, checksums and hostile headers."""
import json
import os
import struct
import sys
import tracemalloc

import numpy as np
import pytest

import dezero.io as dio
from dezero import WeightFileError

st = pytest.importorskip("safetensors.numpy")


def _arrays():
    rng = np.random.default_rng(2)
    return {
        "l0/W": rng.standard_normal((3, 4)).astype(np.float32),
        "l0/b": np.zeros(4, np.float32),
        "bn/avg_var": rng.random(5),
        "t": np.array(3, dtype=np.int64),
        "half": np.arange(6, dtype=np.float16).reshape(2, 3),
    }


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k])


def _file(header: dict, data: bytes, pad: bool = True) -> bytes:
    text = json.dumps(header).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def _load_small(path, match):
    tracemalloc.start()
    try:
        with pytest.raises(WeightFileError, match=match):
            dio.load_arrays(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_round_trip_and_library_compatibility(tmp_path):
    arrays = _arrays()
    path = dio.save_arrays(tmp_path / "w.safetensors", arrays)
    assert path.endswith("w.safetensors")
    loaded = dio.load_arrays(path)
    _assert_same(arrays, loaded)
    assert all(a.flags.writeable for a in loaded.values())
    # the library reads our files, and we read the library's (without our checksum)
    _assert_same(arrays, st.load_file(path))
    st.save_file(arrays, str(tmp_path / "lib.safetensors"))
    _assert_same(arrays, dio.load_arrays(tmp_path / "lib.safetensors"))


def test_missing_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    hint = r"pip install -e '\.\[safetensors\]'.* pip install safetensors"
    with pytest.raises(ImportError, match=hint):
        dio.save_arrays(tmp_path / "w.safetensors", {"a": np.ones(2)})
    assert os.listdir(tmp_path) == []


def test_truncated_files_are_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    dio.save_arrays(path, _arrays())
    blob = path.read_bytes()
    for cut in sorted({0, 3, 8, 9, 50, len(blob) // 2, len(blob) - 1}):
        bad = tmp_path / "cut.safetensors"
        bad.write_bytes(blob[:cut])
        with pytest.raises(WeightFileError, match=r"cut\.safetensors"):
            dio.load_arrays(bad)


def test_bit_flips_are_refused_or_harmless(tmp_path):
    arrays = {"l0/W": np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32),
              "l0/b": np.arange(5, dtype=np.float32)}
    path = tmp_path / "w.safetensors"
    dio.save_arrays(path, arrays)
    blob = path.read_bytes()
    data_start = 8 + struct.unpack("<Q", blob[:8])[0]
    rng = np.random.default_rng(3)
    bad = tmp_path / "flip.safetensors"
    for pos in range(len(blob)):
        flipped = bytearray(blob)
        flipped[pos] ^= 1 << int(rng.integers(8))
        bad.write_bytes(bytes(flipped))
        try:
            loaded = dio.load_arrays(bad)
        except WeightFileError:
            continue
        # only a flip in the header's padding or in a key's spelling can survive; the data
        # section is covered by the recorded SHA-256
        assert pos < data_start
        if loaded.keys() == arrays.keys():
            _assert_same(arrays, loaded)


def test_checksum_mismatch_is_reported(tmp_path):
    path = tmp_path / "w.safetensors"
    dio.save_arrays(path, {"a": np.ones(4, np.float32)})
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x40
    path.write_bytes(bytes(blob))
    with pytest.raises(WeightFileError, match="SHA-256"):
        dio.load_arrays(path)


def _entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


HOSTILE = {
    "length_beyond_file": (struct.pack("<Q", 1000) + b"{}", "does not fit"),
    "length_2_63": (struct.pack("<Q", 2**63) + b"{}", "does not fit"),
    "not_json": (_file({}, b"")[:8] + b"{nope" + b" " * 3, "not valid JSON"),
    "not_object": (_file([1, 2], b""), "not a JSON object"),
    "overlap": (_file({"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(4, 12))},
                      b"\0" * 12), "overlap"),
    "out_of_range": (_file({"a": _entry(shape=(2**38,), offsets=(0, 2**40))}, b"\0" * 8),
                     "outside the"),
    "huge_shape": (_file({"a": _entry(shape=(2**20, 2**20), offsets=(0, 8))}, b"\0" * 8),
                   "needs 4398046511104 bytes"),
    "negative_offset": (_file({"a": _entry(offsets=(-8, 0))}, b"\0" * 8), "outside the"),
    "negative_dim": (_file({"a": _entry(shape=(-2,))}, b"\0" * 8), "invalid shape"),
    "bool_dim": (_file({"a": _entry(shape=(True,), offsets=(0, 4))}, b"\0" * 4),
                 "invalid shape"),
    "bad_dtype": (_file({"a": _entry(dtype="OBJ")}, b"\0" * 8), "unsupported dtype"),
    "bf16": (_file({"a": _entry(dtype="BF16", offsets=(0, 4))}, b"\0" * 4),
             "unsupported dtype"),
    "gap": (_file({"a": _entry(offsets=(8, 16))}, b"\0" * 16), "unused bytes"),
    "trailing": (_file({"a": _entry()}, b"\0" * 12), "bytes after the last tensor"),
    "extra_field": (_file({"a": dict(_entry(), code="x")}, b"\0" * 8), "expected dtype"),
    "bad_metadata": (_file({"__metadata__": {"k": 1}}, b""), "__metadata__"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_headers_fail_fast(tmp_path, name):
    blob, match = HOSTILE[name]
    path = tmp_path / "h.safetensors"
    path.write_bytes(blob)
    _load_small(path, match)


def test_duplicate_keys_are_refused(tmp_path):
    text = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' \
           b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    path = tmp_path / "d.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * 4)
    _load_small(path, "duplicate key")
