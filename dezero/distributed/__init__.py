"""Data-parallel training over MPI (``import dezero.distributed``; needs the ``mpi`` extra).

Every process (rank) holds the whole model and trains on its own shard of the data; before
each update the gradients are averaged over the ranks, so all models stay identical::

    import dezero.distributed as dist

    comm = dist.init()
    train = dist.scatter_dataset(MNIST(train=True), comm, seed=0)
    optimizer = dist.DistributedOptimizer(optimizers.Adam(), comm).setup(model)
    for epoch in range(epochs):
        train.set_epoch(epoch)
        for x, t in DataLoader(train, batch_size=100):
            loss = F.softmax_cross_entropy(model(x), t)
            model.cleargrads()
            loss.backward()
            optimizer.update()
        print(comm.allreduce(float(loss.data)))       # the mean over the ranks
    dist.save_weights(model, "model.npz", comm)     # rank 0 writes

Run it with ``mpiexec -n 4 python -m mpi4py train.py`` (``python -m mpi4py`` turns an
exception on one rank into the end of the whole job). ``import dezero`` never imports this
package, and this package imports mpi4py only in :func:`init`. See docs/distributed.md.
"""
from __future__ import annotations

from dezero.distributed._checkpoint import (
    average_metrics,
    load_arrays,
    load_weights,
    save_arrays,
    save_weights,
)
from dezero.distributed._comm import Communicator, init
from dezero.distributed._data import ShardedDataset, scatter_dataset
from dezero.distributed._launch import find_mpiexec, launch, under_mpi_launcher
from dezero.distributed._optimizer import DistributedOptimizer

__all__ = [
    "Communicator",
    "DistributedOptimizer",
    "ShardedDataset",
    "average_metrics",
    "find_mpiexec",
    "init",
    "launch",
    "load_arrays",
    "load_weights",
    "save_arrays",
    "save_weights",
    "scatter_dataset",
    "under_mpi_launcher",
]
