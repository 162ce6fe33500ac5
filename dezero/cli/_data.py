"""Data for the command line: built-in datasets and your own, as arrays in memory.

Everything the commands train on fits in memory, so a dataset is held as arrays:
``x`` with its raw values (uint8 grey levels, or numbers from a file) and ``t`` int64
class indices. Inputs are divided by ``scale`` (16 for the digits, 255 for images, the
largest absolute value of a numeric file) when batches are formed, so ``predict`` can
apply the same step to new inputs from the recorded scale.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dezero.cli._args import BUILTIN_DATASETS
from dezero.cli._output import CLIError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm", ".pbm")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P")
_SPLIT_SEED = 0  # the fixed seed of a PATH dataset's test split


@dataclass
class Data:
    """A labelled dataset in memory: ``x`` raw inputs, ``t`` int64 class indices."""

    name: str
    x: np.ndarray
    t: np.ndarray
    classes: list
    scale: float
    kind: str  # "images" (N, C, H, W) or "rows" (N, D)
    test_x: Any = None  # ndarray, filled by load()
    test_t: Any = None
    extra: dict = field(default_factory=dict)

    @property
    def sample_shape(self):
        return tuple(int(s) for s in self.x.shape[1:])


def dataset_name(spec: str) -> str:
    """``digits`` -> ``digits``; ``data/cats_dogs/`` -> ``cats_dogs``; ``x.npz`` -> ``x``."""
    if spec in BUILTIN_DATASETS:
        return spec
    base = os.path.basename(os.path.normpath(spec))
    return os.path.splitext(base)[0] or "data"


def normalise(x: np.ndarray, scale: float) -> np.ndarray:
    """Raw inputs -> float32 inputs of the model."""
    return (np.asarray(x, dtype=np.float32) / np.float32(scale)).astype(np.float32, copy=False)


# -----------------------------------------------------------------------------
# Built-in datasets
# -----------------------------------------------------------------------------


def load_builtin(name: str) -> Data:
    from dezero import datasets

    train: Any
    test: Any
    if name == "digits":
        train, test = datasets.Digits(train=True), datasets.Digits(train=False)
        classes, scale = [str(i) for i in range(10)], 16.0
    else:
        cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
        train, test = cls(train=True), cls(train=False)
        classes, scale = [cls.labels()[i] for i in range(10)], 255.0
    return Data(name, train.data, train.label.astype(np.int64), classes, scale, "images",
                test.data, test.label.astype(np.int64))


# -----------------------------------------------------------------------------
# Your own data: image folder, .csv, .npz
# -----------------------------------------------------------------------------


def _class_indices(labels, source):
    """Class names (sorted, numerically when all are integers) and int64 indices."""
    labels = [str(v) for v in labels]
    names = sorted(set(labels))
    if all(n.lstrip("-").isdigit() for n in names):
        names.sort(key=int)
    if len(names) < 2:
        found = f"1 ({names[0]!r})" if names else "none"
        raise CLIError(f"{source}: a classifier needs at least 2 classes; found {found}")
    index = {n: i for i, n in enumerate(names)}
    return names, np.array([index[v] for v in labels], dtype=np.int64)


def read_image(path: str, mode: str, size=None, invert: bool = False) -> np.ndarray:
    """An image file as uint8 (C, H, W); ``mode`` "L" or "RGB"; ``size`` (H, W) resizes."""
    try:
        from PIL import Image
    except ImportError:
        from dezero._install_hint import install_hint

        raise CLIError(f"reading images needs Pillow; {install_hint('viz', 'pillow')}") from None
    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            if size is not None and (img.height, img.width) != tuple(size):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise CLIError(f"cannot read the image {path}: {e}") from None
    if invert:
        array = 255 - array
    return array[np.newaxis] if array.ndim == 2 else array.transpose(2, 0, 1)


def _image_mode(path):
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.mode, (img.height, img.width)
    except (OSError, ValueError) as e:
        raise CLIError(f"cannot read the image {path}: {e}") from None


def load_image_folder(root: str) -> Data:
    """One sub-folder per class, holding images of one size."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        from dezero._install_hint import install_hint

        raise CLIError(f"an image-folder dataset needs Pillow; "
                       f"{install_hint('viz', 'pillow')}") from None
    folders = sorted(e.name for e in os.scandir(root)
                     if e.is_dir() and not e.name.startswith("."))
    if not folders:
        raise CLIError(f"{root}: no class folders; an image dataset is a folder with one "
                       "sub-folder of images per class (e.g. cats/, dogs/)")
    files, labels = [], []
    for name in folders:
        found = sorted(e.path for e in os.scandir(os.path.join(root, name))
                       if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES))
        if not found:
            raise CLIError(f"{os.path.join(root, name)}: the class folder {name!r} holds no "
                           f"images ({', '.join(IMAGE_SUFFIXES)})")
        files += found
        labels += [name] * len(found)
    classes, t = _class_indices(labels, root)
    modes: list = []
    sizes: dict = {}
    for path in files:
        mode, size = _image_mode(path)
        modes.append(mode)
        sizes.setdefault(size, path)
    if len(sizes) > 1:
        (s0, p0), (s1, p1) = list(sizes.items())[:2]
        raise CLIError(f"{root}: images of mixed sizes: {p0} is {s0[1]}x{s0[0]}, {p1} is "
                       f"{s1[1]}x{s1[0]} (width x height); resize them to one size first")
    mode = "L" if all(m in _GREY_MODES for m in modes) else "RGB"
    x = np.stack([read_image(p, mode) for p in files])
    return Data(dataset_name(root), x, t, classes, 255.0, "images",
                extra={"image_mode": mode})


