"""Every transform of dezero.func on every differentiable op of the catalogue (float64).

For each case of each entry (tests/op_catalogue.py), with the integer and constant inputs
held fixed: vjp, jvp, grad, jacrev, jacfwd, vmap and (for small inputs) hessian against
torch.func at rtol 1e-10; jvp against central differences where the entry has no PyTorch
counterpart. Functions of several differentiable inputs are differentiated in all of them.
"""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable
from dezero import func as fn
from op_catalogue import CATALOGUE

torch = pytest.importorskip("torch")
tfunc = torch.func

RTOL = 1e-10
ATOL = 1e-10
HESSIAN_MAX = 24  # total input size up to which the Hessian is checked
JACOBIAN_MAX = 100  # input and output sizes up to which full Jacobians are checked

# The few entries whose PyTorch counterpart differs from dezero's by more than round-off
# at rtol 1e-10 (a different formula); the catalogue's own tolerance is used there.
LOOSE = {}


def _cases(keep):
    out = []
    for spec in CATALOGUE:
        if spec.order == 0 or not keep(spec):
            continue
        for cid, shapes, kw in spec.cases():
            out.append(pytest.param(spec, shapes, kw, id=cid))
    return out


TORCH_CASES = _cases(lambda s: s.torch is not None)
FD_CASES = _cases(lambda s: s.torch is None)


def _outputs(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def _setup(spec, shapes, kw):
    """(dezero f of the differentiable arrays, torch f of tensors, those arrays)."""
    arrays = spec.make_inputs(shapes)
    n = len(arrays)
    diff = [i for i in range(n) if arrays[i].dtype.kind == "f" and not spec.is_constant(i, n)]

    def full(args, wrap):
        out = [wrap(a) for a in arrays]
        for i, a in zip(diff, args):
            out[i] = a
        return out

    def f(*xs):
        ys = _outputs(spec.fn(*full(xs, Variable), **kw))
        return tuple(ys) if len(ys) > 1 else ys[0]

    def tf(*ts):
        ys = _outputs(spec.torch(torch, *full(ts, lambda a: torch.from_numpy(a.copy())), **kw))
        return tuple(ys) if len(ys) > 1 else ys[0]

    return f, tf, [arrays[i] for i in diff]


# NOTE: torch 2.x's Hessian of layer_norm and batch_norm (forward-over-reverse and
# reverse-over-reverse alike) is off in the (input, weight) block: it differs from central
# differences of torch's own gradient by ~2.0, where dezero's agrees to ~2e-10. For these
# the oracle is that finite-difference Jacobian of torch's gradient.
TORCH_HESSIAN_WRONG = {"batch_norm", "layer_norm"}


def _fd_jacobian(g, ts, eps=1e-6):
    """J[i][j] = d g(ts)[i] / d ts[j] by central differences (g returns a tuple)."""
    base = g(*ts)
    out = [[np.zeros(tuple(b.shape) + tuple(t.shape)) for t in ts] for b in base]
    for j, t in enumerate(ts):
        flat = t.reshape(-1)
        for k in range(flat.numel()):
            plus = [u.clone() for u in ts]
            minus = [u.clone() for u in ts]
            plus[j].view(-1)[k] += eps
            minus[j].view(-1)[k] -= eps
            gp, gm = g(*plus), g(*minus)
            for i in range(len(base)):
                d = ((gp[i] - gm[i]) / (2 * eps)).numpy()
                out[i][j].reshape(d.shape + (-1,))[..., k] = d
    return out


def _t(a):
    return torch.from_numpy(np.array(a, copy=True))


def _close(got, want, spec, what):
    rtol = max(RTOL, LOOSE.get(spec.name, 0.0))
    got = _outputs(got) if isinstance(got, (list, tuple)) else [got]
    want = _outputs(want) if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want), f"{spec.name} {what}: {len(got)} results, torch {len(want)}"
    for g, w in zip(got, want):
        if isinstance(g, (list, tuple)):
            _close(g, w, spec, what)
            continue
        if hasattr(w, "_is_zerotensor") and w._is_zerotensor():
            w = torch.zeros(w.shape, dtype=w.dtype)
        w = w.detach().numpy() if hasattr(w, "detach") else np.asarray(w)
        assert isinstance(g, np.ndarray), f"{spec.name} {what}: got {type(g).__name__}"
        assert g.shape == w.shape, f"{spec.name} {what}: shape {g.shape}, torch {w.shape}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=ATOL, err_msg=f"{spec.name} {what}")


def _scalarized(f, weights):
    """sum_i <f(x)_i, w_i>: a scalar function of the same inputs."""
    def g(*xs):
        ys = _outputs(f(*xs))
        total = None
        for y, w in zip(ys, weights):
            term = F.sum(y * w)
            total = term if total is None else total + term
        return total
    return g


def _t_scalarized(tf, weights):
    def g(*ts):
        ys = _outputs(tf(*ts))
        return sum((y * _t(w)).sum() for y, w in zip(ys, weights))
    return g


