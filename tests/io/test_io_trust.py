"""Weight files that lie: headers checked before data, caps, special files, checksum keys,
stale temporaries and kept permissions (issue 11, "Weight files")."""
import fcntl
import json
import os
import signal
import stat
import struct
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from _zipcraft import npy_bytes

import dezero.io as dio
from dezero import Layer, Parameter, WeightFileError
from dezero.io import _atomic, _npz, _safetensors

MiB = 2**20


def _zero_npz(path, members, nbytes, dtype="<f4"):
    """An .npz whose members are ``nbytes`` of zeros each, written in 1 MiB chunks (so the
    test itself never holds a member in memory): a zip bomb, or a big all-zero model."""
    itemsize = np.dtype(dtype).itemsize
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name in members:
            with zf.open(name + ".npy", "w", force_zip64=True) as f:
                f.write(npy_bytes(dtype, (nbytes // itemsize,)))
                zero = bytes(MiB)
                for _ in range(nbytes // MiB):
                    f.write(zero)
    return path


def _peak(fn, *args, **kwargs):
    """(result or exception, peak traced bytes) of ``fn(*args, **kwargs)``."""
    tracemalloc.start()
    try:
        try:
            out = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the caller inspects it
            out = exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak


class Small(Layer):
    def __init__(self):
        super().__init__()
        self.W = Parameter(np.ones((2, 2), np.float32), name="W")


# -----------------------------------------------------------------------------
# npz: every header first, then the model or a cap, then the data
# -----------------------------------------------------------------------------


def test_zip_bomb_is_refused_by_load_weights_before_any_data(tmp_path):
    # 8 members of 32 MiB of zeros: a 300 kB file that declares 256 MiB. The old reader
    # decompressed all of it before looking at the keys.
    path = _zero_npz(tmp_path / "bomb.npz", [f"m{i}" for i in range(8)], 32 * MiB)
    assert os.path.getsize(path) < 2 * MiB
    model = Small()
    err, peak = _peak(model.load_weights, path)
    assert isinstance(err, WeightFileError), err
    assert "unexpected key 'm0'" in str(err) and "missing key 'W'" in str(err)
    assert peak < 8 * MiB
    np.testing.assert_array_equal(model.W.data, np.ones((2, 2), np.float32))


def test_load_weights_refuses_a_wrong_shape_before_reading_it(tmp_path):
    path = _zero_npz(tmp_path / "w.npz", ["W"], 64 * MiB)
    err, peak = _peak(Small().load_weights, path)
    assert isinstance(err, WeightFileError), err
    assert "'W': expected (2, 2) float32, found (16777216,) float32" in str(err)
    assert peak < 8 * MiB


def test_load_arrays_total_size_cap_can_be_raised(tmp_path):
    path = _zero_npz(tmp_path / "big.npz", ["a", "b"], 8 * MiB)
    err, peak = _peak(dio.load_arrays, path, max_bytes=10 * MiB)
    assert isinstance(err, WeightFileError), err
    assert "16777216 bytes" in str(err) and "max_bytes" in str(err)
    assert peak < 4 * MiB
    arrays = dio.load_arrays(path, max_bytes=16 * MiB)  # exactly at the cap: accepted
    assert arrays["a"].shape == (2 * MiB,) and not arrays["b"].any()
    assert dio.load_arrays(path, max_bytes=None).keys() == {"a", "b"}
    assert dio.DEFAULT_MAX_BYTES == 2**30


def test_load_arrays_expected_is_checked_on_headers(tmp_path):
    path = _zero_npz(tmp_path / "w.npz", ["W"], 32 * MiB)
    err, peak = _peak(dio.load_arrays, path, expected={"W": ((2, 2), np.float32)})
    assert isinstance(err, WeightFileError) and "expected (2, 2) float32" in str(err)
    assert peak < 8 * MiB


def test_highly_compressed_members_are_not_refused_for_their_ratio(tmp_path, monkeypatch):
    # The old reader refused members over _BOMB_MIN_BYTES (256 MiB) compressing better than
    # 100:1. With its size threshold lowered to 1 MiB (a no-op once it is gone), a 16 MiB
    # all-zero member at over 200:1 must load: the ratio is no criterion any more.
    monkeypatch.setattr(_npz, "_BOMB_MIN_BYTES", MiB, raising=False)
    path = _zero_npz(tmp_path / "zeros.npz", ["W"], 16 * MiB)
    info = zipfile.ZipFile(path).infolist()[0]
    assert info.file_size / info.compress_size > 200
    assert dio.load_arrays(path)["W"].shape == (4 * MiB,)


@pytest.mark.slow
def test_dezero_written_320mb_zero_parameter_loads(tmp_path):
    # The old reader refused any member over 256 MiB that compressed better than 100:1.
    n = 320 * 10**6 // 4

    class Big(Layer):
        def __init__(self):
            super().__init__()
            self.W = Parameter(np.zeros(n, np.float32), name="W")

    model = Big()
    model.save_weights(tmp_path / "big.npz")
    del model
    other = Big()
    other.W.data[:] = 1
    other.load_weights(tmp_path / "big.npz")
    assert other.W.data.shape == (n,) and not other.W.data.any()


def test_member_stream_is_bounded_by_its_declared_size(tmp_path):
    # A member whose deflate stream holds more than its header and directory declare:
    # reading stops at the declared size and the CRC (of the declared bytes) fails.
    path = tmp_path / "long.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("W.npy", npy_bytes("<f4", (4,), bytes(16)) + bytes(4 * MiB))
    raw = bytearray(path.read_bytes())
    # shrink the declared uncompressed size (local header and central directory) to the
    # header + 16 bytes the .npy header promises
    declared = len(npy_bytes("<f4", (4,), bytes(16)))
    big = declared + 4 * MiB
    for offset in (22, raw.rfind(b"PK\x01\x02") + 24):
        assert struct.unpack_from("<I", raw, offset)[0] == big
        struct.pack_into("<I", raw, offset, declared)
    path.write_bytes(bytes(raw))
    err, peak = _peak(dio.load_arrays, path)
    assert isinstance(err, WeightFileError), err
    assert peak < 2 * MiB


# -----------------------------------------------------------------------------
# special files named as weight files
# -----------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX)")
@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_fifo_is_named_and_never_blocks(tmp_path, suffix):
    path = tmp_path / ("pipe" + suffix)
    os.mkfifo(path)
    start = time.monotonic()
    with pytest.raises(WeightFileError, match=r"is a FIFO \(named pipe\), not a weight file"):
        dio.load_arrays(path)
    with pytest.raises(WeightFileError, match="FIFO"):
        Small().load_weights(path)
    assert time.monotonic() - start < 5


def test_directory_is_named(tmp_path):
    (tmp_path / "ckpt.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory, not a weight file"):
        dio.load_arrays(tmp_path / "ckpt.npz")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_symlink_to_dev_zero_is_named(tmp_path):
    link = tmp_path / "w.safetensors"
    os.symlink("/dev/zero", link)
    err, peak = _peak(dio.load_arrays, link)
    assert isinstance(err, WeightFileError), err
    assert "symbolic link to '/dev/zero'" in str(err) and "character device" in str(err)
    assert peak < MiB


def test_dangling_symlink_names_its_target(tmp_path):
    link = tmp_path / "w.npz"
    os.symlink(tmp_path / "gone.npz", link)
    with pytest.raises(FileNotFoundError, match="symbolic link to the missing"):
        dio.load_arrays(link)


# -----------------------------------------------------------------------------
# safetensors: header first, library or pure Python, checksum that cannot be switched off
# -----------------------------------------------------------------------------


def test_safetensors_header_length_is_checked_before_reading(tmp_path):
    # A sparse 256 MiB file whose header length is absurd: only 8 bytes may be read.
    path = tmp_path / "sparse.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", 2**40))
        f.truncate(256 * MiB)
    err, peak = _peak(dio.load_arrays, path)
    assert isinstance(err, WeightFileError) and "does not fit" in str(err)
    assert peak < 2 * MiB


def test_safetensors_model_mismatch_refused_before_tensors_are_read(tmp_path):
    pytest.importorskip("safetensors")
    path = tmp_path / "w.safetensors"
    dio.save_arrays(path, {"W": np.zeros(16 * MiB, np.float32)})
    err, peak = _peak(Small().load_weights, path)
    assert isinstance(err, WeightFileError) and "'W': expected (2, 2)" in str(err)
    assert peak < 8 * MiB
    err, _ = _peak(dio.load_arrays, path, max_bytes=MiB)
    assert isinstance(err, WeightFileError) and "max_bytes" in str(err)


def _arrays():
    rng = np.random.default_rng(3)
    return {"l0/W": rng.standard_normal((3, 4)).astype(np.float32),
            "b": np.arange(5, dtype=np.int64), "s": np.array(2.5), "e": np.zeros((0, 2)),
            "m": np.array([True, False])}


def test_safetensors_pure_python_reader_matches_the_library(tmp_path, monkeypatch):
    pytest.importorskip("safetensors")
    path = tmp_path / "w.safetensors"
    arrays = _arrays()
    dio.save_arrays(path, arrays)
    lib = _safetensors.read_safetensors(str(path), "t", use_library=True)
    pure = _safetensors.read_safetensors(str(path), "t", use_library=False)
    for got in (lib, pure):
        assert got.keys() == arrays.keys()
        for k in arrays:
            assert got[k].dtype == arrays[k].dtype and got[k].shape == arrays[k].shape
            np.testing.assert_array_equal(got[k], arrays[k])
            assert got[k].flags.writeable
    # without the package, loading still works (saving needs it)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    loaded = dio.load_arrays(path)
    np.testing.assert_array_equal(loaded["l0/W"], arrays["l0/W"])
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(WeightFileError, match="SHA-256"):
        dio.load_arrays(path)


def _rewrite_metadata(path, change):
    blob = path.read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    change(header["__metadata__"])
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n:])


