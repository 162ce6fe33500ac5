"""The define-by-run engine: Config, Variable, Parameter, Function and backward."""
from __future__ import annotations

import contextlib
import heapq
import operator
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from dezero import cuda

# =============================================================================
# Config: per-thread switches read as class attributes
# =============================================================================


class _ConfigState(threading.local):
    """Per-thread values; a new thread starts from these class defaults."""

    enable_backprop = True
    train = True


_state = _ConfigState()
_CONFIG_NAMES = ("enable_backprop", "train")


class _ConfigMeta(type):
    """Makes ``Config.enable_backprop`` read and write the current thread's value."""

    def __getattr__(cls, name):
        raise AttributeError(f"Config has no setting {name!r}; known: {', '.join(_CONFIG_NAMES)}")

    enable_backprop = property(lambda cls: _state.enable_backprop,
                               lambda cls, v: setattr(_state, "enable_backprop", v))
    train = property(lambda cls: _state.train, lambda cls, v: setattr(_state, "train", v))


class Config(metaclass=_ConfigMeta):
    """Global switches, one set per thread: ``enable_backprop`` and ``train``."""

    def __new__(cls, *args, **kwargs):
        raise TypeError("Config is a namespace; read and set its class attributes instead")


@contextlib.contextmanager
def using_config(name: str, value: Any) -> Iterator[None]:
    """Set ``Config.<name>`` to ``value`` inside the block; restore it afterwards.

    The old value comes back even when the block raises. Only the current thread sees
    the change.

    Raises
    ------
    AttributeError
        For a name that is not a setting of ``Config``.
    """
    old_value = getattr(Config, name)  # raises AttributeError for an unknown name
    setattr(Config, name, value)
    try:
        yield
    finally:
        setattr(Config, name, old_value)


def no_grad() -> contextlib.AbstractContextManager[None]:
    """Context manager in which no graph is recorded."""
    return using_config("enable_backprop", False)


def test_mode() -> contextlib.AbstractContextManager[None]:
    """Context manager for inference: dropout is off, batch_norm uses running statistics."""
    return using_config("train", False)


test_mode.__test__ = False  # type: ignore[attr-defined]  # pytest must not collect it when a test module imports it


# =============================================================================
# Variable / Parameter
# =============================================================================


def _check_data_type(data):
    if data is not None and not isinstance(data, np.ndarray) and not cuda.is_cupy_array(data):
        raise TypeError(f"{type(data)} is not supported; wrap it with numpy.array(...)")


