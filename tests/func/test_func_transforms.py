"""dezero.func beyond the catalogue: functional contract, composition, vmap, errors."""
import gc
import weakref

import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import Variable
from dezero import func as fn
from dezero.core import Function

# -----------------------------------------------------------------------------
# the functional contract: arrays in and out, no graph left, no .grad touched
# -----------------------------------------------------------------------------


def test_import_dezero_does_not_import_func():
    import subprocess
    import sys

    code = "import sys, dezero; print('dezero.func' in sys.modules); dezero.func; " \
           "print('dezero.func' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


class _Tracked(Function):
    """y = 2x; every instance is recorded so a test can watch it die."""

    instances = []

    def __init__(self):
        _Tracked.instances.append(weakref.ref(self))

    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return 2 * gy

    @classmethod
    def alive(cls):
        gc.collect()
        return [r for r in cls.instances if r() is not None]


@pytest.mark.parametrize("transform", [
    lambda f, x: fn.grad(f)(x),
    lambda f, x: fn.value_and_grad(f)(x),
    lambda f, x: fn.vjp(f, x)[0],
    lambda f, x: fn.jvp(f, (x,), (np.ones_like(x),)),
    lambda f, x: fn.jacrev(f)(x),
    lambda f, x: fn.jacfwd(f)(x),
    lambda f, x: fn.hessian(f)(x),
    lambda f, x: fn.vmap(fn.grad(f))(np.stack([x, x])),
], ids=["grad", "value_and_grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap"])
def test_no_graph_is_left_alive_and_results_are_arrays(transform):
    _Tracked.instances.clear()
    x = np.array([0.5, -1.0, 2.0])

    def f(v):
        return F.sum(F.sin(_Tracked()(v)) * v)

    out = transform(f, x)
    assert _Tracked.instances, "the function was not traced"
    assert not _Tracked.alive(), "a graph node outlived the transform"
    flat = out if isinstance(out, tuple) else (out,)
    for o in flat:
        assert isinstance(o, np.ndarray), type(o)


def test_caller_variables_grad_is_untouched():
    W = Variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    W.grad = Variable(np.full((2, 2), 7.0))
    b = Variable(np.array([0.5, -0.5]))  # grad None

    def loss(x):
        return F.sum(F.tanh(F.matmul(x, W) + b))

    g = fn.grad(loss)(np.array([[1.0, -1.0]]))
    assert g.shape == (1, 2)
    np.testing.assert_array_equal(W.grad.data, np.full((2, 2), 7.0))
    assert b.grad is None


def test_gradient_wrt_closed_over_parameters_through_argnums():
    layer = L.Linear(3, in_size=2)
    x = np.array([[1.0, 2.0]], dtype=np.float32)

    def loss(W, b):
        return F.sum(F.linear(x, W, b) ** 2)

    gW, gb = fn.grad(loss, argnums=(0, 1))(layer.W.data, layer.b.data)
    y = F.sum(F.linear(x, layer.W, layer.b) ** 2)
    y.backward()
    np.testing.assert_allclose(gW, layer.W.grad.data, rtol=1e-6)
    np.testing.assert_allclose(gb, layer.b.grad.data, rtol=1e-6)
    assert gW.dtype == np.float32  # float32 stays float32


# -----------------------------------------------------------------------------
# composition
# -----------------------------------------------------------------------------


def test_grad_of_grad_of_grad():
    f = fn.grad(fn.grad(fn.grad(lambda x: F.sin(x) * x)))
    x = np.array(0.7)
    # d3/dx3 [x sin x] = -3 sin x - x cos x
    np.testing.assert_allclose(f(x), -3 * np.sin(x) - x * np.cos(x), rtol=1e-12)


def test_inner_and_outer_variables_are_kept_apart():
    # d/dx [x * d/dy (x * y)] = d/dx [x * x] = 2x: the inner grad must not see the outer x.
    def outer(x):
        return x * fn.grad(lambda y: x * y)(np.array(1.0))

    np.testing.assert_allclose(fn.grad(outer)(np.array(3.0)), 6.0)


def test_jacfwd_of_jacrev_equals_jacrev_of_jacrev():
    def f(x):
        return F.sum(F.exp(x) * F.sin(x[::-1]))

    x = np.array([0.1, -0.4, 0.9])
    np.testing.assert_allclose(fn.jacfwd(fn.jacrev(f))(x), fn.jacrev(fn.jacrev(f))(x),
                               rtol=1e-12, atol=1e-14)


def test_jvp_of_grad_is_a_hessian_vector_product():
    def f(x):
        return F.sum(F.tanh(x) ** 3)

    x = np.array([0.3, -0.2, 0.8])
    v = np.array([1.0, 2.0, -1.0])
    _, hvp = fn.jvp(fn.grad(f), (x,), (v,))
    np.testing.assert_allclose(hvp, fn.hessian(f)(x) @ v, rtol=1e-12)


def _mlp_params(rng):
    return [rng.standard_normal((3, 4)) * 0.5, rng.standard_normal(4) * 0.1,
            rng.standard_normal((4, 2)) * 0.5, rng.standard_normal(2) * 0.1]


def _mlp_loss(W1, b1, W2, b2, x, t):
    h = F.tanh(F.linear(x, W1, b1))
    return F.softmax_cross_entropy(F.linear(h, W2, b2), t)


