"""The define-by-run engine: Config, Variable, Parameter, Function and backward."""
from __future__ import annotations

import contextlib
import heapq
import operator
import sys
import threading
import weakref

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
def using_config(name: str, value):
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


def no_grad():
    """Context manager in which no graph is recorded."""
    return using_config("enable_backprop", False)


def test_mode():
    """Context manager for inference: dropout is off, batch_norm uses running statistics."""
    return using_config("train", False)


test_mode.__test__ = False  # pytest must not collect it when a test module imports it


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

    def __init__(self, data, name: str | None = None):
        if data is not None and data.__class__ is not np.ndarray:
            _check_data_type(data)
        self.data = data
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0

    # -- array-like attributes ------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
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
    def set_creator(self, func):
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self):
        self.grad = None

    def unchain(self):
        self.creator = None

    def unchain_backward(self):
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
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _F().reshape(self, tuple(shape))

    def transpose(self, *axes):
        if len(axes) == 0:
            axes = None
        elif len(axes) == 1 and (isinstance(axes[0], (tuple, list)) or axes[0] is None):
            axes = axes[0]
        return _F().transpose(self, axes)

    @property
    def T(self):
        return _F().transpose(self)

    def sum(self, axis=None, keepdims=False):
        return _F().sum(self, axis, keepdims)

    def item(self):
        """The value of a size-1 Variable as a Python scalar."""
        if self.data is None or self.data.size != 1:
            shape = None if self.data is None else self.data.shape
            raise ValueError(f"item: only a Variable of size 1 converts to a Python scalar; "
                             f"got shape {shape}")
        return self.data.item()

    # -- devices --------------------------------------------------------------
    def to_cpu(self):
        if self.data is not None:
            self.data = cuda.as_numpy(self.data)
        if self.grad is not None:
            self.grad.to_cpu()

    def to_gpu(self):
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


def as_array(x, array_module=np):
    """``array_module.array(x)`` for a scalar, ``x`` itself otherwise."""
    if np.isscalar(x):
        return array_module.array(x)
    return x


def as_variable(obj):
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
    (a list of weak references) and ``generation``.

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
        outputs = [_wrap(y if y.__class__ is np.ndarray else _output_array(y)) for y in ys]
        if _state.enable_backprop:
            self.generation = gen = max(map(_generation_of, inputs)) if inputs else 0
            for output in outputs:
                output.creator = self
                output.generation = gen + 1
            self.inputs = list(inputs)
            self.outputs = [_ref(output) for output in outputs]
            if len(outputs) > 1:
                self._output_meta = [(y.shape, y.dtype) for y in outputs]
        return outputs if len(outputs) > 1 else outputs[0]

    def forward(self, *xs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, *gys):
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")


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
    out = _new_object(Variable)
    out.data = y
    out.name = None
    out.grad = None
    if _state.enable_backprop:
        gen = x0.generation
        if x1 is None:
            f.inputs = [x0]
        else:
            f.inputs = [x0, x1]
            if x1.generation > gen:
                gen = x1.generation
        f.generation = gen
        out.creator = f
        out.generation = gen + 1
        f.outputs = [_ref(out)]
    else:
        out.creator = None
        out.generation = 0
    return out


def _record(f, x0, y):
    """``_apply(f, x0)`` for a forward result ``y`` (an ndarray) the caller computed.

    For op wrappers that run a one-call forward inline (``dezero._ops.math``), saving the
    ``forward`` call; it records exactly what ``_apply`` records.
    """
    out = _new_object(Variable)
    out.data = y
    out.name = None
    out.grad = None
    if _state.enable_backprop:
        f.inputs = [x0]
        f.generation = gen = x0.generation
        out.creator = f
        out.generation = gen + 1
        f.outputs = [_ref(out)]
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


def _run_backward(root, seed, retain_grad, create_graph):
    # Gradients flowing in this pass only. Without create_graph a gradient is kept raw (an
    # array or a NumPy scalar, as a backward returned it or as several uses summed into it)
    # until a Variable is needed: as a function's ``gy`` or as a leaf's ``grad``.
    grads = {root: seed}
    f = root.creator
    seen = {f}
    heap = []
    counter = 0
    leaves = []
    claimed = {id(seed), id(seed.data)}  # objects already owned by some .grad
    pop, push = heapq.heappop, heapq.heappush
    while True:
        refs = f.outputs
        if len(refs) == 1:
            y = refs[0]()
            gy = grads.pop(y)
            if gy.__class__ is not Variable:
                gy = _as_grad(gy)
            if not retain_grad:
                y.grad = None
            elif y is not root:  # root keeps its seed
                gy = y.grad = _claim(gy, claimed, create_graph)
            try:
                gxs = f.backward(gy)
            except Exception as exc:
                _add_context(exc, f, "backward", [gy.data])
        else:
            gys = _output_grads(f, grads, root, retain_grad, claimed, create_graph)
            try:
                gxs = f.backward(*gys)
            except Exception as exc:
                _add_context(exc, f, "backward", [g.data for g in gys])
        if gxs.__class__ is not tuple:
            gxs = tuple(gxs) if isinstance(gxs, list) else (gxs,)
        inputs = f.inputs
        if len(gxs) != len(inputs):
            error = _count_error(f, len(gxs))
            if error is not None:
                raise error
        found = None  # the last function discovered by this step
        for x, gx in zip(inputs, gxs):
            if gx is None:
                continue
            if gx.__class__ is Variable:
                gdata = gx.data
            elif not create_graph and (gx.__class__ is _ndarray or isinstance(gx, _np_generic)):
                gdata = gx
            else:
                gx = gx if isinstance(gx, Variable) else Variable(_output_array(gx))
                gdata = gx.data
            xdata = x.data
            if xdata is not None and gdata.shape != xdata.shape:
                raise _shape_error(f, gxs)
            old = grads.get(x)
            if old is None:
                grads[x] = gx
                creator = x.creator
                if creator is None:
                    leaves.append(x)
                elif creator not in seen:
                    seen.add(creator)
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
        # The next function is the heap's first (highest generation, the last added first
        # among equals). The one found last would come out first unless the heap holds a
        # higher generation: in a chain it never enters the heap.
        if found is not None:
            if not heap or found.generation >= -heap[0][0]:
                f = found
                continue
            counter -= 1
            push(heap, (-found.generation, counter, found))
        if not heap:
            break
        f = pop(heap)[2]

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


def setup_variable():
    """Install the operator overloads and array-like methods on ``Variable``."""
    F = _F()
    Variable.__add__ = add
    Variable.__radd__ = add
    Variable.__mul__ = mul
    Variable.__rmul__ = mul
    Variable.__neg__ = neg
    Variable.__sub__ = sub
    Variable.__rsub__ = rsub
    Variable.__truediv__ = div
    Variable.__rtruediv__ = rdiv
    Variable.__pow__ = pow
    Variable.__rpow__ = rpow
    Variable.__getitem__ = F.get_item
    Variable.__matmul__ = F.matmul
    Variable.__rmatmul__ = lambda self, other: F.matmul(other, self)
    Variable.__abs__ = F.abs
    Variable.matmul = F.matmul
    Variable.dot = F.matmul
    Variable.max = F.max
    Variable.min = F.min


__all__ = [
    "Config", "using_config", "no_grad", "test_mode", "Variable", "Parameter", "Function",
    "as_array", "as_variable", "setup_variable",
    "Add", "Mul", "Neg", "Sub", "Div", "Pow",
    "add", "mul", "neg", "sub", "rsub", "div", "rdiv", "pow", "rpow",
]
