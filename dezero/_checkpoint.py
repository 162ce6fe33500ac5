"""Gradient checkpointing: trade compute for memory by recomputing a segment in backward."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from dezero import core, cuda
from dezero.core import Config, Function, Variable, _state, using_config

__all__ = ["checkpoint"]


class Checkpoint(Function):
    """ys = fn(*xs), run without a graph; backward runs fn again with one and walks it."""

    def __init__(self, fn, template, preserve_rng_state=True):
        self.fn = fn
        self.template = template  # the arguments, with None where an input goes
        self.preserve_rng_state = preserve_rng_state

    def _call_fn(self, xs):
        it = iter(xs)
        args = [next(it) if slot is None else slot for slot in self.template]
        out = self.fn(*args)
        self.tuple_out = isinstance(out, (tuple, list))
        outs = list(out) if self.tuple_out else [out]
        for i, y in enumerate(outs):
            if not isinstance(y, Variable):
                raise TypeError(f"checkpoint: fn must return Variables (or a tuple of them); "
                                f"output {i} is {type(y).__name__}")
        return outs

    def forward(self, *xs):
        self.train = Config.train
        if self.preserve_rng_state and cuda.get_array_module(xs[0]) is np:
            self.rng_state = np.random.get_state()
        with using_config("enable_backprop", False):
            outs = self._call_fn([Variable(x) for x in xs])
        ys = tuple(y.data for y in outs)
        return ys if len(ys) > 1 else ys[0]

    def backward(self, *gys):
        from dezero.func import _Identity, backprop

        create_graph = _state.enable_backprop
        saved = getattr(self, "rng_state", None)
        current = np.random.get_state() if saved is not None else None
        try:
            if saved is not None:
                np.random.set_state(saved)
            with using_config("enable_backprop", True), using_config("train", self.train):
                if create_graph:  # the recomputed graph hangs off the real inputs
                    xs = [_Identity()(x) for x in self.inputs]
                else:
                    xs = [Variable(x.data) for x in self.inputs]
                outs = self._call_fn(xs)
        finally:
            if current is not None:
                np.random.set_state(current)
        grads, leaf_grads = backprop(outs, list(gys), xs, create_graph=create_graph,
                                     leaves=True)
        _accumulate(leaf_grads, create_graph)
        return tuple(grads)


def _accumulate(leaf_grads, create_graph):
    """Add the recomputed segment's gradients into its leaves' ``grad`` (the parameters)."""
    lock = getattr(core, "_leaf_grad_lock", None)
    claimed = set()
    if lock is not None:
        lock.acquire()
    try:
        for leaf, g in leaf_grads:
            if g is None:
                continue
            old = leaf.grad
            if old is None:
                if not create_graph:
                    if id(g) in claimed or getattr(g, "base", None) is not None:
                        g = g.copy()
                    claimed.add(id(g))
                    g = Variable(np.asarray(g) if isinstance(g, np.generic) else g)
                leaf.grad = g
            elif create_graph:
                leaf.grad = (old if isinstance(old, Variable) else Variable(old)) + g
            else:
                old = old.data if isinstance(old, Variable) else old
                leaf.grad = Variable(np.asarray(old + g))
    finally:
        if lock is not None:
            lock.release()


def checkpoint(fn: Callable, *args: Any, preserve_rng_state: bool = True):
    """``fn(*args)`` without keeping its intermediate values; backward recomputes them.

    The segment's graph is not stored: only its inputs and outputs stay alive. In
    backward, ``fn`` runs again (with the NumPy RNG state and ``Config.train`` it had the
    first time, so dropout draws the same mask) and its gradients flow to ``args`` and to
    the parameters ``fn`` uses, as without checkpointing. ``create_graph=True`` works
    through it (higher-order gradients).

    Parameters
    ----------
    fn : callable
        Built from dezero ops; returns a Variable or a tuple of Variables. It must compute
        the same thing when called again (no side effects that change its result).
    *args : Variable, ndarray or other
        Variables and ndarrays become the segment's inputs; anything else is passed as is.
    preserve_rng_state : bool
        Replay the NumPy global RNG for the recomputation (CuPy's RNG is not replayed).

    Returns
    -------
    Variable or tuple of Variable

    Examples
    --------
    >>> import numpy as np, dezero, dezero.functions as F
    >>> x = dezero.Variable(np.array([1.0, 2.0]))
    >>> y = F.sum(dezero.checkpoint(lambda v: F.tanh(v) * 2, x))
    >>> y.backward()
    >>> np.allclose(x.grad.data, 2 * (1 - np.tanh(x.data) ** 2))
    True
    """
    if not callable(fn):
        raise TypeError(f"checkpoint: fn must be callable; got {type(fn).__name__}")
    if not _state.enable_backprop:
        return fn(*args)
    template: list[Any] = []
    inputs: list[Any] = []
    for a in args:
        if isinstance(a, Variable) or isinstance(a, np.ndarray) or cuda.is_cupy_array(a):
            template.append(None)
            inputs.append(a)
        else:
            template.append(a)
    if not inputs:
        raise ValueError("checkpoint: no Variable or array among the arguments; the segment "
                         "would have no input to differentiate")
    f = Checkpoint(fn, template, preserve_rng_state)
    out = f(*inputs)
    if f.tuple_out:
        return tuple(out) if isinstance(out, list) else (out,)
    return out
