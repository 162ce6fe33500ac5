"""Mini-batch iterators over a Dataset: ``DataLoader`` and ``SeqDataLoader``."""
from __future__ import annotations

import math

import numpy as np

from dezero import cuda

__all__ = ["DataLoader", "SeqDataLoader"]


class DataLoader:
    """Iterate over ``dataset`` in mini-batches; one ``for`` loop is one epoch.

    Parameters
    ----------
    dataset : Dataset or any object with ``__len__`` and integer ``__getitem__``
        Each item is a pair ``(x, t)``.
    batch_size : int
        Items per batch. The last batch of an epoch may be shorter.
    shuffle : bool
        Draw a new permutation (global NumPy RNG) at the start of every epoch.
    gpu : bool
        Return CuPy arrays. Needs CuPy and a usable CUDA device.

    Examples
    --------
    >>> loader = DataLoader(Spiral(), batch_size=128)
    >>> for x, t in loader:          # x: (128, 2), (128, 2), (44, 2)
    ...     pass
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool = True, gpu: bool = False):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if gpu:
            cuda.require_gpu("DataLoader(gpu=True)")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.data_size = len(dataset)
        self.max_iter = math.ceil(self.data_size / self.batch_size)
        self.gpu = gpu
        self.reset()

    def reset(self):
        """Start a new epoch: iteration 0 and a fresh order (a permutation when shuffling)."""
        self.iteration = 0
        if self.shuffle:
            self.index = np.random.permutation(self.data_size)
        else:
            self.index = np.arange(self.data_size)

    def __iter__(self):
        return self

    def _batch_indices(self):
        i, n = self.iteration, self.batch_size
        return self.index[i * n:(i + 1) * n]

    def __next__(self):
        if self.iteration >= self.max_iter:
            self.reset()
            raise StopIteration
        batch = [self.dataset[i] for i in self._batch_indices()]
        self.iteration += 1
        x = np.array([example[0] for example in batch])
        labels = [example[1] for example in batch]
        t = None if all(label is None for label in labels) else np.array(labels)
        if self.gpu:
            cp = cuda.require_gpu("DataLoader(gpu=True)")
            x = cp.asarray(x)
            t = None if t is None else cp.asarray(t)
        return x, t

    def next(self):
        """Alias of ``__next__`` (the book calls ``loader.next()``)."""
        return self.__next__()

    def __len__(self):
        return self.max_iter

    def to_cpu(self):
        """Return NumPy batches from now on."""
        self.gpu = False

    def to_gpu(self):
        """Return CuPy batches from now on. Raises RuntimeError without a usable GPU."""
        cuda.require_gpu("DataLoader.to_gpu")
        self.gpu = True


class SeqDataLoader(DataLoader):
    """Batches for truncated BPTT: never shuffles; row ``i`` of batch ``k`` is item
    ``(i * jump + k) % N`` with ``jump = N // batch_size``, so each row walks through its own
    contiguous stretch of the sequence.

    Examples
    --------
    >>> loader = SeqDataLoader(SinCurve(), batch_size=30)   # jump 33, max_iter 34
    """

    def __init__(self, dataset, batch_size: int, gpu: bool = False):
        super().__init__(dataset=dataset, batch_size=batch_size, shuffle=False, gpu=gpu)
        if self.batch_size > self.data_size:
            raise ValueError(f"SeqDataLoader: batch_size ({self.batch_size}) must not exceed "
                             f"the dataset's length ({self.data_size})")

    def _batch_indices(self):
        jump = self.data_size // self.batch_size
        return [(i * jump + self.iteration) % self.data_size for i in range(self.batch_size)]
