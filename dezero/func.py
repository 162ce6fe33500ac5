"""Functional transforms on dezero's engine: ``grad``, ``vjp``, ``jvp``, ``jacrev``,
``jacfwd``, ``hessian`` and ``vmap``, in the style of ``torch.func`` and JAX.

Each transform takes a function ``f`` built from dezero ops and returns a new function.
Called with plain arrays, the new function returns plain arrays and keeps no graph alive;
the ``grad`` of Variables that ``f`` closes over is never touched. Called with Variables
while backprop is on (that is, from inside another transform), it returns Variables whose
graph reaches its inputs, so transforms compose: ``grad(grad(f))``, ``jacfwd(jacrev(f))``,
``vmap(grad(f))``.

Forward mode (``jvp``, ``jacfwd``) pushes tangents through the recorded graph in
generation order, with the ``jvp`` method of each Function where one is written and the
double-vjp identity on that one Function otherwise (``native_jvp_classes()`` lists them).

``vmap`` traces ``f`` once on the first example, then replays the recorded Functions on
the whole batch with per-op batching rules (``BATCHING_RULES`` lists the classes). When
the trace holds a Function without a rule, ``vmap`` falls back to calling ``f`` once per
example and stacking the results (see ``docs/func.md``).
"""
from __future__ import annotations

import copy
import heapq
import threading
from typing import Any, Callable, Sequence

import numpy as np

from dezero import core as _core
from dezero import cuda
from dezero.core import Function, Variable, _state

__all__ = [
    "grad",
    "value_and_grad",
    "vjp",
    "jvp",
    "jacrev",
    "jacfwd",
    "jacobian",
    "hessian",
    "vmap",
    "backprop",
    "native_jvp_classes",
    "BATCHING_RULES",
]


# =============================================================================
# inputs and outputs
# =============================================================================


class _Identity(Function):
    """y = x: a fresh node per transform, so each level differentiates its own input."""

    def forward(self, x):
        return x

    def backward(self, gy):
        return gy

    def jvp(self, tx):
        return tx


class _Depth(threading.local):
    value = 0


_depth = _Depth()


def _call(f, args):
    """``f(*args)``, counted as running inside a transform (see ``_lifted``)."""
    _depth.value += 1
    try:
        return f(*args)
    finally:
        _depth.value -= 1


def _lifted(values) -> bool:
    """True when the transform runs inside another one (a Variable input, or called from
    the function of an outer transform, which may close over its Variables) with backprop
    on: it then records its own derivatives and returns Variables."""
    return _state.enable_backprop and (_depth.value > 0
                                       or any(isinstance(v, Variable) for v in values))


def _as_array(v, where):
    if isinstance(v, Variable):
        return v.data
    if isinstance(v, (float, int)) and not isinstance(v, bool):
        return np.asarray(v, dtype=np.float64)
    if isinstance(v, np.ndarray) or cuda.is_cupy_array(v):
        return v
    if isinstance(v, np.generic):
        return np.asarray(v)
    raise TypeError(f"{where}: inputs must be ndarrays, Python numbers or Variables; "
                    f"got {type(v).__name__}")


def _enter(v, lift, where):
    """The Variable that ``f`` receives for the primal ``v``."""
    if lift and isinstance(v, Variable):
        return _Identity()(v)
    return Variable(_as_array(v, where))


def _leave(v, lift):
    """A result for the caller: a Variable when lifted, else its array."""
    if v is None:
        return None
    if lift:
        return v if isinstance(v, Variable) else Variable(_as_array(v, "dezero.func"))
    return v.data if isinstance(v, Variable) else v


def _outputs(y, where):
    """``(list of Variables, was a tuple/list)`` for what ``f`` returned."""
    if isinstance(y, (tuple, list)):
        ys = list(y)
        seq = True
    else:
        ys = [y]
        seq = False
    for i, v in enumerate(ys):
        if not isinstance(v, Variable):
            if isinstance(v, (np.ndarray, np.generic, float, int)) or cuda.is_cupy_array(v):
                ys[i] = Variable(np.asarray(v) if not cuda.is_cupy_array(v) else v)
            else:
                raise TypeError(f"{where}: f must return Variables or arrays (or a tuple of "
                                f"them); got {type(v).__name__}")
    return ys, seq


def _argnums(argnums, n, where):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for a in nums:
        if not isinstance(a, int) or not -n <= a < n:
            raise ValueError(f"{where}: argnums {argnums!r} out of range for {n} arguments")
    return single, tuple(a % n for a in nums)


def _split_aux(out, has_aux, where):
    if not has_aux:
        return out, None
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"{where}: with has_aux=True, f must return a pair (output, aux)")
    return out[0], out[1]


def _leave_tree(obj, lift):
    if isinstance(obj, Variable):
        return _leave(obj, lift)
    if isinstance(obj, tuple):
        return tuple(_leave_tree(o, lift) for o in obj)
    if isinstance(obj, list):
        return [_leave_tree(o, lift) for o in obj]
    if isinstance(obj, dict):
        return {k: _leave_tree(v, lift) for k, v in obj.items()}
    return obj


