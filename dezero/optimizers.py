"""Optimizers and gradient hooks (``from dezero import optimizers``).

Every optimizer updates ``param.data`` in place. Per-parameter state (momentum, moment
estimates) is created lazily as zeros in the parameter's dtype and on its device, and is
keyed by the Parameter object, never by ``id()``. ``state_dict()`` returns it as a flat
dict of arrays under parameter paths (``l0/W/m``, plus ``t`` for Adam and AdamW), and
``load_state_dict(d)`` restores it all-or-nothing, so training resumes bit-exactly from a
saved model and optimizer::

    model.save_weights("ckpt")
    dezero.io.save_arrays("ckpt_opt", optimizer.state_dict())
    ...
    model.load_weights("ckpt")
    optimizer.load_state_dict(dezero.io.load_arrays("ckpt_opt"))

Hyperparameters (``lr``, ``momentum``...) are not part of the state: construct the
optimizer with the same arguments.

Updates allocate nothing at each step: the temporaries of the formulas are written into
scratch arrays that the optimizer keeps (views of one or two flat buffers as large as the
largest parameter, shared by all parameters of a dtype and device), in the order of the
formulas, so the results have the same bits as the plain NumPy expressions. A fresh
temporary per parameter and step would cost page faults at every step for large
parameters (glibc gives big freed blocks back to the OS). Gradients of another dtype
than their parameter take the plain formulas (NumPy's promotion).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from dezero import cuda
from dezero import io as _io
from dezero._ops import _gpu_kernels as _gpu
from dezero.core import Parameter

if TYPE_CHECKING:
    from typing_extensions import Self

    from dezero.layers import Layer

# =============================================================================
# Optimizer base class
# =============================================================================


class Optimizer:
    """Base class: ``setup(target)``, hooks, ``update()`` and the state of each parameter.

    Subclasses define ``update_one(param)`` and list their per-parameter state arrays in
    ``_slot_names()``; ``_state_of(param)`` creates them lazily.
    """

    def __init__(self) -> None:
        self.target: Layer | None = None
        self.hooks: list[Callable[[list[Parameter]], Any]] = []
        self._state: dict[Parameter, dict[str, Any]] = {}  # Parameter -> {slot name: array}
        # (array type, dtype, device) -> flat scratch arrays
        self._buffers: dict[tuple, list[Any]] = {}
        self._views: dict[Parameter, list[Any]] = {}  # views of those buffers in its shape

    def setup(self, target: Layer) -> Self:
        """Optimise ``target`` (a Layer, or any object with ``params()``). Returns ``self``."""
        if not callable(getattr(target, "params", None)):
            raise TypeError(f"{type(self).__name__}.setup: target must have a params() method "
                            f"(a Layer or Model); got {type(target).__name__}")
        self.target = target
        return self

    def update(self) -> None:
        """Run the hooks, then ``update_one`` on every parameter that has a gradient.

        Parameters whose gradient a hook has set to None (``FreezeParam``) are dropped
        before the next hook and before the updates. A parameter reachable twice (shared
        weights) is updated once.
        """
        if self.target is None:
            raise RuntimeError(f"{type(self).__name__}.update: no target; call "
                               "setup(model) first")
        params = [p for p in dict.fromkeys(self.target.params()) if p.grad is not None]
        for f in self.hooks:
            f(params)
            params = [p for p in params if p.grad is not None]
        for param in params:
            self.update_one(param)

    def update_one(self, param: Parameter) -> None:
        raise NotImplementedError(f"{type(self).__name__}.update_one is not implemented")

    def add_hook(self, f: Callable[[list[Parameter]], Any]) -> None:
        """Append ``f(params)``, called on the list of parameters before each update."""
        self.hooks.append(f)

    # -- state ----------------------------------------------------------------
    def _slot_names(self):
        return ()

    def _state_of(self, param):
        state = self._state.get(param)
        if state is None:
            xp = cuda.get_array_module(param.data)
            state = {name: xp.zeros_like(param.data) for name in self._slot_names()}
            self._state[param] = state
        return state

    def _scratch(self, param, count):
        """``count`` arrays of ``param.data``'s shape for the temporaries of an update, or
        None when the gradient does not share the parameter's floating dtype and shape.

        They are views of flat buffers kept between steps and shared by the parameters
        (grown to the largest one), so they hold garbage and are only valid until the
        next parameter's update. The views of each parameter are kept too.
        """
        data, grad = param.data, param.grad.data
        if grad.dtype != data.dtype or grad.shape != data.shape or data.dtype.kind != "f":
            return None
        views = self._views.get(param)
        if (views is not None and len(views) >= count and views[0].shape == data.shape
                and views[0].dtype == data.dtype and views[0].__class__ is data.__class__
                and (data.__class__ is np.ndarray or views[0].device == data.device)):
            return views
        key = (type(data), data.dtype, str(getattr(data, "device", "")))
        buffers = self._buffers.get(key, ())
        n = data.size
        if len(buffers) < count or buffers[0].size < n:
            xp = cuda.get_array_module(data)
            size = max([n] + [b.size for b in buffers])
            buffers = [xp.empty(size, dtype=data.dtype)
                       for _ in range(max(count, len(buffers)))]
            self._buffers[key] = buffers
            self._views.clear()  # views of the old buffers would keep them alive
        views = self._views[param] = [b[:n].reshape(data.shape) for b in buffers[:count]]
        return views

    def _extra_state(self):
        """Scalars besides the per-parameter arrays: ``{key: (0-d array, dtype)}``."""
        return {}

    def _load_extra_state(self, arrays):
        pass

    def _param_paths(self):
        """``{Parameter: path}``: attribute paths for a Layer, positions otherwise."""
        if self.target is None:
            raise RuntimeError(f"{type(self).__name__}: no target; call setup(model) first")
        if hasattr(self.target, "_flatten_params"):
            flat = {}
            self.target._flatten_params(flat)
            items = flat.items()
        else:
            items = ((str(i), p) for i, p in enumerate(self.target.params()))
        paths = {}
        for key, param in items:
            paths.setdefault(param, key)
        return paths

    def state_dict(self) -> dict:
        """The optimizer's state as ``{'l0/W/m': array, ..., 't': array}`` (copies).

        Parameters that have not been updated yet have no entries.
        """
        d = {}
        for param, path in self._param_paths().items():
            state = self._state.get(param)
            if state is None:
                continue
            for name, array in state.items():
                d[f"{path}/{name}"] = array.copy()
        for key, (value, _) in self._extra_state().items():
            d[key] = value
        return d

    def load_state_dict(self, d: dict) -> None:
        """Restore a ``state_dict()``, after checking every key, shape and dtype.

        All or nothing: on any mismatch ``WeightFileError`` lists every problem and the
        state is unchanged. Parameters absent from ``d`` start again from zeros.
        """
        op = f"{type(self).__name__}.load_state_dict"
        if not isinstance(d, dict):
            raise TypeError(f"{op}: expected a dict of arrays; got {type(d).__name__}")
        found = {k: v if hasattr(v, "dtype") and hasattr(v, "shape") else np.asarray(v)
                 for k, v in d.items()}
        by_path = {path: param for param, path in self._param_paths().items()}
        slots = self._slot_names()
        present = {}
        for key in found:
            path, _, slot = key.rpartition("/")
            if path in by_path and slot in slots:
                present[path] = by_path[path]
        problems = []
        expected = {}
        for path, param in present.items():
            if param.data is None:
                problems.append(f"{path!r}: the parameter has no data yet; load the weights "
                                "or run a forward pass first")
                for slot in slots:
                    found.pop(f"{path}/{slot}", None)
                continue
            for slot in slots:
                expected[f"{path}/{slot}"] = (param.data.shape, param.data.dtype)
        for key, (value, dtype) in self._extra_state().items():
            expected[key] = (value.shape, dtype)
        problems += _io.array_problems(expected, found)
        if problems:
            _io.raise_problems(op, f"this {type(self).__name__}", problems)
        self._check_extra_values(op, found)

        new_state = {}
        for path, param in present.items():
            on_gpu = cuda.is_cupy_array(param.data)
            state = {}
            for slot in slots:
                array = found[f"{path}/{slot}"]
                # Always a copy, on the parameter's device: the state is updated in place,
                # and must not alias the caller's arrays (nor another optimizer's).
                state[slot] = (cuda.get_array_module(param.data).array(array, copy=True)
                               if on_gpu else np.array(cuda.as_numpy(array), copy=True))
            new_state[param] = state
        self._state = new_state
        self._load_extra_state(found)

    def _check_extra_values(self, op, found):
        pass


class _StepCounted(Optimizer):
    """An optimizer with a step counter ``t``, incremented at the start of ``update()``."""

    def __init__(self):
        super().__init__()
        self.t = 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.t += 1
        super().update(*args, **kwargs)

    def _extra_state(self):
        return {"t": (np.array(self.t, dtype=np.int64), np.dtype(np.int64))}

    def _check_extra_values(self, op, found):
        t = int(cuda.as_numpy(found["t"]))
        if t < 0:
            _io.raise_problems(op, f"this {type(self).__name__}",
                               [f"'t': expected a step count >= 0, found {t}"])

    def _load_extra_state(self, found):
        self.t = int(cuda.as_numpy(found["t"]))


# =============================================================================
# The book's optimizers
# =============================================================================


class SGD(Optimizer):
    """Stochastic gradient descent: ``data -= lr * grad``."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__()
        self.lr = lr

    def update_one(self, param: Parameter) -> None:
        if _gpu.usable(param.data, param.grad.data):
            _gpu.sgd_update(param.data, param.grad.data, self.lr)
            return
        scratch = self._scratch(param, 1)
        if scratch is None:
            param.data -= self.lr * param.grad.data
            return
        tmp, = scratch
        cuda.get_array_module(tmp).multiply(param.grad.data, self.lr, out=tmp)
        param.data -= tmp


