"""``scatter_dataset``: each rank sees a disjoint shard, reshuffled per epoch with a shared seed."""
from __future__ import annotations

import math

import numpy as np

from dezero.distributed._comm import Communicator

__all__ = ["ShardedDataset", "scatter_dataset"]


class ShardedDataset:
    """One rank's shard of a dataset (made by :func:`scatter_dataset`).

    Attributes
    ----------
    dataset
        The whole dataset.
    indices : ndarray of int64
        The positions in ``dataset`` of this shard's items, for the current epoch.
    epoch : int
        The epoch of the current order (see :meth:`set_epoch`).
    """

    def __init__(self, dataset, rank: int, size: int, shuffle: bool, seed: int,
                 drop_last: bool):
        self.dataset = dataset
        self.rank = rank
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        n = len(dataset)
        self.num_samples = n // size if drop_last else math.ceil(n / size)
        self.total_size = self.num_samples * size
        self.epoch = 0
        self.indices = self._indices(0)

    def _indices(self, epoch: int) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            # Seeded by (seed, epoch) alone: every rank draws the same permutation.
            order = np.random.default_rng([self.seed, epoch]).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n:  # pad with the first items of the order (< size of them)
            order = np.concatenate([order, order[:self.total_size - n]])
        return order[self.rank:self.total_size:self.size].astype(np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (call it on every rank at the start of each epoch).

        With ``shuffle=True`` each epoch has its own permutation, the same on every rank;
        with ``shuffle=False`` the shards never change.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"ShardedDataset.set_epoch: epoch must be an int >= 0; got "
                             f"{epoch!r}")
        self.epoch = int(epoch)
        self.indices = self._indices(self.epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ShardedDataset: index must be an int; got "
                            f"{type(index).__name__}")
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"ShardedDataset: index {index} out of range for a shard of "
                             f"{self.num_samples} items")
        return self.dataset[int(self.indices[index])]

    def __repr__(self):
        return (f"ShardedDataset({self.num_samples} of {len(self.dataset)} items, rank "
                f"{self.rank} of {self.size}, shuffle={self.shuffle}, epoch={self.epoch})")


def scatter_dataset(dataset, comm: Communicator, shuffle: bool = True, seed: int = 0, *,
                    drop_last: bool = False) -> ShardedDataset:
    """This rank's shard of ``dataset``: the ranks' shards are disjoint and cover it.

    Every rank passes the same dataset (the same length; checked). The items are permuted
    with a generator seeded by ``(seed, epoch)``, so the ranks agree on the order without
    communicating, and rank ``r`` takes positions ``r, r + size, r + 2 size, ...``, as
    PyTorch's ``DistributedSampler``.

    When ``len(dataset)`` is not a multiple of the number of ranks, the shards are made
    equal (every rank then runs the same number of steps, so no rank waits forever in an
    all-reduce): by default the order is padded with its first items, so a few items are
    seen twice per epoch (``DistributedSampler``'s default); with ``drop_last=True`` the
    last items of the order are left out instead (different ones each epoch when
    shuffling).

    Parameters
    ----------
    dataset : Dataset or any object with ``__len__`` and integer ``__getitem__``
    comm : Communicator
    shuffle : bool
        Permute the items; call ``set_epoch(epoch)`` on the result each epoch for a new
        permutation.
    seed : int
        The same on every rank (checked).
    drop_last : bool
        Drop the remainder instead of padding.

    Returns
    -------
    ShardedDataset
        ``len()`` items: ``ceil(N / size)``, or ``N // size`` with ``drop_last``.

    Raises
    ------
    ValueError
        On every rank, when the ranks' datasets differ in length or their ``seed``/
        ``shuffle``/``drop_last`` differ, or when the dataset has fewer items than there are
        ranks (some rank would have nothing to train on).
    """
    if not isinstance(comm, Communicator):
        raise TypeError(f"scatter_dataset: comm must be a Communicator from "
                        f"dezero.distributed.init(); got {type(comm).__name__}")
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(f"scatter_dataset: dataset must have __len__ and __getitem__; got "
                        f"{type(dataset).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"scatter_dataset: seed must be an int >= 0; got {seed!r}")
    n = len(dataset)
    comm.check_same("scatter_dataset",
                    {"len(dataset)": n, "shuffle": bool(shuffle), "seed": int(seed),
                     "drop_last": bool(drop_last)},
                    "the dataset's length or the arguments (pass the same dataset and "
                    "arguments on every rank)")
    if n < comm.size:
        raise ValueError(f"scatter_dataset: the dataset has {n} item(s) for {comm.size} "
                         f"ranks; every rank needs at least one (use fewer ranks or more "
                         f"data)")
    return ShardedDataset(dataset, comm.rank, comm.size, bool(shuffle), int(seed),
                          bool(drop_last))