class Variable:
    """A node of the graph: an ndarray (NumPy or CuPy) with its gradient and creator.

    Parameters
    ----------
    data : ndarray or None
        A NumPy or CuPy array. Python numbers, lists and NumPy scalars raise TypeError.
    name : str, optional
        Shown by ``dezero.utils.get_dot_graph``.
    """

    # NOTE: slots keep a graph node small (a 1,000,000-deep chain holds a million of them);
    # there is no per-instance __dict__, so only these attributes can be set.
    __slots__ = ("data", "name", "grad", "creator", "generation", "__weakref__")
    __array_priority__ = 200
    data: Any
    name: str | None
    grad: Any  # a Variable, or None; Any so that the book's ``x.grad.data`` type-checks
    creator: Function | None
    generation: int

    if TYPE_CHECKING:  # installed by setup_variable(); declared for type checkers
        def __add__(self, other: Any) -> Variable: ...
        def __radd__(self, other: Any) -> Variable: ...
        def __mul__(self, other: Any) -> Variable: ...
        def __rmul__(self, other: Any) -> Variable: ...
        def __neg__(self) -> Variable: ...
        def __sub__(self, other: Any) -> Variable: ...
        def __rsub__(self, other: Any) -> Variable: ...
        def __truediv__(self, other: Any) -> Variable: ...
        def __rtruediv__(self, other: Any) -> Variable: ...
        def __pow__(self, other: Any) -> Variable: ...
        def __rpow__(self, other: Any) -> Variable: ...
        def __getitem__(self, slices: Any) -> Variable: ...
        def __matmul__(self, other: Any) -> Variable: ...
        def __rmatmul__(self, other: Any) -> Variable: ...
        def __abs__(self) -> Variable: ...
        def matmul(self, other: Any) -> Variable: ...
        def dot(self, other: Any) -> Variable: ...
        def max(self, axis: Any = None, keepdims: bool = False) -> Variable: ...
        def min(self, axis: Any = None, keepdims: bool = False) -> Variable: ...

    def __init__(self, data: Any, name: str | None = None) -> None:
        if data is not None and data.__class__ is not np.ndarray:
            _check_data_type(data)
        self.data = data
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0

    # -- array-like attributes ------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        if self.data is None:
            return "variable(None)"
        body = str(self.data).replace("\n", "\n" + " " * 9)
        return "variable(" + body + ")"

    # -- graph bookkeeping ----------------------------------------------------
    def set_creator(self, func: Function) -> None:
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self) -> None:
        self.grad = None

    def register_hook(self, fn: Callable[[Variable], Any]) -> _HookHandle:
        """Call ``fn(grad)`` whenever backward computes this Variable's gradient.

        ``fn`` gets the gradient (a Variable) and may return a replacement (a Variable or
        an ndarray of the same shape), which then flows on; None keeps it. Hooks run in
        registration order, also under ``dezero.func`` transforms.

        Returns
        -------
        handle
            ``handle.remove()`` unregisters ``fn``.
        """
        if not callable(fn):
            raise TypeError(f"register_hook: fn must be callable; got {type(fn).__name__}")
        _hooks_of(self, create=True).append(fn)
        if self.creator is not None:
            _hook_backward(self.creator)
        return _HookHandle(self, fn)

    def retain_grad(self) -> None:
        """Keep this non-leaf Variable's gradient in ``grad`` after backward.

        Each backward pass sets ``grad`` to that pass's gradient (as ``backward(
        retain_grad=True)`` does for every non-leaf). A leaf keeps its gradient anyway.
        """
        if self.creator is None:
            return
        hooks = _hooks_of(self, create=True)
        if _RETAIN not in hooks:
            hooks.append(_RETAIN)
        _hook_backward(self.creator)

    def unchain(self) -> None:
        self.creator = None

    def unchain_backward(self) -> None:
        """Cut the graph behind this variable (truncated BPTT); ``self`` keeps its creator."""
        if self.creator is None:
            return
        stack = [self.creator]
        seen = {self.creator}
        while stack:
            f = stack.pop()
            for x in f.inputs:
                creator = x.creator
                if creator is not None:
                    if creator not in seen:
                        seen.add(creator)
                        stack.append(creator)
                    x.unchain()

    # -- shape helpers (the functions live in dezero.functions) --------------
    def reshape(self, *shape: Any) -> Variable:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            return _F().reshape(self, tuple(shape[0]))
        return _F().reshape(self, tuple(shape))

    def transpose(self, *axes: Any) -> Variable:
        if len(axes) == 0:
            return _F().transpose(self, None)
        if len(axes) == 1 and (isinstance(axes[0], (tuple, list)) or axes[0] is None):
            return _F().transpose(self, axes[0])
        return _F().transpose(self, axes)

    @property
    def T(self) -> Variable:
        return _F().transpose(self)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
        return _F().sum(self, axis, keepdims)

    def item(self) -> Any:
        """The value of a size-1 Variable as a Python scalar."""
        if self.data is None or self.data.size != 1:
            shape = None if self.data is None else self.data.shape
            raise ValueError(f"item: only a Variable of size 1 converts to a Python scalar; "
                             f"got shape {shape}")
        return self.data.item()

    # -- interop: NumPy, Python numbers, DLPack ---------------------------------
    def __array__(self, dtype=None, copy=None):
        """The data for NumPy (``np.asarray(v)``): the array itself, or a converted copy.

        Operators are unaffected: ``ndarray op Variable`` still defers to the Variable
        (``__array_priority__``) and records a graph node.

        Raises
        ------
        TypeError
            When the data is a CuPy array: NumPy cannot read GPU memory implicitly.
        """
        data = self.data
        if data is None:
            raise TypeError("Variable.__array__: the Variable has no data (None)")
        if data.__class__ is not np.ndarray and not isinstance(data, np.ndarray):
            raise TypeError("Variable.__array__: the data is a CuPy array on the GPU and NumPy "
                            "cannot read it implicitly; copy it with dezero.cuda.as_numpy(v.data) "
                            "or move it with v.to_cpu() first")
        if copy:
            return np.array(data, dtype=dtype, copy=True)
        if dtype is not None and np.dtype(dtype) != data.dtype:
            if copy is False:
                raise ValueError(f"Variable.__array__: converting {data.dtype} to "
                                 f"{np.dtype(dtype)} needs a copy, but copy=False")
            return data.astype(dtype)
        return data

    def _scalar(self, op):
        data = self.data
        if data is None or data.size != 1:
            shape = None if data is None else tuple(data.shape)
            raise TypeError(f"{op}: only a Variable of size 1 converts to a Python scalar; "
                            f"got shape {shape}")
        return data.item()  # works for CuPy too (a device-to-host copy of one element)

    def __float__(self):
        return float(self._scalar("float()"))

    def __int__(self):
        return int(self._scalar("int()"))

    def __bool__(self):
        # NOTE: as NumPy and PyTorch: only a size-1 Variable has a truth value.
        data = self.data
        if data is None or data.size != 1:
            shape = None if data is None else tuple(data.shape)
            raise ValueError(f"bool(): the truth value of a Variable with shape {shape} is "
                             "ambiguous; use (v.data).any() or (v.data).all(), or v is None "
                             "to test for presence")
        return bool(data.item())

    def __dlpack__(self, **kwargs):
        """Export the data through DLPack (``torch.from_dlpack(v)``, ``np.from_dlpack(v)``).

        Zero-copy: the consumer sees the same memory. The keyword arguments of the DLPack
        protocol (``stream``, ``max_version``, ``dl_device``, ``copy``) go to the array.
        """
        if self.data is None:
            raise TypeError("Variable.__dlpack__: the Variable has no data (None)")
        return self.data.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        """``(device_type, device_id)`` of the data, as the DLPack protocol defines."""
        if self.data is None:
            raise TypeError("Variable.__dlpack_device__: the Variable has no data (None)")
        return self.data.__dlpack_device__()

    # -- devices --------------------------------------------------------------
    def to_cpu(self) -> None:
        if self.data is not None:
            self.data = cuda.as_numpy(self.data)
        if self.grad is not None:
            self.grad.to_cpu()

    def to_gpu(self) -> None:
        if self.data is not None:
            cuda.require_gpu("Variable.to_gpu")  # a clear RuntimeError without a GPU
            self.data = cuda.as_cupy(self.data)
        if self.grad is not None:
            self.grad.to_gpu()

    # -- backward -------------------------------------------------------------
    def backward(self, retain_grad: bool = False, create_graph: bool = False):
        """Accumulate d(self)/d(leaf) into every reachable leaf's ``grad``.

        The graph is walked highest generation first with a priority queue, so each
        function runs once, after all of its outputs' gradients are complete.

        Parameters
        ----------
        retain_grad : bool
            Keep this pass's gradient in the ``grad`` of every non-leaf variable.
        create_graph : bool
            Record the backward computation, so the gradients can be differentiated again.

        Raises
        ------
        ValueError
            When the seed (a user-set ``grad``) or a gradient returned by a function's
            ``backward`` does not have its variable's shape.
        """
        seed = self._prepare_seed()
        if self.creator is None:
            return  # a leaf: seeding is all there is to do
        old_backprop = _state.enable_backprop
        _state.enable_backprop = create_graph
        try:
            _run_backward(self, seed, retain_grad, create_graph)
        finally:
            _state.enable_backprop = old_backprop

    def _prepare_seed(self):
        grad = self.grad
        if grad is None:
            xp = cuda.get_array_module(self.data)
            grad = self.grad = Variable(xp.ones_like(self.data))
            return grad
        if not isinstance(grad, Variable):
            grad = self.grad = Variable(grad)
        if grad.data.shape != self.data.shape:
            where = (f"the output of {type(self.creator).__name__!r}" if self.creator is not None
                     else "a leaf variable")
            raise ValueError(f"backward seed for {where}: grad shape {grad.data.shape} does not "
                             f"match shape {self.data.shape}")
        return grad