def load_csv(path: str, label_column: str) -> Data:
    """A header row, a label column and numeric feature columns."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise CLIError(f"{path}: expected a header row and data rows")
    header = [h.strip() for h in rows[0]]
    if label_column not in header:
        raise CLIError(f"{path}: no label column {label_column!r} (columns: "
                       f"{', '.join(header[:12])}{', ...' if len(header) > 12 else ''}); "
                       "name it with --label-column")
    col = header.index(label_column)
    features, labels = [], []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CLIError(f"{path}, line {n}: {len(row)} values, the header has {len(header)}")
        label = row[col].strip()
        if not label:
            raise CLIError(f"{path}, line {n}: missing label in column {label_column!r}")
        values = row[:col] + row[col + 1:]
        try:
            features.append([float(v) for v in values])
        except ValueError:
            bad = next(v for v in values if not _is_number(v))
            raise CLIError(f"{path}, line {n}: {bad!r} is not a number") from None
        labels.append(label)
    x = np.array(features, dtype=np.float32)
    classes, t = _class_indices(labels, path)
    return Data(dataset_name(path), x, t, classes, _data_scale(x), "rows",
                extra={"columns": [h for i, h in enumerate(header) if i != col]})


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _data_scale(x):
    if x.dtype == np.uint8:
        return 255.0
    top = float(np.abs(x).max()) if x.size else 0.0
    return top if np.isfinite(top) and top > 0 else 1.0


def load_npz(path: str) -> Data:
    """Arrays ``x`` (N, D), (N, H, W) or (N, C, H, W) and ``t`` (N,) labels."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x", "t") if k not in f.files]
            if missing:
                raise CLIError(f"{path}: missing array {' and '.join(map(repr, missing))}; "
                               f"expected x (inputs) and t (labels), found {f.files}")
            x, t = f["x"], f["t"]
    except (OSError, ValueError) as e:
        raise CLIError(f"{path}: not a readable .npz file ({e})") from None
    if x.dtype.kind not in "biuf":
        raise CLIError(f"{path}: x must be numeric, found dtype {x.dtype}")
    if t.ndim != 1 or len(t) != len(x):
        raise CLIError(f"{path}: t must hold one label per row of x; x {x.shape}, t {t.shape}")
    if x.ndim not in (2, 3, 4):
        raise CLIError(f"{path}: x must be (N, D), (N, H, W) or (N, C, H, W); found {x.shape}")
    if x.ndim == 3:
        x = x[:, np.newaxis]
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise CLIError(f"{path}: x holds NaN or infinite values")
    classes, t = _class_indices(t.tolist(), path)
    kind = "rows" if x.ndim == 2 else "images"
    return Data(dataset_name(path), x, t, classes, _data_scale(x), kind)


def load_path(path: str, label_column: str) -> Data:
    if os.path.isdir(path):
        return load_image_folder(path)
    if not os.path.exists(path):
        raise CLIError(f"--dataset {path}: no such file or folder (built-in datasets: "
                       f"{', '.join(BUILTIN_DATASETS)})")
    lower = path.lower()
    if lower.endswith(".csv"):
        return load_csv(path, label_column)
    if lower.endswith(".npz"):
        return load_npz(path)
    raise CLIError(f"--dataset {path}: expected a folder of images, a .csv or an .npz file")


def split(n: int, fraction: float, seed, what: str):
    """Indices ``(kept, held_out)`` of a random split; ``held_out`` has round(n*fraction)."""
    order = np.random.RandomState(seed).permutation(n)
    k = int(round(n * fraction))
    if fraction > 0 and (k < 1 or k >= n):
        raise CLIError(f"{what} of {fraction:g} leaves no examples on one side of {n} "
                       "examples; choose another fraction")
    return np.sort(order[k:]), np.sort(order[:k])


def load(args) -> Data:
    """The dataset named by the resolved ``args``, with its test set set aside."""
    if args.dataset in BUILTIN_DATASETS:
        data = load_builtin(args.dataset)
    else:
        data = load_path(args.dataset, args.label_column)
        keep, test = split(len(data.x), args.test_split, _SPLIT_SEED, "--test-split")
        if not len(test):
            raise CLIError("--test-split 0 leaves no test set for a PATH dataset")
        data.test_x, data.test_t = data.x[test], data.t[test]
        data.x, data.t = data.x[keep], data.t[keep]
    return data
