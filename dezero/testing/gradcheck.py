"""The gradient checker every op test uses.

Analytic gradients (``backward``) are compared with float64 finite differences of
``phi(x) = sum_k <y_k(x), gy_k>`` for a random output gradient ``gy``. Small inputs are
checked element by element; large ones along random directions (``<J v, gy>`` against
``<v, J^T gy>``). ``order=2`` (or more) also checks the gradient of the gradient,
built with ``create_graph=True``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from dezero import cuda
from dezero.core import Variable, no_grad

# Past this many input elements the checker probes random directions instead of
# every element (each probe costs four forward passes).
_ELEMENTWISE_LIMIT = 600


class GradientCheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def _as_outputs(ys):
    if isinstance(ys, (list, tuple)):
        return list(ys)
    return [ys]


def _is_differentiable(a):
    return a.dtype.kind in "fc"


def _to_float64(a):
    if isinstance(a, Variable):
        a = a.data
    xp = cuda.get_array_module(a)
    if _is_differentiable(a):
        return xp.array(a, dtype=np.float64, copy=True)
    return a


def _phi(f, arrays, gys):
    """sum_k <y_k, gy_k> as a Python float (no graph unless f needs one inside)."""
    ys = _evaluate(f, arrays)
    total = 0.0
    for y, gy in zip(ys, gys):
        if gy is not None:
            total += float((cuda.as_numpy(y.data).astype(np.float64) * cuda.as_numpy(gy)).sum())
    return total


def _evaluate(f, arrays):
    if getattr(f, "_needs_graph", False):
        return _as_outputs(f(*[Variable(a) for a in arrays]))
    with no_grad():
        return _as_outputs(f(*[Variable(a) for a in arrays]))


def _five_point(f, arrays, gys, perturb, eps):
    """Fourth-order central difference of phi along ``perturb(arrays, h)``."""
    values = []
    for h in (2 * eps, eps, -eps, -2 * eps):
        values.append(_phi(f, perturb(arrays, h), gys))
    f2, f1, m1, m2 = values
    return (-f2 + 8 * f1 - 8 * m1 + m2) / (12 * eps)


def numerical_grad(f: Callable[..., Any], *inputs: Any, gys: Any = None, eps: float = 1e-3,
                   indices: Any = None) -> list[Any]:
    """Numerical gradients of ``sum_k <f(*inputs)_k, gy_k>`` for each differentiable input.

    Returns a list with one float64 NumPy array per input (None for integer inputs).
    """
    arrays = [_to_float64(a) for a in inputs]
    if gys is None:
        ys = _evaluate(f, arrays)
        gys = [np.ones(y.shape) for y in ys]
    grads: list[Any] = []
    for i, a in enumerate(arrays):
        if indices is not None and i not in indices or not _is_differentiable(a):
            grads.append(None)
            continue
        g = np.zeros(a.shape, dtype=np.float64)
        for idx in np.ndindex(*a.shape):
            def perturb(arrs, h, i=i, idx=idx):
                out = list(arrs)
                b = out[i].copy()
                b[idx] += h
                out[i] = b
                return out
            g[idx] = _five_point(f, arrays, gys, perturb, eps)
        grads.append(g)
    return grads


def _analytic(f, arrays, gys, create_graph=False):
    xs = [Variable(a) for a in arrays]
    ys = _as_outputs(f(*xs))
    if len(ys) == 1:
        y = ys[0]
        xp = cuda.get_array_module(y.data)
        y.grad = Variable(xp.asarray(gys[0], dtype=y.dtype))
        y.backward(create_graph=create_graph)
    else:
        from dezero import functions as F

        total = None
        for y, gy in zip(ys, gys):
            if y.creator is None and not any(y is x for x in xs):
                continue
            xp = cuda.get_array_module(y.data)
            term = F.sum(y * Variable(xp.asarray(gy, dtype=y.dtype)))
            total = term if total is None else total + term
        if total is not None:
            total.backward(create_graph=create_graph)
    return xs


def _describe(arrays):
    return ", ".join(f"{tuple(a.shape)} {a.dtype}" for a in arrays)


def _fail(name, arrays, eps, rtol, atol, index, numeric, analytic, mode):
    numeric = np.asarray(numeric)
    analytic = np.asarray(analytic)
    with np.printoptions(precision=8, threshold=40, edgeitems=3):
        diff = np.abs(numeric - analytic)
        raise GradientCheckError(
            f"gradient check failed for {name} ({mode}), input {index}; inputs "
            f"[{_describe(arrays)}]; eps={eps}, rtol={rtol}, atol={atol}; "
            f"max |numeric - analytic| = {diff.max() if diff.size else 0:.3e}\n"
            f"numeric:\n{numeric}\nanalytic:\n{analytic}")


def _name_of(f):
    return getattr(f, "__name__", None) or type(f).__name__


def check_grad(f: Callable[..., Any], *inputs: Any, order: int = 1, atol: float = 1e-6,
               rtol: float = 1e-6, eps: float = 1e-3, directions: int | None = None,
               seed: int = 0, name: str | None = None) -> bool:
    """Check ``f``'s backward against float64 finite differences.

    Parameters
    ----------
    f : callable
        Takes Variables (one per input) and returns a Variable or a list of them.
    *inputs : ndarray
        Floating inputs are differentiated (in float64); integer inputs are constants.
    order : int
        1 checks the gradient; 2 also checks the gradient of the gradient, and so on.
    directions : int, optional
        Number of random directions to probe instead of every element; by default
        elements are probed one by one below 600 elements and 4 directions above.

    Raises
    ------
    GradientCheckError
        With the op name, the shapes, the tolerances and both gradients.
    """
    name = name or _name_of(f)
    rng = np.random.default_rng(seed)
    arrays = [_to_float64(a) for a in inputs]
    ys = _evaluate(f, arrays)
    gys = [rng.standard_normal(y.shape) for y in ys]
    xs = _analytic(f, arrays, gys)
    analytic = []
    for x in xs:
        if x.grad is None:
            analytic.append(np.zeros(x.shape))
        else:
            analytic.append(cuda.as_numpy(x.grad.data).astype(np.float64))
    diff_idx = [i for i, a in enumerate(arrays) if _is_differentiable(a)]
    total = sum(arrays[i].size for i in diff_idx)
    if directions is None and total > _ELEMENTWISE_LIMIT:
        directions = 4
    if directions:
        xp = cuda.get_array_module(arrays[0]) if arrays else np
        for _ in range(directions):
            v = {i: rng.standard_normal(arrays[i].shape) for i in diff_idx}

            def perturb(arrs, h):
                out = list(arrs)
                for i in diff_idx:
                    out[i] = arrs[i] + h * xp.asarray(v[i])
                return out
            numeric = _five_point(f, arrays, gys, perturb, eps)
            expected = float(sum((analytic[i] * v[i]).sum() for i in diff_idx))
            if not np.isclose(expected, numeric, rtol=rtol, atol=atol * max(1, total) ** 0.5):
                _fail(name, arrays, eps, rtol, atol, "all (directional)", numeric, expected,
                      "random direction")
    else:
        numeric = numerical_grad(f, *arrays, gys=gys, eps=eps)
        for i in diff_idx:
            if analytic[i].shape != numeric[i].shape:
                _fail(name, arrays, eps, rtol, atol, i, numeric[i], analytic[i], "shape")
            if not np.allclose(analytic[i], numeric[i], rtol=rtol, atol=atol):
                _fail(name, arrays, eps, rtol, atol, i, numeric[i], analytic[i], "elementwise")
    if order > 1:
        check_grad(_gradient_function(f, gys, diff_idx), *arrays, order=order - 1, atol=atol,
                   rtol=rtol, eps=eps, directions=directions, seed=seed + 1,
                   name=f"d/dx {name}")
    return True


def _gradient_function(f, gys, diff_idx):
    """x -> (d phi / d x_i for differentiable i), built with create_graph=True."""
    def grad_f(*xs):
        arrays_xs = list(xs)
        ys = _as_outputs(f(*arrays_xs))
        from dezero import functions as F

        total = None
        for y, gy in zip(ys, gys):
            xp = cuda.get_array_module(y.data)
            term = F.sum(y * Variable(xp.asarray(gy, dtype=y.dtype)))
            total = term if total is None else total + term
        for x in arrays_xs:
            x.cleargrad()
        total.backward(create_graph=True)
        outs = []
        for i in diff_idx:
            g = arrays_xs[i].grad
            if g is None:
                xp = cuda.get_array_module(arrays_xs[i].data)
                g = Variable(xp.zeros_like(arrays_xs[i].data))
            outs.append(g)
        for x in arrays_xs:
            x.cleargrad()  # the caller's own backward must start from clean leaves
        return outs
    grad_f.__name__ = f"grad({_name_of(f)})"
    grad_f._needs_graph = True
    return grad_f