class Parameter(Variable):
    """A Variable that a Layer registers as one of its parameters."""

    __slots__ = ()


def _F():
    # dezero.functions imports this module, so it is looked up at call time.
    return sys.modules["dezero.functions"]


# Hot-path helpers: a Variable built without running __init__ (its data is known to be an
# array), and C-level attribute getters.
_new_object = object.__new__
_data_of = operator.attrgetter("data")
_generation_of = operator.attrgetter("generation")
_modules = sys.modules
_ref = weakref.ref
_asarray = np.asarray
_ndarray = np.ndarray
_np_generic = np.generic
# The classes of raw gradients met most (tested before the isinstance that covers the rest).
_RAW_GRAD_TYPES = frozenset((np.ndarray, np.float64, np.float32, np.float16))


# NumPy 1.x promotes a 0-d float32 array (or NumPy scalar) combined with a Python number to
# float64: its value-based casting only spares arrays with dimensions. NumPy 2 keeps float32
# (NEP 50). So that float32 stays float32 on both, under NumPy 1.x a 0-d floating result
# wider than the op's floating inputs is cast back to their dtype.
_NUMPY1 = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def _narrow_0d(y, xs):
    """``y`` as the widest floating dtype among ``xs`` when it is a wider 0-d float."""
    dtype = getattr(y, "dtype", None)
    if dtype is None or dtype.kind != "f" or y.ndim != 0:
        return y
    widest = None
    for x in xs:
        xdtype = getattr(x, "dtype", None)
        if xdtype is not None and xdtype.kind == "f" and (
                widest is None or xdtype.itemsize > widest.itemsize):
            widest = xdtype
    if widest is not None and widest.itemsize < dtype.itemsize:
        return y.astype(widest)
    return y


def _wrap(data):
    """``Variable(data)`` for an ndarray (no checks)."""
    v = _new_object(Variable)
    v.data = data
    v.name = None
    v.grad = None
    v.creator = None
    v.generation = 0
    return v


# =============================================================================
# Function
# =============================================================================


def as_array(x: Any, array_module: Any = np) -> Any:
    """``array_module.array(x)`` for a scalar, ``x`` itself otherwise."""
    if np.isscalar(x):
        return array_module.array(x)
    return x


def as_variable(obj: Any) -> Variable:
    """``obj`` if it is a Variable, else ``Variable(obj)``."""
    if isinstance(obj, Variable):
        return obj
    return Variable(obj)


def _output_array(y):
    """A forward result as an array: NumPy scalars become 0-d arrays; others are checked."""
    if isinstance(y, np.generic):
        return np.asarray(y)
    y = as_array(y)
    _check_data_type(y)
    return y


def _describe_arrays(arrays):
    parts = []
    for a in arrays:
        if hasattr(a, "shape") and hasattr(a, "dtype"):
            parts.append(f"{tuple(a.shape)} {a.dtype}")
        else:
            parts.append(type(a).__name__)
    return ", ".join(parts)


def _add_context(exc, func, stage, arrays):
    """Re-raise ``exc`` with the op name and the shapes/dtypes of its arrays."""
    if getattr(exc, "_dezero_context", False):
        raise exc
    context = f"{type(func).__name__}.{stage} failed on ({_describe_arrays(arrays)})"
    new_exc = None
    if type(exc) in (ValueError, TypeError, IndexError, RuntimeError, ZeroDivisionError,
                     FloatingPointError, NotImplementedError, KeyError):
        try:
            new_exc = type(exc)(f"{exc} [{context}]")
        except Exception:
            new_exc = None
    if new_exc is None:
        if hasattr(exc, "add_note"):
            exc.add_note(context)
        else:  # Python 3.10: no add_note, but __notes__ is where 3.11+ keeps them
            try:
                exc.__notes__ = [*getattr(exc, "__notes__", []), context]
            except Exception:  # an exception type that refuses new attributes
                pass
        exc._dezero_context = True
        raise exc
    new_exc._dezero_context = True
    raise new_exc.with_traceback(exc.__traceback__) from None


