"""The .npz reader and writer: round trips, corruption and hostile files."""
import os
import pickle
import tracemalloc
import zipfile

import numpy as np
import pytest
from _zipcraft import deflate, make_zip, member, npy_bytes

import dezero.io as dio
from dezero import WeightFileError


def _arrays():
    rng = np.random.default_rng(1)
    return {
        "l0/W": rng.standard_normal((3, 4)).astype(np.float32),
        "l0/b": np.zeros(4, np.float32),
        "bn/avg_mean": rng.standard_normal(5),
        "count": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 3), np.float16),
        "mask": np.array([True, False]),
    }


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k])


# -----------------------------------------------------------------------------
# round trips and compatibility
# -----------------------------------------------------------------------------


def test_round_trip_keeps_keys_dtypes_shapes(tmp_path):
    arrays = _arrays()
    written = dio.save_arrays(tmp_path / "w", arrays)
    assert written == str(tmp_path / "w.npz")
    loaded = dio.load_arrays(tmp_path / "w")
    _assert_same(arrays, loaded)
    assert all(a.flags.writeable and a.flags.owndata or a.base is not None
               for a in loaded.values())


def test_written_file_is_a_plain_npz_readable_without_pickle(tmp_path):
    arrays = _arrays()
    dio.save_arrays(tmp_path / "w.npz", arrays)
    with np.load(tmp_path / "w.npz", allow_pickle=False) as npz:
        _assert_same(arrays, dict(npz))
    with zipfile.ZipFile(tmp_path / "w.npz") as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}


@pytest.mark.parametrize("saver", [np.savez, np.savez_compressed])
def test_reads_files_written_by_numpy(tmp_path, saver):
    # the original DeZero writes np.savez_compressed(path, **{'l0/W': ...})
    arrays = _arrays()
    arrays["fortran"] = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    arrays["big_endian"] = np.arange(6, dtype=">i4").reshape(2, 3)
    saver(tmp_path / "orig.npz", **arrays)
    loaded = dio.load_arrays(tmp_path / "orig.npz")
    assert loaded["big_endian"].dtype == np.dtype("int32")
    arrays["big_endian"] = arrays["big_endian"].astype("<i4")
    _assert_same(arrays, loaded)


def test_suffix_rule_and_pathlike(tmp_path):
    arrays = {"a": np.ones(2, np.float32)}
    assert dio.save_arrays(str(tmp_path / "ckpt"), arrays).endswith("ckpt.npz")
    assert dio.save_arrays(tmp_path / "ckpt.v2", arrays).endswith("ckpt.v2.npz")
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz", "ckpt.v2.npz"]
    _assert_same(arrays, dio.load_arrays(tmp_path / "ckpt.v2"))
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        dio.save_arrays(3, arrays)


