"""Handwritten digits with an MLP, data-parallel over MPI (dezero.distributed).

Each process (rank) trains the same model on its own shard of the data; gradients are
averaged over the ranks before every update, so the models stay identical. Offline by
default, on the 1,797 8x8 digits that scikit-learn ships; ``--dataset mnist`` downloads
MNIST (run it once in one process first, so the ranks do not download together).

    mpiexec -n 2 python -m mpi4py examples/distributed_mnist.py
    mpiexec -n 4 python -m mpi4py examples/distributed_mnist.py --dataset mnist --epochs 5
    python examples/distributed_mnist.py          # one process works too

``--batch-size`` is per rank: N ranks train with batches of N * batch-size. Rank 0 prints
the metrics averaged over the ranks and saves ``<out>/mlp.npz``.
"""
import argparse
import os
import time

import numpy as np

import dezero
import dezero.distributed as dist
import dezero.functions as F
from dezero import DataLoader, datasets, optimizers
from dezero.models import MLP


def evaluate(model, loader, comm):
    """Loss and accuracy over this rank's shard, averaged over the ranks by sample count."""
    sum_loss, sum_acc, n = 0.0, 0.0, 0
    with dezero.test_mode(), dezero.no_grad():
        for x, t in loader:
            y = model(x)
            sum_loss += float(F.softmax_cross_entropy(y, t).data) * len(t)
            sum_acc += float(F.accuracy(y, t).data) * len(t)
            n += len(t)
    m = dist.average_metrics({"loss": sum_loss / n, "acc": sum_acc / n}, comm, weight=n)
    return m["loss"], m["acc"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32, help="per rank")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--out", default=os.path.join("runs", "distributed-mnist-example"))
    args = parser.parse_args(argv)

    comm = dist.init()
    log = print if comm.is_root else (lambda *a, **k: None)
    cls = datasets.Digits if args.dataset == "digits" else datasets.MNIST
    train_set = dist.scatter_dataset(cls(train=True), comm, shuffle=True, seed=0)
    test_set = dist.scatter_dataset(cls(train=False), comm, shuffle=False)
    train_loader = DataLoader(train_set, args.batch_size)  # shuffles within the shard
    test_loader = DataLoader(test_set, args.batch_size, shuffle=False)

    np.random.seed(comm.rank)  # different draws per rank; setup() copies rank 0's weights
    model = MLP((args.hidden, 10), activation=F.relu)
    with dezero.no_grad():
        model(train_set[0][0][None])  # create the lazy weights before setup()
    optimizer = dist.DistributedOptimizer(optimizers.Adam(), comm).setup(model)
    log(f"{comm.size} rank(s), {len(train_set)} training items per rank, batch "
        f"{args.batch_size} per rank")

    for epoch in range(args.epochs):
        start = time.perf_counter()
        train_set.set_epoch(epoch)
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
        train = dist.average_metrics({"loss": sum_loss / len(train_set),
                                      "acc": sum_acc / len(train_set)}, comm)
        test_loss, test_acc = evaluate(model, test_loader, comm)
        log(f"epoch {epoch + 1}: train loss {train['loss']:.4f}, accuracy {train['acc']:.4f} | "
            f"test loss {test_loss:.4f}, accuracy {test_acc:.4f} "
            f"({time.perf_counter() - start:.2f} s)")

    path = os.path.join(args.out, "mlp.npz")
    if comm.is_root:
        os.makedirs(args.out, exist_ok=True)
    dist.save_weights(model, path, comm)  # rank 0 writes, atomically; the others wait
    restored = MLP((args.hidden, 10), activation=F.relu)
    dist.load_weights(restored, path, comm)  # rank 0 reads, every rank receives
    _, restored_acc = evaluate(restored, test_loader, comm)
    log(f"saved {path}; reloaded model's test accuracy {restored_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    main()