def _check_same_device(func, xs):
    module_of = [type(x).__module__.split(".")[0] for x in xs]
    if len(set(module_of)) > 1:
        raise TypeError(f"{type(func).__name__}: inputs live on different devices: "
                        f"{', '.join(f'{type(x).__module__}.{type(x).__name__}' for x in xs)}; "
                        "move them with to_gpu()/to_cpu() first")


class Function:
    """Base class of differentiable operations.

    Subclasses define ``forward(*xs)``, which gets ndarrays and returns an array or a tuple
    of arrays, and ``backward(*gys)``, which gets one gradient Variable per output and
    returns one gradient (or a tuple or list with one per input): a Variable, an ndarray,
    or None for "no gradient". Calling the function records the graph unless
    ``Config.enable_backprop`` is off: ``inputs`` (a list of Variables), ``outputs``
    (a list of weak references) and ``generation``. ``inputs`` and ``outputs`` give a new
    list on each read; assign to change them.

    Two optional fast variants serve passes without ``create_graph``: ``backward_raw(g)``
    for a single-output function (raw arrays in and out; not used with ``retain_grad``
    either) and ``backward_inplace(gy)`` with ``fresh_grads`` (see the comments in the
    class body). A subclass that redefines ``backward`` alone does not inherit them.

    Examples
    --------
    >>> class Square(Function):
    ...     def forward(self, x):
    ...         return x ** 2
    ...     def backward(self, gy):
    ...         x, = self.inputs
    ...         return 2 * x * gy
    >>> x = Variable(np.array(3.0))
    >>> y = Square()(x)
    >>> y.backward()
    >>> x.grad
    variable(6.0)
    """

    generation = 0

    # Gradient ownership, read by the backward pass (see ``_run_backward``; used only
    # without ``create_graph``). ``fresh_grads = True`` promises that ``backward`` returns,
    # for each input, None or an array (or a Variable holding one) that nothing else refers
    # to: newly allocated, or a view of such memory that no other result overlaps. A class
    # that also defines ``backward_inplace(gy)`` gets that method called instead of
    # ``backward`` when the pass owns ``gy``: it may then overwrite ``gy.data``.
    fresh_grads = False
    backward_inplace: Callable[[Any], Any] | None = None
    # The raw protocol, for single-output functions. A class that defines
    # ``backward_raw(g)`` gets it called instead of ``backward`` when the pass builds no
    # graph and keeps no intermediate gradient (neither ``create_graph`` nor
    # ``retain_grad``): ``g`` is the output's gradient as an array (a NumPy scalar where it
    # is 0-d on NumPy), and the results are arrays, NumPy scalars or None, with the values
    # ``backward`` would give. No Variable is built around a gradient that only passes
    # through: in a chain of scalar ops that wrapping was a fifth of the backward pass.
    backward_raw: Callable[[Any], Any] | None = None

    # Graph links, stored compactly. Every op of a graph costs three objects that Python's
    # cyclic garbage collector tracks (the Function, its output Variable and the weak
    # reference to that output) instead of five with two lists beside them: the collector's
    # full passes over a 100,000-deep graph took a third of its forward time
    # (``benchmarks/run.py``, row ``chain``). ``inputs`` and ``outputs`` read as the lists
    # of the book (a new list on each read); assigning either sets the links.
    # One or two inputs are held in ``_x0`` and ``_x1`` (None when there is one), any other
    # number as the tuple ``_xs``; one output as the weak reference ``_y``, several as the
    # tuple ``_ys``. Built-in ops read ``_x0``, ``_x1`` and ``_y`` directly. ``_xs`` and
    # ``_ys`` are False while nothing is recorded (reading the links raises AttributeError,
    # as before a first call in the book) and None after ``f.inputs = None``.
    _x0: Any = None  # a Variable once called (Any: the ops' backward reads it unchecked)
    _x1: Any = None
    _xs: Any = False
    _y: weakref.ref[Variable] | None = None
    _ys: Any = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that redefines ``backward`` alone is not served the fast variants it
        # inherited: they would compute its parent's gradient.
        own = cls.__dict__
        if "backward" in own:
            if "backward_raw" not in own:
                cls.backward_raw = None
            if "backward_inplace" not in own:
                cls.backward_inplace = None

    @property
    def inputs(self) -> list[Variable]:
        """The input Variables of the last call (strong references), as a new list."""
        x0 = self._x0
        if x0 is not None:
            x1 = self._x1
            return [x0] if x1 is None else [x0, x1]
        xs = self._xs
        if xs is False:
            raise _unrecorded(self, "inputs")
        return None if xs is None else list(xs)  # type: ignore[return-value]

    @inputs.setter
    def inputs(self, inputs: Sequence[Variable] | None) -> None:
        if inputs is None:  # (some code drops a graph's links this way)
            self._x0 = self._x1 = self._xs = None
        else:
            _set_inputs(self, inputs)

    @inputs.deleter
    def inputs(self) -> None:
        self._x0 = self._x1 = None
        self._xs = False

    @property
    def outputs(self) -> list[weakref.ref[Variable]]:
        """Weak references to the output Variables of the last call, as a new list."""
        ref = self._y
        if ref is not None:
            return [ref]
        refs = self._ys
        if refs is False:
            raise _unrecorded(self, "outputs")
        return None if refs is None else list(refs)  # type: ignore[return-value]

    @outputs.setter
    def outputs(self, refs: Sequence[weakref.ref[Variable]] | None) -> None:
        if refs is None:
            self._y = self._ys = None
        else:
            _set_outputs(self, refs)

    @outputs.deleter
    def outputs(self) -> None:
        self._y = None
        self._ys = False

    def __call__(self, *inputs):
        for x in inputs:
            if x.__class__ is not Variable and not isinstance(x, Variable):
                inputs = tuple([as_variable(x) for x in inputs])
                break
        n = len(inputs)
        if n == 1:
            return _apply(self, inputs[0])
        if n == 2:
            return _apply(self, inputs[0], inputs[1])
        xs = list(map(_data_of, inputs))
        try:
            if "cupy" in _modules:
                _check_same_device(self, xs)
            ys = self.forward(*xs)
        except Exception as exc:
            _add_context(exc, self, "forward", xs)
        return self._record_many(inputs, ys if ys.__class__ is tuple else (ys,))

    def _record_many(self, inputs, ys):
        if _NUMPY1:
            xs = [x.data for x in inputs]
            ys = [_narrow_0d(_output_array(y), xs) for y in ys]
        outputs = [_wrap(y if y.__class__ is np.ndarray else _output_array(y)) for y in ys]
        if _state.enable_backprop:
            self.generation = gen = max(map(_generation_of, inputs)) if inputs else 0
            for output in outputs:
                output.creator = self
                output.generation = gen + 1
            _set_inputs(self, inputs)
            _set_outputs(self, [_ref(output) for output in outputs])
            if len(outputs) > 1:
                self._output_meta = [(y.shape, y.dtype) for y in outputs]
            if _anomaly_on:
                _anomaly_note(self)
        return outputs if len(outputs) > 1 else outputs[0]

    def forward(self, *xs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, *gys):
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")


