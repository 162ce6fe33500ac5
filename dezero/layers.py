"""Layers: objects that own Parameters (``import dezero.layers as L``).

A ``Layer`` registers every ``Parameter`` and child ``Layer`` assigned to it, in order of
first assignment, so ``params()``, weight files and optimizer state all follow definition
order. Weight files use attribute paths joined by ``/`` as keys (``l0/W``, ``bn/avg_mean``).
"""
from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Iterator

import numpy as np

import dezero.functions as F
from dezero import cuda
from dezero import io as _io
from dezero._typing import DType
from dezero.core import Parameter, Variable
from dezero.utils import pair

if TYPE_CHECKING:
    from typing_extensions import Self

# =============================================================================
# Layer
# =============================================================================


class _StrongRef:
    """Stands in for a weakref to an object that cannot be weakly referenced (int, list)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __call__(self):
        return self.obj


def _ref(obj):
    try:
        return weakref.ref(obj)
    except TypeError:
        return _StrongRef(obj)


class Layer:
    """Base class of layers: a container of Parameters and child Layers.

    Subclasses call ``super().__init__()`` first, assign Parameters and Layers as
    attributes, and define ``forward``. Calling the layer runs ``forward`` and keeps weak
    references to its inputs and outputs (``layer.outputs[0]()``), as Grad-CAM needs.

    Examples
    --------
    >>> class TwoLayerNet(Layer):
    ...     def __init__(self, hidden, out):
    ...         super().__init__()
    ...         self.l1 = Linear(hidden)
    ...         self.l2 = Linear(out)
    ...     def forward(self, x):
    ...         return self.l2(F.sigmoid(self.l1(x)))
    """

    def __init__(self) -> None:
        # name -> None, in order of first assignment (a dict is an ordered set).
        self.__dict__["_params"] = {}

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Layer)):
            registry = self.__dict__.get("_params")
            if registry is None:
                raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                                   f"assigning the parameter or layer {name!r}")
            registry[name] = None
        else:
            registry = self.__dict__.get("_params")
            if registry is not None and name in registry:
                del registry[name]  # e.g. ``self.b = None``: no longer a parameter
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        registry = self.__dict__.get("_params")
        if registry is not None:
            registry.pop(name, None)
        object.__delattr__(self, name)

    def __call__(self, *inputs):
        outputs = self.forward(*inputs)
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        d = self.__dict__  # plain attributes: skip the registry check of __setattr__
        d["inputs"] = [_ref(x) for x in inputs]
        d["outputs"] = [_ref(y) for y in outputs]
        return outputs if len(outputs) > 1 else outputs[0]

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    # -- parameters -----------------------------------------------------------
    def params(self) -> Iterator[Parameter]:
        """Yield the Parameters, recursing into child layers, in definition order."""
        d = self.__dict__
        for name in d["_params"]:
            obj = d[name]
            if isinstance(obj, Layer):
                yield from obj.params()
            else:
                yield obj

    def cleargrads(self) -> None:
        """Set every parameter's ``grad`` to None."""
        for param in self.params():
            param.cleargrad()

    def to_cpu(self) -> Self:
        """Move every parameter (and gradient) to the CPU. Returns ``self``."""
        for param in self.params():
            param.to_cpu()
        return self

    def to_gpu(self) -> Self:
        """Move every parameter (and gradient) to the GPU. Returns ``self``.

        Raises
        ------
        RuntimeError
            Without CuPy and a usable CUDA device.
        """
        cuda.require_gpu(f"{type(self).__name__}.to_gpu")
        for param in self.params():
            param.to_gpu()
        return self

    def _flatten_params(self, params_dict: dict, parent_key: str = "") -> None:
        """Fill ``params_dict`` with ``{'l0/W': Parameter, ...}`` (attribute paths)."""
        d = self.__dict__
        for name in d["_params"]:
            obj = d[name]
            key = parent_key + "/" + name if parent_key else name
            if isinstance(obj, Layer):
                obj._flatten_params(params_dict, key)
            else:
                params_dict[key] = obj

    # -- weight files ---------------------------------------------------------
    def save_weights(self, path: str | os.PathLike) -> None:
        """Save the parameters to ``path`` (``.npz``, or ``.safetensors`` by suffix).

        The write is atomic and the model stays on its device. A path without a known
        suffix gets ``.npz`` appended, as in ``load_weights``.

        Raises
        ------
        ValueError
            When some parameter has no data yet (a lazy layer that has not run).
        """
        params_dict: dict[str, Parameter] = {}
        self._flatten_params(params_dict)
        missing = [key for key, param in params_dict.items() if param.data is None]
        if missing:
            raise ValueError(f"save_weights: parameters without data: {', '.join(missing)}; "
                             "run a forward pass (or give the input sizes) before saving")
        arrays = {key: param.data for key, param in params_dict.items()}
        _io.save_arrays(path, arrays, op="save_weights")

    def load_weights(self, path: str | os.PathLike) -> None:
        """Load parameters saved by ``save_weights`` (or by the original DeZero).

        All or nothing: every key, shape and dtype is checked before any parameter changes.
        A parameter without data takes the stored shape (a floating dtype is required).

        Raises
        ------
        FileNotFoundError
            Naming the path tried.
        WeightFileError
            Listing every missing, unexpected or mismatched key, or naming the corruption.
        """
        params_dict: dict[str, Parameter] = {}
        self._flatten_params(params_dict)
        # names, shapes and dtypes are read from the file's headers and checked against
        # the parameters before any array data is read
        _io.load_params(params_dict, path, op="load_weights")

    # -- PyTorch-style state ----------------------------------------------------
    def named_params(self) -> Iterator[tuple[str, Parameter]]:
        """Yield ``(path, Parameter)`` in definition order; paths are the weight-file keys.

        Examples
        --------
        >>> [name for name, _ in MLP((3, 2)).named_params()]             # doctest: +SKIP
        ['l0/W', 'l0/b', 'l1/W', 'l1/b']
        """
        params_dict: dict[str, Parameter] = {}
        self._flatten_params(params_dict)
        yield from params_dict.items()

    def state_dict(self) -> dict:
        """``{path: array}`` of every parameter with data, keyed as ``save_weights`` keys.

        The arrays are the parameters' own (not copies), as PyTorch's ``state_dict``;
        ``dezero.io.save_arrays(path, model.state_dict())`` writes a weight file.
        """
        return {key: param.data for key, param in self.named_params() if param.data is not None}

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> None:
        """Copy arrays from ``state_dict`` into the parameters, all or nothing.

        The checks of ``load_weights``: every key, shape and dtype is compared before any
        parameter changes. The arrays are copied (on the parameters' device).

        Parameters
        ----------
        state_dict : dict
            ``{path: ndarray}``, as ``state_dict()`` returns.
        strict : bool
            When False, keys the model lacks are ignored and parameters missing from
            ``state_dict`` keep their values; shapes and dtypes are still checked.

        Raises
        ------
        WeightFileError
            Listing every missing, unexpected or mismatched key; nothing was loaded.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"load_state_dict: state_dict must be a dict; got "
                            f"{type(state_dict).__name__}")
        params_dict = dict(self.named_params())
        arrays = dict(state_dict)
        if not strict:
            params_dict = {k: p for k, p in params_dict.items() if k in arrays}
            arrays = {k: a for k, a in arrays.items() if k in params_dict}
        _io.assign_params(params_dict, arrays, "load_state_dict", copy=True)

    def __repr__(self):
        lines = []
        params = []
        d = self.__dict__
        for name in d.get("_params", ()):
            obj = d[name]
            if isinstance(obj, Layer):
                child = repr(obj).replace("\n", "\n  ")
                lines.append(f"  ({name}): {child}")
            else:
                data = obj.data
                if data is None:
                    params.append(f"{name}=None")
                else:
                    params.append(f"{name}={tuple(data.shape)} {data.dtype}")
        head = type(self).__name__ + "(" + ", ".join(params)
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


# =============================================================================
# Linear / Conv2d / Deconv2d / EmbedID
# =============================================================================


def _scaled_randn(xp, shape, dtype, fan_in):
    """``randn(*shape)`` cast to ``dtype``, times ``sqrt(1/fan_in)`` in ``dtype`` [D2].

    Always drawn from NumPy's global RNG (API.md section 0), then copied to ``xp``'s device:
    a lazy layer that first meets a CuPy batch gets the same weights as on the CPU, so a
    seeded run gives the same numbers on both devices.
    """
    dtype = np.dtype(dtype)
    scale = dtype.type(np.sqrt(1 / fan_in))
    W = np.random.randn(*shape).astype(dtype) * scale
    return W if xp is np else xp.asarray(W)


class Linear(Layer):
    """Fully connected layer ``y = x @ W + b``.

    Parameters
    ----------
    out_size : int
        Output features (the first positional argument, as in the book).
    nobias : bool
        No bias: ``self.b`` is None.
    dtype : dtype
        Of ``W`` and ``b`` (float32 by default).
    in_size : int, optional
        Input features. When None, ``W`` is drawn at the first call from ``x.shape[1]``.

    Notes
    -----
    ``W`` has shape ``(in_size, out_size)`` and is ``randn`` scaled by ``sqrt(1/in_size)``.
    """

    def __init__(self, out_size: int, nobias: bool = False, dtype: DType = np.float32,
                 in_size: int | None = None) -> None:
        super().__init__()
        self.in_size = in_size
        self.out_size = out_size
        self.dtype = dtype
        self.W = Parameter(None, name="W")
        if self.in_size is not None:
            self._init_W()
        if nobias:
            self.b = None
        else:
            self.b = Parameter(np.zeros(out_size, dtype=dtype), name="b")

    def _init_W(self, xp=np):
        self.W.data = _scaled_randn(xp, (self.in_size, self.out_size), self.dtype, self.in_size)

    def forward(self, x):
        if self.W.data is None:
            if x.ndim != 2:
                raise ValueError(f"Linear: x must be 2-D (N, in_size) to infer in_size; "
                                 f"got shape {x.shape}")
            self.in_size = x.shape[1]
            self._init_W(cuda.get_array_module(x))
        return F.linear(x, self.W, self.b)


class Conv2d(Layer):
    """2-D convolution layer.

    Parameters
    ----------
    out_channels : int
    kernel_size, stride, pad : int or (int, int)
    nobias : bool
    dtype : dtype
    in_channels : int, optional
        When None, ``W`` is drawn at the first call from ``x.shape[1]``.

    Notes
    -----
    ``W`` has shape ``(OC, C, KH, KW)`` and is ``randn`` scaled by ``sqrt(1/(C*KH*KW))``.
    """

    def __init__(self, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, pad: int | tuple[int, int] = 0,
                 nobias: bool = False, dtype: DType = np.float32,
                 in_channels: int | None = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.pad = pad
        self.dtype = dtype
        self.W = Parameter(None, name="W")
        if in_channels is not None:
            self._init_W()
        if nobias:
            self.b = None
        else:
            self.b = Parameter(np.zeros(out_channels, dtype=dtype), name="b")

    def _w_shape(self, C, OC, KH, KW):
        return (OC, C, KH, KW)

    def _init_W(self, xp=np):
        C, OC = self.in_channels, self.out_channels
        KH, KW = pair(self.kernel_size)
        self.W.data = _scaled_randn(xp, self._w_shape(C, OC, KH, KW), self.dtype, C * KH * KW)

    def _lazy_init(self, x):
        if self.W.data is None:
            if x.ndim != 4:
                raise ValueError(f"{type(self).__name__}: x must be 4-D (N, C, H, W); "
                                 f"got shape {x.shape}")
            self.in_channels = x.shape[1]
            self._init_W(cuda.get_array_module(x))

    def forward(self, x):
        self._lazy_init(x)
        return F.conv2d(x, self.W, self.b, self.stride, self.pad)


class Deconv2d(Conv2d):
    """2-D transposed convolution layer; the signature of ``Conv2d``.

    ``W`` has shape ``(C, OC, KH, KW)`` with the scale ``sqrt(1/(C*KH*KW))``.
    """

    def _w_shape(self, C, OC, KH, KW):
        return (C, OC, KH, KW)

    def forward(self, x):
        self._lazy_init(x)
        return F.deconv2d(x, self.W, self.b, self.stride, self.pad)


class EmbedID(Layer):
    """Embedding table: ``layer(ids)`` returns ``W[ids]``; ``W = randn(in_size, out_size)``."""

    def __init__(self, in_size: int, out_size: int, dtype: DType = np.float32) -> None:
        super().__init__()
        self.W = Parameter(np.random.randn(in_size, out_size).astype(dtype), name="W")

    def forward(self, x):
        if isinstance(x, Variable):  # ids in a Variable: index with its array
            x = x.data
        return self.W[x]


# =============================================================================
# Recurrent layers
# =============================================================================


class RNN(Layer):
    """Elman RNN: ``h = tanh(x2h(x) + h2h(h))`` (``tanh(x2h(x))`` at the first step).

    ``h2h`` takes input size ``hidden_size``; its weights are drawn in the constructor when
    ``in_size`` is given, else at the second step. ``reset_state()`` forgets ``h``.
    """

    def __init__(self, hidden_size: int, in_size: int | None = None) -> None:
        super().__init__()
        self.x2h = Linear(hidden_size, in_size=in_size)
        h_in = hidden_size if in_size is not None else None
        self.h2h = Linear(hidden_size, in_size=h_in, nobias=True)
        self.h = None

    def reset_state(self) -> None:
        self.h = None

    def forward(self, x):
        if self.h is None:
            h_new = F.tanh(self.x2h(x))
        else:
            h_new = F.tanh(self.x2h(x) + self.h2h(self.h))
        self.h = h_new
        return h_new


class LSTM(Layer):
    """Long short-term memory layer; returns ``h`` and keeps ``h`` and ``c`` as state.

    Gates ``f, i, o = sigmoid(x2*(x) + h2*(h))``, ``u = tanh(x2u(x) + h2u(h))`` (without the
    ``h2*`` terms at the first step); ``c = f*c + i*u`` (``i*u`` at first); ``h = o*tanh(c)``.
    The eight Linear layers are created in the order x2f, x2i, x2o, x2u, h2f, h2i, h2o, h2u.
    """

    def __init__(self, hidden_size: int, in_size: int | None = None) -> None:
        super().__init__()
        H, I = hidden_size, in_size
        self.x2f = Linear(H, in_size=I)
        self.x2i = Linear(H, in_size=I)
        self.x2o = Linear(H, in_size=I)
        self.x2u = Linear(H, in_size=I)
        self.h2f = Linear(H, in_size=H, nobias=True)
        self.h2i = Linear(H, in_size=H, nobias=True)
        self.h2o = Linear(H, in_size=H, nobias=True)
        self.h2u = Linear(H, in_size=H, nobias=True)
        self.reset_state()

    def reset_state(self) -> None:
        self.h = None
        self.c = None

    def forward(self, x):
        if self.h is None:
            f = F.sigmoid(self.x2f(x))
            i = F.sigmoid(self.x2i(x))
            o = F.sigmoid(self.x2o(x))
            u = F.tanh(self.x2u(x))
        else:
            h = self.h
            f = F.sigmoid(self.x2f(x) + self.h2f(h))
            i = F.sigmoid(self.x2i(x) + self.h2i(h))
            o = F.sigmoid(self.x2o(x) + self.h2o(h))
            u = F.tanh(self.x2u(x) + self.h2u(h))
        if self.c is None:
            c_new = i * u
        else:
            c_new = (f * self.c) + (i * u)
        h_new = o * F.tanh(c_new)
        self.h, self.c = h_new, c_new
        return h_new


# =============================================================================
# Normalisation and regularisation
# =============================================================================


class BatchNorm(Layer):
    """Batch normalisation over the channel axis (axis 1) of (N, C) or (N, C, H, W) input.

    Parameters ``avg_mean, avg_var, gamma, beta``, in this order, are created at the first
    call (zeros, ones, ones, zeros of size C, in x's dtype and on x's device). The running
    statistics are updated in place in train mode; they get no gradient, so optimizers
    skip them, but they are saved with the weights.
    """

    def __init__(self) -> None:
        super().__init__()
        self.avg_mean = Parameter(None, name="avg_mean")
        self.avg_var = Parameter(None, name="avg_var")
        self.gamma = Parameter(None, name="gamma")
        self.beta = Parameter(None, name="beta")

    def _init_params(self, x):
        xp = cuda.get_array_module(x)
        D = x.shape[1]
        if self.avg_mean.data is None:
            self.avg_mean.data = xp.zeros(D, dtype=x.dtype)
        if self.avg_var.data is None:
            self.avg_var.data = xp.ones(D, dtype=x.dtype)
        if self.gamma.data is None:
            self.gamma.data = xp.ones(D, dtype=x.dtype)
        if self.beta.data is None:
            self.beta.data = xp.zeros(D, dtype=x.dtype)

    def forward(self, x):
        if self.avg_mean.data is None or self.gamma.data is None:
            self._init_params(x)
        return F.batch_norm(x, self.gamma, self.beta, self.avg_mean.data, self.avg_var.data)


class LayerNorm(Layer):
    """Layer normalisation over the last axis: ``(x - mean) / sqrt(var + eps) * gamma + beta``.

    Parameters
    ----------
    in_size : int, optional
        Size of the last axis. When None, ``gamma`` (ones) and ``beta`` (zeros) are created
        at the first call in x's dtype and on x's device; otherwise now, in ``dtype``.
    eps : float
        Added to the biased variance.
    """

    def __init__(self, in_size: int | None = None, eps: float = 1e-5,
                 dtype: DType = np.float32) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = Parameter(None, name="gamma")
        self.beta = Parameter(None, name="beta")
        if in_size is not None:
            self.gamma.data = np.ones(in_size, dtype=dtype)
            self.beta.data = np.zeros(in_size, dtype=dtype)

    def forward(self, x):
        if self.gamma.data is None:
            xp = cuda.get_array_module(x)
            self.gamma.data = xp.ones(x.shape[-1], dtype=x.dtype)
            self.beta.data = xp.zeros(x.shape[-1], dtype=x.dtype)
        n = x.shape[-1]
        if self.gamma.data.shape != (n,):
            raise ValueError(f"LayerNorm: x.shape[-1] ({n}) does not match the size of gamma "
                             f"{self.gamma.data.shape}; got x {x.shape} {x.dtype}")
        mu = F.sum(x, axis=-1, keepdims=True) * (1 / n)
        xc = x - mu
        var = F.sum(xc * xc, axis=-1, keepdims=True) * (1 / n)
        y = xc * (var + self.eps) ** -0.5
        return y * self.gamma + self.beta


class Dropout(Layer):
    """``F.dropout`` as a layer: active in train mode, the identity under ``test_mode()``."""

    def __init__(self, dropout_ratio: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"Dropout: dropout_ratio must be in [0, 1); got {dropout_ratio}")
        self.dropout_ratio = dropout_ratio

    def forward(self, x):
        return F.dropout(x, self.dropout_ratio)


__all__ = [
    "Layer",
    "Linear",
    "Conv2d",
    "Deconv2d",
    "EmbedID",
    "RNN",
    "LSTM",
    "BatchNorm",
    "LayerNorm",
    "Dropout",
]
