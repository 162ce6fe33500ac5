"""The communicator: rank, size and collectives over mpi4py's buffer methods (NCCL on CuPy)."""
from __future__ import annotations

import hashlib
import numbers
from collections.abc import Iterable

import numpy as np

from dezero import cuda
from dezero._install_hint import install_hint

__all__ = ["Communicator", "init"]

_OPS = ("mean", "sum")
# dtypes that MPI reduces natively through mpi4py's typecodes; others go through float32/64.
_REDUCIBLE = frozenset("bBhHiIlLqQfdFD")
_world = None  # the Communicator of MPI.COMM_WORLD, created once by init()


def import_mpi(op: str):
    """``mpi4py.MPI``, or an ImportError naming ``op`` and how to install the ``mpi`` extra."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"{op}: mpi4py is not installed; "
                          f"{install_hint('mpi', 'mpi4py mpich')}") from e
    except RuntimeError as e:  # mpi4py without an MPI library: "cannot load MPI library"
        raise ImportError(f"{op}: mpi4py found no MPI library ({e}); "
                          f"{install_hint('mpi', 'mpich')}") from e
    return MPI


def init() -> Communicator:
    """Start MPI (once) and return the communicator of all processes of the job.

    Run the script under an MPI launcher, ``mpiexec -n 4 python -m mpi4py train.py``, so
    that an exception on one rank ends the whole job. Without a launcher it is a job of one
    process (``size == 1``) and every collective is a copy.

    Returns
    -------
    Communicator

    Raises
    ------
    ImportError
        When mpi4py, or the MPI library it needs, is missing (with the install command).

    Examples
    --------
    >>> comm = dezero.distributed.init()                     # doctest: +SKIP
    >>> print(f"rank {comm.rank} of {comm.size}")            # doctest: +SKIP
    """
    global _world
    if _world is None:
        _world = Communicator()
    return _world


def _is_number(x) -> bool:
    return isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, np.ndarray)


def _unwrap(x):
    """A Variable's array (metrics are often ``loss.data`` or ``loss`` itself)."""
    from dezero.core import Variable

    return x.data if isinstance(x, Variable) else x