def _unrecorded(f, name):
    return AttributeError(f"{type(f).__name__!r} object has no attribute {name!r} (the "
                          "function has not recorded a call)")


def _set_inputs(f, inputs):
    """Record ``inputs`` (a sequence of Variables) as ``f``'s graph inputs."""
    inputs = tuple(inputs)
    if 1 <= len(inputs) <= 2:
        f._x0 = inputs[0]
        f._x1 = inputs[1] if len(inputs) == 2 else None
        f._xs = False
    else:
        f._x0 = f._x1 = None
        f._xs = inputs


def _set_outputs(f, refs):
    """Record ``refs`` (weak references to the outputs) as ``f``'s graph outputs."""
    refs = tuple(refs)
    if len(refs) == 1:
        f._y, f._ys = refs[0], False
    else:
        f._y, f._ys = None, refs


def _apply(f, x0, x1=None):
    """``f(x0)`` or ``f(x0, x1)`` for Variables: ``Function.__call__`` with one or two inputs.

    The common case, written out: this is the per-op overhead of the whole framework
    (``benchmarks/bench_engine.py``). Built-in ops whose operands are already Variables
    call it directly; it records exactly what ``__call__`` records.
    """
    a0 = x0.data
    try:
        if x1 is None:
            y = f.forward(a0)
        else:
            a1 = x1.data
            if a0.__class__ is not a1.__class__ and "cupy" in _modules:
                _check_same_device(f, [a0, a1])
            y = f.forward(a0, a1)
    except Exception as exc:
        _add_context(exc, f, "forward", [a0] if x1 is None else [a0, x1.data])
    if y.__class__ is not _ndarray:
        if y.__class__ is tuple:
            return f._record_many((x0,) if x1 is None else (x0, x1), y)
        # NumPy returns a scalar for 0-d operands; the output is a 0-d array again.
        y = _asarray(y) if isinstance(y, _np_generic) else _output_array(y)
        if _NUMPY1 and y.ndim == 0:
            y = _narrow_0d(y, (a0,) if x1 is None else (a0, x1.data))
    out = _new_object(Variable)
    out.data = y
    out.name = None
    out.grad = None
    if _state.enable_backprop:
        gen = x0.generation
        f._x0 = x0
        f._x1 = x1
        if x1 is not None and x1.generation > gen:
            gen = x1.generation
        f.generation = gen
        out.creator = f
        out.generation = gen + 1
        f._y = _ref(out)
        if _anomaly_on:
            _anomaly_note(f)
    else:
        out.creator = None
        out.generation = 0
    return out


def _record(f, x0, y):
    """``_apply(f, x0)`` for a forward result ``y`` (an ndarray) the caller computed.

    For op wrappers that run a one-call forward inline (``dezero._ops.math``), saving the
    ``forward`` call; it records exactly what ``_apply`` records.
    """
    if _NUMPY1 and y.ndim == 0:
        y = _narrow_0d(_output_array(y), (x0.data,))
    out = _new_object(Variable)
    out.data = y
    out.name = None
    out.grad = None
    if _state.enable_backprop:
        f._x0 = x0
        f._x1 = None
        f.generation = gen = x0.generation
        out.creator = f
        out.generation = gen + 1
        f._y = _ref(out)
        if _anomaly_on:
            _anomaly_note(f)
    else:
        out.creator = None
        out.generation = 0
    return out


# =============================================================================
# backward walk
# =============================================================================


