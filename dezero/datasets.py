"""Datasets: the book's toy sets, MNIST-style image sets, CIFAR, text, and offline digits.

Downloads go through :func:`dezero.utils.get_file` into ``$DEZERO_HOME`` (default
``~/.dezero``). Nothing downloaded is ever unpickled: MNIST files are parsed as IDX, CIFAR is
read from its binary-record archives, ImageNet labels are parsed as a literal, and decoded
arrays are cached as ``.npz`` loaded with ``allow_pickle=False``.
"""
from __future__ import annotations

import ast
import gzip
import math
import os
import stat
import tarfile
import zlib
from typing import Any, Callable

import numpy as np

from dezero import utils
from dezero.errors import DatasetIntegrityError
from dezero.transforms import Compose, Flatten, Normalize, ToFloat

Transform = Callable[[Any], Any]  # a transform: a callable from a sample to a sample

__all__ = [
    "Dataset", "get_spiral", "Spiral", "SinCurve", "MNIST", "FashionMNIST", "CIFAR10",
    "CIFAR100", "ImageNet", "Shakespear", "Shakespeare", "Digits", "load_cache_npz",
    "save_cache_npz",
]


def _identity(x):
    return x


class Dataset:
    """Base class: indexed ``(data, label)`` pairs with optional transforms.

    Subclasses fill ``self.data`` (and ``self.label``, or leave it None) in ``prepare()``,
    which the constructor calls.

    Parameters
    ----------
    train : bool
        Training split (True) or test split (False).
    transform, target_transform : callable, optional
        Applied to each sample and each label when indexed. None is the identity.
    """

    def __init__(self, train: bool = True, transform: Transform | None = None,
                 target_transform: Transform | None = None) -> None:
        self.train = train
        self.transform = transform if transform is not None else _identity
        self.target_transform = target_transform if target_transform is not None else _identity
        self.data: Any = None  # an array (or a list) once prepare() has run
        self.label: Any = None
        self.prepare()

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__}: index must be an integer, got "
                            f"{type(index).__name__}; use a DataLoader for batches")
        x = self.transform(self.data[index])
        if self.label is None:
            return x, None
        return x, self.target_transform(self.label[index])

    def __len__(self):
        return len(self.data)

    def prepare(self) -> None:
        """Fill ``self.data`` and ``self.label``; called by the constructor."""

    def __repr__(self):
        split = "train" if self.train else "test"
        n = len(self) if self.data is not None else 0
        return f"{type(self).__name__}({split}, {n} items)"


# =============================================================================
# Toy datasets (offline)
# =============================================================================