# =============================================================================
# reverse mode: gradients of chosen inputs, nobody's .grad touched
# =============================================================================


def _relevant(outputs, is_target):
    """The Functions between ``outputs`` and the target Variables (they reach a target)."""
    memo: dict[int, bool] = {}
    for out in outputs:
        f = out.creator
        if f is None or id(f) in memo:
            continue
        stack = [(f, False)]
        while stack:
            g, done = stack.pop()
            if done:
                memo[id(g)] = any(is_target(x) or (x.creator is not None
                                                   and memo.get(id(x.creator), False))
                                  for x in g.inputs)
                continue
            if id(g) in memo:
                continue
            memo[id(g)] = False  # in progress (the graph is acyclic)
            stack.append((g, True))
            for x in g.inputs:
                c = x.creator
                if c is not None and not is_target(x) and id(c) not in memo:
                    stack.append((c, False))
    return {k for k, v in memo.items() if v}


def _nodes_between(inputs, outputs):
    """The Functions on paths from ``inputs`` to ``outputs``, in generation order.

    Forward mode pushes tangents through them and ``vmap`` replays them on the batch.
    """
    ids = {id(x) for x in inputs}
    relevant = _relevant(outputs, lambda v: id(v) in ids)
    nodes, seen = [], set()
    stack = [y.creator for y in outputs if y.creator is not None]
    while stack:
        f = stack.pop()
        if id(f) in seen or id(f) not in relevant:
            continue
        seen.add(id(f))
        nodes.append(f)
        for x in f.inputs:
            c = x.creator
            if c is not None and id(x) not in ids:
                stack.append(c)
    nodes.sort(key=lambda g: g.generation)
    return nodes


def _add(a, b, create_graph):
    if create_graph:
        return (a if isinstance(a, Variable) else Variable(a)) + b
    a = a.data if isinstance(a, Variable) else a
    b = b.data if isinstance(b, Variable) else b
    return a + b


def backprop(outputs: Sequence[Variable], seeds: Sequence[Any], inputs: Sequence[Variable],
             create_graph: bool = False, leaves: bool = False):
    """Gradients of ``sum(<outputs[i], seeds[i]>)`` with respect to ``inputs``.

    Like ``torch.autograd.grad``: no Variable's ``grad`` is read or written. The walk stops
    at ``inputs`` (their creators are not visited).

    Parameters
    ----------
    outputs : sequence of Variable
    seeds : sequence of ndarray or Variable, one per output (its shape)
    inputs : sequence of Variable
    create_graph : bool
        Record the backward computation (the gradients are then differentiable).
    leaves : bool
        Also return the gradients of every leaf Variable reached (for checkpointing).

    Returns
    -------
    list
        One gradient per input (a Variable with ``create_graph``, else an ndarray; None
        where no path leads), and with ``leaves=True`` a list of ``(leaf, gradient)`` too.
    """
    target_ids = {id(x) for x in inputs}
    if leaves:
        def is_target(x):
            return id(x) in target_ids or x.creator is None
    else:
        def is_target(x):
            return id(x) in target_ids
    relevant = _relevant(outputs, is_target)
    grads: dict[int, Any] = {}
    keep: dict[int, Variable] = {}
    heap: list = []
    counter = 0
    seen = set()
    for out, seed in zip(outputs, seeds):
        if seed is None:
            continue
        if create_graph and not isinstance(seed, Variable):
            seed = Variable(seed)
        elif not create_graph and isinstance(seed, Variable):
            seed = seed.data
        key = id(out)
        grads[key] = seed if key not in grads else _add(grads[key], seed, create_graph)
        keep[key] = out
        f = out.creator
        if id(out) not in target_ids and f is not None and id(f) in relevant and f not in seen:
            seen.add(f)
            counter -= 1
            heapq.heappush(heap, (-f.generation, counter, f))
    old = _state.enable_backprop
    _state.enable_backprop = create_graph
    hooks = _core._var_hooks
    try:
        while heap:
            f = heapq.heappop(heap)[2]
            gys = []
            for i, ref in enumerate(f.outputs):
                y = ref()
                g = grads.pop(id(y), None) if y is not None else None
                if g is None:
                    g = _core._zeros_for_output(f, i, y)
                elif not isinstance(g, Variable):
                    g = Variable(np.asarray(g) if isinstance(g, np.generic) else g)
                gys.append(g)
            try:
                gxs = f.backward(*gys)
            except Exception as exc:
                _core._add_context(exc, f, "backward", [g.data for g in gys])
            if not isinstance(gxs, tuple):
                gxs = tuple(gxs) if isinstance(gxs, list) else (gxs,)
            for x, gx in zip(f.inputs, gxs):
                if gx is None:
                    continue
                if create_graph and not isinstance(gx, Variable):
                    gx = Variable(np.asarray(gx))
                elif not create_graph and isinstance(gx, Variable):
                    gx = gx.data
                if x.data is not None and np.shape(gx.data if isinstance(gx, Variable)
                                                    else gx) != x.data.shape:
                    raise _core._shape_error(f, gxs)
                key = id(x)
                if key in grads:
                    grads[key] = _add(grads[key], gx, create_graph)
                else:
                    grads[key] = gx
                    keep[key] = x
                c = x.creator
                if (key not in target_ids and c is not None and id(c) in relevant
                        and c not in seen):
                    seen.add(c)
                    counter -= 1
                    heapq.heappush(heap, (-c.generation, counter, c))
    finally:
        _state.enable_backprop = old

    def finish(x, g):
        if g is None:
            return None
        if hooks and id(x) in hooks:
            g = _core._call_hooks(x, g if isinstance(g, Variable) else Variable(np.asarray(g)))
        if create_graph:
            return g if isinstance(g, Variable) else Variable(g)
        g = g.data if isinstance(g, Variable) else g
        return np.asarray(g) if isinstance(g, np.generic) else g

    result = [finish(x, grads.get(id(x))) for x in inputs]
    if not leaves:
        return result
    leaf_grads = [(keep[k], finish(keep[k], g)) for k, g in grads.items()
                  if k not in target_ids and keep[k].creator is None]
    return result, leaf_grads


