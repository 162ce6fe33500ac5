"""``DistributedOptimizer``: average the gradients over the ranks, then run any optimizer."""
from __future__ import annotations

import warnings

import numpy as np

from dezero import cuda
from dezero.core import Variable
from dezero.distributed._comm import Communicator, describe_params, digest, named_params

__all__ = ["DistributedOptimizer"]

_MAX_PLANS = 8  # bucket layouts kept (one per set of parameters with a gradient)
_OWN = frozenset({"optimizer", "comm", "bucket_bytes", "_named", "_synced", "_plans",
                  "_sig_cache"})


class _Bucket:
    """Gradients of one dtype and device, packed into one flat buffer for one all-reduce."""

    __slots__ = ("buffer", "entries")

    def __init__(self, xp, dtype, entries):
        self.entries = entries  # [(Parameter, offset, size, shape)]
        total = sum(size for _, _, size, _ in entries)
        self.buffer = xp.empty(total, dtype=dtype)


class DistributedOptimizer:
    """Data-parallel training: wrap any dezero optimizer so gradients are averaged first.

    ``update()`` packs every gradient into flat buffers ("buckets") of about
    ``bucket_bytes`` per dtype, sums each bucket over the ranks with one all-reduce, divides
    by the number of ranks, and then runs the wrapped optimizer's ``update()`` (its hooks
    included, so weight decay and gradient clipping see the averaged gradients, as in
    ChainerMN). Every rank then makes the same update and the models stay identical.

    ``setup(model)`` checks that all ranks have the same parameters (paths, shapes, dtypes;
    a ValueError naming the ranks otherwise, on every rank, never a hang) and copies rank
    0's values to every rank.

    A parameter whose gradient is None on some ranks and not others counts as zero there;
    one whose gradient is None on every rank keeps None everywhere (the ranks agree on this
    through one small all-reduce per step). After ``update()`` each averaged gradient is a
    view of the bucket buffer, valid until the next ``update()`` (as PyTorch's
    ``gradient_as_bucket_view``); a gradient whose dtype differs from its parameter's is
    reduced in the parameter's dtype.

    Parameters that get their data lazily (``L.Linear(10)`` without ``in_size``) after
    ``setup()`` are broadcast from rank 0 at the first ``update()``, which then discards
    that step's gradients (they were computed from different weights) and warns. To avoid
    the lost step, give the input sizes or run one forward pass before ``setup()``.

    Parameters
    ----------
    optimizer : dezero.optimizers.Optimizer
        The optimizer to wrap (not yet set up, or set up on the same model). Its state
        (``state_dict()``) and hyperparameters stay its own: reading or setting ``lr``,
        ``t``... on the wrapper reaches the wrapped optimizer.
    comm : Communicator
        From :func:`dezero.distributed.init`.
    bucket_bytes : int
        Target size of a bucket; a parameter larger than that gets a bucket of its own.

    Examples
    --------
    >>> comm = dezero.distributed.init()                                     # doctest: +SKIP
    >>> optimizer = DistributedOptimizer(optimizers.Adam(), comm).setup(model)  # doctest: +SKIP
    >>> loss.backward(); optimizer.update()                                  # doctest: +SKIP
    """

    def __init__(self, optimizer, comm: Communicator, bucket_bytes: int = 25 * 2**20):
        if isinstance(optimizer, DistributedOptimizer):
            raise TypeError("DistributedOptimizer: the optimizer is already distributed")
        if not (callable(getattr(optimizer, "update", None))
                and callable(getattr(optimizer, "setup", None))):
            raise TypeError(f"DistributedOptimizer: expected a dezero optimizer (with setup() "
                            f"and update()); got {type(optimizer).__name__}")
        if not isinstance(comm, Communicator):
            raise TypeError(f"DistributedOptimizer: comm must be a Communicator from "
                            f"dezero.distributed.init(); got {type(comm).__name__}")
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, (int, np.integer)) \
                or bucket_bytes < 1:
            raise ValueError(f"DistributedOptimizer: bucket_bytes must be a positive int; got "
                             f"{bucket_bytes!r}")
        d = self.__dict__
        d["optimizer"] = optimizer
        d["comm"] = comm
        d["bucket_bytes"] = int(bucket_bytes)
        d["_named"] = None  # [(path, Parameter)] at setup
        d["_synced"] = set()  # ids of the parameters whose values came from rank 0
        d["_plans"] = {}  # mask of parameters with a gradient -> [_Bucket]
        d["_sig_cache"] = None  # (shapes key, signature)
        if getattr(optimizer, "target", None) is not None:
            self.setup(optimizer.target)

    # -- the optimizer interface ----------------------------------------------
    @property
    def target(self):
        """The model being optimised (the wrapped optimizer's ``target``)."""
        return self.optimizer.target

    @property
    def hooks(self):
        """The wrapped optimizer's hooks; they run after the gradients are averaged."""
        return self.optimizer.hooks

    def add_hook(self, f) -> None:
        """Add a hook to the wrapped optimizer (it sees the averaged gradients)."""
        self.optimizer.add_hook(f)

    def setup(self, target):
        """Set up the wrapped optimizer on ``target``, check the ranks agree, broadcast rank
        0's parameter values. Collective: every rank calls it. Returns ``self``."""
        named = named_params(target, "DistributedOptimizer.setup")
        if self.optimizer.target is not target:
            self.optimizer.setup(target)
        self.__dict__["_named"] = named
        self._plans.clear()
        self._synced.clear()
        self._broadcast([p for _, p in named if p.data is not None])
        return self

    def update(self) -> None:
        """Average the gradients over the ranks, then run the wrapped optimizer's update.

        Collective: every rank calls it, after its own ``backward()``.
        """
        if self._named is None:
            raise RuntimeError("DistributedOptimizer.update: no target; call setup(model) "
                               "first")
        named = named_params(self.optimizer.target, "DistributedOptimizer.update")
        if [id(p) for _, p in named] != [id(p) for _, p in self._named]:
            raise RuntimeError("DistributedOptimizer.update: the model's parameters changed "
                               "since setup(); call setup(model) again on every rank")
        late = [p for _, p in named if p.data is not None and id(p) not in self._synced]
        if late:
            self._broadcast(late)
            if self.comm.is_root:
                warnings.warn(
                    f"DistributedOptimizer: {len(late)} parameter(s) got their data after "
                    "setup() (lazy layers); they were copied from rank 0 and this step's "
                    "gradients were discarded. Give the input sizes or run one forward pass "
                    "before setup() to keep every step.", RuntimeWarning, stacklevel=2)
            return
        self.allreduce_grads()
        self.optimizer.update()

    def allreduce_grads(self) -> None:
        """Replace every gradient by its mean over the ranks (what ``update()`` does first)."""
        if self._named is None:
            raise RuntimeError("DistributedOptimizer.allreduce_grads: no target; call "
                               "setup(model) first")
        params = [p for _, p in self._named]
        n = len(params)
        # One collective agrees on two things: the ranks hold the same parameter shapes
        # (the signature and its negation, under MAX, differ if any rank differs), and
        # which parameters have a gradient on some rank.
        mask = np.empty(n + 2, dtype=np.int64)
        sig = self._signature()
        mask[0], mask[1] = sig, -sig
        mask[2:] = [p.grad is not None for p in params]
        self.comm.max_inplace(mask)
        if mask[0] != -mask[1]:
            self.comm.check_same("DistributedOptimizer.update", describe_params(self._named),
                                 "the model's parameters (path, shape, dtype)")
            raise RuntimeError("DistributedOptimizer.update: the ranks' parameter shapes "
                               "differ")  # not reached: check_same names the ranks
        if self.comm.size == 1:
            return
        key = (sig, mask[2:].tobytes())  # a new plan when shapes or the gradients change
        buckets = self._plans.get(key)
        if buckets is None:
            if len(self._plans) >= _MAX_PLANS:  # gradients on changing subsets: keep a few
                del self._plans[next(iter(self._plans))]
            buckets = self._plans[key] = self._plan([p for p, m in zip(params, mask[2:]) if m])
        size = self.comm.size
        for bucket in buckets:
            buf = bucket.buffer
            for p, offset, count, shape in bucket.entries:
                if p.grad is None:
                    buf[offset:offset + count] = 0
                else:
                    buf[offset:offset + count] = p.grad.data.reshape(-1)
            self.comm.allreduce_inplace(buf)
            buf /= size  # a true division: for 2 or 4 ranks the mean is exact
            for p, offset, count, shape in bucket.entries:
                p.grad = Variable(buf[offset:offset + count].reshape(shape))

    # -- delegation: hyperparameters and state belong to the wrapped optimizer ------
    def __getattr__(self, name):
        optimizer = self.__dict__.get("optimizer")
        if optimizer is None or name.startswith("__"):
            raise AttributeError(f"DistributedOptimizer has no attribute {name!r}")
        return getattr(optimizer, name)

    def __setattr__(self, name, value):
        if name in _OWN:
            self.__dict__[name] = value
        else:
            setattr(self.optimizer, name, value)

    def __repr__(self):
        return (f"DistributedOptimizer({type(self.optimizer).__name__}, rank {self.comm.rank} "
                f"of {self.comm.size})")

    # -- internals ------------------------------------------------------------
    def _broadcast(self, params):
        """Check the ranks agree on the parameters, then copy ``params`` from rank 0."""
        self.comm.check_same("DistributedOptimizer.setup", describe_params(self._named),
                             "the model's parameters (path, shape, dtype)")
        arrays = []
        for p in params:
            if not p.data.flags.writeable or not p.data.flags.c_contiguous:
                p.data = p.data.copy()
            arrays.append(p.data)
            self._synced.add(id(p))
        self.comm.bcast_inplace(arrays, root=0)
        self.__dict__["_sig_cache"] = None

    def _signature(self) -> int:
        shapes = tuple(None if p.data is None else (p.data.shape, p.data.dtype.char)
                       for _, p in self._named)
        cache = self._sig_cache
        if cache is None or cache[0] != shapes:
            cache = self.__dict__["_sig_cache"] = (shapes, digest(shapes))
        return cache[1]

    def _plan(self, params) -> list:
        """Buckets for ``params`` (in model order): per dtype and device, at most
        ``bucket_bytes`` each unless one parameter is larger."""
        groups: dict = {}
        for p in params:
            data = p.data
            groups.setdefault((cuda.is_cupy_array(data), data.dtype.str), []).append(p)
        buckets = []
        for group in groups.values():
            xp = cuda.get_array_module(group[0].data)
            dtype = group[0].data.dtype
            entries: list = []
            offset = 0
            for p in group:
                size = p.data.size
                if entries and (offset + size) * dtype.itemsize > self.bucket_bytes:
                    buckets.append(_Bucket(xp, dtype, entries))
                    entries, offset = [], 0
                entries.append((p, offset, size, p.data.shape))
                offset += size
            if entries:
                buckets.append(_Bucket(xp, dtype, entries))
        return buckets
