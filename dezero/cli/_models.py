"""The two model families of the command line, built from a small architecture record.

The record (``arch``) is saved in every checkpoint, so ``dezero evaluate`` and
``dezero predict`` rebuild the same model without being told its options again.
"""
from __future__ import annotations

import numpy as np

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero.cli._output import CLIError
from dezero.models import MLP, Model


class SmallCNN(Model):
    """conv3x3(16) - relu - pool2 - conv3x3(32) - relu - pool2 - fc(h) - relu ... - fc."""

    def __init__(self, n_classes=10, hidden=(64,)):
        super().__init__()
        self.conv1 = L.Conv2d(16, kernel_size=3, stride=1, pad=1)
        self.conv2 = L.Conv2d(32, kernel_size=3, stride=1, pad=1)
        self.fcs = [L.Linear(h) for h in hidden]
        for i, layer in enumerate(self.fcs):
            setattr(self, f"fc{i + 1}", layer)
        self.out = L.Linear(n_classes)

    def forward(self, x):
        x = F.pooling(F.relu(self.conv1(x)), 2, 2)
        x = F.pooling(F.relu(self.conv2(x)), 2, 2)
        x = F.reshape(x, (x.shape[0], -1))
        for layer in self.fcs:
            x = F.relu(layer(x))
        return self.out(x)


def make_arch(args, data) -> dict:
    """The architecture record of a run: enough to rebuild the model and read new inputs."""
    if args.model == "cnn":
        if data.kind != "images":
            raise CLIError(f"--model cnn needs images, (N, C, H, W); {data.name} holds rows of "
                           f"{data.sample_shape[0]} numbers: use --model mlp")
        h, w = data.sample_shape[1:]
        if min(h, w) < 4:
            raise CLIError(f"--model cnn needs images of at least 4x4 pixels; found {w}x{h}")
    return {"model": args.model, "hidden": list(args.hidden),
            "in_shape": list(data.sample_shape), "n_classes": len(data.classes),
            "classes": list(data.classes), "scale": float(data.scale), "kind": data.kind,
            "image_mode": data.extra.get("image_mode", "L" if data.kind == "images" else None),
            "columns": data.extra.get("columns")}


def build_model(arch: dict):
    """The model of ``arch``, its parameters initialised (global NumPy RNG) on the CPU."""
    model: Model
    if arch["model"] == "mlp":
        model = MLP(tuple(arch["hidden"]) + (arch["n_classes"],), activation=F.relu)
    else:
        model = SmallCNN(arch["n_classes"], tuple(arch["hidden"]))
    x = np.zeros((1,) + model_input_shape(arch), dtype=np.float32)
    with dezero.no_grad(), dezero.test_mode():
        model(x)  # creates the lazily sized weights
    return model


def model_input_shape(arch: dict) -> tuple:
    shape = tuple(arch["in_shape"])
    return (int(np.prod(shape)),) if arch["model"] == "mlp" else shape


def as_model_input(x: np.ndarray, arch: dict) -> np.ndarray:
    """A batch of inputs (already divided by the scale) in the model's input shape."""
    return x.reshape((len(x),) + model_input_shape(arch))


def describe(arch: dict) -> str:
    if arch["model"] == "mlp":
        sizes = [int(np.prod(arch["in_shape"]))] + arch["hidden"] + [arch["n_classes"]]
        return "MLP " + "-".join(str(s) for s in sizes) + " (relu)"
    fcs = "-".join(f"fc{h}" for h in arch["hidden"])
    return (f"CNN input {'x'.join(str(s) for s in arch['in_shape'])}: conv16-pool-conv32-pool-"
            f"{fcs}-fc{arch['n_classes']}")


def named_params(model) -> dict:
    """``{'l0/W': Parameter, ...}`` in definition order."""
    flat: dict = {}
    model._flatten_params(flat)
    return flat