def _zeros_like(v, lift):
    z = cuda.get_array_module(v.data).zeros_like(v.data)
    return Variable(z) if lift else z


# =============================================================================
# vjp, grad, value_and_grad
# =============================================================================


def vjp(f: Callable, *primals, has_aux: bool = False):
    """The output of ``f(*primals)`` and a function computing vector-Jacobian products.

    Parameters
    ----------
    f : callable
        Takes one Variable per primal and returns a Variable or a tuple of them (plus an
        auxiliary value when ``has_aux``).
    *primals : ndarray, number or Variable

    Returns
    -------
    (out, vjp_fn) or (out, vjp_fn, aux)
        ``vjp_fn(cotangent)`` (one cotangent per output, with its shape) returns a tuple of
        gradients, one per primal. It can be called several times.

    Examples
    --------
    >>> import numpy as np, dezero.functions as F
    >>> y, pullback = vjp(F.sin, np.array([0.0, 1.0]))
    >>> pullback(np.ones(2))[0]
    array([1.        , 0.54030231])
    """
    where = "vjp"
    lift = _lifted(primals)
    with _core.using_config("enable_backprop", True):
        xs = [_enter(p, lift, where) for p in primals]
        out, aux = _split_aux(_call(f, xs), has_aux, where)
        ys, seq = _outputs(out, where)

    def vjp_fn(*cotangents):
        if len(cotangents) == 1 and seq and isinstance(cotangents[0], (tuple, list)):
            cotangents = tuple(cotangents[0])
        if len(cotangents) != len(ys):
            raise ValueError(f"vjp_fn: expected {len(ys)} cotangents (one per output), "
                             f"got {len(cotangents)}")
        seeds = []
        for y, ct in zip(ys, cotangents):
            shape = ct.shape if isinstance(ct, Variable) else np.shape(ct)
            if tuple(shape) != y.shape:
                raise ValueError(f"vjp_fn: cotangent shape {tuple(shape)} does not match "
                                 f"output shape {y.shape}")
            if not isinstance(ct, Variable):
                ct = np.asarray(ct, dtype=y.dtype)
            seeds.append(ct)
        inner = lift or any(isinstance(c, Variable) for c in cotangents) and _state.enable_backprop
        gs = backprop(ys, seeds, xs, create_graph=inner)
        return tuple(_leave(g if g is not None else _zeros_like(x, inner), inner)
                     for g, x in zip(gs, xs))

    outs = [_leave(y, lift) for y in ys]
    result = (tuple(outs) if seq else outs[0], vjp_fn)
    if has_aux:
        return result + (_leave_tree(aux, lift),)
    return result


def _scalar_output(y, where):
    ys, seq = _outputs(y, where)
    if seq or ys[0].size != 1:
        shape = [v.shape for v in ys] if seq else ys[0].shape
        raise ValueError(f"{where}: f must return one Variable of size 1 (a scalar); got "
                         f"shape {shape}; use vjp or jacrev for other outputs")
    return ys[0]


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable:
    """``f`` and its gradient, in one call: ``(value, grad)`` or ``((value, aux), grad)``.

    Parameters
    ----------
    f : callable
        Returns a scalar Variable (size 1), or ``(scalar, aux)`` when ``has_aux``.
    argnums : int or tuple of int
        Which positional arguments to differentiate; a tuple gives a tuple of gradients.
    has_aux : bool

    Examples
    --------
    >>> import numpy as np, dezero.functions as F
    >>> value_and_grad(lambda x: F.sum(x * x))(np.array([1.0, 2.0]))
    (array(5.), array([2., 4.]))
    """
    return _value_and_grad(f, argnums, has_aux, "value_and_grad")


