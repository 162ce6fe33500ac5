"""Run folders, checkpoints and the files written next to them.

A run folder holds:

* ``checkpoint.npz``: the last complete epoch (weights, optimizer state, epoch, NumPy RNG
  state, metrics so far, resolved arguments and architecture), rewritten atomically after
  every epoch; ``best.npz`` the same for the best validation accuracy (``--save-best``);
* ``weights.npz``: the last weights alone, for ``Model.load_weights``;
* ``metrics.csv`` (a row per epoch), ``metrics.json``, ``training.png``; on request
  ``graph.png``, ``model.onnx``, ``tensorboard/``; ``confusion.png`` from ``evaluate``.

Checkpoints use :mod:`dezero.io`'s safe ``.npz`` format: numeric arrays only, the
metadata as UTF-8 JSON bytes in a uint8 array. Loading never unpickles anything.
"""
from __future__ import annotations

import csv
import datetime
import glob
import io
import json
import os
import shutil

import numpy as np

import dezero.io as dio
from dezero.cli._output import CLIError
from dezero.errors import WeightFileError

CHECKPOINT = "checkpoint.npz"
BEST = "best.npz"
WEIGHTS = "weights.npz"
FORMAT = "dezero-train-checkpoint"
FORMAT_VERSION = 1
# What `--overwrite` removes from an existing folder: the files a run writes, nothing else.
RUN_FILES = (CHECKPOINT, BEST, WEIGHTS, "metrics.csv", "metrics.json", "training.png",
             "graph.png", "model.onnx", "confusion.png")
RUN_FOLDERS = ("tensorboard",)


# -----------------------------------------------------------------------------
# Folders
# -----------------------------------------------------------------------------


def new_run_folder(root: str) -> str:
    """A new folder ``root/<YYYY-MM-DD_HH-MM-SS>`` (``-2``, ``-3``... when taken)."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    os.makedirs(root, exist_ok=True)
    for n in range(1, 1000):
        path = os.path.join(root, stamp if n == 1 else f"{stamp}-{n}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise CLIError(f"cannot create a new run folder in {root}")


def check_writable(folder: str) -> None:
    """Create ``folder`` if needed and prove a file can be written there, before training."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot create the output folder {folder}: {e.strerror or e}") from None
    probe = os.path.join(folder, f".dezero-write-test-{os.getpid()}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise CLIError(f"cannot write into the output folder {folder}: "
                       f"{e.strerror or e}; choose another --out") from None


