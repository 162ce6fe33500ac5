"""Small dataset files generated in the tests: IDX, gzip, tar.gz, CIFAR records."""
import gzip
import io
import tarfile

import numpy as np


def idx_bytes(array):
    """IDX encoding of a uint8 array (magic 0x0000 08 <ndim>, big-endian sizes)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.tobytes()


def fake_mnist(n, seed=0):
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
    labels = rng.randint(0, 10, size=n).astype(np.uint8)
    return images, labels


def gz(data):
    return gzip.compress(data, mtime=0)


def tar_gz(members):
    """A tar.gz holding ``{name: bytes}``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cifar_records(n, n_label_bytes, seed=0):
    """``n`` CIFAR binary records and the (labels, images) they encode."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 20, size=(n, n_label_bytes)).astype(np.uint8)
    images = rng.randint(0, 256, size=(n, 3, 32, 32)).astype(np.uint8)
    raw = np.concatenate([labels, images.reshape(n, -1)], axis=1).tobytes()
    return raw, labels, images