def _value_and_grad(f, argnums, has_aux, where):
    def wrapped(*args):
        single, nums = _argnums(argnums, len(args), where)
        lift = _lifted(args)
        with _core.using_config("enable_backprop", True):
            xs = [_enter(a, lift, where) if i in nums else a for i, a in enumerate(args)]
            out, aux = _split_aux(_call(f, xs), has_aux, where)
            y = _scalar_output(out, where)
            wrt = [xs[i] for i in nums]
            seed = cuda.get_array_module(y.data).ones_like(y.data)
            gs = backprop([y], [seed], wrt, create_graph=lift)
        gs = [_leave(g if g is not None else _zeros_like(x, lift), lift)
              for g, x in zip(gs, wrt)]
        g = gs[0] if single else tuple(gs)
        value = _leave(y, lift)
        if has_aux:
            return (value, _leave_tree(aux, lift)), g
        return value, g

    return wrapped


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar function: ``grad(f)(x)`` is ``df/dx`` with ``x``'s shape.

    Parameters
    ----------
    f : callable
        Returns a Variable of size 1, or ``(scalar, aux)`` when ``has_aux``.
    argnums : int or tuple of int
        Which positional arguments to differentiate; a tuple gives a tuple of gradients.
    has_aux : bool
        Return ``(grad, aux)``.

    Examples
    --------
    >>> import numpy as np, dezero.functions as F
    >>> grad(grad(lambda x: x ** 3))(np.array(2.0))   # d2/dx2 x^3 = 6x
    array(12.)
    """
    vg = _value_and_grad(f, argnums, has_aux, "grad")

    def wrapped(*args):
        value_aux, g = vg(*args)
        if has_aux:
            return g, value_aux[1]
        return g

    return wrapped


# =============================================================================
# forward mode
# =============================================================================

def native_jvp_classes() -> list[str]:
    """Names of the dezero Function classes that define ``jvp`` (the others use the
    double-vjp identity)."""
    import dezero.functions  # noqa: F401  (loads every op module)

    names, stack = set(), [Function]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("dezero") and _has_jvp(cls) and cls is not _Identity:
            names.add(cls.__name__)
    return sorted(names)


def _has_jvp(cls):
    return getattr(cls, "jvp", None) is not None


def _node_jvp(f, tangents, create_graph):
    """Output tangents of Function ``f`` for input tangents (None = zero)."""
    if _has_jvp(type(f)):
        touts = f.jvp(*tangents)
        if not isinstance(touts, (tuple, list)):
            touts = (touts,)
        return list(touts)
    # Double-vjp identity: g(u) = J^T u is linear in u, so d<g(u), t>/du = J t.
    outs = [ref() for ref in f.outputs]
    us = []
    for i, y in enumerate(outs):
        us.append(_core._zeros_for_output(f, i, y))
    with _core.using_config("enable_backprop", True):
        gxs = f.backward(*us)
        if not isinstance(gxs, (tuple, list)):
            gxs = (gxs,)
        total = None
        for gx, t in zip(gxs, tangents):
            if gx is None or t is None:
                continue
            if not isinstance(gx, Variable):
                continue  # a constant: no dependence on u
            term = _F().sum(gx * t)
            total = term if total is None else total + term
    if total is None:
        return [None] * len(us)
    seed = cuda.get_array_module(total.data).ones_like(total.data)
    return backprop([total], [seed], us, create_graph=create_graph)


def _F():
    import dezero.functions as F

    return F


def _push_tangents(nodes, xs, tangents, ys, create_graph):
    """Tangents of ``ys`` given tangents of ``xs``, through ``nodes`` (``_nodes_between``)."""
    tmap = {id(x): t for x, t in zip(xs, tangents)}
    old = _state.enable_backprop
    _state.enable_backprop = create_graph
    try:
        for f in nodes:
            tins = [tmap.get(id(x)) for x in f.inputs]
            if all(t is None for t in tins):
                continue
            touts = _node_jvp(f, tins, create_graph)
            for ref, t in zip(f.outputs, touts):
                y = ref()
                if y is not None and t is not None:
                    if not isinstance(t, Variable):
                        t = Variable(np.asarray(t))
                    if y.data is not None and t.shape != y.shape:  # a rule may broadcast
                        t = _F().broadcast_to(t, y.shape)
                    tmap[id(y)] = t
    finally:
        _state.enable_backprop = old
    return [tmap.get(id(y)) for y in ys]


def jvp(f: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False):
    """Forward-mode derivative: ``(f(*primals), J(primals) @ tangents)``.

    Parameters
    ----------
    f : callable
        Returns a Variable or a tuple of Variables.
    primals, tangents : sequences of ndarray (or Variables), with equal shapes pairwise

    Returns
    -------
    (out, tangent_out) or (out, tangent_out, aux)

    Examples
    --------
    >>> import numpy as np, dezero.functions as F
    >>> jvp(F.exp, (np.array(0.0),), (np.array(2.0),))
    (array(1.), array(2.))
    """
    where = "jvp"
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"{where}: {len(primals)} primals but {len(tangents)} tangents")
    lift = _lifted(primals + tangents)
    with _core.using_config("enable_backprop", True):
        xs = [_enter(p, lift, where) for p in primals]
        ts = []
        for x, t in zip(xs, tangents):
            if isinstance(t, Variable) and lift:
                ts.append(t)
            else:
                t = np.asarray(_as_array(t, where), dtype=x.dtype)
                if t.shape != x.shape:
                    raise ValueError(f"{where}: tangent shape {t.shape} does not match primal "
                                     f"shape {x.shape}")
                ts.append(Variable(t))
        out, aux = _split_aux(_call(f, xs), has_aux, where)
        ys, seq = _outputs(out, where)
    touts = _push_tangents(_nodes_between(xs, ys), xs, ts, ys, create_graph=lift)
    touts = [t if t is not None else _zeros_like(y, lift) for t, y in zip(touts, ys)]
    outs = [_leave(y, lift) for y in ys]
    touts = [_leave(t, lift) for t in touts]
    result = (tuple(outs), tuple(touts)) if seq else (outs[0], touts[0])
    if has_aux:
        return result + (_leave_tree(aux, lift),)
    return result


# =============================================================================
# Jacobians and the Hessian
# =============================================================================


def _stack(parts, shape, lift, xp=np):
    """``parts`` (flat list, each of one shape) stacked and reshaped to ``shape``."""
    if lift:
        F = _F()
        return F.reshape(F.stack(parts), shape)
    return xp.stack(parts).reshape(shape)


def jacrev(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """Jacobian by reverse mode: one vector-Jacobian product per output element.

    ``jacrev(f)(x)`` has shape ``y.shape + x.shape``. With several outputs, a tuple (one
    Jacobian per output); with a tuple ``argnums``, each of those is a tuple per argument.
    """
    def wrapped(*args):
        where = "jacrev"
        single, nums = _argnums(argnums, len(args), where)
        lift = _lifted(args)
        with _core.using_config("enable_backprop", True):
            xs = [_enter(a, lift, where) if i in nums else a for i, a in enumerate(args)]
            out, aux = _split_aux(_call(f, xs), has_aux, where)
            ys, seq = _outputs(out, where)
            wrt = [xs[i] for i in nums]
            jacs = []
            for y in ys:
                xp = cuda.get_array_module(y.data)
                rows = [[] for _ in wrt]
                for k in range(y.size):
                    gs = backprop([y], [_unit(y, k, xp)], wrt, create_graph=lift)
                    for r, g, x in zip(rows, gs, wrt):
                        r.append(g if g is not None else _zeros_like(x, lift))
                per_arg = [_stack(r, y.shape + x.shape, lift, xp) if r else
                           _empty(y.shape + x.shape, x, lift) for r, x in zip(rows, wrt)]
                jacs.append(per_arg[0] if single else tuple(per_arg))
        return _jacobians_out(jacs, seq, has_aux, aux, lift)

    return wrapped


def _unit(like, k, xp):
    """The k-th one-hot array of ``like``'s shape and dtype (a basis direction)."""
    e = xp.zeros(like.size, dtype=like.dtype)
    e[k] = 1
    return e.reshape(like.shape)


