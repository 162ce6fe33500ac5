"""Rank-0 saves and broadcast loads; metrics averaged over the ranks."""
from __future__ import annotations

import numbers

import numpy as np

from dezero import io as _io
from dezero.distributed._comm import Communicator, _unwrap, named_params

__all__ = ["average_metrics", "load_arrays", "load_weights", "save_arrays", "save_weights"]


def _check_comm(op, comm):
    if not isinstance(comm, Communicator):
        raise TypeError(f"{op}: comm must be a Communicator from dezero.distributed.init(); "
                        f"got {type(comm).__name__}")


def _on_root(op, comm, action):
    """Run ``action()`` on rank 0; every rank learns whether it failed (no rank waits)."""
    error = None
    if comm.is_root:
        try:
            action()
        except Exception as e:  # re-raised below, after telling the other ranks
            error = e
    status = comm.bcast_object(None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    if status is not None:
        raise RuntimeError(f"{op}: failed on rank 0: {status}")


def save_weights(model, path, comm: Communicator) -> None:
    """Save ``model``'s parameters from rank 0 only (atomically); collective.

    Every rank calls it; it returns when the file is complete, and raises on every rank
    if the save failed on rank 0.
    """
    _check_comm("save_weights", comm)
    _on_root("save_weights", comm, lambda: model.save_weights(path))


def save_arrays(path, arrays: dict, comm: Communicator) -> None:
    """Save ``{key: array}`` (an optimizer's ``state_dict()``) from rank 0 only; collective."""
    _check_comm("save_arrays", comm)
    _on_root("save_arrays", comm, lambda: _io.save_arrays(path, arrays))


def load_arrays(path, comm: Communicator) -> dict:
    """Read ``path`` on rank 0 and broadcast its arrays to every rank; collective.

    A failed read raises on every rank (the original error on rank 0).

    Examples
    --------
    >>> optimizer.load_state_dict(load_arrays("ckpt_opt", comm))   # doctest: +SKIP
    """
    _check_comm("load_arrays", comm)
    arrays: dict | Exception | None = None
    if comm.is_root:
        try:
            arrays = _io.load_arrays(_io.resolve_path(path, "load_arrays"), op="load_arrays")
        except Exception as e:
            arrays = e
    return comm.bcast_arrays(arrays, root=0)


def load_weights(model, path, comm: Communicator) -> None:
    """Resume: rank 0 reads the weight file, every rank receives and checks it; collective.

    As ``Layer.load_weights`` (all or nothing, lazy parameters take the stored shapes), and
    every rank raises the same error on a mismatch.
    """
    _check_comm("load_weights", comm)
    arrays = load_arrays(path, comm)
    params = dict(named_params(model, "load_weights"))
    _io.assign_params(params, arrays, f"load_weights: {_io.resolve_path(path)!r}")


def average_metrics(metrics: dict, comm: Communicator, weight=None) -> dict:
    """Average ``{name: number}`` over the ranks in one all-reduce.

    Parameters
    ----------
    metrics : dict of str to number (or 0-d array, or Variable of one)
        The same keys on every rank (checked).
    weight : number, optional
        This rank's weight (e.g. its sample count) for a weighted mean; plain mean if None.

    Returns
    -------
    dict of str to float
    """
    _check_comm("average_metrics", comm)
    if not isinstance(metrics, dict):
        raise TypeError(f"average_metrics: expected a dict; got {type(metrics).__name__}")
    keys = sorted(metrics)
    comm.check_same("average_metrics", keys, "the metric names")
    w = 1.0 if weight is None else weight
    if not isinstance(w, numbers.Real):
        raise TypeError(f"average_metrics: weight must be a number; got {type(w).__name__}")
    values = []
    for k in keys:
        v = _unwrap(metrics[k])
        try:
            values.append(float(_numpy(v)))
        except (TypeError, ValueError):
            raise TypeError(f"average_metrics: {k!r} must be a number or a 0-d array; "
                            f"got {type(v).__name__}") from None
    buf = np.array([float(w) * v for v in values] + [float(w)], dtype=np.float64)
    comm.allreduce_inplace(buf)
    return {k: float(buf[i] / buf[-1]) for i, k in enumerate(keys)}


def _numpy(v):
    from dezero import cuda

    return cuda.as_numpy(v) if cuda.is_cupy_array(v) else v