def _zeros_for_output(func, index, output):
    xp = cuda.get_array_module(func.inputs[0].data) if func.inputs else np
    if output is not None and output.data is not None:
        return Variable(xp.zeros_like(output.data))
    shape, dtype = func._output_meta[index]
    return Variable(xp.zeros(shape, dtype=dtype))


def _output_grads(func, grads, root, retain_grad, claimed, create_graph):
    """The gradients of a multi-output function's outputs; zeros for unused ones."""
    gys = []
    for i, ref in enumerate(func.outputs):
        y = ref()
        gy = grads.pop(y, None) if y is not None else None
        if gy is None:  # an unused output contributes zeros
            gy = _zeros_for_output(func, i, y)
        else:
            gy = _as_grad(gy)
        if y is not None:
            if not retain_grad:
                y.grad = None
            elif y is not root:  # root keeps its seed
                gy = y.grad = _claim(gy, claimed, create_graph)
        gys.append(gy)
    return gys


def _count_error(func, n_grads):
    """ValueError for a wrong number of gradients, or None when the rest are integer inputs."""
    n_in = len(func.inputs)
    name = type(func).__name__
    if n_grads > n_in:
        return ValueError(f"Function {name!r} returned {n_grads} gradients for {n_in} inputs")
    for x in func.inputs[n_grads:]:
        if x.data is not None and x.data.dtype.kind not in "iub":
            return ValueError(f"Function {name!r} returned {n_grads} gradients for {n_in} "
                              "inputs; only integer inputs may be left without one")
    return None


def _shape_error(func, gxs):
    """ValueError for the first gradient whose shape differs from its input's."""
    for index, (x, g) in enumerate(zip(func.inputs, gxs)):
        if g is None or x.data is None:
            continue
        got = g.data.shape if isinstance(g, Variable) else np.shape(g)
        if got != x.data.shape:
            return ValueError(f"Function {type(func).__name__!r} returned an invalid gradient "
                              f"at index {index} - got {got} but expected shape {x.data.shape}")
    return ValueError(f"Function {type(func).__name__!r} returned an invalid gradient")


def _claim(gx, claimed, create_graph):
    """``gx``, or a copy if it (or its memory) already belongs to another ``.grad``."""
    data = gx.data
    if id(gx) in claimed or id(data) in claimed or getattr(data, "base", None) is not None:
        gx = _owned_copy(gx, create_graph)
    claimed.add(id(gx))
    claimed.add(id(gx.data))
    return gx


def _owned_copy(gx, create_graph):
    if create_graph:
        return _Copy()(gx)
    return Variable(gx.data.copy())


class _Copy(Function):
    """y = x, as a new array (keeps gradients from sharing memory)."""

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


def _as_grad(g):
    """A gradient held in the pass: a Variable, or the raw sum of several (no graph)."""
    if g.__class__ is Variable:
        return g
    return _wrap(g if g.__class__ is np.ndarray else _output_array(g))


# =============================================================================
# gradient hooks (Variable.register_hook, retain_grad) and anomaly mode
# =============================================================================

# id(Variable) -> (weak reference to it, list of hooks). A plain dict, so that backward's
# test ``if _var_hooks`` is one C-level truthiness check (a WeakKeyDictionary's len() is a
# Python call); the weak reference's callback drops the entry when the Variable dies, so a
# hook never keeps its Variable alive and the dict empties again.
_var_hooks: dict[int, tuple] = {}
_RETAIN = object()  # the hook that retain_grad() registers


class _HookHandle:
    """Returned by ``Variable.register_hook``; ``remove()`` unregisters the hook."""

    __slots__ = ("_var", "_fn")

    def __init__(self, var: Variable, fn: Callable[[Variable], Any]) -> None:
        self._var = weakref.ref(var)
        self._fn = fn

    def remove(self) -> None:
        var = self._var()
        if var is None:
            return
        hooks = _hooks_of(var)
        if hooks and self._fn in hooks:
            hooks.remove(self._fn)
            if not hooks:
                del _var_hooks[id(var)]


def _hooks_of(v, create=False):
    """The list of hooks of Variable ``v`` (None if it has none and not ``create``)."""
    key = id(v)
    entry = _var_hooks.get(key)
    if entry is not None and entry[0]() is v:
        return entry[1]
    if not create:
        return None

    def drop(ref, key=key):
        current = _var_hooks.get(key)
        if current is not None and current[0] is ref:
            del _var_hooks[key]

    hooks = []
    _var_hooks[key] = (weakref.ref(v, drop), hooks)
    return hooks


def _call_hooks(v, g):
    """``g`` passed through the hooks of Variable ``v`` (each may replace it)."""
    for fn in list(_hooks_of(v) or ()):
        if fn is _RETAIN:
            v.grad = g if _state.enable_backprop else Variable(g.data.copy())
            continue
        new = fn(g)
        if new is None:
            continue
        if not isinstance(new, Variable):
            new = Variable(_output_array(new))
        if new.shape != g.shape:
            raise ValueError(f"register_hook: hook {getattr(fn, '__name__', fn)!r} returned "
                             f"a gradient of shape {new.shape} for a Variable of shape "
                             f"{g.shape}")
        g = new
    return g


