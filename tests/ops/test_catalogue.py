"""Generic tests that walk the op catalogue (tests/op_catalogue.py, tests/catalogue_*.py).

For every case of every entry: forward against the reference, gradients against float64
finite differences (second order where the backward is differentiable), dtypes kept end to
end, values and gradients equal to PyTorch's, documented errors raised before any graph node
exists, and finite results for extreme inputs. A public function of F without an entry
fails ``test_every_public_function_has_an_entry``.
"""
import inspect

import numpy as np
import pytest

import dezero
import dezero.functions as F
from dezero import Variable, cuda
from dezero.core import Function
from dezero.testing import check_grad
from op_catalogue import CATALOGUE, NOT_OPS


def _params(with_dtype=False, keep=lambda spec: True):
    out = []
    for spec in CATALOGUE:
        if not keep(spec):
            continue
        for cid, shapes, kw in spec.cases():
            if with_dtype:
                for dtype in spec.dtypes:
                    out.append(pytest.param(spec, shapes, kw, dtype,
                                            id=f"{cid}-{np.dtype(dtype).name}"))
            else:
                out.append(pytest.param(spec, shapes, kw, id=cid))
    return out


CASES = _params()
GRAD_CASES = _params(keep=lambda spec: spec.order > 0)
NOGRAD_CASES = _params(keep=lambda spec: spec.order == 0)
DTYPE_CASES = _params(with_dtype=True)
TORCH_CASES = _params(keep=lambda spec: spec.torch is not None)
ERROR_CASES = [pytest.param(spec, bad, id=f"{spec.name}-{i}")
               for spec in CATALOGUE for i, bad in enumerate(spec.errors)]
EXTREME_SPECS = [pytest.param(spec, id=spec.name) for spec in CATALOGUE if spec.extreme]


# -----------------------------------------------------------------------------
# helpers
# -----------------------------------------------------------------------------


