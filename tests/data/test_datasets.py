"""Datasets: toy sets, Digits, and the downloaded sets served from generated files."""
import os

import numpy as np
import pytest
from datafiles import cifar_records, fake_mnist, gz, idx_bytes, tar_gz

import dezero
from dezero import datasets
from dezero.datasets import (
    CIFAR10,
    CIFAR100,
    MNIST,
    Dataset,
    FashionMNIST,
    ImageNet,
    Shakespear,
    Shakespeare,
    SinCurve,
    Spiral,
    get_spiral,
)
from dezero.errors import DatasetIntegrityError
from dezero.transforms import Compose, Normalize, ToFloat

# --- base class and toy sets -----------------------------------------------------------


class Squares(Dataset):
    def prepare(self):
        self.data = np.arange(5)
        self.label = self.data ** 2


class Unlabelled(Dataset):
    def prepare(self):
        self.data = np.arange(3)


def test_dataset_protocol():
    ds = Squares(transform=lambda x: x + 100, target_transform=lambda t: -t)
    assert len(ds) == 5
    assert ds[2] == (102, -4)
    assert ds[np.int64(3)] == (103, -9)
    assert Unlabelled()[1] == (1, None)
    assert Squares().train is True and Squares(train=False).train is False
    with pytest.raises(TypeError, match="integer"):
        ds[1:3]
    assert dezero.Dataset is Dataset


def _book_spiral(train):
    # The book's loop, written out, as the oracle for the vectorised version.
    np.random.seed(1984 if train else 2020)
    x = np.zeros((300, 2), np.float32)
    t = np.zeros(300, int)
    for j in range(3):
        for i in range(100):
            rate = i / 100
            theta = j * 4.0 + 4.0 * rate + np.random.randn() * 0.2
            x[100 * j + i] = [rate * np.sin(theta), rate * np.cos(theta)]
            t[100 * j + i] = j
    perm = np.random.permutation(300)
    return x[perm], t[perm], np.random.rand()


@pytest.mark.parametrize("train", [True, False])
def test_spiral_matches_the_book_bit_for_bit(train):
    x, t = get_spiral(train)
    after = np.random.rand()
    bx, bt, b_after = _book_spiral(train)
    assert x.dtype == np.float32 and x.shape == (300, 2)
    assert t.shape == (300,) and t.dtype.kind == "i"
    np.testing.assert_array_equal(x, bx)
    np.testing.assert_array_equal(t, bt)
    assert after == b_after  # the global RNG is left in the same state
    ds = Spiral(train=train)
    np.testing.assert_array_equal(ds.data, bx)
    assert len(ds) == 300


@pytest.mark.parametrize("train", [True, False])
def test_sincurve(train):
    np.random.seed(0)
    ds = SinCurve(train=train)
    np.random.seed(0)
    noise = np.random.uniform(-0.05, 0.05, 1000)
    x = np.linspace(0, 2 * np.pi, 1000)
    y = np.sin(x) + noise if train else np.cos(x)
    assert ds.data.shape == ds.label.shape == (999, 1)
    assert ds.data.dtype == np.float64
    np.testing.assert_array_equal(ds.data[:, 0], y[:-1])
    np.testing.assert_array_equal(ds.label[:, 0], y[1:])


def test_digits():
    pytest.importorskip("sklearn")
    train, test = datasets.Digits(), datasets.Digits(train=False)
    assert (len(train), len(test)) == (1437, 360)
    assert train.data.shape == (1437, 1, 8, 8) and train.data.dtype == np.uint8
    x, t = train[0]
    assert x.shape == (64,) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert 0 <= t <= 9
    # Fixed split, disjoint, covering all 1,797 images, and the global RNG untouched.
    np.random.seed(5)
    again = datasets.Digits()
    assert np.random.rand() == np.random.RandomState(5).rand()
    np.testing.assert_array_equal(again.label, train.label)
    from sklearn.datasets import load_digits

    allx = np.concatenate([train.data, test.data]).reshape(1797, -1)
    ref = load_digits().data.astype(np.uint8)
    assert sorted(map(bytes, allx)) == sorted(map(bytes, ref))
    assert set(np.unique(test.label)) == set(range(10))
    cnn = datasets.Digits(transform=Compose([ToFloat(), Normalize(0.0, 16.0)]))
    assert cnn[0][0].shape == (1, 8, 8)


