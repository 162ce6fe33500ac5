"""The define-by-run engine: Config, Variable, Parameter, Function and backward."""
from __future__ import annotations

import contextlib
import heapq
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
    """Set ``Config.<name>`` to ``value`` inside the block; restore it afterwards."""
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


# =============================================================================
# Variable / Parameter
# =============================================================================


def _check_data_type(data):
    if data is not None and not isinstance(data, np.ndarray) and not cuda.is_cupy_array(data):
        raise TypeError(f"{type(data)} is not supported; wrap it with numpy.array(...)")


class Variable:
    """A node of the graph: an ndarray (NumPy or CuPy) with its gradient and creator."""

    __slots__ = ("data", "name", "grad", "creator", "generation", "__weakref__", "__dict__")
    __array_priority__ = 200

    def __init__(self, data, name: str | None = None):
        if data is not None and type(data) is not np.ndarray:
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
        seen = {id(self.creator)}
        while stack:
            f = stack.pop()
            for x in f.inputs:
                if x.creator is not None:
                    if id(x.creator) not in seen:
                        seen.add(id(x.creator))
                        stack.append(x.creator)
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
            self.data = cuda.as_cupy(self.data)
        if self.grad is not None:
            self.grad.to_gpu()

    # -- backward -------------------------------------------------------------
    def backward(self, retain_grad: bool = False, create_graph: bool = False):
        """Accumulate d(self)/d(leaf) into every reachable leaf's ``grad``.

        The graph is walked highest generation first with a priority queue, so each
        function runs once, after all of its outputs' gradients are complete.
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

    Subclasses define ``forward(*xs)`` on raw arrays and ``backward(*gys)`` on
    Variables, returning one gradient per input.
    """

    generation = 0

    def __call__(self, *inputs):
        inputs = [x if isinstance(x, Variable) else Variable(x) for x in inputs]
        xs = [x.data for x in inputs]
        if "cupy" in sys.modules and len(xs) > 1:
            _check_same_device(self, xs)
        try:
            ys = self.forward(*xs)
        except Exception as exc:
            _add_context(exc, self, "forward", xs)
        if type(ys) is not tuple:
            ys = (ys,)
        outputs = [Variable(y if type(y) is np.ndarray else as_array(y)) for y in ys]
        if _state.enable_backprop:
            self.generation = gen = max([x.generation for x in inputs]) if inputs else 0
            for output in outputs:
                output.creator = self
                output.generation = gen + 1
            self.inputs = inputs
            self.outputs = [weakref.ref(output) for output in outputs]
            if len(outputs) > 1:
                self._output_meta = [(y.shape, y.dtype) for y in ys]
        return outputs if len(outputs) > 1 else outputs[0]

    def forward(self, *xs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, *gys):
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")


# =============================================================================
# backward walk
# =============================================================================


def _zeros_for_output(func, index, output):
    xp = cuda.get_array_module(func.inputs[0].data) if func.inputs else np
    if output is not None and output.data is not None:
        return Variable(xp.zeros_like(output.data))
    shape, dtype = func._output_meta[index]
    return Variable(xp.zeros(shape, dtype=dtype))


def _normalise_grads(func, gxs):
    """Tuple of gradients checked for count; ndarrays wrapped as Variables."""
    if type(gxs) is not tuple:
        gxs = tuple(gxs) if isinstance(gxs, list) else (gxs,)
    n_in = len(func.inputs)
    if len(gxs) != n_in:
        if len(gxs) > n_in:
            raise ValueError(f"Function {type(func).__name__!r} returned {len(gxs)} gradients "
                             f"for {n_in} inputs")
        for x in func.inputs[len(gxs):]:
            if x.data is not None and x.data.dtype.kind not in "iub":
                raise ValueError(f"Function {type(func).__name__!r} returned {len(gxs)} "
                                 f"gradients for {n_in} inputs; only integer inputs may be "
                                 "left without one")
    return gxs


def _shape_error(func, index, got, expected):
    return ValueError(f"Function {type(func).__name__!r} returned an invalid gradient at index "
                      f"{index} - got {got} but expected shape {expected}")


def _sum_variable(a, b):
    s = a + b
    return Variable(s if type(s) is np.ndarray else as_array(s))


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


def _run_backward(root, seed, retain_grad, create_graph):
    grads = {root: seed}  # gradients flowing in this pass only
    heap = []
    seen = set()
    counter = 0
    leaves = []
    claimed = {id(seed), id(seed.data)}  # objects already owned by some .grad

    f = root.creator
    seen.add(f)
    heap.append((-f.generation, 0, f))
    while heap:
        f = heapq.heappop(heap)[2]
        refs = f.outputs
        if len(refs) == 1:
            y = refs[0]()
            gy = grads.pop(y)
            gys = (gy,)
            if retain_grad:
                y.grad = gy
                claimed.add(id(gy))
                claimed.add(id(gy.data))
            else:
                y.grad = None
        else:
            gys = []
            for i, ref in enumerate(refs):
                y = ref()
                gy = grads.pop(y, None) if y is not None else None
                if gy is None:  # an unused output contributes zeros
                    gy = _zeros_for_output(f, i, y)
                elif retain_grad:
                    claimed.add(id(gy))
                    claimed.add(id(gy.data))
                if y is not None:
                    y.grad = gy if retain_grad else None
                gys.append(gy)
        try:
            gxs = f.backward(*gys)
        except Exception as exc:
            _add_context(exc, f, "backward", [g.data for g in gys])
        gxs = _normalise_grads(f, gxs)
        for i, (x, gx) in enumerate(zip(f.inputs, gxs)):
            if gx is None:
                continue
            if not isinstance(gx, Variable):
                gx = Variable(gx)
            gdata = gx.data
            xdata = x.data
            if xdata is not None and gdata.shape != xdata.shape:
                raise _shape_error(f, i, gdata.shape, xdata.shape)
            old = grads.get(x)
            if old is None:
                grads[x] = gx
                creator = x.creator
                if creator is None:
                    leaves.append(x)
                elif creator not in seen:
                    seen.add(creator)
                    counter -= 1
                    heapq.heappush(heap, (-creator.generation, counter, creator))
            elif create_graph:
                grads[x] = old + gx
            else:
                grads[x] = _sum_variable(old.data, gdata)

    for x in leaves:
        gx = grads[x]
        if x.grad is None:
            data = gx.data
            if (id(gx) in claimed or id(data) in claimed or getattr(data, "base", None) is not None):
                gx = _owned_copy(gx, create_graph)
            x.grad = gx
            claimed.add(id(gx))
            claimed.add(id(gx.data))
        elif create_graph:
            x.grad = x.grad + gx
        else:
            x.grad = _sum_variable(x.grad.data, gx.data)


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
