"""Mini-batch iterators over a Dataset: ``DataLoader`` and ``SeqDataLoader``."""
from __future__ import annotations

import math
from typing import Any

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

    def __init__(self, dataset: Any, batch_size: int, shuffle: bool = True,
                 gpu: bool = False) -> None:
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

    def reset(self) -> None:
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
        indices = self._batch_indices()
        batch = [self.dataset[i] for i in indices]
        self.iteration += 1
        x = self._stack("x", [example[0] for example in batch], indices)
        labels = [example[1] for example in batch]
        if all(label is None for label in labels):
            t = None
        else:
            t = self._stack("label", labels, indices)
        if self.gpu:
            cp = cuda.require_gpu("DataLoader(gpu=True)")
            x = cp.asarray(x)
            t = None if t is None else cp.asarray(t)
        return x, t

    def _stack(self, what, values, indices):
        """``np.array(values)``, refusing what would not make one numeric array: samples of
        different shapes, a label missing (None) beside others, or Python objects (NumPy
        would make a ragged object array, or fail without naming the sample)."""
        name = type(self).__name__
        try:
            out = np.array(values)
        except (ValueError, TypeError) as exc:  # ragged: diagnosed below
            out, error = None, exc
        else:
            if out.dtype != object:
                return out
            error = None
        if any(v is None for v in values):
            k = next(k for k, v in enumerate(values) if v is None)
            j = next(j for j, v in enumerate(values) if v is not None)
            raise ValueError(
                f"{name}: sample {int(indices[k])} has no {what} (None) but sample "
                f"{int(indices[j])} has one ({_summary(values[j])}); give every sample a "
                f"{what}, or none (then the batch's {what} is None)")
        shapes = [np.shape(v) for v in values]
        for k, shape in enumerate(shapes):
            if shape != shapes[0]:
                raise ValueError(
                    f"{name}: sample {int(indices[k])} has {what} of shape {shape}, but sample "
                    f"{int(indices[0])} in the same batch has shape {shapes[0]}; a batch "
                    f"stacks samples of one shape (resize or pad them in a transform)") from error
        raise TypeError(
            f"{name}: the {what} values of samples {[int(i) for i in indices[:5]]}"
            f"{'...' if len(indices) > 5 else ''} do not make a numeric array (got "
            f"{_summary(values[0])}); return numbers or NumPy arrays from the dataset") from error

    def next(self) -> tuple[Any, Any]:
        """Alias of ``__next__`` (the book calls ``loader.next()``)."""
        return self.__next__()

    def __len__(self):
        return self.max_iter

    def to_cpu(self) -> None:
        """Return NumPy batches from now on."""
        self.gpu = False

    def to_gpu(self) -> None:
        """Return CuPy batches from now on. Raises RuntimeError without a usable GPU."""
        cuda.require_gpu("DataLoader.to_gpu")
        self.gpu = True


def _summary(value):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__} {tuple(value.shape)} {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:80]


class SeqDataLoader(DataLoader):
    """Batches for truncated BPTT: never shuffles; row ``i`` of batch ``k`` is item
    ``(i * jump + k) % N`` with ``jump = N // batch_size``, so each row walks through its own
    contiguous stretch of the sequence.

    Examples
    --------
    >>> loader = SeqDataLoader(SinCurve(), batch_size=30)   # jump 33, max_iter 34
    """

    def __init__(self, dataset: Any, batch_size: int, gpu: bool = False) -> None:
        super().__init__(dataset=dataset, batch_size=batch_size, shuffle=False, gpu=gpu)
        if self.batch_size > self.data_size:
            raise ValueError(f"SeqDataLoader: batch_size ({self.batch_size}) must not exceed "
                             f"the dataset's length ({self.data_size})")

    def _batch_indices(self):
        jump = self.data_size // self.batch_size
        return [(i * jump + self.iteration) % self.data_size for i in range(self.batch_size)]