def test_digits_without_sklearn(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("no sklearn")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    # The digits ship with dezero (dezero/_data/digits.npz): scikit-learn is not needed.
    assert len(datasets.Digits()) == 1437


def test_digits_file_is_checked(tmp_path, monkeypatch):
    from dezero.errors import DatasetIntegrityError

    images, labels = datasets.load_digits_arrays()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 16
    damaged = images.copy()
    damaged[0, 0, 0] += 1
    np.savez_compressed(tmp_path / "digits.npz", images=damaged, labels=labels.astype(np.uint8))
    with pytest.raises(DatasetIntegrityError, match="SHA-256"):
        datasets.load_digits_arrays(str(tmp_path / "digits.npz"))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    monkeypatch.setattr(datasets, "DIGITS_FILE", str(tmp_path / "bad.npz"))
    with pytest.raises(DatasetIntegrityError, match="reinstall"):
        datasets.load_digits_arrays(datasets.DIGITS_FILE)


# --- MNIST from a local server ---------------------------------------------------------


def _serve_mnist(server, monkeypatch, cls=MNIST, n_train=12, n_test=5):
    monkeypatch.setattr(cls, "url", server.url("/mnist/"))
    expected = {}
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        images, labels = fake_mnist(n, seed)
        img_name, lbl_name = cls.files[split]
        server.files["/mnist/" + img_name] = gz(idx_bytes(images))
        server.files["/mnist/" + lbl_name] = gz(idx_bytes(labels))
        expected[split] = images, labels
    return expected


def test_mnist_downloads_parses_and_caches(cache, server, monkeypatch):
    expected = _serve_mnist(server, monkeypatch)
    ds = MNIST(train=True)
    images, labels = expected["train"]
    assert ds.data.shape == (12, 1, 28, 28) and ds.data.dtype == np.uint8
    assert ds.label.dtype == np.uint8
    np.testing.assert_array_equal(ds.data[:, 0], images)
    np.testing.assert_array_equal(ds.label, labels)
    x, t = ds[3]
    assert x.shape == (784,) and x.dtype == np.float32
    np.testing.assert_allclose(x, images[3].reshape(-1) / 255.0, rtol=1e-6)
    assert sorted(os.listdir(cache)) == ["train-images-idx3-ubyte.gz",
                                         "train-labels-idx1-ubyte.gz"]
    n_requests = len(server.requests)
    MNIST(train=True)
    assert len(server.requests) == n_requests  # reused from the cache
    test = MNIST(train=False)
    assert len(test) == 5
    assert MNIST.labels() == {i: str(i) for i in range(10)}


def test_mnist_files_placed_by_hand(cache, closed_port, monkeypatch):
    monkeypatch.setattr(MNIST, "url", f"http://127.0.0.1:{closed_port}/")
    images, labels = fake_mnist(4)
    cache.mkdir()
    (cache / "t10k-images-idx3-ubyte.gz").write_bytes(gz(idx_bytes(images)))
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(gz(idx_bytes(labels)))
    ds = MNIST(train=False)
    np.testing.assert_array_equal(ds.label, labels)


def test_mnist_offline_error_names_the_path(cache, closed_port, monkeypatch):
    monkeypatch.setattr(MNIST, "url", f"http://127.0.0.1:{closed_port}/")
    with pytest.raises(dezero.DatasetDownloadError) as info:
        MNIST()
    assert str(cache / "train-images-idx3-ubyte.gz") in str(info.value)


def test_fashion_mnist_has_its_own_cache_names(cache, server, monkeypatch):
    _serve_mnist(server, monkeypatch, cls=FashionMNIST)
    ds = FashionMNIST(train=False)
    assert len(ds) == 5
    assert all(name.startswith("fashion-mnist-") for name in os.listdir(cache))
    assert FashionMNIST.labels()[9] == "Ankle boot"


@pytest.mark.parametrize("corrupt, match", [
    (b"not gzip at all", "not a valid gzip"),
    (gz(b"\x00\x00\x08\x03" + np.array([2, 28, 28], ">u4").tobytes() + b"\x00" * 100),
     "holds"),
    (gz(b"\x12\x34\x56\x78" + b"\x00" * 100), "magic"),
    (gz(idx_bytes(np.zeros(5, np.uint8))), "3 dimensions"),
])
def test_corrupt_idx_is_reported(cache, corrupt, match):
    cache.mkdir()
    path = cache / "bad-images.gz"
    path.write_bytes(corrupt)
    with pytest.raises(DatasetIntegrityError, match=match):
        datasets.load_idx(str(path), expected_ndim=3)


def test_mnist_image_label_count_mismatch(cache, closed_port, monkeypatch):
    monkeypatch.setattr(MNIST, "url", f"http://127.0.0.1:{closed_port}/")
    images, labels = fake_mnist(4)
    cache.mkdir()
    (cache / "t10k-images-idx3-ubyte.gz").write_bytes(gz(idx_bytes(images)))
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(gz(idx_bytes(labels[:3])))
    with pytest.raises(DatasetIntegrityError, match="4 images but"):
        MNIST(train=False)


# --- CIFAR binary archives -------------------------------------------------------------


def test_cifar10_binary_archive(cache, server, monkeypatch):
    members, expected = {}, {"train": [], "test": []}
    for i in range(1, 6):
        raw, labels, images = cifar_records(3, 1, seed=i)
        members[f"cifar-10-batches-bin/data_batch_{i}.bin"] = raw
        expected["train"].append((labels[:, 0], images))
    raw, labels, images = cifar_records(4, 1, seed=9)
    members["cifar-10-batches-bin/test_batch.bin"] = raw
    members["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\n"
    expected["test"].append((labels[:, 0], images))
    server.files["/cifar-10-binary.tar.gz"] = tar_gz(members)
    monkeypatch.setattr(CIFAR10, "url", server.url("/cifar-10-binary.tar.gz"))

    ds = CIFAR10(train=True)
    assert ds.data.shape == (15, 3, 32, 32) and ds.data.dtype == np.uint8
    assert ds.label.shape == (15,) and ds.label.dtype.kind == "i"
    np.testing.assert_array_equal(ds.data, np.concatenate([e[1] for e in expected["train"]]))
    np.testing.assert_array_equal(ds.label, np.concatenate([e[0] for e in expected["train"]]))
    x, _ = ds[0]
    np.testing.assert_allclose(x, (ds.data[0].astype(np.float32) - 0.5) / 0.5)
    assert (cache / "cifar-10-binary.tar.gz.train.npz").exists()

    # The decoded cache is used next time, even with the archive gone.
    os.remove(cache / "cifar-10-binary.tar.gz")
    again = CIFAR10(train=True)
    np.testing.assert_array_equal(again.data, ds.data)
    np.testing.assert_array_equal(again.label, ds.label)

    server.files.clear()
    with pytest.raises(dezero.DatasetDownloadError):
        CIFAR10(train=False)  # test split not cached yet, archive gone, server 404s
    assert CIFAR10.labels()[0] == "airplane" and len(CIFAR10.labels()) == 10


def test_cifar100_fine_and_coarse(cache, server, monkeypatch):
    raw_train, labels_train, images_train = cifar_records(6, 2, seed=3)
    raw_test, _, _ = cifar_records(2, 2, seed=4)
    server.files["/c100.tar.gz"] = tar_gz({"cifar-100-binary/train.bin": raw_train,
                                           "cifar-100-binary/test.bin": raw_test})
    monkeypatch.setattr(CIFAR100, "url", server.url("/c100.tar.gz"))
    fine = CIFAR100(train=True)
    coarse = CIFAR100(train=True, label_type="coarse")
    np.testing.assert_array_equal(fine.label, labels_train[:, 1])
    np.testing.assert_array_equal(coarse.label, labels_train[:, 0])
    np.testing.assert_array_equal(fine.data, images_train)
    assert len(CIFAR100.labels()) == 100 and len(CIFAR100.labels("coarse")) == 20
    assert len(set(CIFAR100.labels().values())) == 100
    with pytest.raises(ValueError, match="label_type"):
        CIFAR100(label_type="medium")


def test_cifar_bad_archive(cache, server, monkeypatch):
    server.files["/bad.tar.gz"] = tar_gz({"cifar-10-batches-bin/test_batch.bin": b"\x00" * 10})
    monkeypatch.setattr(CIFAR10, "url", server.url("/bad.tar.gz"))
    with pytest.raises(DatasetIntegrityError, match="3073-byte"):
        CIFAR10(train=False)
    with pytest.raises(DatasetIntegrityError, match="lacks"):
        CIFAR10(train=True)


def test_cache_npz_roundtrip_without_pickle(cache):
    assert datasets.load_cache_npz("http://h/x.tar.gz", train=True) == (None, None)
    data, label = np.arange(6).reshape(2, 3), np.array([1, 2])
    path = datasets.save_cache_npz(data, label, "http://h/x.tar.gz", train=True)
    assert path.endswith("x.tar.gz.train.npz")
    d, t = datasets.load_cache_npz("http://h/x.tar.gz", train=True)
    np.testing.assert_array_equal(d, data)
    np.testing.assert_array_equal(t, label)
    # An object array (which would need pickle) is refused.
    np.savez(path, data=np.array([{"a": 1}], dtype=object), label=label)
    with pytest.raises(DatasetIntegrityError):
        datasets.load_cache_npz("http://h/x.tar.gz", train=True)


# --- text and labels --------------------------------------------------------------------


def test_shakespear(cache, server, monkeypatch):
    server.files["/input.txt"] = "First Citizen:\nBefore we proceed".encode()
    monkeypatch.setattr(Shakespear, "url", server.url("/input.txt"))
    ds = Shakespeare()
    assert Shakespeare is Shakespear
    assert (cache / "shakespear.txt").exists()
    assert ds.char_to_id["F"] == 0 and ds.char_to_id["i"] == 1 and ds.id_to_char[2] == "r"
    text = "First Citizen:\nBefore we proceed"
    assert "".join(ds.id_to_char[int(i)] for i in ds.data) == text[:-1]
    assert "".join(ds.id_to_char[int(i)] for i in ds.label) == text[1:]


def test_imagenet_labels_parsed_as_literal(cache, server, monkeypatch):
    server.files["/labels.txt"] = b"{0: 'tench, Tinca tinca',\n 1: 'goldfish'}"
    monkeypatch.setattr(ImageNet, "labels_url", server.url("/labels.txt"))
    assert ImageNet.labels() == {0: "tench, Tinca tinca", 1: "goldfish"}
    assert len(ImageNet()) == 0


def test_imagenet_labels_never_evaluated(cache, server, monkeypatch, tmp_path):
    marker = tmp_path / "pwned"
    server.files["/labels.txt"] = f"__import__('pathlib').Path({str(marker)!r}).touch()".encode()
    monkeypatch.setattr(ImageNet, "labels_url", server.url("/labels.txt"))
    with pytest.raises(DatasetIntegrityError, match="literal"):
        ImageNet.labels()
    assert not marker.exists()


def test_show_draws_a_grid(monkeypatch):
    pytest.importorskip("sklearn")
    plt = pytest.importorskip("matplotlib.pyplot")
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    datasets.Digits().show(row=2, col=3)
    image = shown[0].axes[0].images[0].get_array()
    assert image.shape == (16, 24)
    plt.close("all")


# --- issue 11: IDX headers checked before decompressing, special cache files -------------

import tracemalloc  # noqa: E402
import zlib as _zlib  # noqa: E402


def _gz_stream(header, n_zero_bytes):
    """gzip of ``header`` + ``n_zero_bytes`` zeros, compressed in chunks (small in memory)."""
    c = _zlib.compressobj(9, _zlib.DEFLATED, 31)
    parts = [c.compress(header)]
    chunk = bytes(1 << 20)
    left = n_zero_bytes
    while left:
        parts.append(c.compress(chunk[:min(left, len(chunk))]))
        left -= min(left, len(chunk))
    parts.append(c.flush())
    return b"".join(parts)


def test_idx_declaring_more_items_than_the_dataset_is_refused_before_decompressing(
        cache, closed_port, monkeypatch):
    # 100,000 "images" (78 MB of zeros in a ~80 kB gzip) for a 10,000-image test set.
    monkeypatch.setattr(MNIST, "url", f"http://127.0.0.1:{closed_port}/")
    cache.mkdir()
    n = 100_000
    header = b"\x00\x00\x08\x03" + np.array([n, 28, 28], ">u4").tobytes()
    (cache / "t10k-images-idx3-ubyte.gz").write_bytes(_gz_stream(header, n * 784))
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(gz(idx_bytes(np.zeros(n, np.uint8))))
    tracemalloc.start()
    try:
        with pytest.raises(DatasetIntegrityError, match="declares 100000 items, more than the "
                                                        "10000"):
            MNIST(train=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_idx_item_shape_is_checked(cache):
    cache.mkdir()
    path = cache / "x.gz"
    path.write_bytes(gz(idx_bytes(np.zeros((2, 27, 28), np.uint8))))
    with pytest.raises(DatasetIntegrityError, match=r"items of shape \(27, 28\), expected"):
        datasets.load_idx(str(path), expected_ndim=3, max_count=10, item_shape=(28, 28))


@pytest.mark.parametrize("code, dims, payload", [
    # 2**22 * 2**21 * 2**21 = 2**64 bytes wraps to 0 in int64: the old size check passed
    # for an empty payload and reshape then raised a plain ValueError
    (0x08, [2**22, 2**21, 2**21], b""),
    (0x0D, [2**30, 2**30, 2**4], b""),  # 2**64 * 4 bytes of float32
    (0x0D, [2**32 - 1] * 3, b"\x00" * 64),
])
def test_idx_dimensions_that_overflow_int64_are_an_integrity_error(cache, code, dims, payload):
    cache.mkdir()
    path = cache / "over.gz"
    path.write_bytes(gz(bytes([0, 0, code, 3]) + np.array(dims, ">u4").tobytes() + payload))
    with pytest.raises(DatasetIntegrityError, match="IDX header says shape"):
        datasets.load_idx(str(path), expected_ndim=3)


def test_idx_with_trailing_data_is_refused(cache):
    cache.mkdir()
    path = cache / "long.gz"
    path.write_bytes(gz(idx_bytes(np.zeros(4, np.uint8)) + b"extra"))
    with pytest.raises(DatasetIntegrityError, match="holds more than that"):
        datasets.load_idx(str(path), expected_ndim=1)


def test_dezero_train_reports_a_corrupt_idx_in_one_line(tmp_path, capsys, monkeypatch):
    from dezero import cli, utils

    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    monkeypatch.setattr(utils, "cache_dir", str(cache_dir))
    monkeypatch.setattr(MNIST, "url", "http://127.0.0.1:9/")
    # declared size 2**64 bytes, which wraps to 0 in int64 (the old check passed)
    header = b"\x00\x00\x08\x03" + np.array([2**22, 2**21, 2**21], ">u4").tobytes()
    for prefix in ("train", "t10k"):
        (cache_dir / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gz(header))
        (cache_dir / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gz(idx_bytes(np.zeros(3, np.uint8))))
    code = cli.main(["train", "--dataset", "mnist", "--quiet", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and "IDX header" in err
    assert len(err.strip().splitlines()) == 1


def test_cifar_member_larger_than_the_dataset_is_refused(cache, server, monkeypatch):
    raw, _, _ = cifar_records(3, 1)
    monkeypatch.setattr(CIFAR10, "max_member_records", 2)
    server.files["/c.tar.gz"] = tar_gz({"cifar-10-batches-bin/test_batch.bin": raw})
    monkeypatch.setattr(CIFAR10, "url", server.url("/c.tar.gz"))
    with pytest.raises(DatasetIntegrityError, match="declares 9219 bytes, more than the 6146"):
        CIFAR10(train=False)


def test_cache_npz_headers_are_checked_before_data(cache):
    cache.mkdir()
    path = cache / "x.tar.gz.train.npz"
    # a hostile decoded-data cache: an extra 64 MiB member of zeros
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.npy", _npy(np.zeros((2, 3), np.uint8)))
        zf.writestr("label.npy", _npy(np.zeros(2, np.int64)))
        zf.writestr("junk.npy", _npy(np.zeros(16 * 2**20, np.float32)))
    tracemalloc.start()
    try:
        with pytest.raises(DatasetIntegrityError, match="junk"):
            datasets.load_cache_npz("http://h/x.tar.gz", train=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def _npy(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX)")
def test_cache_npz_fifo_is_refused_without_blocking(cache):
    cache.mkdir()
    os.mkfifo(cache / "x.tar.gz.test.npz")
    with pytest.raises(DatasetIntegrityError, match="FIFO"):
        datasets.load_cache_npz("http://h/x.tar.gz", train=False)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX)")
def test_idx_fifo_is_refused_without_blocking(cache):
    cache.mkdir()
    os.mkfifo(cache / "p.gz")
    with pytest.raises(DatasetIntegrityError, match="not a regular file"):
        datasets.load_idx(str(cache / "p.gz"))


def test_cache_npz_save_removes_killed_saves_temporaries(cache):
    cache.mkdir()
    stale = cache / ".x.tar.gz.train.npz.0123456789ab.tmp"
    stale.write_bytes(b"half a save")
    datasets.save_cache_npz(np.zeros((2, 3), np.uint8), np.zeros(2), "http://h/x.tar.gz", True)
    assert not stale.exists()
    assert sorted(os.listdir(cache)) == ["x.tar.gz.train.npz"]
