"""The ``dezero`` command line: ``dezero train`` trains a classifier end to end.

``dezero train`` (also ``python -m dezero train``) runs offline by default: an MLP on the
1,797 handwritten digits that scikit-learn ships. It shows a progress bar, prints train and
test loss and accuracy per epoch, saves the weights and a loss/accuracy plot, and on request
renders the model's computational graph with Graphviz. ``--dataset mnist`` downloads MNIST.

Run ``dezero train --help`` for the options.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

import dezero
from dezero import cuda
from dezero.errors import DatasetDownloadError, DatasetIntegrityError

DATASETS = ("digits", "mnist", "fashion-mnist")
MODELS = ("mlp", "cnn")
OPTIMIZERS = ("sgd", "momentum", "adam")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adam": 0.001}
DEFAULT_EPOCHS = {"mlp": 20, "cnn": 12}


class CLIError(Exception):
    """A problem to report to the user in one line, without a traceback."""


# =============================================================================
# Data and models
# =============================================================================


def load_data(name: str, model: str):
    """Train and test datasets; images stay (C, H, W) for the CNN, flat for the MLP."""
    from dezero import datasets
    from dezero.transforms import Compose, Flatten, Normalize, ToFloat

    scale = 16.0 if name == "digits" else 255.0
    steps = [ToFloat(), Normalize(0.0, scale)]
    transform = Compose(steps if model == "cnn" else [Flatten()] + steps)
    cls = {"digits": datasets.Digits, "mnist": datasets.MNIST,
           "fashion-mnist": datasets.FashionMNIST}[name]
    return cls(train=True, transform=transform), cls(train=False, transform=transform)


def _small_cnn_class():
    import dezero.functions as F
    import dezero.layers as L
    from dezero.models import Model

    class SmallCNN(Model):
        """conv3x3(16) - relu - pool2 - conv3x3(32) - relu - pool2 - fc(hidden) - relu - fc."""

        def __init__(self, n_classes=10, hidden=64):
            super().__init__()
            self.conv1 = L.Conv2d(16, kernel_size=3, stride=1, pad=1)
            self.conv2 = L.Conv2d(32, kernel_size=3, stride=1, pad=1)
            self.fc1 = L.Linear(hidden)
            self.fc2 = L.Linear(n_classes)

        def forward(self, x):
            x = F.pooling(F.relu(self.conv1(x)), 2, 2)
            x = F.pooling(F.relu(self.conv2(x)), 2, 2)
            x = F.reshape(x, (x.shape[0], -1))
            return self.fc2(F.relu(self.fc1(x)))

    return SmallCNN


def build_model(name: str, hidden: list[int], n_classes: int = 10):
    """``mlp``: ``MLP(hidden + [n_classes], relu)``; ``cnn``: two conv blocks and two fc."""
    import dezero.functions as F
    from dezero.models import MLP

    if name == "mlp":
        return MLP(tuple(hidden) + (n_classes,), activation=F.relu)
    return _small_cnn_class()(n_classes=n_classes, hidden=hidden[0])


def build_optimizer(name: str, lr: float):
    from dezero import optimizers

    if name == "sgd":
        return optimizers.SGD(lr=lr)
    if name == "momentum":
        return optimizers.MomentumSGD(lr=lr)
    return optimizers.Adam(alpha=lr)


def describe_model(name, hidden, in_shape, n_classes=10):
    if name == "mlp":
        sizes = [int(np.prod(in_shape))] + list(hidden) + [n_classes]
        return "MLP " + "-".join(str(s) for s in sizes) + " (relu)"
    return (f"CNN input {'x'.join(str(s) for s in in_shape)}: conv16-pool-conv32-pool-"
            f"fc{hidden[0]}-fc{n_classes}")


# =============================================================================
# Training
# =============================================================================


def progress_bar(total, quiet=False):
    """One tqdm bar over all training batches (on stderr), or None when quiet or no tqdm."""
    if quiet:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="training", unit="batch", dynamic_ncols=True,
                file=sys.stderr)


def run_epoch(model, loader, optimizer=None, bar=None):
    """One pass over ``loader``; trains when ``optimizer`` is given. Returns (loss, accuracy)."""
    import dezero.functions as F

    total_loss = total_correct = 0.0
    count = 0
    for x, t in loader:
        y = model(x)
        loss = F.softmax_cross_entropy(y, t)
        acc = F.accuracy(y, t)
        if optimizer is not None:
            model.cleargrads()
            loss.backward()
            optimizer.update()
        n = len(t)
        total_loss += float(loss.data) * n
        total_correct += float(acc.data) * n
        count += n
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{total_correct / count:.4f}",
                            refresh=False)
    return total_loss / max(count, 1), total_correct / max(count, 1)


def save_plot(history, path):
    """Loss and accuracy curves (train and test) side by side, as a PNG (Agg, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    for ax, key, title in ((fig.add_subplot(1, 2, 1), "loss", "loss"),
                           (fig.add_subplot(1, 2, 2), "acc", "accuracy")):
        ax.plot(epochs, [h["train_" + key] for h in history], "o-", label="train")
        ax.plot(epochs, [h["test_" + key] for h in history], "s-", label="test")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def save_graph(model, x, t, path):
    """Render the graph of the loss for one sample through Graphviz ``dot``."""
    import dezero.functions as F
    from dezero.utils import plot_dot_graph

    x = x[:1]
    t = t[:1]
    x_var = dezero.Variable(x, name="x")
    loss = F.softmax_cross_entropy(model(x_var), t)
    loss.name = "loss"
    plot_dot_graph(loss, verbose=True, to_file=path)


def train(args) -> dict:
    """Train as ``args`` says; print progress and return the final metrics."""
    start = time.perf_counter()
    epochs = args.epochs if args.epochs is not None else DEFAULT_EPOCHS[args.model]
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    out = args.out or os.path.join("runs", f"{args.dataset}-{args.model}")
    if args.graph and shutil.which("dot") is None:
        raise CLIError("--graph needs Graphviz's 'dot' program: install Graphviz "
                       "(apt-get install graphviz, brew install graphviz) or drop --graph")
    if args.gpu:
        try:
            cuda.require_gpu("--gpu")
        except RuntimeError as e:
            raise CLIError(str(e)) from e

    np.random.seed(args.seed)  # weights and shuffling are drawn from the global RNG
    train_set, test_set = load_data(args.dataset, args.model)
    from dezero.dataloaders import DataLoader

    train_loader = DataLoader(train_set, args.batch_size, shuffle=True, gpu=args.gpu)
    test_loader = DataLoader(test_set, args.batch_size, shuffle=False, gpu=args.gpu)
    in_shape = train_set[0][0].shape
    model = build_model(args.model, args.hidden)
    if args.gpu:
        model.to_gpu()
    optimizer = build_optimizer(args.optimizer, lr).setup(model)
    os.makedirs(out, exist_ok=True)

    print(f"dataset   {args.dataset}: {len(train_set)} train / {len(test_set)} test images")
    print(f"model     {describe_model(args.model, args.hidden, in_shape)}")
    print(f"training  {epochs} epochs, batch {args.batch_size}, {args.optimizer} lr={lr:g}, "
          f"seed {args.seed}, {'gpu' if args.gpu else 'cpu'}")
    history = []
    bar = progress_bar(epochs * train_loader.max_iter, quiet=args.quiet)
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        train_loss, train_acc = run_epoch(model, train_loader, optimizer, bar)
        with dezero.test_mode(), dezero.no_grad():
            test_loss, test_acc = run_epoch(model, test_loader)
        history.append(dict(epoch=epoch, train_loss=train_loss, train_acc=train_acc,
                            test_loss=test_loss, test_acc=test_acc))
        line = (f"epoch {epoch:{len(str(epochs))}d}/{epochs}  "
                f"train loss {train_loss:.4f} acc {train_acc:.4f}  "
                f"test loss {test_loss:.4f} acc {test_acc:.4f}  "
                f"({time.perf_counter() - t0:.1f} s)")
        if bar is not None:
            bar.write(line, file=sys.stdout)  # printed above the bar, which stays at the bottom
        else:
            print(line, flush=True)
    if bar is not None:
        bar.close()

    weights = os.path.join(out, "weights.npz")
    model.save_weights(weights)
    print(f"weights   {weights}")
    with open(os.path.join(out, "metrics.json"), "w", encoding="utf-8") as fh:
        json.dump({"args": {k: v for k, v in vars(args).items() if k != "func"},
                   "epochs": epochs, "lr": lr, "history": history}, fh, indent=2)
    try:
        plot = os.path.join(out, "training.png")
        save_plot(history, plot)
        print(f"plot      {plot}")
    except ImportError:
        print("plot      skipped: matplotlib is not installed "
              "(pip install 'dezero-framework[viz]')")
    if args.graph:
        x, t = next(iter(DataLoader(test_set, 1, shuffle=False, gpu=args.gpu)))
        graph = os.path.join(out, "graph.png")
        try:
            save_graph(model, x, t, graph)
        except RuntimeError as e:  # dot failed; the weights and plot are already saved
            raise CLIError(str(e)) from e
        print(f"graph     {graph}")
    elapsed = time.perf_counter() - start
    final = history[-1]
    print(f"done in {elapsed:.1f} s")
    print(f"test accuracy: {final['test_acc']:.4f}")
    return dict(final, seconds=elapsed, out=out)


# =============================================================================
# Command line
# =============================================================================


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _sizes(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 100 or 128,64, got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dezero", description="dezero: a define-by-run deep-learning framework.")
    parser.add_argument("--version", action="version", version=f"dezero {dezero.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "train", help="train a classifier (offline digits by default)",
        description="Train a classifier and save its weights, a loss/accuracy plot and, with "
                    "--graph, its computational graph. Runs offline by default on the 1,797 "
                    "8x8 digits that scikit-learn ships; --dataset mnist downloads MNIST.")
    p.add_argument("--dataset", choices=DATASETS, default="digits",
                   help="digits: offline, from scikit-learn; mnist, fashion-mnist: downloaded "
                        "once into $DEZERO_HOME (default ~/.dezero). Default: digits")
    p.add_argument("--model", choices=MODELS, default="mlp", help="MLP or small CNN (default: mlp)")
    p.add_argument("--hidden", type=_sizes, default=[100],
                   help="hidden layer sizes of the MLP, e.g. 128,64; the CNN's fc width "
                        "(default: 100)")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="passes over the training set (default: 20 for mlp, 12 for cnn)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="(default: 32)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="(default: adam)")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: sgd 0.1, momentum 0.05, adam 0.001)")
    p.add_argument("--seed", type=int, default=0, help="seed of NumPy's global RNG (default: 0)")
    p.add_argument("--out", default=None,
                   help="output folder (default: runs/<dataset>-<model>)")
    p.add_argument("--graph", action="store_true",
                   help="also render the model's computational graph to <out>/graph.png "
                        "(needs Graphviz's dot)")
    p.add_argument("--gpu", action="store_true", help="train on the GPU (needs CuPy and CUDA)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=train)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``dezero`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (CLIError, DatasetDownloadError, DatasetIntegrityError, ImportError, OSError) as e:
        print(f"dezero {args.command}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