def prepare_out(out: str, overwrite: bool) -> bool:
    """Check an explicit ``--out``; returns True when this call created the folder."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise CLIError(f"--out {out} is a file, not a folder")
    existed = os.path.isdir(out)
    if existed and os.listdir(out) and not overwrite:
        raise CLIError(f"--out {out} is not empty; add --overwrite to replace the run in it, "
                       "or leave --out out to get a new run folder")
    check_writable(out)
    if existed and overwrite:
        for name in RUN_FILES:
            path = os.path.join(out, name)
            if os.path.isfile(path):
                os.unlink(path)
        for name in RUN_FOLDERS:
            path = os.path.join(out, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
    return not existed


def find_checkpoint(spec: str, which: str = "last") -> str:
    """The checkpoint file named by a run folder or a file (``which``: last, best, auto)."""
    if os.path.isdir(spec):
        best, last = os.path.join(spec, BEST), os.path.join(spec, CHECKPOINT)
        if which == "best" or (which == "auto" and os.path.isfile(best)):
            path = best
        else:
            path = last
        if not os.path.isfile(path):
            raise CLIError(f"{spec}: no {os.path.basename(path)} in this folder; is it a run "
                           "folder of dezero train?")
        return path
    if not os.path.isfile(spec):
        raise CLIError(f"{spec}: no such run folder or checkpoint file")
    return spec


def latest_run(root: str) -> str:
    """The most recently written checkpoint under ``root/*/``."""
    found = glob.glob(os.path.join(glob.escape(root), "*", CHECKPOINT))
    if not found:
        raise CLIError(f"--resume auto: no run with a checkpoint under {root}/")
    return max(found, key=os.path.getmtime)


# -----------------------------------------------------------------------------
# Checkpoints
# -----------------------------------------------------------------------------


def _rng_arrays(state) -> dict:
    name, keys, pos, has_gauss, gauss = state
    assert name == "MT19937"
    return {"rng/keys": np.asarray(keys, dtype=np.uint32), "rng/pos": np.array(pos, np.int64),
            "rng/has_gauss": np.array(has_gauss, np.int64),
            "rng/gauss": np.array(gauss, np.float64)}


def _rng_state(arrays: dict):
    return ("MT19937", arrays["rng/keys"], int(arrays["rng/pos"]),
            int(arrays["rng/has_gauss"]), float(arrays["rng/gauss"]))


def save_checkpoint(path: str, model_params: dict, optimizer, meta: dict) -> None:
    """Write one checkpoint atomically: weights, optimizer state, RNG state and ``meta``."""
    arrays = {f"model/{k}": p.data for k, p in model_params.items()}
    arrays.update({f"optimizer/{k}": v for k, v in optimizer.state_dict().items()})
    arrays.update(_rng_arrays(np.random.get_state()))
    blob = json.dumps(dict(meta, format=FORMAT, version=FORMAT_VERSION)).encode("utf-8")
    arrays["meta"] = np.frombuffer(blob, dtype=np.uint8)
    dio.save_arrays(path, arrays, op="dezero train: checkpoint")


class Checkpoint:
    """A loaded checkpoint: ``meta`` (dict), ``model`` and ``optimizer`` arrays, RNG state."""

    def __init__(self, path: str):
        self.path = path
        try:
            arrays = dio.load_arrays(path, op="checkpoint")
        except (WeightFileError, OSError) as e:
            raise CLIError(f"cannot read the checkpoint {path}: {e}") from None
        if "meta" not in arrays:
            raise CLIError(f"{path} is not a checkpoint of dezero train (no metadata); "
                           "plain weight files load with Model.load_weights")
        try:
            self.meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise CLIError(f"{path}: unreadable checkpoint metadata ({e})") from None
        if self.meta.get("format") != FORMAT or self.meta.get("version") != FORMAT_VERSION:
            raise CLIError(f"{path}: not a version-{FORMAT_VERSION} checkpoint of dezero train")
        self.model = {k[6:]: v for k, v in arrays.items() if k.startswith("model/")}
        self.optimizer = {k[10:]: v for k, v in arrays.items() if k.startswith("optimizer/")}
        self.rng = _rng_state(arrays) if "rng/keys" in arrays else None

    def load_model(self, params: dict) -> None:
        try:
            dio.assign_params(params, self.model, f"checkpoint {self.path!r}")
        except WeightFileError as e:
            raise CLIError(str(e)) from None

    def load_optimizer(self, optimizer) -> None:
        try:
            optimizer.load_state_dict(self.optimizer)
        except WeightFileError as e:
            raise CLIError(str(e)) from None


# -----------------------------------------------------------------------------
# Metrics and plots
# -----------------------------------------------------------------------------


def write_text(path: str, text: str) -> None:
    dio.atomic_write(path, lambda f: f.write(text.encode("utf-8")), op="dezero train")


def write_metrics_csv(path: str, history: list) -> None:
    if not history:
        return
    buf = io.StringIO()
    fields = list(history[0])
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    write_text(path, buf.getvalue())


def write_metrics_json(path: str, meta: dict) -> None:
    write_text(path, json.dumps(meta, indent=2) + "\n")


def training_figure(history: list):
    """Loss and accuracy curves per epoch (train, validation, test) as a matplotlib Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    for ax, key, title in ((fig.add_subplot(1, 2, 1), "loss", "loss"),
                           (fig.add_subplot(1, 2, 2), "acc", "accuracy")):
        for split, style in (("train", "o-"), ("val", "^-"), ("test", "s-")):
            if f"{split}_{key}" in history[0]:
                ax.plot(epochs, [h[f"{split}_{key}"] for h in history], style, label=split)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def save_figure(fig, path: str) -> None:
    """Write a Figure as PNG atomically."""
    dio.atomic_write(path, lambda f: fig.savefig(f, format="png"), op="dezero")


def confusion_figure(matrix: np.ndarray, classes: list):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = len(classes)
    size = min(12, 3 + 0.45 * k)
    fig = Figure(figsize=(size, size), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(classes, rotation=90 if max(len(c) for c in classes) > 3 else 0)
    ax.set_yticklabels(classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = matrix.max() if matrix.size else 0
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, j] > top / 2 else "black")
    fig.tight_layout()
    return fig