class MomentumSGD(Optimizer):
    """SGD with momentum: ``v = momentum * v - lr * grad``; ``data += v``."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__()
        self.lr = lr
        self.momentum = momentum

    def _slot_names(self):
        return ("v",)

    def update_one(self, param: Parameter) -> None:
        v = self._state_of(param)["v"]
        if _gpu.usable(param.data, param.grad.data, v):
            _gpu.momentum_update(param.data, param.grad.data, v, self.lr, self.momentum)
            return
        v *= self.momentum
        scratch = self._scratch(param, 1)
        if scratch is None:
            v -= self.lr * param.grad.data
        else:
            tmp, = scratch
            cuda.get_array_module(tmp).multiply(param.grad.data, self.lr, out=tmp)
            v -= tmp
        param.data += v


class AdaGrad(Optimizer):
    """AdaGrad: ``h += grad**2``; ``data -= lr * grad / (sqrt(h) + eps)``."""

    def __init__(self, lr: float = 0.001, eps: float = 1e-8) -> None:
        super().__init__()
        self.lr = lr
        self.eps = eps

    def _slot_names(self):
        return ("h",)

    def update_one(self, param: Parameter) -> None:
        xp = cuda.get_array_module(param.data)
        h = self._state_of(param)["h"]
        grad = param.grad.data
        scratch = self._scratch(param, 2)
        if scratch is None:
            h += grad * grad
            param.data -= self.lr * grad / (xp.sqrt(h) + self.eps)
            return
        tmp, denom = scratch
        xp.multiply(grad, grad, out=tmp)
        h += tmp
        xp.multiply(grad, self.lr, out=tmp)  # lr * grad / (sqrt(h) + eps)
        xp.sqrt(h, out=denom)
        denom += self.eps
        tmp /= denom
        param.data -= tmp


class AdaDelta(Optimizer):
    """AdaDelta: step ``sqrt((msdx + eps) / (msg + eps)) * grad`` with running averages."""

    def __init__(self, rho: float = 0.95, eps: float = 1e-6) -> None:
        super().__init__()
        self.rho = rho
        self.eps = eps

    def _slot_names(self):
        return ("msg", "msdx")

    def update_one(self, param: Parameter) -> None:
        xp = cuda.get_array_module(param.data)
        state = self._state_of(param)
        msg, msdx = state["msg"], state["msdx"]
        rho, eps = self.rho, self.eps
        grad = param.grad.data
        scratch = self._scratch(param, 2)
        if scratch is None:
            msg *= rho
            msg += (1 - rho) * grad * grad
            dx = xp.sqrt((msdx + eps) / (msg + eps)) * grad
            msdx *= rho
            msdx += (1 - rho) * dx * dx
            param.data -= dx
            return
        dx, tmp = scratch
        msg *= rho
        xp.multiply(grad, 1 - rho, out=tmp)  # (1 - rho) * grad * grad
        tmp *= grad
        msg += tmp
        xp.add(msdx, eps, out=dx)  # dx = sqrt((msdx + eps) / (msg + eps)) * grad
        xp.add(msg, eps, out=tmp)
        dx /= tmp
        xp.sqrt(dx, out=dx)
        dx *= grad
        msdx *= rho
        xp.multiply(dx, 1 - rho, out=tmp)  # (1 - rho) * dx * dx
        tmp *= dx
        msdx += tmp
        param.data -= dx


class Adam(_StepCounted):
    """Adam with the book's formulation: the bias correction is folded into ``lr``.

    ``update()`` first increments ``t``; then ``m += (1-beta1)(g-m)``,
    ``v += (1-beta2)(g*g-v)`` and ``data -= lr * m / (sqrt(v) + eps)``.
    """

    def __init__(self, alpha: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        super().__init__()
        self.alpha = alpha
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    @property
    def lr(self) -> float:
        """``alpha * sqrt(1 - beta2**t) / (1 - beta1**t)``, the step size at step ``t``.

        Before the first update (t = 0) it is the step size the first update will use.
        """
        t = max(self.t, 1)
        fix1 = 1.0 - math.pow(self.beta1, t)
        fix2 = 1.0 - math.pow(self.beta2, t)
        return self.alpha * math.sqrt(fix2) / fix1

    def _slot_names(self):
        return ("m", "v")

    def update_one(self, param: Parameter) -> None:
        xp = cuda.get_array_module(param.data)
        state = self._state_of(param)
        m, v = state["m"], state["v"]
        grad = param.grad.data
        if _gpu.usable(param.data, grad, m, v):
            _gpu.adam_update(param.data, grad, m, v, 1 - self.beta1, 1 - self.beta2, self.lr,
                             self.eps)
            return
        scratch = self._scratch(param, 2)
        if scratch is None:  # mixed precision: NumPy's promotion of the plain formulas
            m += (1 - self.beta1) * (grad - m)
            v += (1 - self.beta2) * (grad * grad - v)
            param.data -= self.lr * m / (xp.sqrt(v) + self.eps)
            return
        # In place, in the order of the formulas: m += (1-b1)(g-m); v += (1-b2)(g*g-v);
        # data -= lr * m / (sqrt(v) + eps). Same bits, no new array.
        tmp, denom = scratch
        xp.subtract(grad, m, out=tmp)
        tmp *= 1 - self.beta1
        m += tmp
        xp.multiply(grad, grad, out=tmp)
        tmp -= v
        tmp *= 1 - self.beta2
        v += tmp
        xp.sqrt(v, out=denom)
        denom += self.eps
        xp.multiply(m, self.lr, out=tmp)
        tmp /= denom
        param.data -= tmp


# =============================================================================
# Additions with PyTorch's semantics
# =============================================================================


class AdamW(_StepCounted):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    ``data *= 1 - lr*weight_decay``; ``m = beta1*m + (1-beta1)g``;
    ``v = beta2*v + (1-beta2)g²``;
    ``data -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)``.
    """

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__()
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weight_decay = weight_decay

    def _slot_names(self):
        return ("m", "v")

    def update_one(self, param: Parameter) -> None:
        xp = cuda.get_array_module(param.data)
        state = self._state_of(param)
        m, v = state["m"], state["v"]
        grad = param.grad.data
        lr, beta1, beta2 = self.lr, self.beta1, self.beta2
        if self.weight_decay:
            param.data *= 1 - lr * self.weight_decay
        step_size = lr / (1 - beta1 ** self.t)
        scratch = self._scratch(param, 2)
        if scratch is None:
            m += (1 - beta1) * (grad - m)
            v *= beta2
            v += (1 - beta2) * (grad * grad)
            denom = xp.sqrt(v) / math.sqrt(1 - beta2 ** self.t) + self.eps
            param.data -= step_size * m / denom
            return
        tmp, denom = scratch
        xp.subtract(grad, m, out=tmp)  # m += (1 - beta1) * (grad - m)
        tmp *= 1 - beta1
        m += tmp
        v *= beta2
        xp.multiply(grad, grad, out=tmp)  # v += (1 - beta2) * (grad * grad)
        tmp *= 1 - beta2
        v += tmp
        xp.sqrt(v, out=denom)  # sqrt(v) / sqrt(1 - beta2**t) + eps
        denom /= math.sqrt(1 - beta2 ** self.t)
        denom += self.eps
        xp.multiply(m, step_size, out=tmp)  # step_size * m / denom
        tmp /= denom
        param.data -= tmp


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    ``g += weight_decay*data``; ``s = alpha*s + (1-alpha)g²``; ``avg = sqrt(s) + eps``
    (centered: ``sqrt(s - gbar²) + eps`` with ``gbar`` the running mean of g); then
    ``data -= lr * g/avg``, or with momentum ``buf = momentum*buf + g/avg``,
    ``data -= lr * buf``.
    """

    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, centered: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__()
        self.lr = lr
        self.alpha = alpha
        self.eps = eps
        self.momentum = momentum
        self.centered = centered
        self.weight_decay = weight_decay

    def _slot_names(self):
        names = ("square_avg",)
        if self.momentum > 0:
            names += ("momentum_buffer",)
        if self.centered:
            names += ("grad_avg",)
        return names

    def update_one(self, param: Parameter) -> None:
        xp = cuda.get_array_module(param.data)
        state = self._state_of(param)
        grad = param.grad.data
        scratch = self._scratch(param, 3 if self.weight_decay else 2)
        if scratch is None:
            self._update_plain(param, state, xp, grad)
            return
        tmp, avg = scratch[:2]
        if self.weight_decay:  # grad + weight_decay * data
            xp.multiply(param.data, self.weight_decay, out=scratch[2])
            grad = xp.add(grad, scratch[2], out=scratch[2])
        alpha = self.alpha
        square_avg = state["square_avg"]
        square_avg *= alpha
        xp.multiply(grad, grad, out=tmp)  # (1 - alpha) * (grad * grad)
        tmp *= 1 - alpha
        square_avg += tmp
        if self.centered:
            grad_avg = state["grad_avg"]
            xp.subtract(grad, grad_avg, out=tmp)  # (1 - alpha) * (grad - grad_avg)
            tmp *= 1 - alpha
            grad_avg += tmp
            xp.multiply(grad_avg, grad_avg, out=tmp)
            xp.subtract(square_avg, tmp, out=avg)
            xp.sqrt(avg, out=avg)
        else:
            xp.sqrt(square_avg, out=avg)
        avg += self.eps
        xp.divide(grad, avg, out=tmp)
        if self.momentum > 0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += tmp
            xp.multiply(buf, self.lr, out=tmp)
        else:
            tmp *= self.lr
        param.data -= tmp

    def _update_plain(self, param, state, xp, grad):
        """The formulas with fresh temporaries (gradients of another dtype)."""
        if self.weight_decay:
            grad = grad + self.weight_decay * param.data
        alpha = self.alpha
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * (grad * grad)
        if self.centered:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (grad - grad_avg)
            avg = xp.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = xp.sqrt(square_avg)
        avg += self.eps
        if self.momentum > 0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += grad / avg
            param.data -= self.lr * buf
        else:
            param.data -= self.lr * (grad / avg)


# =============================================================================
# Hooks: callables applied to the list of parameters before the update
# =============================================================================


class WeightDecay:
    """L2 regularisation: ``grad += rate * data``, in place.

    The same gradient as adding ``rate/2 * sum(W**2)`` over the parameters to the loss.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def __call__(self, params):
        for param in params:
            param.grad.data += self.rate * param.data