def _jacobians_out(jacs, seq, has_aux, aux, lift):
    """jacrev's and jacfwd's result: one Jacobian (tree) per output, and the aux."""
    jacs = [_leave_tree(j, lift) for j in jacs]
    res = tuple(jacs) if seq else jacs[0]
    if has_aux:
        return res, _leave_tree(aux, lift)
    return res


def _empty(shape, like, lift):
    z = cuda.get_array_module(like.data).zeros(shape, dtype=like.dtype)
    return Variable(z) if lift else z


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """Jacobian by forward mode: one Jacobian-vector product per input element.

    Same shapes as ``jacrev``: ``y.shape + x.shape``.
    """
    def wrapped(*args):
        where = "jacfwd"
        single, nums = _argnums(argnums, len(args), where)
        lift = _lifted(args)
        with _core.using_config("enable_backprop", True):
            xs = [_enter(a, lift, where) if i in nums else a for i, a in enumerate(args)]
            out, aux = _split_aux(_call(f, xs), has_aux, where)
            ys, seq = _outputs(out, where)
        wrt = [xs[i] for i in nums]
        nodes = _nodes_between(wrt, ys)
        cols = [[[] for _ in wrt] for _ in ys]  # [output][arg] -> list of tangents
        for a, x in enumerate(wrt):
            xp = cuda.get_array_module(x.data)
            for k in range(x.size):
                ts = [Variable(_unit(x, k, xp)) if b == a else None for b in range(len(wrt))]
                touts = _push_tangents(nodes, wrt, ts, ys, create_graph=lift)
                for i, (t, y) in enumerate(zip(touts, ys)):
                    cols[i][a].append(t if t is not None else _zeros_like(y, lift))
        jacs = []
        for i, y in enumerate(ys):
            per_arg = []
            for a, x in enumerate(wrt):
                c = cols[i][a]
                if not c:
                    per_arg.append(_empty(y.shape + x.shape, x, lift))
                    continue
                xp = cuda.get_array_module(y.data)
                # columns stacked first: (x.size, *y.shape) -> move to y.shape + x.shape
                stacked = _stack(c, (x.size, y.size), lift, xp)
                if lift:
                    J = _F().reshape(_F().transpose(stacked), y.shape + x.shape)
                else:
                    J = stacked.T.reshape(y.shape + x.shape)
                per_arg.append(J)
            jacs.append(per_arg[0] if single else tuple(per_arg))
        return _jacobians_out(jacs, seq, has_aux, aux, lift)

    return wrapped