def test_missing_file_names_the_path_tried(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        dio.load_arrays(tmp_path / "nope")


def test_saving_rejects_object_arrays_and_bad_keys(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        dio.save_arrays(tmp_path / "w", {"a": np.array([None, 1], dtype=object)})
    with pytest.raises(TypeError, match="keys must be non-empty strings"):
        dio.save_arrays(tmp_path / "w", {"": np.ones(1)})
    with pytest.raises(TypeError, match="must be a NumPy or CuPy array"):
        dio.save_arrays(tmp_path / "w", {"a": [1.0]})
    assert os.listdir(tmp_path) == []


def test_failed_save_keeps_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    dio.save_arrays(path, {"a": np.ones(3)})
    before = path.read_bytes()

    def broken_write(fileobj, arrays, compress=True):
        fileobj.write(b"PK\x03\x04 half of a file")
        raise OSError("disk full")

    monkeypatch.setattr(dio, "write_npz", broken_write)
    with pytest.raises(OSError, match="disk full"):
        dio.save_arrays(path, {"a": np.zeros(3)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.npz"]


def test_save_into_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder does not exist"):
        dio.save_arrays(tmp_path / "no" / "w", {"a": np.ones(1)})


# -----------------------------------------------------------------------------
# truncated and corrupt files
# -----------------------------------------------------------------------------


def test_truncated_files_are_refused(tmp_path):
    path = tmp_path / "w.npz"
    dio.save_arrays(path, _arrays())
    blob = path.read_bytes()
    rng = np.random.default_rng(0)
    cuts = {0, 1, 4, 30, len(blob) // 2, len(blob) - 22, len(blob) - 1}
    cuts |= set(rng.integers(0, len(blob), 40).tolist())
    for cut in sorted(cuts):
        bad = tmp_path / "cut.npz"
        bad.write_bytes(blob[:cut])
        with pytest.raises(WeightFileError, match=r"cut\.npz"):
            dio.load_arrays(bad)


def test_bit_flips_are_refused_or_harmless(tmp_path):
    # Every byte gets one flipped bit. Some zip fields (timestamps, "version made by") are
    # not protected and do not matter; everything else must be refused, never loaded wrong.
    arrays = {"l0/W": np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32),
              "l0/b": np.arange(5, dtype=np.float32)}
    path = tmp_path / "w.npz"
    dio.save_arrays(path, arrays)
    blob = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        payload = set()
        for info in zf.infolist():
            # the local extra field may differ from the central one: read the local header
            n_name, n_extra = np.frombuffer(blob[info.header_offset + 26:
                                                 info.header_offset + 30], "<u2")
            start = info.header_offset + 30 + int(n_name) + int(n_extra)
            payload.update(range(start, start + info.compress_size - 1))
    rng = np.random.default_rng(1)
    refused = refused_payload = 0
    bad = tmp_path / "flip.npz"
    for pos in range(len(blob)):
        flipped = bytearray(blob)
        flipped[pos] ^= 1 << int(rng.integers(8))
        bad.write_bytes(bytes(flipped))
        try:
            loaded = dio.load_arrays(bad)
        except WeightFileError:
            refused += 1
            refused_payload += pos in payload
        else:
            _assert_same(arrays, loaded)
    # A flip in the deflate stream's trailing padding bits changes nothing; any other
    # flip in the compressed data must be refused (CRC-32 or a deflate error).
    assert refused_payload >= 0.95 * len(payload)
    assert refused > len(blob) // 2


def test_crc_error_is_reported(tmp_path):
    raw = npy_bytes("<f4", (2,), np.ones(2, np.float32).tobytes())
    blob = make_zip([member("a.npy", raw, crc=12345)])
    (tmp_path / "crc.npz").write_bytes(blob)
    with pytest.raises(WeightFileError, match="CRC"):
        dio.load_arrays(tmp_path / "crc.npz")


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"\x93NUMPY\x01\x00"])
def test_non_archives_are_refused(tmp_path, content):
    (tmp_path / "x.npz").write_bytes(content)
    with pytest.raises(WeightFileError, match="not a valid .npz"):
        dio.load_arrays(tmp_path / "x.npz")


def test_an_empty_archive_holds_no_arrays(tmp_path):
    (tmp_path / "e.npz").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert dio.load_arrays(tmp_path / "e.npz") == {}


# -----------------------------------------------------------------------------
# hostile files: nothing runs, nothing big is allocated
# -----------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _load_small(path, exc_match):
    """load_arrays must refuse ``path`` quickly, peaking under 8 MiB of Python memory."""
    tracemalloc.start()
    try:
        with pytest.raises(WeightFileError, match=exc_match):
            dio.load_arrays(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_object_array_with_pickle_payload_never_runs(tmp_path):
    marker = str(tmp_path / "pwned")
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    np.savez(tmp_path / "evil.npz", W=payload)
    # control: NumPy's loader with allow_pickle=True would run it
    ctrl = str(tmp_path / "ctrl")
    ctrl_payload = np.empty(1, dtype=object)
    ctrl_payload[0] = _Payload(ctrl)
    np.savez(tmp_path / "ctrl.npz", W=ctrl_payload)
    np.load(tmp_path / "ctrl.npz", allow_pickle=True)["W"]
    assert os.path.isdir(ctrl)

    _load_small(tmp_path / "evil.npz", "Python objects .* never pickles")
    assert not os.path.exists(marker)


def test_raw_pickle_member_never_runs(tmp_path):
    marker = str(tmp_path / "pwned")
    raw = pickle.dumps(_Payload(marker))
    (tmp_path / "evil.npz").write_bytes(make_zip([member("W.npy", raw)]))
    _load_small(tmp_path / "evil.npz", "no valid .npy header")
    assert not os.path.exists(marker)


def test_huge_declared_shape_is_refused_before_allocation(tmp_path):
    raw = npy_bytes("<f4", (2**40,), b"\0" * 64)
    (tmp_path / "huge.npz").write_bytes(make_zip([member("W.npy", raw)]))
    _load_small(tmp_path / "huge.npz", r"declares shape \(1099511627776,\)")


def test_declared_size_beyond_deflate_ratio_is_refused(tmp_path):
    # a small deflate stream whose directory claims ~4 GB: refused from the directory alone
    raw = npy_bytes("<f4", (2**20,), b"\0" * 2**22)
    blob = make_zip([member("W.npy", raw, file_size=4_000_000_000)])
    (tmp_path / "bomb.npz").write_bytes(blob)
    _load_small(tmp_path / "bomb.npz", "more than deflate can produce")


def test_overlapping_members_zip_bomb_is_refused(tmp_path):
    # many directory entries sharing one compressed body (the "overlapping files" bomb)
    raw = npy_bytes("<f4", (2**18,), b"\0" * 2**20)
    blob = make_zip([member("a.npy", raw)], central=[(f"k{i}.npy", 0) for i in range(50)])
    (tmp_path / "overlap.npz").write_bytes(blob)
    _load_small(tmp_path / "overlap.npz", "overlap")


@pytest.mark.parametrize("raw, match", [
    (npy_bytes("<f4", (-1,), b""), "negative shape"),
    (npy_bytes([("a", "<f4")], (1,), b"\0" * 4), "expected a numeric dtype"),
    (npy_bytes("<U3", (1,), b"\0" * 12), "expected a numeric dtype"),
    (npy_bytes("<f4", (2,), b"\0" * 12), r"holds 12 bytes"),
    (npy_bytes("<f4", (4,), b"\0" * 8), r"holds 8 bytes"),
    (b"\x93NUMPY\x03\x00" + b"\0" * 60, "unsupported .npy format version"),
    (b"\x93NUMPY\x01\x00\xff\x00{'descr': __import__('os').system('x')}", "no valid .npy"),
])
def test_bad_npy_headers_are_refused(tmp_path, raw, match):
    (tmp_path / "bad.npz").write_bytes(make_zip([member("W.npy", raw)]))
    _load_small(tmp_path / "bad.npz", match)


def test_directory_level_oddities_are_refused(tmp_path):
    raw = npy_bytes("<f4", (1,), b"\0" * 4)
    cases = {
        "not_npy": (make_zip([member("W.txt", raw)]), "is not a .npy array"),
        "dup": (make_zip([member("W.npy", raw), member("W.npy", raw)]), "appears twice"),
        "method": (make_zip([member("W.npy", raw, method=12)]), "unsupported compression"),
        "stored_lie": (make_zip([member("W.npy", raw, method=0, data=raw,
                                        file_size=len(raw) + 8)]), "stored uncompressed"),
    }
    for name, (blob, match) in cases.items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(blob)
        _load_small(path, match)


def test_deflate_garbage_is_refused(tmp_path):
    raw = npy_bytes("<f4", (16,), np.arange(16, dtype=np.float32).tobytes())
    data = bytearray(deflate(raw))
    data[len(data) // 2:] = b"\xff" * (len(data) - len(data) // 2)
    (tmp_path / "g.npz").write_bytes(make_zip([member("W.npy", raw, data=bytes(data))]))
    _load_small(tmp_path / "g.npz", "corrupt")
