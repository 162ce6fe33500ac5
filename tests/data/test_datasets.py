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
    with pytest.raises(ImportError, match=r"pip install 'dezero-framework\[data\]'"):
        datasets.Digits()


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
