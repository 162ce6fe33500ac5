"""Classify the three interleaved spirals with a two-layer MLP (steps 48-50 of the book).

    python examples/spiral.py                 # 300 epochs, a few seconds
    python examples/spiral.py --epochs 30 --out /tmp/spiral

Prints the loss and accuracy per epoch (every tenth) and saves the decision regions to
``<out>/spiral.png`` when matplotlib is installed.
"""
import argparse
import os

import numpy as np

import dezero
import dezero.functions as F
from dezero import DataLoader, optimizers
from dezero.cli.argtypes import positive_float, positive_int, use_threads
from dezero.datasets import Spiral
from dezero.models import MLP


def plot_regions(model, x, t, path):
    """Colour the plane by the predicted class and draw the training points on top."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h = 0.01
    xx, yy = np.meshgrid(np.arange(-1.1, 1.1, h), np.arange(-1.1, 1.1, h))
    grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float32)
    with dezero.no_grad():
        predicted = np.argmax(model(grid).data, axis=1).reshape(xx.shape)
    fig = Figure(figsize=(5, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.contourf(xx, yy, predicted, alpha=0.3)
    for c, marker in zip(range(3), "ox^"):
        ax.scatter(x[t == c, 0], x[t == c, 1], s=30, marker=marker)
    ax.set_title("spiral: decision regions")
    fig.savefig(path)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=300,
                        help="passes over the training set")
    parser.add_argument("--batch-size", type=positive_int, default=30, help="points per batch")
    parser.add_argument("--hidden", type=positive_int, default=10,
                        help="width of the hidden layer")
    parser.add_argument("--lr", type=positive_float, default=1.0, help="SGD learning rate")
    parser.add_argument("--out", default=os.path.join("runs", "spiral"),
                        help="folder for spiral.png")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="BLAS threads (through threadpoolctl when installed)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    use_threads(args.threads)

    train_set = Spiral(train=True)
    test_set = Spiral(train=False)
    train_loader = DataLoader(train_set, args.batch_size)
    test_loader = DataLoader(test_set, args.batch_size, shuffle=False)

    model = MLP((args.hidden, 3))
    optimizer = optimizers.SGD(args.lr).setup(model)

    for epoch in range(args.epochs):
        sum_loss, sum_acc = 0.0, 0.0
        for x, t in train_loader:
            y = model(x)
            loss = F.softmax_cross_entropy(y, t)
            acc = F.accuracy(y, t)
            model.cleargrads()
            loss.backward()
            optimizer.update()
            sum_loss += float(loss.data) * len(t)
            sum_acc += float(acc.data) * len(t)
        if (epoch + 1) % 10 == 0 or epoch + 1 == args.epochs:
            print(f"epoch {epoch + 1}, loss {sum_loss / len(train_set):.4f}, "
                  f"accuracy {sum_acc / len(train_set):.4f}")

    sum_acc = 0.0
    with dezero.no_grad():
        for x, t in test_loader:
            sum_acc += float(F.accuracy(model(x), t).data) * len(t)
    test_acc = sum_acc / len(test_set)
    print(f"test accuracy: {test_acc:.4f}")

    os.makedirs(args.out, exist_ok=True)
    try:
        path = os.path.join(args.out, "spiral.png")
        plot_regions(model, train_set.data, train_set.label, path)
        print(f"saved {path}")
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
    return test_acc


if __name__ == "__main__":
    main()