def get_spiral(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Three interleaved spirals of 100 points each, shuffled.

    Reseeds the global NumPy RNG with 1984 (train) or 2020 (test), as the book does, so the
    points (and whatever is drawn next from the global RNG) are reproducible.

    Returns
    -------
    x : ndarray, float32, shape (300, 2)
    t : ndarray, int, shape (300,)
    """
    np.random.seed(1984 if train else 2020)
    num_data, num_class = 100, 3
    rate = np.arange(num_data) / num_data
    # One normal draw per point, class by class, exactly the order of the book's loop.
    noise = np.random.randn(num_class, num_data) * 0.2
    theta = np.arange(num_class)[:, None] * 4.0 + 4.0 * rate + noise
    radius = np.broadcast_to(rate, theta.shape)
    x = np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=-1)
    x = x.reshape(-1, 2).astype(np.float32)
    t = np.repeat(np.arange(num_class), num_data)
    indices = np.random.permutation(num_data * num_class)
    return x[indices], t[indices]


class Spiral(Dataset):
    """The spiral dataset of step 48 (300 points, 3 classes); see :func:`get_spiral`."""

    def prepare(self) -> None:
        self.data, self.label = get_spiral(self.train)


class SinCurve(Dataset):
    """999 steps of a sine wave: ``data[i]`` is y(t_i), ``label[i]`` is y(t_{i+1}).

    Train is ``sin`` plus uniform noise in [-0.05, 0.05); test is a clean ``cos``. The noise
    is drawn from the (unseeded) global RNG in both modes. Arrays are float64, shape (999, 1).
    """

    def prepare(self) -> None:
        num_data = 1000
        x = np.linspace(0, 2 * np.pi, num_data)
        noise = np.random.uniform(-0.05, 0.05, size=x.shape)
        y = np.sin(x) + noise if self.train else np.cos(x)
        y = y.astype(np.float64)
        self.data = y[:-1, np.newaxis]
        self.label = y[1:, np.newaxis]


# =============================================================================
# Offline handwritten digits (shipped with dezero)
# =============================================================================

# The test set of "Optical Recognition of Handwritten Digits" (E. Alpaydin, C. Kaynak, 1998;
# UCI Machine Learning Repository, doi:10.24432/C50P49; licence CC BY 4.0), as scikit-learn
# ships it. dezero/_data/digits.npz was written by tools/make_digits.py; the digest is the
# SHA-256 of images.tobytes() + labels.tobytes(), checked at every load.
DIGITS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_data", "digits.npz")
DIGITS_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"


def load_digits_arrays(path: str = DIGITS_FILE):
    """``(images, labels)`` of the 1,797 digits: uint8 (1797, 8, 8) levels 0..16, int64 (1797,).

    Raises
    ------
    DatasetIntegrityError
        The file is missing, unreadable or its content digest differs from ``DIGITS_SHA256``.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            images, labels = f["images"], f["labels"]
    except (OSError, KeyError, ValueError, zlib.error) as e:
        raise DatasetIntegrityError(f"Digits: cannot read the packaged digits {path!r} ({e}); "
                                    "reinstall dezero") from e
    import hashlib

    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    if (digest != DIGITS_SHA256 or images.shape != (1797, 8, 8) or images.dtype != np.uint8
            or labels.shape != (1797,)):
        raise DatasetIntegrityError(f"Digits: {path!r} is damaged (SHA-256 {digest}, expected "
                                    f"{DIGITS_SHA256}); reinstall dezero")
    return images, labels.astype(np.int64)


class Digits(Dataset):
    """The 1,797 handwritten digits (8x8, grey levels 0..16), shipped with dezero.

    A real dataset that needs no download and no extra package: a fixed split gives 1,437
    training and 360 test images (the same split on every machine). ``data`` is uint8
    (N, 1, 8, 8), ``label`` int64 (N,). The default transform flattens to 64 float32 values
    in [0, 1]; for a CNN use ``transform=Compose([ToFloat(), Normalize(0., 16.)])`` to keep
    the (1, 8, 8) shape.

    Source: the test set of UCI's "Optical Recognition of Handwritten Digits" (Alpaydin and
    Kaynak, 1998), licence CC BY 4.0; the same arrays as scikit-learn's ``load_digits()``.

    Raises
    ------
    DatasetIntegrityError
        When the packaged file is missing or does not match its recorded SHA-256.
    """

    num_test = 360
    split_seed = 0

    def __init__(self, train: bool = True,
                 transform: Transform | None = Compose([Flatten(), ToFloat(), Normalize(0., 16.)]),
                 target_transform: Transform | None = None) -> None:
        super().__init__(train, transform, target_transform)

    def prepare(self) -> None:
        images, labels = load_digits_arrays()
        images = images[:, np.newaxis]
        # A private RandomState: the split is fixed and the global RNG is left alone.
        order = np.random.RandomState(self.split_seed).permutation(len(labels))
        idx = order[self.num_test:] if self.train else order[:self.num_test]
        self.data = images[idx]
        self.label = labels[idx]

    def show(self, row: int = 10, col: int = 10) -> None:
        """Draw ``row`` x ``col`` random images with matplotlib."""
        _show_grid(self.data, row, col, cmap="gray")

    @staticmethod
    def labels():
        return {i: str(i) for i in range(10)}


# =============================================================================
# IDX files (MNIST, Fashion-MNIST)
# =============================================================================

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
               0x0E: ">f8"}


_IDX_CHUNK = 1 << 20