#: Alias of ``jacrev`` (reverse mode is the better default for few outputs).
jacobian = jacrev


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Second derivatives of a scalar function: ``jacfwd(jacrev(f))``, shape ``x.shape * 2``."""
    return jacfwd(jacrev(f, argnums), argnums)


# =============================================================================
# vmap
# =============================================================================

#: Function class name -> batching rule, filled by ``_rule`` below.
BATCHING_RULES: dict[str, Callable] = {}


def _rule(*names):
    def register(fn):
        for name in names:
            BATCHING_RULES[name] = fn
        return fn
    return register


def _fresh(f):
    """A copy of ``f`` without its graph links, ready to be called again."""
    g = copy.copy(f)
    del g.inputs, g.outputs
    for attr in ("generation", "_output_meta"):
        g.__dict__.pop(attr, None)
    return g


def _lndim(v, b):
    """The per-example ndim of ``v`` (batched along axis 0 when ``b``)."""
    return v.ndim - 1 if b else v.ndim


def _pad(v, b, ndim):
    """A batched ``v`` reshaped to per-example ndim ``ndim`` (size-1 axes after the batch)."""
    if not b or _lndim(v, b) >= ndim:
        return v
    extra = ndim - _lndim(v, b)
    return _F().reshape(v, (v.shape[0],) + (1,) * extra + v.shape[1:])


@_rule("Exp", "Log", "Sin", "Cos", "Tan", "Tanh", "Sqrt", "Neg", "Square", "Sigmoid",
       "_Identity", "_Copy", "Softplus", "GELU")
def _unary_rule(f, args, bs):
    return [_fresh(f)(args[0])]


@_rule("Add", "Sub", "Mul", "Div", "SigmoidGrad")
def _elementwise_rule(f, args, bs):
    if len(args) == 1:  # the op holds a number ``c``
        return [_fresh(f)(args[0])]
    ndim = max(_lndim(a, b) for a, b in zip(args, bs))
    return [_fresh(f)(*[_pad(a, b, ndim) for a, b in zip(args, bs)])]


@_rule("Pow", "RPow")
def _pow_rule(f, args, bs):
    if np.ndim(f.c) != 0:
        return None
    return [_fresh(f)(args[0])]


def _axis(axis, ndim):
    """Per-example ``axis`` (int, tuple or None) as axes of the batched array."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(a % ndim + 1 for a in axis)
    return axis % ndim + 1


@_rule("Sum")
def _sum_rule(f, args, bs):
    x = args[0]
    return [_F().sum(x, axis=_axis(f.axis, x.ndim - 1), keepdims=f.keepdims)]


@_rule("LogSumExp")
def _logsumexp_rule(f, args, bs):
    x = args[0]
    return [_F().logsumexp(x, axis=_axis(f.axis, x.ndim - 1), keepdims=f.keepdims)]


@_rule("Softmax", "LogSoftmax")
def _softmax_rule(f, args, bs):
    x = args[0]
    g = _fresh(f)
    g.axis = _axis(f.axis, x.ndim - 1)
    return [g(x)]


@_rule("SumTo")
def _sum_to_rule(f, args, bs):
    x = args[0]
    F = _F()
    shape = tuple(f.shape)
    lead = x.ndim - 1 - len(shape)
    if lead > 0:
        x = F.sum(x, axis=tuple(range(1, lead + 1)))
    ones = tuple(i + 1 for i, s in enumerate(shape) if s == 1 and x.shape[i + 1] != 1)
    if ones:
        x = F.sum(x, axis=ones, keepdims=True)
    return [x]


@_rule("BroadcastTo")
def _broadcast_rule(f, args, bs):
    x = args[0]
    shape = tuple(f.shape)
    x = _pad(x, True, len(shape))
    return [_F().broadcast_to(x, (x.shape[0],) + shape)]


@_rule("Reshape")
def _reshape_rule(f, args, bs):
    x = args[0]
    shape = f.shape if isinstance(f.shape, tuple) else tuple(np.atleast_1d(f.shape))
    return [_F().reshape(x, (x.shape[0],) + tuple(shape))]


@_rule("Transpose")
def _transpose_rule(f, args, bs):
    x = args[0]
    n = x.ndim - 1
    axes = tuple(range(n - 1, -1, -1)) if f.axes is None else tuple(a % n for a in f.axes)
    return [_F().transpose(x, (0,) + tuple(a + 1 for a in axes))]


