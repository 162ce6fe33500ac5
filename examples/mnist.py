"""Handwritten digits with an MLP (steps 51-53 of the book).

Offline by default, on the 1,797 8x8 digits shipped with dezero; ``--dataset mnist``
downloads MNIST (about 11 MB, once) into $DEZERO_HOME or ~/.dezero.

    python examples/mnist.py                      # digits, 20 epochs, a few seconds
    python examples/mnist.py --dataset mnist --epochs 5

Saves the weights to ``<out>/mlp.npz`` and checks that a fresh model loads them.
"""
import argparse
import os
import sys
import time

import numpy as np

import dezero
import dezero.functions as F
from dezero import DataLoader, datasets, optimizers
from dezero.cli.argtypes import positive_int, use_threads
from dezero.models import MLP


def evaluate(model, loader):
    """Mean loss and accuracy over ``loader``, in test mode and without a graph."""
    sum_loss, sum_acc, n = 0.0, 0.0, 0
    with dezero.test_mode(), dezero.no_grad():
        for x, t in loader:
            y = model(x)
            sum_loss += float(F.softmax_cross_entropy(y, t).data) * len(t)
            sum_acc += float(F.accuracy(y, t).data) * len(t)
            n += len(t)
    return sum_loss / n, sum_acc / n


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits",
                        help="digits: offline, shipped with dezero; mnist: downloaded once")
    parser.add_argument("--epochs", type=positive_int, default=20,
                        help="passes over the training set")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="images per batch")
    parser.add_argument("--hidden", type=positive_int, default=100,
                        help="width of the hidden layer")
    parser.add_argument("--out", default=os.path.join("runs", "mnist-example"),
                        help="folder for the weights, mlp.npz")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="BLAS threads (through threadpoolctl when installed)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    use_threads(args.threads)

    np.random.seed(0)
    if args.dataset == "digits":
        train_set, test_set = datasets.Digits(train=True), datasets.Digits(train=False)
    else:
        train_set, test_set = datasets.MNIST(train=True), datasets.MNIST(train=False)
    train_loader = DataLoader(train_set, args.batch_size)
    test_loader = DataLoader(test_set, args.batch_size, shuffle=False)

    model = MLP((args.hidden, 10), activation=F.relu)
    optimizer = optimizers.Adam().setup(model)

    for epoch in range(args.epochs):
        start = time.perf_counter()
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
        test_loss, test_acc = evaluate(model, test_loader)
        print(f"epoch {epoch + 1}: train loss {sum_loss / len(train_set):.4f}, "
              f"accuracy {sum_acc / len(train_set):.4f} | test loss {test_loss:.4f}, "
              f"accuracy {test_acc:.4f} ({time.perf_counter() - start:.2f} s)")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "mlp.npz")
    model.save_weights(path)
    restored = MLP((args.hidden, 10), activation=F.relu)
    restored.load_weights(path)  # lazy layers take the stored shapes
    _, restored_acc = evaluate(restored, test_loader)
    print(f"saved {path}; reloaded model's test accuracy {restored_acc:.4f}")
    _, test_acc = evaluate(model, test_loader)
    print(f"test accuracy: {test_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    try:
        main()
    except (dezero.DatasetDownloadError, dezero.DatasetIntegrityError) as e:
        # An offline machine or a damaged download: one line, not a traceback.
        sys.exit(f"{os.path.basename(__file__)}: error: {e}")