def test_hessian_of_small_mlp_loss_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    W1, b1, W2, b2 = _mlp_params(rng)
    x = rng.standard_normal((5, 3))
    t = np.array([0, 1, 1, 0, 1])

    def loss(W1):
        return _mlp_loss(W1, b1, W2, b2, x, t)

    def tloss(W1):
        h = torch.tanh(torch.from_numpy(x) @ W1 + torch.from_numpy(b1))
        z = h @ torch.from_numpy(W2) + torch.from_numpy(b2)
        return torch.nn.functional.cross_entropy(z, torch.from_numpy(t))

    H = fn.hessian(loss)(W1)
    TH = torch.func.hessian(tloss)(torch.from_numpy(W1)).numpy()
    assert H.shape == (3, 4, 3, 4)
    np.testing.assert_allclose(H, TH, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fn.jacrev(fn.jacrev(loss))(W1), TH, rtol=1e-10, atol=1e-12)


# -----------------------------------------------------------------------------
# vmap
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("activation", [F.tanh, F.sigmoid, F.relu], ids=["tanh", "sigmoid",
                                                                          "relu"])
def test_vmap_per_example_gradients_equal_a_python_loop(activation):
    rng = np.random.default_rng(1)
    W1, b1, W2, b2 = _mlp_params(rng)
    X = rng.standard_normal((6, 3))
    T = rng.integers(0, 2, size=6)

    def loss(W1, b1, W2, b2, x, t):
        h = activation(F.linear(F.reshape(x, (1, 3)), W1, b1))
        return F.softmax_cross_entropy(F.linear(h, W2, b2), F.reshape(t, (1,)))

    per_example = fn.vmap(fn.grad(loss, argnums=(0, 1, 2, 3)),
                          in_axes=(None, None, None, None, 0, 0))
    got = per_example(W1, b1, W2, b2, X, T)
    for i in range(6):
        want = fn.grad(loss, argnums=(0, 1, 2, 3))(W1, b1, W2, b2, X[i], np.asarray(T[i]))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g[i], w, rtol=1e-12, atol=1e-14)


def test_vmap_batches_without_a_loop_where_rules_exist():
    rng = np.random.default_rng(2)
    W = rng.standard_normal((3, 2))

    def loss(W, x):
        return F.sum(F.tanh(F.matmul(F.reshape(x, (1, 3)), W)) ** 2)

    mapped = fn.vmap(fn.grad(loss), in_axes=(None, 0))
    X = rng.standard_normal((5, 3))
    got = mapped(W, X)
    assert mapped.last_fallback == []  # replayed on the batch
    want = np.stack([fn.grad(loss)(W, x) for x in X])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_vmap_falls_back_to_a_loop_and_says_why():
    mapped = fn.vmap(lambda x: F.max(x, axis=0))
    X = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(mapped(X), X.max(axis=1))
    assert mapped.last_fallback == ["Max"]


def test_vmap_in_axes_out_axes_and_shared_arguments():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((3, 4, 5))  # batch on axis 1
    w = rng.standard_normal(5)
    out = fn.vmap(lambda a, w: F.sum(a * w, axis=1), in_axes=(1, None), out_axes=1)(A, w)
    want = np.stack([np.sum(A[:, i] * w, axis=1) for i in range(4)], axis=1)
    np.testing.assert_allclose(out, want, rtol=1e-12)


def test_grad_of_vmap_composes():
    X = np.array([[0.1, 0.2], [0.3, -0.4], [1.0, 0.5]])

    def total(x):
        return F.sum(fn.vmap(lambda r: F.sum(F.sin(r) * r))(x))

    np.testing.assert_allclose(fn.grad(total)(X), np.cos(X) * X + np.sin(X), rtol=1e-12)


# -----------------------------------------------------------------------------
# aux, argnums, errors
# -----------------------------------------------------------------------------


def test_has_aux_and_value_and_grad():
    def f(x):
        y = F.sum(x * x)
        return y, {"norm": y}

    (value, aux), g = fn.value_and_grad(f, has_aux=True)(np.array([1.0, 2.0]))
    assert float(value) == 5.0 and float(aux["norm"]) == 5.0
    np.testing.assert_array_equal(g, [2.0, 4.0])
    g2, aux2 = fn.grad(f, has_aux=True)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g2, g)
    assert isinstance(aux2["norm"], np.ndarray)


def test_vjp_pullback_can_be_called_twice_and_checks_shapes():
    y, pull = fn.vjp(lambda x: F.exp(x), np.array([0.0, 1.0]))
    np.testing.assert_allclose(pull(np.ones(2))[0], np.exp([0.0, 1.0]))
    np.testing.assert_allclose(pull(np.array([2.0, 0.0]))[0], [2.0, 0.0])
    with pytest.raises(ValueError, match=r"^vjp_fn: cotangent shape \(3,\)"):
        pull(np.ones(3))


def test_errors_name_the_transform():
    with pytest.raises(ValueError, match=r"^grad: f must return one Variable of size 1"):
        fn.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(ValueError, match=r"^grad: argnums 2 out of range for 1 arguments"):
        fn.grad(lambda x: F.sum(x), argnums=2)(np.ones(3))
    with pytest.raises(TypeError, match=r"^jvp: inputs must be ndarrays"):
        fn.jvp(F.sin, (np.ones(2),), ("a",))
    with pytest.raises(ValueError, match=r"^jvp: tangent shape \(3,\) does not match"):
        fn.jvp(F.sin, (np.ones(2),), (np.ones(3),))
    with pytest.raises(ValueError, match=r"^vmap: batch sizes differ: 2 and 3"):
        fn.vmap(lambda a, b: a + b)(np.ones((2, 1)), np.ones((3, 1)))


def test_native_jvp_list_covers_the_common_ops():
    names = fn.native_jvp_classes()
    for op in ("Add", "Mul", "Div", "Exp", "Log", "Sin", "Tanh", "MatMul", "Linear", "Sum",
               "Reshape", "Transpose", "BroadcastTo", "SumTo", "Softmax"):
        assert op in names
    assert "Max" not in names  # uses the double-vjp identity


def test_dezero_func_attribute():
    assert dezero.func is fn
