"""The simplified engine of the book's steps 23-32.

Variables hold ``numpy.ndarray`` data and their ``grad`` is a raw ndarray. Importing
this module or calling its ``setup_variable`` never changes ``dezero.core``.
"""
from __future__ import annotations

import contextlib
import heapq
import threading
import weakref

import numpy as np


class _ConfigState(threading.local):
    enable_backprop = True


_state = _ConfigState()


class _ConfigMeta(type):
    enable_backprop = property(lambda cls: _state.enable_backprop,
                               lambda cls, v: setattr(_state, "enable_backprop", v))


class Config(metaclass=_ConfigMeta):
    """Per-thread switch ``enable_backprop``."""


@contextlib.contextmanager
def using_config(name, value):
    """Set ``Config.<name>`` inside the block and restore it afterwards."""
    old_value = getattr(Config, name)
    setattr(Config, name, value)
    try:
        yield
    finally:
        setattr(Config, name, old_value)


def no_grad():
    """Context manager in which no graph is recorded."""
    return using_config("enable_backprop", False)


class Variable:
    """A NumPy array with a raw-ndarray gradient."""

    __array_priority__ = 200

    def __init__(self, data, name=None):
        if data is not None and not isinstance(data, np.ndarray):
            raise TypeError(f"{type(data)} is not supported; wrap it with numpy.array(...)")
        self.data = data
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0

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

    def __repr__(self):
        if self.data is None:
            return "variable(None)"
        return "variable(" + str(self.data).replace("\n", "\n" + " " * 9) + ")"

    def set_creator(self, func):
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self):
        self.grad = None

    def backward(self, retain_grad=False):
        """Accumulate raw-ndarray gradients into the leaves (generation order)."""
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        elif self.grad.shape != self.data.shape:
            where = (f"the output of {type(self.creator).__name__!r}" if self.creator
                     else "a leaf variable")
            raise ValueError(f"backward seed for {where}: grad shape {self.grad.shape} does "
                             f"not match shape {self.data.shape}")
        if self.creator is None:
            return
        seed = self.grad
        grads = {self: seed}
        heap = [(-self.creator.generation, 0, self.creator)]
        seen = {self.creator}
        counter = 0
        leaves = []
        owned = {id(seed)}  # arrays already held by some .grad: never shared

        def claim(g):
            if id(g) in owned or g.base is not None:
                g = g.copy()
            owned.add(id(g))
            return g

        while heap:
            f = heapq.heappop(heap)[2]
            gys = []
            for i, ref in enumerate(f.outputs):
                y = ref()
                gy = grads.pop(y, None) if y is not None else None
                if gy is None:  # an unused output contributes zeros
                    shape, dtype = f._output_meta[i]
                    gy = np.zeros(shape, dtype=dtype)
                if y is not None:
                    if not retain_grad:
                        y.grad = None
                    elif y is not self:  # self keeps its seed
                        gy = y.grad = claim(gy)
                gys.append(gy)
            gxs = f.backward(*gys)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            if len(gxs) > len(f.inputs):
                raise ValueError(f"Function {type(f).__name__!r} returned {len(gxs)} "
                                 f"gradients for {len(f.inputs)} inputs")
            for i, (x, gx) in enumerate(zip(f.inputs, gxs)):
                if gx is None:
                    continue
                gx = np.asarray(gx)
                if gx.shape != x.data.shape and x.data.ndim == 0:
                    # A scalar operand (x * 2.0) meets an array: its gradient is the sum.
                    gx = np.asarray(gx.sum(dtype=gx.dtype))
                if gx.shape != x.data.shape:
                    raise ValueError(f"Function {type(f).__name__!r} returned an invalid "
                                     f"gradient at index {i} - got {gx.shape} but expected "
                                     f"shape {x.data.shape}")
                if x in grads:
                    grads[x] = np.asarray(grads[x] + gx)
                else:
                    grads[x] = gx
                    if x.creator is None:
                        leaves.append(x)
                    elif x.creator not in seen:
                        seen.add(x.creator)
                        counter -= 1
                        heapq.heappush(heap, (-x.creator.generation, counter, x.creator))
        for x in leaves:
            gx = grads[x]
            if x.grad is None:
                x.grad = claim(gx)
            else:
                x.grad = np.asarray(x.grad + gx)


def as_array(x):
    """``numpy.array(x)`` for a scalar, ``x`` otherwise."""
    if np.isscalar(x):
        return np.array(x)
    return x


def as_variable(obj):
    """``obj`` if it is a Variable, else ``Variable(obj)``."""
    if isinstance(obj, Variable):
        return obj
    return Variable(obj)


class Function:
    """Base class: ``forward`` on ndarrays, ``backward`` on ndarrays."""

    generation = 0

    def __call__(self, *inputs):
        inputs = [as_variable(x) for x in inputs]
        xs = [x.data for x in inputs]
        ys = self.forward(*xs)
        if not isinstance(ys, tuple):
            ys = (ys,)
        outputs = [Variable(as_array(y)) for y in ys]
        if Config.enable_backprop:
            self.generation = max([x.generation for x in inputs])
            for output in outputs:
                output.set_creator(self)
            self.inputs = inputs
            self.outputs = [weakref.ref(output) for output in outputs]
            self._output_meta = [(y.shape, y.dtype) for y in (o.data for o in outputs)]
        return outputs if len(outputs) > 1 else outputs[0]

    def forward(self, *xs):
        raise NotImplementedError()

    def backward(self, *gys):
        raise NotImplementedError()


def _operand(x, like):
    if isinstance(x, Variable):
        return x
    if isinstance(x, np.ndarray):
        return Variable(x)
    dtype = like.data.dtype if like.data.dtype.kind == "f" else None
    if isinstance(x, np.generic):
        x = x.item()
    return Variable(np.asarray(x, dtype=dtype or np.result_type(like.data.dtype, x)))


class Add(Function):
    """y = x0 + x1"""

    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        return gy, gy


class Mul(Function):
    """y = x0 * x1"""

    def forward(self, x0, x1):
        return x0 * x1

    def backward(self, gy):
        x0, x1 = self.inputs[0].data, self.inputs[1].data
        return gy * x1, gy * x0


class Neg(Function):
    """y = -x"""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Sub(Function):
    """y = x0 - x1"""

    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        return gy, -gy


class Div(Function):
    """y = x0 / x1"""

    def forward(self, x0, x1):
        return x0 / x1

    def backward(self, gy):
        x0, x1 = self.inputs[0].data, self.inputs[1].data
        return gy / x1, gy * (-x0 / x1 ** 2)


class Pow(Function):
    """y = x ** c"""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        x = self.inputs[0].data
        return self.c * x ** (self.c - 1) * gy


def add(x0, x1):
    x0 = as_variable(x0)
    return Add()(x0, _operand(x1, x0))


def mul(x0, x1):
    x0 = as_variable(x0)
    return Mul()(x0, _operand(x1, x0))


def neg(x):
    return Neg()(x)


def sub(x0, x1):
    x0 = as_variable(x0)
    return Sub()(x0, _operand(x1, x0))


def rsub(x0, x1):
    x0 = as_variable(x0)
    return Sub()(_operand(x1, x0), x0)


def div(x0, x1):
    x0 = as_variable(x0)
    return Div()(x0, _operand(x1, x0))


def rdiv(x0, x1):
    x0 = as_variable(x0)
    return Div()(_operand(x1, x0), x0)


def pow(x, c):
    if isinstance(c, np.generic):
        c = c.item()
    return Pow(c)(x)


def setup_variable():
    """Install the arithmetic operators on ``core_simple.Variable`` only."""
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
