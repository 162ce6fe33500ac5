"""Hand-written tests of the losses and accuracy (the catalogue covers the generic checks)."""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable
from dezero.testing import check_grad


def _loss_and_grad(f, x, t):
    x = Variable(x)
    y = f(x, t)
    y.backward()
    return y, x.grad


# -----------------------------------------------------------------------------
# extremes (API.md D8)
# -----------------------------------------------------------------------------


def test_softmax_cross_entropy_is_finite_at_1000_in_float32():
    x = np.array([[1000, -1000, 0], [-1000, 1000, 0], [0, 0, 1000]], dtype=np.float32)
    t = np.array([0, 2, 1])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, gx = _loss_and_grad(F.softmax_cross_entropy, x, t)
    assert y.dtype == np.float32 and gx.dtype == np.float32
    # the losses of the rows are 0, 1000 and 1000
    assert y.data == pytest.approx(2000 / 3, rel=1e-6)
    expected = np.array([[0, 0, 0], [0, 1, -1], [0, -1, 1]]) / 3
    np.testing.assert_allclose(gx.data, expected, atol=1e-7)


def _exact_log_softmax(offsets):
    """log softmax of rows ``base + offsets`` (exact differences), in float64."""
    d = np.asarray(offsets, np.float64)
    d = d - d.max(axis=1, keepdims=True)
    return d - np.log(np.exp(d).sum(axis=1, keepdims=True))


# logits far from 0 whose differences are exact in the dtype (multiples of its spacing there)
LARGE_LOGITS = [
    (np.float32, 1e4, [[0.0, 0.0, 0.0, 0.0], [0.0, 0.5, 1.0, 2.0]]),
    (np.float32, 1e8, [[0.0, 0.0, 0.0, 0.0], [0.0, 8.0, -8.0, 16.0]]),
    (np.float64, 1e8, [[0.0, 0.0, 0.0, 0.0], [0.0, 0.25, 1.0, 3.0]]),
    (np.float64, 1e16, [[0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 4.0, -2.0]]),
]


@pytest.mark.parametrize("dtype, base, offsets", LARGE_LOGITS)
def test_softmax_cross_entropy_is_exact_at_large_logits(xp, dtype, base, offsets):
    # (x[t] - max) - log(sum(exp(x - max))): the max + log-sum form lost log(4) entirely
    # at 1e8 in float32 (loss -0.0) and gave 2.0 instead of log(4) at 1e16 in float64.
    offsets = np.asarray(offsets)
    logits = (dtype(base) + offsets.astype(dtype)).astype(dtype)
    assert np.array_equal(logits.astype(np.float64) - base, offsets)  # exact differences
    t = np.array([1, 3])
    ls = _exact_log_softmax(offsets)
    expected_loss = -ls[np.arange(2), t].mean()
    expected_grad = (np.exp(ls) - np.eye(4)[t]) / 2
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    for f in (F.softmax_cross_entropy,
              lambda x, t: -F.sum(F.log_softmax(x)[xp.arange(2), t]) / 2):
        x = Variable(xp.asarray(logits))
        y = f(x, xp.asarray(t))
        y.backward()
        assert y.dtype == dtype and x.grad.dtype == dtype
        loss = float(y.data)
        grad = x.grad.data.get() if xp.__name__ != "numpy" else x.grad.data
        np.testing.assert_allclose(loss, expected_loss, rtol=rtol)
        np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=rtol / 10)  # p - 1 cancels