def _open_idx(path):
    """A binary stream of the (gunzipped) IDX content; a FIFO or device is refused."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise DatasetIntegrityError(f"{path} cannot be read ({e})") from e
    if not stat.S_ISREG(st.st_mode):
        raise DatasetIntegrityError(f"{path} is not a regular file; delete it so that it is "
                                    f"downloaded again")
    # gzip.open closes the file it opened itself
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def _read_exactly(stream, n, path):
    """Up to ``n`` bytes from ``stream``, read in chunks (memory grows with what arrives)."""
    parts, got = [], 0
    while got < n:
        try:
            block = stream.read(min(_IDX_CHUNK, n - got))
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetIntegrityError(f"{path} is not a valid gzip file ({e}); delete it so "
                                        f"that it is downloaded again") from e
        if not block:
            break
        parts.append(block)
        got += len(block)
    return b"".join(parts)


def load_idx(path, expected_ndim=None, *, max_count=None, item_shape=None):
    """Parse a (gzip-compressed) IDX file into an ndarray, checking magic number and size.

    The header is read first; the declared shape is checked against ``max_count`` (the
    largest first dimension allowed) and ``item_shape`` (the other dimensions) before the
    data is decompressed, sizes are computed with Python integers (no overflow), and the
    data is read in chunks, so a small hostile file cannot make this allocate what it
    declares.

    Parameters
    ----------
    path : str
        ``.gz`` (gzip) or plain IDX file.
    expected_ndim : int, optional
        Required number of dimensions.
    max_count : int, optional
        Largest number of items (first dimension) accepted, e.g. 60,000 for MNIST's train set.
    item_shape : tuple of int, optional
        Required shape of one item, e.g. ``(28, 28)``.

    Raises
    ------
    DatasetIntegrityError
        The file is not gzip, has a wrong magic number, dimension count, declared shape or
        length.
    """
    stream = _open_idx(path)
    with stream:
        head = _read_exactly(stream, 4, path)
        if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
            raise DatasetIntegrityError(f"{path}: not an IDX file (bad magic number "
                                        f"{head.hex() or 'empty'})")
        ndim = head[3]
        if expected_ndim is not None and ndim != expected_ndim:
            raise DatasetIntegrityError(f"{path}: expected an IDX file with {expected_ndim} "
                                        f"dimensions, found {ndim}")
        dims = _read_exactly(stream, 4 * ndim, path)
        if len(dims) < 4 * ndim:
            raise DatasetIntegrityError(f"{path}: truncated IDX header")
        shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
        dtype = np.dtype(_IDX_DTYPES[head[2]])
        if ndim and max_count is not None and shape[0] > max_count:
            raise DatasetIntegrityError(f"{path}: IDX header declares {shape[0]} items, more "
                                        f"than the {max_count} this data set has; delete it so "
                                        f"that it is downloaded again")
        if item_shape is not None and shape[1:] != tuple(item_shape):
            raise DatasetIntegrityError(f"{path}: IDX header declares items of shape "
                                        f"{shape[1:]}, expected {tuple(item_shape)}")
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no int64 overflow
        raw = _read_exactly(stream, nbytes + 1, path)
    if len(raw) != nbytes:
        header = 4 + 4 * ndim
        held = "more than that" if len(raw) > nbytes else f"{header + len(raw)} bytes"
        raise DatasetIntegrityError(f"{path}: IDX header says shape {shape} "
                                    f"({header + nbytes} bytes) but the file holds {held}; "
                                    f"delete it so that it is downloaded again")
    array = np.frombuffer(raw, dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # own, writable, native-endian copy


class MNIST(Dataset):
    """MNIST handwritten digits: 60,000 train / 10,000 test images, 28x28 grey levels.

    Downloads four IDX files (gzip) from ``url`` into the cache on first use. Offline, place
    the four ``.gz`` files in the cache folder by hand. ``data`` is uint8 (N, 1, 28, 28) and
    ``label`` uint8 (N,). The default transform gives 784 float32 values in [0, 1].
    """

    url = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    files = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
    cache_prefix = ""
    sizes = {"train": 60000, "test": 10000}

    def __init__(self, train: bool = True,
                 transform: Transform | None = Compose([Flatten(), ToFloat(), Normalize(0., 255.)]),
                 target_transform: Transform | None = None) -> None:
        super().__init__(train, transform, target_transform)

    def prepare(self) -> None:
        split = "train" if self.train else "test"
        image_file, label_file = self.files[split]
        image_path = utils.get_file(self.url + image_file, self.cache_prefix + image_file)
        label_path = utils.get_file(self.url + label_file, self.cache_prefix + label_file)
        count = self.sizes[split]
        images = load_idx(image_path, expected_ndim=3, max_count=count, item_shape=(28, 28))
        labels = load_idx(label_path, expected_ndim=1, max_count=count)
        if images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise DatasetIntegrityError(f"{image_path}: expected uint8 images of 28x28, found "
                                        f"{images.dtype} {images.shape}")
        if len(images) != len(labels):
            raise DatasetIntegrityError(f"{image_path} holds {len(images)} images but "
                                        f"{label_path} holds {len(labels)} labels")
        self.data = images[:, np.newaxis]
        self.label = labels

    def show(self, row: int = 10, col: int = 10) -> None:
        """Draw ``row`` x ``col`` random training images with matplotlib."""
        _show_grid(self.data, row, col, cmap="gray")

    @staticmethod
    def labels():
        return {i: str(i) for i in range(10)}


class FashionMNIST(MNIST):
    """Fashion-MNIST: Zalando's article images in MNIST's format (10 classes of clothing).

    Cached as ``fashion-mnist-<file>.gz`` so that it never collides with MNIST's files.
    """

    # Its own repository over https (the S3 website mirror answers plain http only).
    url = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
    cache_prefix = "fashion-mnist-"

    @staticmethod
    def labels():
        names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"]
        return dict(enumerate(names))


# =============================================================================
# CIFAR (binary-record archives, never unpickled)
# =============================================================================


def _tar_members(path, wanted, max_bytes=None):
    """Read the members of the tar.gz at ``path`` whose base names are in ``wanted``.

    A member whose declared size exceeds ``max_bytes`` is refused before it is read.
    """
    found = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if member.isfile() and name in wanted:
                    if max_bytes is not None and member.size > max_bytes:
                        raise DatasetIntegrityError(
                            f"{path}: member {name} declares {member.size} bytes, more than "
                            f"the {max_bytes} it can hold; delete it so that it is "
                            f"downloaded again")
                    found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DatasetIntegrityError(f"{path} is not a valid tar.gz archive ({e}); delete it "
                                    f"so that it is downloaded again") from e
    missing = [n for n in wanted if n not in found]
    if missing:
        raise DatasetIntegrityError(f"{path} lacks {', '.join(missing)}; delete it so that it "
                                    f"is downloaded again")
    return [found[n] for n in wanted]


def _parse_records(raw, n_label_bytes, source):
    record = n_label_bytes + 3 * 32 * 32
    if len(raw) == 0 or len(raw) % record:
        raise DatasetIntegrityError(f"{source}: {len(raw)} bytes is not a whole number of "
                                    f"{record}-byte CIFAR records")
    rows = np.frombuffer(raw, np.uint8).reshape(-1, record)
    labels = rows[:, :n_label_bytes].astype(np.int64)
    images = rows[:, n_label_bytes:].reshape(-1, 3, 32, 32).copy()
    return images, labels


class CIFAR10(Dataset):
    """CIFAR-10: 50,000 train / 10,000 test colour images 32x32 in 10 classes.

    Read from the binary-record archive (1 label byte + 3,072 pixel bytes per image); the
    decoded arrays are cached as ``<archive>.train.npz`` / ``.test.npz``. ``data`` is uint8
    (N, 3, 32, 32), ``label`` int64 (N,). The default transform, as in the book, is
    ``(x - 0.5) / 0.5`` on 0..255 values.
    """

    url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    train_members = [f"data_batch_{i}.bin" for i in range(1, 6)]
    test_members = ["test_batch.bin"]
    n_label_bytes = 1
    max_member_records = 10000  # images per binary member, the most a member may declare

    def __init__(self, train: bool = True,
                 transform: Transform | None = Compose([ToFloat(), Normalize(mean=0.5, std=0.5)]),
                 target_transform: Transform | None = None) -> None:
        super().__init__(train, transform, target_transform)

    def prepare(self) -> None:
        self.data, self.label = load_cache_npz(self.url, self.train)
        if self.data is not None:
            self.label = self._select_label(self.label)
            return
        path = utils.get_file(self.url)
        wanted = self.train_members if self.train else self.test_members
        max_bytes = self.max_member_records * (self.n_label_bytes + 3 * 32 * 32)
        parts = [_parse_records(raw, self.n_label_bytes, f"{path}:{name}")
                 for name, raw in zip(wanted, _tar_members(path, wanted, max_bytes))]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        save_cache_npz(images, labels, self.url, self.train)
        self.data, self.label = images, self._select_label(labels)

    def _select_label(self, labels):
        return labels[:, 0] if labels.ndim == 2 else labels

    def show(self, row: int = 10, col: int = 10) -> None:
        """Draw ``row`` x ``col`` random images with matplotlib."""
        _show_grid(self.data, row, col)

    @staticmethod
    def labels():
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]
        return dict(enumerate(names))


_CIFAR100_COARSE = [
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
]

_CIFAR100_FINE = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
]


class CIFAR100(CIFAR10):
    """CIFAR-100: like CIFAR-10 with 100 fine classes grouped into 20 coarse ones.

    Records hold a coarse byte, a fine byte and 3,072 pixel bytes. ``label_type`` picks
    ``'fine'`` (100 classes) or ``'coarse'`` (20).
    """

    url = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"
    train_members = ["train.bin"]
    test_members = ["test.bin"]
    n_label_bytes = 2
    max_member_records = 50000

    def __init__(self, train: bool = True,
                 transform=Compose([ToFloat(), Normalize(mean=0.5, std=0.5)]),
                 target_transform: Transform | None = None, label_type: str = "fine") -> None:
        if label_type not in ("fine", "coarse"):
            raise ValueError(f"CIFAR100: label_type must be 'fine' or 'coarse', got "
                             f"{label_type!r}")
        self.label_type = label_type
        super().__init__(train, transform, target_transform)

    def _select_label(self, labels):
        return labels[:, 1] if self.label_type == "fine" else labels[:, 0]

    @staticmethod
    def labels(label_type: str = "fine"):
        if label_type == "fine":
            return dict(enumerate(_CIFAR100_FINE))
        if label_type == "coarse":
            return dict(enumerate(_CIFAR100_COARSE))
        raise ValueError(f"CIFAR100.labels: label_type must be 'fine' or 'coarse', got "
                         f"{label_type!r}")


def _show_grid(data, row, col, cmap=None):
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        from dezero._install_hint import install_hint

        raise ImportError(f"show() needs matplotlib; {install_hint('viz', 'matplotlib')}") from e
    N, C, H, W = data.shape
    grid = np.zeros((H * row, W * col, C), dtype=data.dtype)
    picks = np.random.randint(0, N, size=row * col)
    for k, i in enumerate(picks):
        r, c = divmod(k, col)
        grid[r * H:(r + 1) * H, c * W:(c + 1) * W] = data[i].transpose(1, 2, 0)
    plt.imshow(grid[..., 0] if C == 1 else grid, cmap=cmap, interpolation="nearest")
    plt.axis("off")
    plt.show()


# =============================================================================
# ImageNet labels, text
# =============================================================================


class ImageNet(Dataset):
    """Holds no images; :meth:`labels` gives the 1,000 ImageNet class names."""

    labels_url = ("https://gist.githubusercontent.com/yrevar/942d3a0ac09ec9e5eb3a/raw/"
                  "238f720ff059c1f82f368259d1ca4ffa5dd8f9f5/imagenet1000_clsidx_to_labels.txt")

    def prepare(self) -> None:
        self.data = np.zeros((0, 3, 224, 224), dtype=np.uint8)
        self.label = np.zeros((0,), dtype=np.int64)

    @staticmethod
    def labels():
        """``{class index: name}`` for the 1,000 classes (downloaded once, parsed as a literal).

        Raises
        ------
        DatasetIntegrityError
            The file is not a literal ``{int: str}`` dict.
        """
        path = utils.get_file(ImageNet.labels_url, "imagenet1000_clsidx_to_labels.txt")
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        try:
            labels = ast.literal_eval(text)  # a literal, never evaluated as code
        except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
            raise DatasetIntegrityError(f"{path} is not a literal dict of labels ({e}); delete "
                                        f"it so that it is downloaded again") from e
        if not isinstance(labels, dict) or not all(
                isinstance(k, int) and isinstance(v, str) for k, v in labels.items()):
            raise DatasetIntegrityError(f"{path} does not hold a dict of int -> str labels")
        return labels


class Shakespear(Dataset):
    """Tiny Shakespeare (about 1.1 M characters) for character-level language models.

    ``char_to_id`` / ``id_to_char`` number the characters in order of first appearance;
    ``data[i]`` is a character id and ``label[i]`` the id of the next character. The book's
    spelling is kept; :class:`Shakespeare` is the same class.
    """

    url = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
           "input.txt")

    def prepare(self) -> None:
        path = utils.get_file(self.url, "shakespear.txt")
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        chars = list(dict.fromkeys(text))  # distinct characters, first appearance first
        self.char_to_id = {c: i for i, c in enumerate(chars)}
        self.id_to_char = dict(enumerate(chars))
        codes = np.array([self.char_to_id[c] for c in text], dtype=np.int64)
        self.data = codes[:-1]
        self.label = codes[1:]


Shakespeare = Shakespear


# =============================================================================
# Decoded-dataset cache (.npz, no pickle)
# =============================================================================


# The decoded CIFAR-100 training set is about 154 MB; a cache file may declare at most this.
CACHE_NPZ_MAX_BYTES = 1 << 30


def _cache_npz_path(filename, train):
    name = str(filename).rsplit("/", 1)[-1]
    return os.path.join(utils.cache_dir, name + (".train.npz" if train else ".test.npz"))


def load_cache_npz(filename: str, train: bool = False) -> tuple[Any, Any]:
    """``(data, label)`` from ``<cache>/<filename tail>.train.npz`` (or ``.test.npz``),
    or ``(None, None)`` when absent. Loading never unpickles.

    Raises
    ------
    DatasetIntegrityError
        The cache file exists but is corrupt.
    """
    from dezero.io import _npz  # the hardened .npz reader (headers checked before data)

    path = _cache_npz_path(filename, train)
    if not os.path.lexists(path):
        return None, None

    def inspect(specs):
        if set(specs) != {"data", "label"}:
            raise DatasetIntegrityError(f"cache file {path} holds {sorted(specs)}, expected "
                                        f"['data', 'label']; delete it so that it is rebuilt")
        total = sum(spec.nbytes for spec in specs.values())
        if total > CACHE_NPZ_MAX_BYTES:
            raise DatasetIntegrityError(f"cache file {path} declares {total} bytes, more than "
                                        f"{CACHE_NPZ_MAX_BYTES}; delete it so that it is "
                                        f"rebuilt")

    try:
        arrays = _npz.read_npz(path, f"cache file {path}", inspect=inspect, op="load_cache_npz")
    except (OSError, ValueError) as e:  # WeightFileError is a ValueError
        if isinstance(e, DatasetIntegrityError):
            raise
        raise DatasetIntegrityError(f"cache file {path} is corrupt or unreadable ({e}); "
                                    f"delete it so that it is rebuilt") from e
    return arrays["data"], arrays["label"]


def save_cache_npz(data: np.ndarray, label: np.ndarray, filename: str,
                   train: bool = False) -> str:
    """Write ``data`` and ``label`` to the decoded-dataset cache atomically; return the path."""
    from dezero.io import atomic_write  # also removes the temporaries of killed saves

    path = _cache_npz_path(filename, train)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, lambda fh: np.savez_compressed(fh, data=data, label=label),
                 op="save_cache_npz")
    return path