@pytest.mark.parametrize("spec, shapes, kw", TORCH_CASES)
def test_transforms_match_torch_func(spec, shapes, kw):
    f, tf, xs = _setup(spec, shapes, kw)
    if not xs:
        pytest.skip(f"{spec.name}: no differentiable input")
    rng = np.random.default_rng(7)
    ts = [_t(x) for x in xs]
    argnums = tuple(range(len(xs)))

    # vjp
    y, pullback = fn.vjp(f, *xs)
    ty, tpull = tfunc.vjp(tf, *ts)
    _close(y, ty, spec, "vjp value")
    cts = [rng.standard_normal(o.shape) for o in _outputs(y)]
    got = pullback(*cts)
    want = tpull(tuple(_t(c) for c in cts) if isinstance(ty, tuple) else _t(cts[0]))
    _close(list(got), list(want), spec, "vjp")

    # jvp
    tangents = [rng.standard_normal(x.shape) for x in xs]
    y, jy = fn.jvp(f, xs, tangents)
    _, tjy = tfunc.jvp(tf, tuple(ts), tuple(_t(v) for v in tangents))
    _close(jy, tjy, spec, "jvp")

    # grad of <f(x), w>
    g = _scalarized(f, cts)
    tg = _t_scalarized(tf, cts)
    _close(list(fn.grad(g, argnums=argnums)(*xs)), list(tfunc.grad(tg, argnums=argnums)(*ts)),
           spec, "grad")

    # Jacobians, both modes (vjp and jvp above cover the larger cases)
    if max(sum(x.size for x in xs), sum(o.size for o in _outputs(y))) <= JACOBIAN_MAX:
        jr = fn.jacrev(f, argnums=argnums)(*xs)
        jf = fn.jacfwd(f, argnums=argnums)(*xs)
        tj = tfunc.jacrev(tf, argnums=argnums)(*ts)
        _close(jr, tj, spec, "jacrev")
        _close(jf, tj, spec, "jacfwd")

    # Hessian of <f(x), w>, for small inputs
    if spec.order >= 2 and sum(x.size for x in xs) <= HESSIAN_MAX:
        h = fn.hessian(g, argnums=argnums)(*xs)
        if spec.name in TORCH_HESSIAN_WRONG:
            th = _fd_jacobian(tfunc.grad(tg, argnums=argnums), ts)
            for row, trow in zip(h, th):
                for a, b in zip(row, trow):
                    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=spec.name)
        else:
            th = tfunc.hessian(tg, argnums=argnums)(*ts)
            _close(h, th, spec, "hessian")

    # vmap over a batch of 3 examples (all differentiable inputs mapped)
    batch = [np.stack([x + 0.01 * k * rng.uniform(-1, 1, x.shape) if spec.name not in
                       _TIE_SENSITIVE else x for k in range(3)]) for x in xs]
    got = fn.vmap(f)(*batch)
    tb = [_t(b) for b in batch]
    try:
        want = tfunc.vmap(tf)(*tb)
    except Exception:  # an op torch cannot vmap: its per-example loop is the same value
        per = [_outputs(tf(*[t[k] for t in tb])) for k in range(3)]
        want = [torch.stack([p[i] for p in per]) for i in range(len(per[0]))]
        want = want if len(want) > 1 else want[0]
    _close(got, want, spec, "vmap")


# Entries whose inputs must not be perturbed (ties or kinks nearby): the batch repeats x.
_TIE_SENSITIVE = {"max", "min", "maximum", "minimum", "pooling", "pooling_simple", "relu",
                  "leaky_relu", "abs", "clip"}


@pytest.mark.parametrize("spec, shapes, kw", FD_CASES)
def test_jvp_matches_finite_differences(spec, shapes, kw):
    f, _, xs = _setup(spec, shapes, kw)
    rng = np.random.default_rng(3)
    tangents = [rng.standard_normal(x.shape) for x in xs]

    def value(*args):
        np.random.seed(0)  # dropout draws the same mask each time
        return [np.array(o.data) for o in _outputs(f(*[Variable(np.asarray(a)) for a in args]))]

    np.random.seed(0)
    _, jy = fn.jvp(f, xs, tangents)
    eps = 1e-6
    plus = value(*[x + eps * t for x, t in zip(xs, tangents)])
    minus = value(*[x - eps * t for x, t in zip(xs, tangents)])
    numeric = [(p - m) / (2 * eps) for p, m in zip(plus, minus)]
    for got, want in zip(_outputs(jy), numeric):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=spec.name)
    # and jvp agrees with the vjp it is dual to: <J t, u> == <t, J^T u>
    np.random.seed(0)
    y, pullback = fn.vjp(f, *xs)
    us = [rng.standard_normal(o.shape) for o in _outputs(y)]
    lhs = sum(float(np.sum(a * u)) for a, u in zip(_outputs(jy), us))
    gs = pullback(*us)
    rhs = sum(float(np.sum(g * t)) for g, t in zip(gs, tangents))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs)), spec.name