class _HookedBackward:
    """The per-instance ``backward`` of a Function with hooked outputs or anomaly checks.

    It runs the hooks of the function's outputs on their gradients, then the class's
    backward, then (in anomaly mode) the NaN/Inf check. Installed as an instance attribute,
    so the backward walk itself tests nothing and pays nothing for the feature; it holds
    the function weakly, so no reference cycle keeps a graph alive.
    """

    __slots__ = ("func", "check")

    def __init__(self, func, check):
        self.func = weakref.ref(func)
        self.check = check

    def __call__(self, *gys):
        f = self.func()
        if _var_hooks:
            gys = list(gys)
            for i, ref in enumerate(f.outputs):
                y = ref()
                if y is not None and id(y) in _var_hooks:
                    gys[i] = _call_hooks(y, gys[i])
        gxs = type(f).backward(f, *gys)
        if self.check:
            _anomaly_check(f, gxs if gxs.__class__ is tuple else
                           tuple(gxs) if isinstance(gxs, list) else (gxs,))
        return gxs


def _hook_backward(f, check=False):
    """Route ``f.backward`` through ``_HookedBackward`` (and its in-place variant away)."""
    hooked = f.__dict__.get("backward")
    if isinstance(hooked, _HookedBackward):
        hooked.check = hooked.check or check
    else:
        f.backward = _HookedBackward(f, check)
    f.backward_inplace = None  # a hook may keep the output gradient it was given
    f.backward_raw = None  # the hooks and the check get Variables, through backward


# Anomaly mode (dezero.detect_anomaly): while off, recording a graph node pays one test of
# this flag; backward pays nothing (the nodes recorded in anomaly mode check themselves).
_anomaly_on = False


def _anomaly_note(f):
    from dezero._anomaly import note_forward

    note_forward(f)


def _anomaly_check(f, gxs):
    from dezero._anomaly import check_backward

    check_backward(f, gxs)


# Guards the accumulation into leaf gradients (see the end of _run_backward). Reentrant, so
# that a gradient hook or a create_graph sum that runs backward() itself cannot deadlock.
_leaf_grad_lock = threading.RLock()
_leaf_grad_acquire = _leaf_grad_lock.acquire
_leaf_grad_release = _leaf_grad_lock.release


def _single_backward(f, y, gy, root, retain_grad, claimed, create_graph, owned):
    """``f.backward(gy)`` for a single-output ``f`` whose output ``y`` got ``gy`` (raw or a
    Variable): gy is wrapped, kept as ``y.grad`` with ``retain_grad``, and handed to
    ``backward_inplace`` instead where the pass ``owned`` it."""
    if gy.__class__ is not Variable:
        gy = _as_grad(gy)
    if not retain_grad:
        y.grad = None
    elif y is not root:  # root keeps its seed
        gy = y.grad = _claim(gy, claimed, create_graph)
    try:
        if f.backward_inplace is not None and owned and not retain_grad:
            return f.backward_inplace(gy)
        return f.backward(gy)
    except Exception as exc:
        _add_context(exc, f, "backward", [gy.data])


def _distinct(gxs):
    """True unless two of a backward's results are the same object (one array, two uses)."""
    if len(gxs) < 2:
        return True
    ids = [id(g.data if g.__class__ is Variable else g) for g in gxs if g is not None]
    return len(set(ids)) == len(ids)