def digest(obj) -> int:
    """A 62-bit non-negative hash of ``repr(obj)``, the same in every process."""
    h = hashlib.blake2b(repr(obj).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") >> 2


class Communicator:
    """The processes of a job and the collectives between them (``dezero.distributed.init()``).

    Arrays travel through mpi4py's buffer methods (``Allreduce``, ``Bcast``, ``Allgather``),
    never pickled; CuPy arrays through NCCL (``cupy.cuda.nccl``) when available, else
    through host copies and MPI. Only ``bcast_object`` pickles, for small metadata.

    Attributes
    ----------
    rank : int
        This process's index, ``0 <= rank < size``.
    size : int
        Number of processes.
    local_rank : int
        Index among the processes of this machine (to choose a GPU:
        ``cupy.cuda.Device(comm.local_rank).use()``).
    local_size : int
        Number of processes on this machine.
    mpi_comm : mpi4py.MPI.Comm
        The underlying MPI communicator.
    """

    def __init__(self, mpi_comm=None):
        MPI = import_mpi("dezero.distributed.init")
        self._MPI = MPI
        self.mpi_comm = MPI.COMM_WORLD if mpi_comm is None else mpi_comm
        self.rank = self.mpi_comm.Get_rank()
        self.size = self.mpi_comm.Get_size()
        local = self.mpi_comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = local.Get_rank()
        self.local_size = local.Get_size()
        local.Free()
        self._nccl = None  # NcclCommunicator, created at the first CuPy collective

    def __repr__(self):
        return (f"Communicator(rank={self.rank}, size={self.size}, "
                f"local_rank={self.local_rank})")

    @property
    def is_root(self) -> bool:
        """True on rank 0, the rank that saves files and prints."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every rank has reached this call."""
        self.mpi_comm.Barrier()

    # -- all-reduce -----------------------------------------------------------
    def allreduce(self, x, op: str = "mean"):
        """The mean (or sum) of ``x`` over the ranks, on every rank.

        Parameters
        ----------
        x : ndarray (NumPy or CuPy), Variable or Python/NumPy number
            The same shape and dtype on every rank. A Variable gives its array's reduction.
        op : {"mean", "sum"}

        Returns
        -------
        A new array of ``x``'s shape (integer arrays averaged become float64), or a Python
        number (``float`` for a mean, else the type of the sum).
        """
        if op not in _OPS:
            raise ValueError(f"allreduce: op must be one of {_OPS}; got {op!r}")
        x = _unwrap(x)
        if _is_number(x):
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
                raise TypeError(f"allreduce: expected a real number or an array; got "
                                f"{type(x).__name__}")
            integral = isinstance(x, numbers.Integral)
            buf = np.array([x], dtype=np.int64 if integral and op == "sum" else np.float64)
            self.allreduce_inplace(buf)
            if op == "mean":
                return float(buf[0] / self.size)
            return int(buf[0]) if integral else float(buf[0])
        if not (isinstance(x, np.ndarray) or cuda.is_cupy_array(x)):
            raise TypeError(f"allreduce: expected an ndarray, a Variable or a number; got "
                            f"{type(x).__name__}")
        xp = cuda.get_array_module(x)
        dtype = x.dtype
        if op == "mean" and dtype.kind not in "fc":
            dtype = np.dtype(np.float64)
        buf = xp.array(x, dtype=dtype, order="C", copy=True)
        self.allreduce_inplace(buf)
        if op == "mean":
            buf /= self.size
        return buf

    def allreduce_inplace(self, buf) -> None:
        """Sum the C-contiguous array ``buf`` over the ranks, in place (a building block)."""
        if self.size == 1:
            return
        if cuda.is_cupy_array(buf):
            self._allreduce_cupy(buf)
            return
        if buf.dtype.char not in _REDUCIBLE:  # float16, bool: reduce in a wider type
            wide = buf.astype(np.float32 if buf.dtype.kind in "fb" else np.float64)
            self.mpi_comm.Allreduce(self._MPI.IN_PLACE, wide, op=self._MPI.SUM)
            buf[...] = wide
            return
        self.mpi_comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)

    def max_inplace(self, buf: np.ndarray) -> None:
        """Element-wise maximum of the int64 NumPy array ``buf`` over the ranks, in place."""
        if self.size > 1:
            self.mpi_comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.MAX)

    # -- gather / broadcast ---------------------------------------------------
    def allgather(self, x):
        """Every rank's ``x``, stacked in rank order.

        Parameters
        ----------
        x : ndarray or Python/NumPy number
            Arrays must have the same shape and dtype on every rank (checked, with an error
            naming the ranks that differ).

        Returns
        -------
        ndarray of shape ``(size,) + x.shape``, or a list of ``size`` numbers.
        """
        x = _unwrap(x)
        if _is_number(x):
            out = self.allgather(np.array(x))
            return out.tolist()
        if not (isinstance(x, np.ndarray) or cuda.is_cupy_array(x)):
            raise TypeError(f"allgather: expected an ndarray, a Variable or a number; got "
                            f"{type(x).__name__}")
        self.check_same("allgather", (tuple(x.shape), x.dtype.str), "the array's shape and dtype")
        xp = cuda.get_array_module(x)
        host = cuda.as_numpy(x)
        send = np.array(host, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        out = np.empty((self.size,) + send.shape, dtype=send.dtype)
        if self.size == 1:
            out[0] = send
        else:
            self.mpi_comm.Allgather(send, out)
        return out if xp is np else xp.asarray(out)

    def check_same(self, op: str, value, what: str) -> None:
        """Raise ValueError on every rank unless ``value`` (small, repr-able) is equal on all.

        One 8-byte all-gather of a hash; only on a mismatch are the values themselves
        gathered, to name the ranks that differ.
        """
        if self.size == 1:
            return
        mine = np.array([digest(value)], dtype=np.int64)
        hashes = np.empty(self.size, dtype=np.int64)
        self.mpi_comm.Allgather(mine, hashes)
        if (hashes == hashes[0]).all():
            return
        values = self.mpi_comm.allgather(value)  # small metadata, only to word the error
        raise ValueError(f"{op}: the ranks disagree on {what}:\n  "
                         + "\n  ".join(_differences(values)))

    def bcast_object(self, obj, root: int = 0):
        """Broadcast a small picklable object (an epoch number, settings) from ``root``."""
        self._check_root("bcast_object", root)
        if self.size == 1:
            return obj
        return self.mpi_comm.bcast(obj, root=root)

    def bcast_inplace(self, arrays, root: int = 0) -> None:
        """Broadcast a list of arrays from ``root`` into the same-shaped arrays of every rank.

        Arrays of one dtype and device travel together in one flat buffer.
        """
        if self.size == 1 or not arrays:
            return
        groups: dict = {}
        for a in arrays:
            groups.setdefault((cuda.is_cupy_array(a), a.dtype.str), []).append(a)
        for (on_gpu, _), group in groups.items():
            xp = cuda.get_array_module(group[0])
            total = sum(a.size for a in group)
            flat = xp.empty(total, dtype=group[0].dtype)
            if self.rank == root:
                offset = 0
                for a in group:
                    flat[offset:offset + a.size] = a.ravel()
                    offset += a.size
            self._bcast_buffer(flat, root)
            if self.rank != root:
                offset = 0
                for a in group:
                    a[...] = flat[offset:offset + a.size].reshape(a.shape)
                    offset += a.size

    def bcast_params(self, model, root: int = 0) -> None:
        """Copy ``root``'s parameter values into every rank's model, in place.

        Parameters without data (lazy layers that have not run) are skipped; the ranks must
        agree on the parameters' paths, shapes and dtypes (checked first, ValueError if not).
        """
        self._check_root("bcast_params", root)
        named = named_params(model, "bcast_params")
        self.check_same("bcast_params", describe_params(named),
                        "the model's parameters (path, shape, dtype)")
        arrays = []
        for _, p in named:
            if p.data is None:
                continue
            if not p.data.flags.writeable or not p.data.flags.c_contiguous:
                p.data = p.data.copy()
            arrays.append(p.data)
        self.bcast_inplace(arrays, root)

    def bcast_arrays(self, arrays: dict | BaseException | None, root: int = 0) -> dict:
        """Broadcast ``{key: array}`` given on ``root`` (None elsewhere); returns it everywhere.

        Names, shapes and dtypes go through ``bcast_object``; the data through ``Bcast``.
        The result holds NumPy arrays. When ``arrays`` is an exception on ``root`` (a failed
        load), every other rank raises a RuntimeError naming it, and ``root`` re-raises it.
        """
        self._check_root("bcast_arrays", root)
        if self.rank == root:
            if isinstance(arrays, BaseException):
                self.bcast_object(("error", f"{type(arrays).__name__}: {arrays}"), root)
                raise arrays
            if not isinstance(arrays, dict):
                raise TypeError(f"bcast_arrays: expected a dict of arrays on rank {root}; got "
                                f"{type(arrays).__name__}")
            host = {k: np.ascontiguousarray(cuda.as_numpy(v)) for k, v in arrays.items()}
            meta = [(k, v.shape, v.dtype.str) for k, v in host.items()]
            self.bcast_object(("ok", meta), root)
        else:
            status, meta = self.bcast_object(None, root)
            if status == "error":
                raise RuntimeError(f"rank {root} failed and broadcast nothing: {meta}")
            host = {k: np.empty(shape, dtype=dtype) for k, shape, dtype in meta}
        self.bcast_inplace(list(host.values()), root)
        return host

    # -- internals ------------------------------------------------------------
    def _check_root(self, op, root):
        if not isinstance(root, (int, np.integer)) or not 0 <= root < self.size:
            raise ValueError(f"{op}: root must be a rank in [0, {self.size}); got {root!r}")

    def _bcast_buffer(self, flat, root):
        if cuda.is_cupy_array(flat):
            nccl = self._nccl_comm()
            if nccl is not None:
                import cupy

                nccl.broadcast(flat.data.ptr, flat.data.ptr, flat.nbytes, _nccl_type(None),
                               root, cupy.cuda.get_current_stream().ptr)
                return
            host = cuda.as_numpy(flat)
            self.mpi_comm.Bcast(host, root=root)
            flat.set(host)
            return
        self.mpi_comm.Bcast(flat, root=root)

    def _nccl_comm(self):
        """An NCCL communicator over the same ranks, or None without NCCL."""
        if self._nccl is None:
            import cupy

            try:
                from cupy.cuda import nccl
                available = bool(getattr(nccl, "available", True))
            except ImportError:
                available = False
            # NCCL needs one GPU per rank: ranks sharing a device stay on MPI.
            device = (self._MPI.Get_processor_name(), cupy.cuda.Device().pci_bus_id)
            devices = self.mpi_comm.allgather(device)  # small metadata
            distinct = len(set(devices)) == len(devices)
            if not self.mpi_comm.allreduce(int(available and distinct), op=self._MPI.MIN):
                self._nccl = False  # some rank lacks NCCL or shares a GPU: stay on MPI
            else:
                uid = nccl.get_unique_id() if self.rank == 0 else None
                uid = self.mpi_comm.bcast(uid, root=0)
                self._nccl = nccl.NcclCommunicator(self.size, uid, self.rank)
        return self._nccl or None

    def _allreduce_cupy(self, buf):
        nccl = self._nccl_comm()
        dtype = _nccl_type(buf.dtype) if nccl is not None else None
        if dtype is not None:
            import cupy
            from cupy.cuda import nccl as nccl_module

            nccl.allReduce(buf.data.ptr, buf.data.ptr, buf.size, dtype, nccl_module.NCCL_SUM,
                           cupy.cuda.get_current_stream().ptr)
            return
        host = cuda.as_numpy(buf)  # no NCCL: through the host and MPI
        self.allreduce_inplace(host)
        buf.set(host)


def _differences(values, limit=8) -> list:
    """Lines naming what differs between the ranks' values (for lists: the differing items)."""
    if all(isinstance(v, list) for v in values):
        lines = []
        lengths = [len(v) for v in values]
        if len(set(lengths)) > 1:
            lines.append("number of entries: " + ", ".join(
                f"rank {r}: {n}" for r, n in enumerate(lengths)))
        for i in range(max(lengths)):
            items = [v[i] if i < len(v) else "(none)" for v in values]
            if any(item != items[0] for item in items):
                lines.append(", ".join(f"rank {r}: {item!r}" for r, item in enumerate(items)))
                if len(lines) >= limit:
                    lines.append("...")
                    break
        return lines
    return [f"rank {r}: {v!r}" for r, v in enumerate(values)]


def _nccl_type(dtype):
    """NCCL's datatype for ``dtype`` (None: bytes, for broadcasts), or None if it has none."""
    from cupy.cuda import nccl

    if dtype is None:
        return nccl.NCCL_UINT8 if hasattr(nccl, "NCCL_UINT8") else nccl.NCCL_CHAR
    table = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
             "int32": "NCCL_INT32", "int64": "NCCL_INT64"}
    name = table.get(np.dtype(dtype).name)
    return getattr(nccl, name, None) if name else None


def named_params(model, op: str) -> list:
    """``[(path, Parameter)]`` of a Layer (attribute paths) or of ``params()`` (positions)."""
    if hasattr(model, "_flatten_params"):
        flat: dict = {}
        model._flatten_params(flat)
        items: Iterable = flat.items()
    elif callable(getattr(model, "params", None)):
        items = ((str(i), p) for i, p in enumerate(model.params()))
    else:
        raise TypeError(f"{op}: expected a Layer or Model (with params()); got "
                        f"{type(model).__name__}")
    seen, named = set(), []
    for path, p in items:
        if id(p) not in seen:  # a shared parameter counts once
            seen.add(id(p))
            named.append((path, p))
    return named


def describe_params(named) -> list:
    """``[(path, shape or None, dtype or None)]``: what the ranks must agree on."""
    return [(path, None if p.data is None else tuple(p.data.shape),
             None if p.data is None else p.data.dtype.str) for path, p in named]