class ClipGrad:
    """Scale all gradients, in place, so that their global L2 norm is at most ``max_norm``."""

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def __call__(self, params):
        # The squared sums stay on the device and are added in float64 there, so a GPU
        # model pays one device-to-host copy per update, not one per parameter.
        total = 0.0
        for param in params:
            g = param.grad.data
            total = total + (g * g).sum().astype(np.float64)
        total_norm = math.sqrt(float(total))
        rate = self.max_norm / (total_norm + 1e-6)
        if rate < 1:
            for param in params:
                param.grad.data *= rate


class FreezeParam:
    """Keep the given Layers' and Parameters' values fixed: their grads become None."""

    def __init__(self, *layers: Layer) -> None:
        for target in layers:
            if not isinstance(target, Parameter) and not callable(getattr(target, "params",
                                                                          None)):
                raise TypeError(f"FreezeParam: expected Layers or Parameters; got "
                                f"{type(target).__name__}")
        self.targets = layers

    def __call__(self, params):
        for target in self.targets:
            if isinstance(target, Parameter):
                target.grad = None
            else:
                for param in target.params():
                    param.grad = None


__all__ = [
    "Optimizer",
    "SGD",
    "MomentumSGD",
    "AdaGrad",
    "AdaDelta",
    "Adam",
    "AdamW",
    "RMSprop",
    "WeightDecay",
    "ClipGrad",
    "FreezeParam",
]