def _run_backward(root, seed, retain_grad, create_graph):
    # Gradients flowing in this pass only. Without create_graph a gradient is kept raw (an
    # array or a NumPy scalar, as a backward returned it or as several uses summed into it)
    # until a Variable is needed: as a function's ``gy`` or as a leaf's ``grad``.
    grads = {root: seed}
    found = root.creator  # the last function discovered (by the step before)
    seen = {found}
    heap = []
    counter = 0
    leaves = []
    claimed = {id(seed), id(seed.data)}  # objects already owned by some .grad
    # The ownership rule. ``owned`` holds the variables whose pending gradient belongs to
    # this pass alone: it was returned by a backward declaring ``fresh_grads`` (for that
    # one input only) or is a sum the pass made itself. Seeds, retained gradients, leaf
    # gradients and anything a hook has seen are never owned. An owned gradient is handed
    # to ``backward_inplace`` where a function defines it; nothing else can observe the
    # overwrite, since nothing else refers to the array.
    owned = set()
    pop, push = heapq.heappop, heapq.heappush
    take, get, mark = grads.pop, grads.get, seen.add
    use_raw = not (retain_grad or create_graph)
    shortcut = not (create_graph or _NUMPY1)  # (NumPy 1.x narrows 0-d results: the loop)
    while True:
        # The next function is the heap's first (highest generation, the last added first
        # among equals). The one found last comes out first unless the heap holds a higher
        # generation: in a chain it never enters the heap.
        if found is not None:
            if not heap or found.generation >= -heap[0][0]:
                f = found
            else:
                counter -= 1
                push(heap, (-found.generation, counter, found))
                f = pop(heap)[2]
            found = None
        elif heap:
            f = pop(heap)[2]
        else:
            break
        ref = f._y
        if ref is not None:
            y = ref()
            gy = take(y)
            raw = f.backward_raw if use_raw else None
            if raw is not None and (f.backward_inplace is None or y not in owned):
                y.grad = None
                if gy.__class__ is Variable:
                    gy = gy.data
                try:
                    gxs = raw(gy)
                except Exception as exc:
                    _add_context(exc, f, "backward", [gy])
            else:
                gxs = _single_backward(f, y, gy, root, retain_grad, claimed, create_graph,
                                       y in owned)
        else:
            gys = _output_grads(f, grads, root, retain_grad, claimed, create_graph)
            try:
                gxs = f.backward(*gys)
            except Exception as exc:
                _add_context(exc, f, "backward", [g.data for g in gys])
        if gxs.__class__ in _RAW_GRAD_TYPES and f._x1 is None and shortcut:
            # A link of a chain, in a few steps: one input, one raw gradient (as backward_raw
            # returns), the first to reach that input, whose creator is new to the pass.
            # Anything else (leaves, sums, shapes to check further) takes the loop below.
            x = f._x0
            creator = x.creator if x is not None else None
            if creator is not None and creator not in seen:
                xdata = x.data
                if xdata is not None and gxs.shape == xdata.shape:
                    grads[x] = gxs
                    if f.fresh_grads:
                        owned.add(x)
                    mark(creator)
                    found = creator
                    continue
        if gxs.__class__ is not tuple:
            gxs = tuple(gxs) if isinstance(gxs, list) else (gxs,)
        x0 = f._x0
        if x0 is None:
            inputs = f._xs if f._xs.__class__ is tuple else ()
        else:
            x1 = f._x1
            inputs = (x0,) if x1 is None else (x0, x1)
        if len(gxs) != len(inputs):
            error = _count_error(f, len(gxs))
            if error is not None:
                raise error
        fresh = f.fresh_grads and not create_graph and _distinct(gxs)
        for x, gx in zip(inputs, gxs):
            if gx is None:
                continue
            kind = gx.__class__
            if kind is Variable:
                gdata = gx.data
            elif not create_graph and (kind in _RAW_GRAD_TYPES or isinstance(gx, _np_generic)):
                gdata = gx
            else:
                gx = gx if isinstance(gx, Variable) else Variable(_output_array(gx))
                gdata = gx.data
            xdata = x.data
            if xdata is not None and gdata.shape != xdata.shape:
                raise _shape_error(f, gxs)
            if _NUMPY1 and gdata.ndim == 0 and not create_graph:
                gx = gdata = _narrow_0d(gdata, [i.data for i in inputs])
            old = get(x)
            if old is None:
                grads[x] = gx
                if fresh:
                    owned.add(x)
                creator = x.creator
                if creator is None:
                    leaves.append(x)
                elif creator not in seen:
                    mark(creator)
                    if found is not None:
                        counter -= 1
                        push(heap, (-found.generation, counter, found))
                    found = creator
            elif create_graph:
                grads[x] = old + gx
            else:
                if old.__class__ is Variable:
                    old = old.data
                if gdata.ndim == 0:
                    # NOTE: 0-d sums are kept as NumPy scalars: scalar + scalar is several
                    # times faster than any mix with 0-d arrays, and gives the same value.
                    grads[x] = old[()] + gdata[()]
                else:
                    grads[x] = old + gdata
                    owned.add(x)  # a new array, made here

    # Leaves are where passes meet: several threads may run backward() over graphs that
    # share a parameter, and ``x.grad = x.grad + gx`` is a read-modify-write that could
    # lose one of them. Everything above touches only this pass's own objects, so one
    # lock around this loop (taken once per pass, not per op) is all that is needed.
    # User hooks run before the lock is taken: they may block, or run backward() themselves.
    if _var_hooks:
        for x in leaves:
            if id(x) in _var_hooks:
                grads[x] = _call_hooks(x, _as_grad(grads[x]))
    _leaf_grad_acquire()  # (a bound method and try/finally cost half of a ``with``)
    try:
        for x in leaves:
            gx = grads[x]
            if gx.__class__ is not Variable:
                gx = _as_grad(gx)  # a fresh sum, owned by nobody
            old = x.grad
            if old is None:
                x.grad = _claim(gx, claimed, create_graph)
                continue
            if not isinstance(old, Variable):  # set by hand as an array
                old = Variable(old)
            if create_graph:
                x.grad = old + gx
            else:
                x.grad = _as_grad(old.data + gx.data)
    finally:
        _leaf_grad_release()


# =============================================================================
# Arithmetic (implemented in dezero._ops.arith) and operator overloads
# =============================================================================

from dezero._ops.arith import (  # noqa: E402  (the ops need the classes above)
    Add,
    Div,
    Mul,
    Neg,
    Pow,
    Sub,
    add,
    div,
    mul,
    neg,
    pow,
    rdiv,
    rpow,
    rsub,
    sub,
)


def setup_variable() -> None:
    """Install the operator overloads and array-like methods on ``Variable``."""
    F = _F()
    methods = {
        "__add__": add, "__radd__": add, "__mul__": mul, "__rmul__": mul, "__neg__": neg,
        "__sub__": sub, "__rsub__": rsub, "__truediv__": div, "__rtruediv__": rdiv,
        "__pow__": pow, "__rpow__": rpow, "__getitem__": F.get_item, "__matmul__": F.matmul,
        "__rmatmul__": lambda self, other: F.matmul(other, self), "__abs__": F.abs,
        "matmul": F.matmul, "dot": F.matmul, "max": F.max, "min": F.min,
    }
    for name, method in methods.items():
        setattr(Variable, name, method)


__all__ = [
    "Config", "using_config", "no_grad", "test_mode", "Variable", "Parameter", "Function",
    "as_array", "as_variable", "setup_variable",
    "Add", "Mul", "Neg", "Sub", "Div", "Pow",
    "add", "mul", "neg", "sub", "rsub", "div", "rdiv", "pow", "rpow",
]