def _index_rule_ok(slices):
    items = slices if isinstance(slices, tuple) else (slices,)
    advanced = sum(1 for s in items if isinstance(s, (np.ndarray, list, Variable)))
    return advanced <= 1


def _batched_index(slices):
    items = slices if isinstance(slices, tuple) else (slices,)
    return (slice(None),) + items


@_rule("GetItem")
def _get_item_rule(f, args, bs):
    if not _index_rule_ok(f.slices):
        return None
    from dezero._ops.array import GetItem

    return [GetItem(_batched_index(f.slices))(args[0])]


@_rule("GetItemGrad")
def _get_item_grad_rule(f, args, bs):
    if not _index_rule_ok(f.slices):
        return None
    from dezero._ops.array import GetItemGrad

    gy = args[0]
    return [GetItemGrad(_batched_index(f.slices), (gy.shape[0],) + tuple(f.in_shape))(gy)]


def _matmul_batched(x, bx, W, bW):
    F = _F()
    nx, nW = _lndim(x, bx), _lndim(W, bW)
    if bx and not bW:
        if nx == 1 and nW == 2:
            return F.matmul(x, W)
        if nx >= 2 and nW >= 2:
            return F.matmul(_pad(x, True, max(nx, nW)), W)
        return None
    if bW and not bx:
        if nW >= 2 and nx >= 1:
            return F.matmul(x, _pad(W, True, max(nx, nW)))
        return None
    if nx >= 2 and nW >= 2:
        n = max(nx, nW)
        return F.matmul(_pad(x, True, n), _pad(W, True, n))
    return None


@_rule("MatMul")
def _matmul_rule(f, args, bs):
    y = _matmul_batched(args[0], bs[0], args[1], bs[1])
    return None if y is None else [y]


@_rule("Linear")
def _linear_rule(f, args, bs):
    y = _matmul_batched(args[0], bs[0], args[1], bs[1])
    if y is None:
        return None
    if len(args) == 3:
        b, bb = args[2], bs[2]
        y = y + _pad(b, bb, _lndim(y, True)) if bb else y + b
    return [y]


@_rule("Concat")
def _concat_rule(f, args, bs):
    F = _F()
    B = next(a.shape[0] for a, b in zip(args, bs) if b)
    xs = [a if b else F.broadcast_to(a, (B,) + a.shape) for a, b in zip(args, bs)]
    return [F.concat(xs, axis=f.axis % (xs[0].ndim - 1) + 1)]


@_rule("Stack")
def _stack_rule(f, args, bs):
    F = _F()
    B = next(a.shape[0] for a, b in zip(args, bs) if b)
    xs = [a if b else F.broadcast_to(a, (B,) + a.shape) for a, b in zip(args, bs)]
    return [F.stack(xs, axis=f.axis % xs[0].ndim + 1)]


@_rule("Split")
def _split_rule(f, args, bs):
    x = args[0]
    return list(_F().split(x, f.indices_or_sections, axis=f.axis % (x.ndim - 1) + 1))


def _in_axes(in_axes, n):
    if isinstance(in_axes, (int, type(None))):
        return (in_axes,) * n
    axes = tuple(in_axes)
    if len(axes) != n:
        raise ValueError(f"vmap: in_axes has {len(axes)} entries for {n} arguments")
    return axes


def _move_to_front(a, axis, lift):
    if axis == 0:
        return a
    if isinstance(a, Variable):
        nd = a.ndim
        order = [axis % nd] + [i for i in range(nd) if i != axis % nd]
        return _F().transpose(a, order) if lift else Variable(a.data.transpose(order))
    return cuda.get_array_module(a).moveaxis(a, axis, 0)


def missing_rules(nodes) -> list[str]:
    return sorted({type(f).__name__ for f in nodes if type(f).__name__ not in BATCHING_RULES})