@pytest.mark.parametrize("change, match", [
    # the checksum key's name damaged (one letter): refused, not silently unchecked
    (lambda m: m.__setitem__("dezero.sha25X", m.pop("dezero.sha256")), "damaged"),
    # the checksum key renamed beyond recognition: the format key still says "dezero"
    (lambda m: m.__setitem__("zzzzzzzzzzzzz", m.pop("dezero.sha256")), "checksum .* missing"),
    (lambda m: m.pop("dezero.sha256"), "checksum .* missing"),
    # the format key gone but the checksum there
    (lambda m: m.pop("dezero.format"), "no 'dezero.format'"),
    (lambda m: m.__setitem__("dezero.sha256", "0" * 63), "not a SHA-256"),
])
def test_checksum_key_tampering_is_refused(tmp_path, change, match):
    pytest.importorskip("safetensors")
    path = tmp_path / "w.safetensors"
    dio.save_arrays(path, {"a": np.ones(4, np.float32)})
    meta = json.loads(path.read_bytes()[8:8 + struct.unpack("<Q", path.read_bytes()[:8])[0]])
    assert meta["__metadata__"]["dezero.format"] == "1"
    _rewrite_metadata(path, change)
    with pytest.raises(WeightFileError, match=match):
        dio.load_arrays(path)


