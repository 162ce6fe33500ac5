"""A per-shape cache of the big NumPy buffers of convolution, pooling and relu.

Why: a training step allocates the same large arrays (column blocks, conv outputs, pooling
masks, gradients) at every step. glibc hands big blocks back to the operating system when
they are freed, so each step faults its whole working set in again (about 4,400 page faults
per step of the benchmark's CNN). Keeping those buffers and handing them out again removes
that cost without touching the process's malloc settings.

The rule that makes reuse safe: a cached buffer is handed out again only when the cache holds
the last reference to it. Every NumPy view keeps a reference to the array that owns its
memory (``base``), and so do memoryviews and arrays of other libraries built on its buffer,
so "no other reference" means exactly "nobody can read or write this memory any more": the
moment NumPy itself would have freed it. Buffers come back uninitialised, as from
``numpy.empty``.

Bounds: per call site, at most ``_SHAPES_PER_SITE`` shapes (least recently used dropped
first, so a new batch size replaces the old one) and ``_BUFFERS_PER_SHAPE`` buffers of each;
only arrays of at least ``_MIN_BYTES`` (smaller ones never reach the OS). ``clear()``
(``dezero.clear_workspace()``) drops everything. CuPy arrays are never cached (CuPy has its
own memory pool).
"""
from __future__ import annotations

import sys
import threading

import numpy as np

_MIN_BYTES = 1 << 16
_SHAPES_PER_SITE = 16
_BUFFERS_PER_SHAPE = 8

_lock = threading.Lock()
_sites: dict = {}  # site -> {(shape, dtype): [ndarray, ...]}, least recently used first
_refcount = sys.getrefcount


def empty(site: str, shape, dtype, xp=np):
    """An uninitialised array of ``shape`` and ``dtype``, reused from earlier calls at ``site``
    where one is free (see the module docstring), else newly allocated (and cached)."""
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    size = 1
    for s in shape:
        size *= s
    if size * dtype.itemsize < _MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    key = (shape, dtype)
    with _lock:
        shapes = _sites.get(site)
        if shapes is None:
            shapes = _sites[site] = {}
        bufs = shapes.pop(key, None)
        if bufs is None:
            bufs = []
            if len(shapes) >= _SHAPES_PER_SITE:  # a shape change: the oldest shape goes
                del shapes[next(iter(shapes))]
        shapes[key] = bufs  # now the most recently used
        for i in range(len(bufs)):
            # 2 references: the list's and getrefcount's argument. Nothing else holds it.
            if _refcount(bufs[i]) == 2:
                return bufs[i]
        out = np.empty(shape, dtype=dtype)
        if len(bufs) < _BUFFERS_PER_SHAPE:
            bufs.append(out)
        return out


def zeros(site: str, shape, dtype, xp=np):
    """``empty`` filled with zeros."""
    out = empty(site, shape, dtype, xp)
    out.fill(0)
    return out


def clear() -> None:
    """Drop every cached buffer (arrays still in use stay valid; they are freed as usual)."""
    with _lock:
        _sites.clear()


def clear_workspace() -> None:
    """Release the buffers dezero keeps between steps for convolution, pooling and relu.

    dezero keeps the large temporaries of those ops (one set per input shape) so that a
    training loop does not fault its working set in again at every step. Call this after
    training, or before a phase that needs the memory: arrays still in use stay valid.
    A change of batch size also retires the old buffers by itself.

    Examples
    --------
    >>> import dezero
    >>> dezero.clear_workspace()
    """
    clear()


def cached_bytes() -> int:
    """Bytes held by the cache (in use or free)."""
    with _lock:
        return sum(a.nbytes for shapes in _sites.values() for bufs in shapes.values()
                   for a in bufs)


def empty_like(site: str, a, dtype=None, xp=np):
    """``empty`` with ``a``'s shape, laid out in memory as ``a`` is (largest stride first).

    For a C-contiguous ``a`` the result is the cached buffer itself, not a view.
    """
    dtype = a.dtype if dtype is None else dtype
    if xp is not np:
        return xp.empty_like(a, dtype=dtype)
    strides = a.strides
    order = sorted(range(a.ndim), key=lambda i: -abs(strides[i]))
    buf = empty(site, tuple(a.shape[i] for i in order), dtype)
    if order == list(range(a.ndim)):
        return buf
    inverse = [0] * a.ndim
    for pos, axis in enumerate(order):
        inverse[axis] = pos
    return buf.transpose(inverse)