@pytest.mark.parametrize("dtype, base, offsets", LARGE_LOGITS)
def test_softmax_and_logsumexp_gradients_at_large_logits(dtype, base, offsets):
    offsets = np.asarray(offsets)
    logits = (dtype(base) + offsets.astype(dtype)).astype(dtype)
    p = np.exp(_exact_log_softmax(offsets))
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(F.softmax(logits).data, p, rtol=rtol, atol=rtol * 1e-3)
    x = Variable(logits)
    F.sum(F.logsumexp(x, axis=1)).backward()
    np.testing.assert_allclose(x.grad.data, p, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("dtype, base", [(np.float32, 1e8), (np.float64, 1e16)])
def test_sigmoid_cross_entropy_at_large_logits(dtype, base):
    x = np.array([[base, -base]], dtype)
    y = F.sigmoid_cross_entropy(x, np.array([[1, 1]]))
    assert float(y.data) == base  # log(1 + e^-b) = 0 and log(1 + e^b) = b, exactly
    y = F.sigmoid_cross_entropy(x, np.array([[0.5, 0.5]], dtype))
    assert float(y.data) == base  # b/2 each


def test_softmax_cross_entropy_backward_formula():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    t = np.array([1, 0, 4, 4])
    xv = Variable(x)
    y = F.softmax_cross_entropy(xv, t)
    y.grad = Variable(np.array(3.0))
    y.backward()
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(xv.grad.data, (p - np.eye(5)[t]) * 3.0 / 4, rtol=1e-12)


def test_softmax_cross_entropy_agrees_with_the_simple_one_and_ravels_labels():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    t = rng.integers(0, 3, (6, 1))
    a = F.softmax_cross_entropy(x, t)
    b = F.softmax_cross_entropy_simple(x, t)
    c = F.softmax_cross_entropy(Variable(x), Variable(t.ravel()))
    assert a.dtype == b.dtype == np.float32
    assert a.data == pytest.approx(b.data, rel=1e-6)
    assert a.data == c.data


def test_softmax_cross_entropy_third_order():
    rng = np.random.default_rng(2)
    check_grad(F.softmax_cross_entropy, rng.standard_normal((3, 4)), np.array([0, 3, 1]),
               order=3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_cross_entropy_at_minus_100(dtype):
    y, gx = _loss_and_grad(F.sigmoid_cross_entropy, np.array([-100.0], dtype=dtype),
                           np.array([1]))
    assert y.dtype == dtype
    assert float(y.data) == pytest.approx(100.0, rel=1e-7)
    assert float(gx.data[0]) == pytest.approx(-1.0, rel=1e-7)
    y, gx = _loss_and_grad(F.sigmoid_cross_entropy, np.array([[100.0], [-100.0]], dtype=dtype),
                           np.array([0, 0]))
    assert float(y.data) == pytest.approx(50.0, rel=1e-7)  # (100 + ~0) / 2
    np.testing.assert_allclose(gx.data, [[0.5], [0.0]], atol=1e-7)


def test_sigmoid_cross_entropy_float_targets_get_a_gradient():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 2))
    t = rng.uniform(0, 1, (4, 2))
    check_grad(F.sigmoid_cross_entropy, x, t, order=3)
    xv, tv = Variable(x), Variable(t)
    F.sigmoid_cross_entropy(xv, tv).backward()
    np.testing.assert_allclose(tv.grad.data, -x / 4, rtol=1e-12)


def test_sigmoid_cross_entropy_reshapes_targets():
    x = np.array([[0.5], [-1.0], [2.0]])
    a = F.sigmoid_cross_entropy(x, np.array([1, 0, 1]))
    b = F.sigmoid_cross_entropy(x, np.array([[1], [0], [1]]))
    assert a.data == b.data


def test_binary_cross_entropy_matches_sigmoid_cross_entropy():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 2))
    t = rng.integers(0, 2, (5, 2))
    p = 1 / (1 + np.exp(-x))
    a = F.binary_cross_entropy(p, t)
    b = F.sigmoid_cross_entropy(x, t)
    assert a.data == pytest.approx(b.data, rel=1e-12)


def test_binary_cross_entropy_clamps_at_0_and_1():
    p = np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32)
    t = np.array([1, 0, 0, 1])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, gp = _loss_and_grad(F.binary_cross_entropy, p, t)
    assert y.dtype == np.float32
    assert float(y.data) == pytest.approx(200 / 4)  # two log terms clamped at -100
    np.testing.assert_allclose(gp.data, np.array([-1e12, 1e12, 0, 0]) / 4, rtol=1e-6)


def test_binary_cross_entropy_is_exact_without_clipping():
    p = np.array([1e-20, 1 - 1e-12])
    y = F.binary_cross_entropy(p, np.array([1, 1]))
    assert float(y.data) == pytest.approx((-np.log(1e-20) - np.log(1 - 1e-12)) / 2, rel=1e-12)