def vmap(f: Callable, in_axes: int | None | Sequence[int | None] = 0,
         out_axes: int = 0) -> Callable:
    """Map ``f`` over a batch axis of its inputs: ``vmap(f)(X)[i] == f(X[i])``.

    Parameters
    ----------
    f : callable
        Built from dezero ops. It is traced once, on the first example; Python control
        flow that depends on the values of the input, and NumPy work on ``.data`` inside
        ``f``, are therefore not batched (as under ``jax.vmap``).
    in_axes : int, None, or a sequence of them (one per argument)
        The batch axis of each argument; None for an argument shared by all examples.
    out_axes : int
        Where the batch axis goes in each output.

    Notes
    -----
    When the trace holds a Function with no batching rule (``BATCHING_RULES``), or ``f``
    returns something other than Variables, ``f`` is called once per example instead
    (same results, slower); ``vmap.last_fallback`` names the missing rules.

    Examples
    --------
    >>> import numpy as np, dezero.functions as F
    >>> per_example = vmap(grad(lambda w, x: F.sum(F.tanh(x * w))), in_axes=(None, 0))
    >>> per_example(np.ones(3), np.zeros((4, 3))).shape
    (4, 3)
    """
    def wrapped(*args):
        where = "vmap"
        axes = _in_axes(in_axes, len(args))
        lift = _lifted(args)
        batched = []
        B = None
        for a, ax in zip(args, axes):
            if ax is None:
                batched.append(a)
                continue
            arr = a if isinstance(a, Variable) else np.asarray(_as_array(a, where)) \
                if not cuda.is_cupy_array(a) else a
            if arr.ndim == 0:
                raise ValueError(f"{where}: cannot map over axis {ax} of a 0-d argument")
            ax = ax % arr.ndim
            arr = _move_to_front(arr, ax, lift)
            n = arr.shape[0]
            if B is None:
                B = n
            elif n != B:
                raise ValueError(f"{where}: batch sizes differ: {B} and {n} (in_axes={in_axes})")
            batched.append(arr)
        if B is None:
            raise ValueError(f"{where}: in_axes maps no argument")
        is_b = [ax is not None for ax in axes]
        outs, seq, used_rules = _vmap_traced(f, batched, is_b, B, lift)
        wrapped.last_fallback = used_rules
        if out_axes != 0:
            outs = [_out_axis(o, out_axes, lift) for o in outs]
        outs = [_leave(o, lift) for o in outs]
        return tuple(outs) if seq else outs[0]

    wrapped.last_fallback = []  # type: ignore[attr-defined]
    return wrapped


def _out_axis(o, axis, lift):
    nd = o.ndim
    axis = axis % nd
    order = list(range(1, axis + 1)) + [0] + list(range(axis + 1, nd))
    if lift:
        return _F().transpose(o, order)
    data = o.data if isinstance(o, Variable) else o
    return data.transpose(order)


def _example(a, i, lift):
    if isinstance(a, Variable):
        return a[i] if lift else Variable(a.data[i, ...])
    return a[i, ...]


def _vmap_loop(f, batched, is_b, B, lift):
    results = []
    for i in range(B):
        call = [_example(a, i, lift) if b else a for a, b in zip(batched, is_b)]
        with _core.using_config("enable_backprop", lift):
            out = _call(f, call)
        ys, seq = _outputs(out, "vmap")
        results.append(ys)
    outs = []
    F = _F()
    for k in range(len(results[0])):
        parts = [r[k] for r in results]
        if lift:
            outs.append(F.stack(parts))
        else:
            outs.append(Variable(np.stack([p.data for p in parts])))
    return outs, seq


def _vmap_traced(f, batched, is_b, B, lift):
    # The trace: one example, with backprop on so that every op is recorded.
    with _core.using_config("enable_backprop", True):
        trace_in = []
        for a, b in zip(batched, is_b):
            if b:
                data = a.data if isinstance(a, Variable) else a
                trace_in.append(Variable(data[0, ...]))
            else:
                trace_in.append(a if isinstance(a, Variable) or not isinstance(
                    a, np.ndarray) else Variable(a))
        out = _call(f, trace_in)
    try:
        ys, seq = _outputs(out, "vmap")
    except TypeError:
        outs, seq = _vmap_loop(f, batched, is_b, B, lift)
        return outs, seq, ["(f returned no Variables)"]
    xs = [t for t, b in zip(trace_in, is_b) if b]
    nodes = _nodes_between(xs, ys)
    missing = missing_rules(nodes)
    if missing:
        outs, seq = _vmap_loop(f, batched, is_b, B, lift)
        return outs, seq, missing
    # Replay on the batch. env: id(trace Variable) -> (replayed Variable, batched?)
    env = {}
    for t, a, b in zip(trace_in, batched, is_b):
        if b:
            env[id(t)] = (a if isinstance(a, Variable) else Variable(a), True)
    with _core.using_config("enable_backprop", lift):
        for node in nodes:
            args, bs = [], []
            for x in node.inputs:
                v, b = env.get(id(x), (x, False))
                args.append(v)
                bs.append(b)
            refs = node.outputs
            if not any(bs):
                for ref in refs:
                    y = ref()
                    if y is not None:
                        env[id(y)] = (y, False)
                continue
            rule = BATCHING_RULES[type(node).__name__]
            new = rule(node, args, bs)
            if new is None:  # the rule does not cover this case
                outs, seq = _vmap_loop(f, batched, is_b, B, lift)
                return outs, seq, [type(node).__name__ + " (this case)"]
            for ref, v in zip(refs, new):
                y = ref()
                if y is not None:
                    env[id(y)] = (v, True)
        outs = []
        F = _F()
        for y in ys:
            v, b = env.get(id(y), (y, False))
            if not b:
                v = F.broadcast_to(F.reshape(v, (1,) + v.shape), (B,) + v.shape) if lift \
                    else Variable(np.broadcast_to(v.data, (B,) + v.shape).copy())
            outs.append(v)
    return outs, seq, []