def test_files_of_other_programs_need_no_checksum(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    st.save_file({"a": np.ones(3, np.float32)}, str(tmp_path / "lib.safetensors"),
                 metadata={"format": "np"})
    assert dio.load_arrays(tmp_path / "lib.safetensors")["a"].tolist() == [1, 1, 1]


# -----------------------------------------------------------------------------
# saves: kept permissions, stale temporaries removed
# -----------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_resave_keeps_the_file_mode(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    path = tmp_path / ("ckpt" + suffix)
    old_umask = os.umask(0o022)
    try:
        dio.save_arrays(path, {"a": np.ones(2)})
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # a new file: the umask decides
        os.chmod(path, 0o600)
        dio.save_arrays(path, {"a": np.zeros(2)})
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        os.chmod(path, 0o640)
        Small().save_weights(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    finally:
        os.umask(old_umask)
    assert os.stat(path).st_uid == os.getuid()


def test_stale_temporaries_are_removed_at_the_next_save(tmp_path):
    path = tmp_path / "w.npz"
    stale = [tmp_path / f".w.npz.{i:012x}.tmp" for i in range(3)]
    for p in stale:
        p.write_bytes(b"x" * 1000)
    live = tmp_path / ".w.npz.aaaaaaaaaaaa.tmp"  # a save in progress elsewhere: locked
    live.write_bytes(b"y")
    others = [tmp_path / ".v.npz.000000000000.tmp", tmp_path / ".w.npz.notours.tmp",
              tmp_path / "w.npz.tmp"]
    for p in others:
        p.write_bytes(b"z")
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        dio.save_arrays(path, {"a": np.ones(2)})
    assert not any(p.exists() for p in stale)
    assert live.exists() and all(p.exists() for p in others)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_temporary_of_a_killed_save_is_removed_at_the_next_save(tmp_path):
    path = tmp_path / "w.npz"
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: start a save that never finishes
        try:
            def write(f):
                f.write(b"partial" * 1000)
                f.flush()
                os.write(ready_w, b"1")
                time.sleep(60)

            _atomic.atomic_write(str(path), write)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"1"
        # while the writer lives, its temporary is left alone
        dio.save_arrays(path, {"a": np.ones(2)})
        assert len([n for n in os.listdir(tmp_path) if n.endswith(".tmp")]) == 1
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready_r)
        os.close(ready_w)
    dio.save_arrays(path, {"a": np.zeros(2)})
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]
    assert not dio.load_arrays(path)["a"].any()