def _outputs(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def _on(xp, a):
    return a if xp is np else xp.asarray(a)


def _call(spec, arrays, kw, xp=np):
    xs = [Variable(_on(xp, a)) for a in arrays]
    return xs, spec.fn(*xs, **kw)


def _differentiable(spec, arrays, kw):
    """(f, inputs) for check_grad: inputs held constant are closed over."""
    n = len(arrays)
    if spec.differentiable_inputs is None:
        return (lambda *xs: spec.fn(*xs, **kw)), arrays
    keep = [i for i in range(n) if not spec.is_constant(i, n)
            or getattr(spec.samplers(n)[i], "integer", False)]

    def f(*xs):
        full = [Variable(a) for a in arrays]
        for i, x in zip(keep, xs):
            full[i] = x
        return spec.fn(*full, **kw)
    f.__name__ = spec.name
    return f, [arrays[i] for i in keep]


def _backward_all(ys, gys=None):
    """Backward from every output, weighted by ``gys`` (ones when None)."""
    if len(ys) == 1:  # on a leaf (an op that returned its input) this only seeds
        y = ys[0]
        if gys is not None:
            y.grad = Variable(np.asarray(gys[0], dtype=y.dtype))
        y.backward()
        return
    total = None
    for i, y in enumerate(ys):
        term = F.sum(y if gys is None else y * np.asarray(gys[i], dtype=y.dtype))
        total = term if total is None else total + term
    total.backward()


# -----------------------------------------------------------------------------
# forward, gradients, dtypes
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("spec, shapes, kw", CASES)
def test_forward_matches_reference(xp, spec, shapes, kw):
    if spec.ref is None:
        pytest.skip(f"{spec.name} has no independent reference")
    if spec.device_rng and xp is not None and xp is not np:
        pytest.skip(f"{spec.name} draws from the device RNG; compared on NumPy only")
    arrays = spec.make_inputs(shapes)
    _, y = _call(spec, arrays, kw, xp)
    ys, expected = _outputs(y), _outputs(spec.ref(*arrays, **kw))
    assert len(ys) == len(expected), f"{spec.name}: {len(ys)} outputs, expected {len(expected)}"
    for got, want in zip(ys, expected):
        assert isinstance(got, Variable)
        want = np.asarray(want)
        got = cuda.as_numpy(got.data)
        assert got.shape == want.shape, f"{spec.name}: shape {got.shape} != {want.shape}"
        np.testing.assert_allclose(got, want, rtol=spec.fwd_rtol, atol=spec.fwd_atol)


@pytest.mark.parametrize("spec, shapes, kw", GRAD_CASES)
def test_gradients_match_finite_differences(xp, spec, shapes, kw):
    arrays = [_on(xp, a) for a in spec.make_inputs(shapes)]
    f, inputs = _differentiable(spec, arrays, kw)
    check_grad(f, *inputs, order=spec.order, rtol=spec.rtol, atol=spec.atol, name=spec.name)


@pytest.mark.parametrize("spec, shapes, kw", NOGRAD_CASES)
def test_not_differentiable_ops_record_no_graph(spec, shapes, kw):
    _, y = _call(spec, spec.make_inputs(shapes), kw)
    for out in _outputs(y):
        assert out.creator is None, f"{spec.name} (order 0) recorded a graph node"


@pytest.mark.parametrize("spec, shapes, kw, dtype", DTYPE_CASES)
def test_dtype_is_kept_end_to_end(xp, spec, shapes, kw, dtype):
    arrays = spec.make_inputs(shapes, dtype=dtype)
    xs, y = _call(spec, arrays, kw, xp)
    ys = _outputs(y)
    if spec.keeps_dtype:
        for out in ys:
            assert out.dtype == dtype, f"{spec.name}: output {out.dtype}, input {dtype}"
    if spec.order == 0:
        return
    _backward_all(ys)
    for i, x in enumerate(xs):
        if x.dtype.kind == "f" and x.grad is not None:
            assert x.grad.dtype == x.dtype, f"{spec.name}: grad of input {i} is {x.grad.dtype}"
    if spec.order < 2:
        return
    # The gradient graph (create_graph=True) keeps the dtype too.
    for x in xs:
        x.cleargrad()
    xs, y = _call(spec, arrays, kw, xp)
    ys = [out for out in _outputs(y) if out.creator is not None]
    if not ys:
        return
    total = F.sum(ys[0])
    for out in ys[1:]:
        total = total + F.sum(out)
    total.backward(create_graph=True)
    grads = [x.grad for x in xs if x.grad is not None and x.dtype.kind == "f"]
    for x in xs:
        x.cleargrad()
    second = None
    for g in grads:
        assert g.dtype == dtype
        if g.creator is not None:
            term = F.sum(g * g)
            second = term if second is None else second + term
    if second is not None:
        second.backward()
        for x in xs:
            if x.grad is not None and x.dtype.kind == "f":
                assert x.grad.dtype == dtype, f"{spec.name}: second-order grad {x.grad.dtype}"


# -----------------------------------------------------------------------------
# PyTorch as an oracle (float64)
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("spec, shapes, kw", TORCH_CASES)
def test_matches_pytorch(spec, shapes, kw):
    torch = pytest.importorskip("torch")
    arrays = spec.make_inputs(shapes)
    n = len(arrays)
    xs, y = _call(spec, arrays, kw)
    ys = _outputs(y)
    grads_wanted = spec.order > 0
    tensors = []
    for i, a in enumerate(arrays):
        t = torch.from_numpy(np.array(a, copy=True))
        if grads_wanted and a.dtype.kind == "f" and not spec.is_constant(i, n):
            t.requires_grad_(True)
        tensors.append(t)
    tys = _outputs(spec.torch(torch, *tensors, **kw))
    assert len(ys) == len(tys)
    for got, want in zip(ys, tys):
        want = want.detach().numpy()
        assert got.shape == want.shape, f"{spec.name}: shape {got.shape}, torch {want.shape}"
        np.testing.assert_allclose(got.data, want, rtol=spec.torch_rtol, atol=spec.torch_atol)
    if not grads_wanted:
        return
    rng = np.random.default_rng(1)
    gys = [rng.standard_normal(out.shape) for out in ys]
    _backward_all(ys, gys)
    wrt = [(i, t) for i, t in enumerate(tensors) if t.requires_grad]
    live = [(t, torch.from_numpy(g)) for t, g in zip(tys, gys) if t.requires_grad]
    if not wrt or not live:
        return
    tgrads = torch.autograd.grad([t for t, _ in live], [t for _, t in wrt],
                                 grad_outputs=[g for _, g in live], allow_unused=True)
    for (i, t), tg in zip(wrt, tgrads):
        want = np.zeros(t.shape) if tg is None else tg.numpy()
        got = np.zeros(t.shape) if xs[i].grad is None else xs[i].grad.data
        np.testing.assert_allclose(got, want, rtol=spec.torch_rtol, atol=spec.torch_atol,
                                   err_msg=f"{spec.name}: gradient of input {i}")


# -----------------------------------------------------------------------------
# errors
# -----------------------------------------------------------------------------


@pytest.fixture
def node_counter(monkeypatch):
    """Counts Function calls that completed (and so recorded a graph node)."""
    completed = []
    original = Function.__call__

    def counting_call(self, *inputs):
        out = original(self, *inputs)
        completed.append(type(self).__name__)
        return out

    monkeypatch.setattr(Function, "__call__", counting_call)
    return completed


@pytest.mark.parametrize("spec, bad", ERROR_CASES)
def test_bad_input_raises_before_any_node(spec, bad, node_counter):
    if bad.args is not None:
        args = bad.args()
    else:
        rng = np.random.default_rng(0)
        dtypes = bad.dtypes or [np.float64] * len(bad.shapes)
        args = [np.asarray(rng.standard_normal(s)).astype(d) for s, d in zip(bad.shapes, dtypes)]
    del node_counter[:]  # args() may build Variables with dezero functions
    fn = getattr(F, spec.name)
    with pytest.raises(bad.exc, match=bad.match):
        fn(*args, **bad.kwargs)
    assert not node_counter, f"{spec.name} recorded {node_counter} before raising"


# -----------------------------------------------------------------------------
# extremes
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", EXTREME_SPECS)
def test_extreme_inputs_stay_finite_in_float32(spec):
    for cid, shapes, kw in spec.cases():
        n = len(shapes)
        samplers = [s if getattr(s, "integer", False) else spec.extreme
                    for s in spec.samplers(n)]
        rng = np.random.default_rng(0)
        arrays = [np.asarray(s(rng, shape, np.float32)) for s, shape in zip(samplers, shapes)]
        xs = [Variable(a) for a in arrays]
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            ys = _outputs(spec.fn(*xs, **kw))
            for out in ys:
                assert np.isfinite(out.data).all(), f"{cid}: non-finite output {out.data}"
                assert out.dtype == np.float32, f"{cid}: output {out.dtype}"
            _backward_all(ys)
        for i, x in enumerate(xs):
            if x.grad is not None:
                assert np.isfinite(x.grad.data).all(), f"{cid}: non-finite grad of input {i}"


# -----------------------------------------------------------------------------
# the catalogue itself
# -----------------------------------------------------------------------------


def _public_functions():
    return {name for name in F.__all__
            if name[0].islower() and inspect.isfunction(getattr(F, name, None))}


def test_every_public_function_has_an_entry():
    described = {spec.name for spec in CATALOGUE}
    missing = sorted(_public_functions() - described - set(NOT_OPS))
    assert not missing, f"public functions of F without a catalogue entry: {missing}"


def test_entries_describe_public_functions_once():
    names = [spec.name for spec in CATALOGUE]
    assert len(names) == len(set(names)), "an op is described twice"
    for spec in CATALOGUE:
        assert spec.name in F.__all__, f"{spec.name} is not in dezero.functions.__all__"
        assert spec.cases(), f"{spec.name} has no cases"
        assert spec.errors, f"{spec.name} documents no error case"


def test_all_lists_every_public_name_once():
    assert len(F.__all__) == len(set(F.__all__)), "dezero.functions.__all__ repeats a name"
    for name in F.__all__:
        assert hasattr(F, name), f"__all__ names {name}, which F does not define"
    public = {
        name for name, obj in vars(F).items()
        if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", "").startswith("dezero")
        and (inspect.isfunction(obj) or issubclass(obj, Function))
    }
    missing = sorted(public - set(F.__all__))
    assert not missing, f"public names of F missing from __all__: {missing}"


@pytest.mark.parametrize("name", [
    "Sin", "Cos", "Tanh", "Exp", "Log", "Sqrt", "Abs", "Reshape", "Transpose", "GetItem",
    "GetItemGrad", "Sum", "SumTo", "BroadcastTo", "MatMul", "Linear", "Sigmoid", "ReLU",
    "LeakyReLU", "Softmax", "LogSoftmax", "Max", "Min", "Clip", "Concat", "Stack",
])
def test_contract_classes_are_functions(name):
    cls = getattr(F, name)
    assert issubclass(cls, dezero.Function)
    assert name in F.__all__
