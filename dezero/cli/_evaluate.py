"""``dezero evaluate RUN`` and ``dezero predict RUN FILE...``."""
from __future__ import annotations

import argparse
import csv
import os

import numpy as np

import dezero
from dezero.cli import _data, _runs
from dezero.cli._args import BUILTIN_DATASETS
from dezero.cli._models import as_model_input, build_model, describe, named_params
from dezero.cli._output import CLIError, Console


def load_run(spec: str, which: str):
    """``(checkpoint, model)`` of a run folder or checkpoint file, weights loaded."""
    ckpt = _runs.Checkpoint(_runs.find_checkpoint(spec, which))
    model = build_model(ckpt.meta["arch"])
    ckpt.load_model(named_params(model))
    return ckpt, model


def _threads(args, console):
    from dezero._threads import DEFAULT_THREADS
    from dezero.cli._train import set_threads

    explicit = args.threads is not None
    set_threads(args.threads if explicit else DEFAULT_THREADS, console, explicit)


def confusion_matrix(t: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """``m[i, j]``: how many examples of class ``i`` were predicted as ``j``."""
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (t, pred), 1)
    return m


def format_matrix(m: np.ndarray, classes: list) -> str:
    names = [c if len(c) <= 10 else c[:9] + "." for c in classes]
    width = max(max(len(n) for n in names), len(str(m.max() if m.size else 0)), 4)
    lines = [" " * (width + 2) + " ".join(f"{n:>{width}}" for n in names) + "   <- predicted"]
    for name, row in zip(names, m):
        lines.append(f"{name:>{width}}  " + " ".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)


def evaluate_command(args) -> int:
    from dezero.cli._train import evaluate

    console = Console()
    _threads(args, console)
    ckpt, model = load_run(args.run, args.checkpoint)
    arch, saved = ckpt.meta["arch"], ckpt.meta["args"]
    if args.dataset is None:
        ns = argparse.Namespace(**saved)
        data = _data.load(ns)
        x, t, what = data.test_x, data.test_t, f"{data.name} test set"
    else:
        if args.dataset in BUILTIN_DATASETS:
            data = _data.load_builtin(args.dataset)
            x, t = data.test_x, data.test_t
        else:
            data = _data.load_path(args.dataset, saved.get("label_column", "label"))
            x, t = data.x, data.t
        if list(data.classes) != list(arch["classes"]):
            raise CLIError(f"--dataset {args.dataset}: its classes {data.classes[:10]} differ "
                           f"from the run's {arch['classes'][:10]}")
        what = f"{data.name} ({'test set' if args.dataset in BUILTIN_DATASETS else 'all'})"
    if tuple(x.shape[1:]) != tuple(arch["in_shape"]):
        raise CLIError(f"the inputs are {tuple(x.shape[1:])}, the model takes "
                       f"{tuple(arch['in_shape'])}")
    loss, acc, pred = evaluate(model, x, t, arch, args.batch_size)
    folder = os.path.dirname(os.path.abspath(ckpt.path))
    console.print(f"run       {folder} ({os.path.basename(ckpt.path)}, epoch "
                  f"{ckpt.meta['epoch']})")
    console.print(f"model     {describe(arch)}")
    console.print(f"data      {what}: {len(x)} examples")
    console.print(f"loss      {loss:.4f}")
    console.print(f"accuracy  {acc:.4f} ({int((pred == t).sum())}/{len(t)})")
    matrix = confusion_matrix(t, pred, len(arch["classes"]))
    console.print("confusion matrix (rows: true class, columns: predicted class)")
    console.print(format_matrix(matrix, arch["classes"]))
    try:
        fig = _runs.confusion_figure(matrix, arch["classes"])
    except ImportError:
        console.note("confusion.png skipped: matplotlib is not installed")
    else:
        path = os.path.join(folder, "confusion.png")
        try:
            _runs.save_figure(fig, path)
            console.print(f"picture   {path}")
        except OSError as e:
            console.note(f"confusion.png not saved: {e}")
    return 0


# -----------------------------------------------------------------------------
# predict
# -----------------------------------------------------------------------------


def _read_rows(path: str, arch: dict):
    """Inputs of a .npy or .csv file as raw arrays, with a name per row."""
    n_features = int(np.prod(arch["in_shape"]))
    if path.lower().endswith(".npy"):
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CLIError(f"cannot read {path}: {e}") from None
        if a.dtype.kind not in "biuf":
            raise CLIError(f"{path}: expected numbers, found dtype {a.dtype}")
        if a.size == n_features:
            a = a.reshape(1, n_features)
        a = a.reshape(len(a), -1) if a.ndim > 1 else a
        if a.ndim != 2 or a.shape[1] != n_features:
            raise CLIError(f"{path}: expected rows of {n_features} values "
                           f"(the model takes {tuple(arch['in_shape'])}); found {a.shape}")
        return a.astype(np.float32), [f"{path}[{i}]" for i in range(len(a))]
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    if rows and not all(_data._is_number(c) for c in rows[0]):
        header = [h.strip() for h in rows[0]]
        label = (arch.get("label_column") or "label")
        rows = rows[1:]
        if label in header:  # a file in the training format: drop its label column
            col = header.index(label)
            rows = [r[:col] + r[col + 1:] for r in rows]
    values = []
    for n, r in enumerate(rows, start=1):
        if len(r) != n_features:
            raise CLIError(f"{path}, row {n}: {len(r)} values, the model takes {n_features}")
        try:
            values.append([float(c) for c in r])
        except ValueError:
            raise CLIError(f"{path}, row {n}: not all values are numbers") from None
    if not values:
        raise CLIError(f"{path}: no rows")
    return np.array(values, dtype=np.float32), [f"{path}:{i}" for i in range(1, len(values) + 1)]


def predict_command(args) -> int:
    import dezero.functions as F

    console = Console()
    _threads(args, console)
    ckpt, model = load_run(args.run, args.checkpoint)
    arch = ckpt.meta["arch"]
    arch.setdefault("label_column", ckpt.meta["args"].get("label_column"))
    inputs, names = [], []
    for path in args.files:
        if not os.path.isfile(path):
            raise CLIError(f"{path}: no such file")
        if path.lower().endswith(_data.IMAGE_SUFFIXES):
            if arch["kind"] != "images":
                raise CLIError(f"{path}: this run's model takes rows of numbers, not images")
            size = tuple(arch["in_shape"][1:])
            img = _data.read_image(path, arch["image_mode"] or "L", size, args.invert)
            # Images are 0..255; the model was trained on its data divided by `scale`.
            inputs.append(img.astype(np.float32) / 255.0 * arch["scale"])
            names.append(path)
        elif path.lower().endswith((".npy", ".csv")):
            rows, row_names = _read_rows(path, arch)
            inputs.extend(rows)
            names.extend(row_names)
        else:
            raise CLIError(f"{path}: expected an image ({', '.join(_data.IMAGE_SUFFIXES)}), "
                           ".npy or .csv file")
    n_features = int(np.prod(arch["in_shape"]))
    x = np.stack([np.asarray(a, np.float32).reshape(n_features) for a in inputs])
    x = as_model_input(_data.normalise(x.reshape((len(x),) + tuple(arch["in_shape"])),
                                       arch["scale"]), arch)
    with dezero.test_mode(), dezero.no_grad():
        prob = F.softmax(model(x)).data
    k = min(args.top_k, prob.shape[1])
    for name, p in zip(names, prob):
        top = np.argsort(-p, kind="stable")[:k]
        console.print(f"{name}: " + "  ".join(f"{arch['classes'][i]} ({p[i]:.3f})"
                                              for i in top))
    return 0