def test_binary_cross_entropy_float_targets_get_a_gradient():
    rng = np.random.default_rng(5)
    check_grad(F.binary_cross_entropy, rng.uniform(0.1, 0.9, (3, 2)), rng.uniform(0, 1, (3, 2)),
               order=3)


def test_mean_squared_error_divides_by_the_first_dimension():
    x0 = np.ones((4, 3))
    x1 = np.zeros((4, 3))
    assert float(F.mean_squared_error(x0, x1).data) == 3.0  # 12 / 4, not 12 / 12
    assert float(F.mean_squared_error_simple(x0, x1).data) == 3.0
    y = F.mean_squared_error(np.ones((4, 3), dtype=np.float32), np.zeros((4, 3), np.float32))
    assert y.dtype == np.float32


def test_mean_squared_error_third_order_and_broadcasting():
    rng = np.random.default_rng(6)
    check_grad(F.mean_squared_error, rng.standard_normal((3, 2)), rng.standard_normal((1, 2)),
               order=3)


def test_accuracy():
    y = np.array([[0.2, 0.8, 0], [0.1, 0.9, 0], [0.8, 0.1, 0.1]])
    t = np.array([1, 2, 0])
    acc = F.accuracy(y, t)
    assert isinstance(acc, Variable) and acc.creator is None
    assert acc.data.shape == () and acc.dtype == np.float64
    assert float(acc.data) == pytest.approx(2 / 3)
    acc = F.accuracy(Variable(y.astype(np.float32)), Variable(t.reshape(3, 1)))
    assert float(acc.data) == pytest.approx(2 / 3)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "sigmoid_cross_entropy",
                                  "binary_cross_entropy", "mean_squared_error"])
def test_losses_on_gpu_match_cpu(xp, name):
    rng = np.random.default_rng(7)
    f = getattr(F, name)
    if name == "softmax_cross_entropy":
        x, t = rng.standard_normal((4, 3)), rng.integers(0, 3, 4)
    elif name == "mean_squared_error":
        x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    else:
        x, t = rng.uniform(0.1, 0.9, (4, 3)), rng.integers(0, 2, (4, 3))
    xv = Variable(xp.asarray(x))
    y = f(xv, xp.asarray(t))
    y.backward()
    yc, gc = _loss_and_grad(f, x, t)
    np.testing.assert_allclose(float(y.data), float(yc.data), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(xv.grad.data.get() if xp is not np else xv.grad.data),
                               gc.data, rtol=1e-10)


def test_device_agnostic_under_emulated_cupy(monkeypatch):
    """Run on a strict CuPy stand-in (tests/gpu/emulated_cupy.py): no host conversions."""
    emulated = pytest.importorskip("gpu.emulated_cupy")
    cp = emulated.install(monkeypatch)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3))
    p = np.array([[0.0, 0.5, 1.0], [0.2, 0.3, 0.4], [0.9, 0.1, 0.5], [1.0, 1.0, 0.0]])
    labels = rng.integers(0, 3, 4)
    t = rng.uniform(0, 1, (4, 3))
    cases = [(F.softmax_cross_entropy, x, labels), (F.softmax_cross_entropy_simple, x, labels),
             (F.sigmoid_cross_entropy, x, t), (F.binary_cross_entropy, p, t),
             (F.mean_squared_error, x, t)]
    for f, a, c in cases:
        out = []
        for mod in (cp, np):
            av, cv = Variable(mod.asarray(a)), Variable(mod.asarray(c))
            y = f(av, cv)
            y.backward()
            out.append([float(y.data), av.grad.data, None if cv.grad is None else cv.grad.data])
        assert out[0][0] == pytest.approx(out[1][0], rel=1e-12)
        for g, h in zip(out[0][1:], out[1][1:]):
            assert (g is None) == (h is None)
            if g is not None:
                np.testing.assert_allclose(g.get(), h, rtol=1e-10, atol=1e-12)
    acc = F.accuracy(cp.asarray(x), cp.asarray(labels))
    assert float(acc.data) == float(F.accuracy(x, labels).data)
