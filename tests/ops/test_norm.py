"""Hand-written tests of dropout, batch_norm, layer_norm and embed_id."""
import numpy as np
import pytest

import dezero
import dezero.functions as F
from dezero import Variable
from dezero.testing import check_grad

# -----------------------------------------------------------------------------
# dropout
# -----------------------------------------------------------------------------


def test_dropout_test_mode_returns_the_input_itself():
    x = Variable(np.random.randn(3, 4))
    with dezero.test_mode():
        y = F.dropout(x)
    assert y is x
    dezero.Config.train = False
    try:
        assert F.dropout(x, 0.3) is x
        a = np.ones((2, 2), dtype=np.float32)
        y = F.dropout(a)
        assert isinstance(y, Variable) and y.data is a and y.creator is None
    finally:
        dezero.Config.train = True


def test_dropout_draws_its_mask_from_the_global_rng():
    x = np.random.randn(3, 4).astype(np.float32)
    np.random.seed(42)
    y = F.dropout(x, dropout_ratio=0.25)
    after = np.random.rand()
    np.random.seed(42)
    mask = np.random.rand(3, 4) > 0.25
    assert np.random.rand() == after  # exactly x.size draws
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, x * mask / np.float32(0.75))
    # a second call draws a new mask
    np.random.seed(42)
    F.dropout(x, 0.25)
    z = F.dropout(x, 0.25)
    assert not np.array_equal(z.data, y.data)


def test_dropout_backward_uses_the_same_mask():
    np.random.seed(0)
    x = Variable(np.random.randn(5, 6))
    y = F.dropout(x, 0.4)
    y.backward()
    kept = y.data != 0
    np.testing.assert_allclose(x.grad.data, kept / 0.6)


# -----------------------------------------------------------------------------
# batch_norm
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 3), (1, 3)])
def test_batch_norm_updates_running_statistics_in_place(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32) * 2 + 1
    c = shape[1]
    mean = rng.standard_normal(c).astype(np.float32)
    var = rng.uniform(0.5, 1.5, c).astype(np.float32)
    mean0, var0 = mean.copy(), var.copy()
    ids = (id(mean), id(var))
    y = F.batch_norm(x, np.ones(c, np.float32), np.zeros(c, np.float32), mean, var,
                     decay=0.8)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    m = x.size // c
    mu, sigma2 = x.mean(axis=axes), x.var(axis=axes)
    assert (id(mean), id(var)) == ids and mean.dtype == var.dtype == np.float32
    np.testing.assert_allclose(mean, 0.8 * mean0 + 0.2 * mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, 0.8 * var0 + 0.2 * m / max(m - 1, 1) * sigma2,
                               rtol=1e-5, atol=1e-6)
    assert y.dtype == np.float32
    if m > 1:  # normalised with the batch statistics
        np.testing.assert_allclose(y.data.mean(axis=axes), 0, atol=1e-5)
        np.testing.assert_allclose(y.data.var(axis=axes), sigma2 / (sigma2 + 2e-5), rtol=1e-4)


def test_batch_norm_test_mode_uses_and_keeps_running_statistics():
    rng = np.random.default_rng(1)
    x = Variable(rng.standard_normal((4, 3, 2, 2)))
    gamma, beta = Variable(rng.standard_normal(3)), Variable(rng.standard_normal(3))
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    mean0, var0 = mean.copy(), var.copy()
    with dezero.test_mode():
        y = F.batch_norm(x, gamma, beta, mean, var)
    np.testing.assert_array_equal(mean, mean0)
    np.testing.assert_array_equal(var, var0)
    r = (1, 3, 1, 1)
    inv_std = 1 / np.sqrt(var.reshape(r) + 2e-5)
    xhat = (x.data - mean.reshape(r)) * inv_std
    np.testing.assert_allclose(y.data, gamma.data.reshape(r) * xhat + beta.data.reshape(r),
                               rtol=1e-12)
    gy = rng.standard_normal(y.shape)
    y.grad = Variable(gy)
    y.backward()  # outside test_mode: the mode of the forward pass counts
    np.testing.assert_allclose(x.grad.data, gy * gamma.data.reshape(r) * inv_std, rtol=1e-12)
    np.testing.assert_allclose(gamma.grad.data, (gy * xhat).sum(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(beta.grad.data, gy.sum(axis=(0, 2, 3)), rtol=1e-12)


def _bn(train):
    def f(x, gamma, beta):
        c = x.shape[1]
        with dezero.using_config("train", train):
            return F.batch_norm(x, gamma, beta, np.linspace(-1, 1, c), np.linspace(0.5, 2, c))
    return f


@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_third_order(train):
    rng = np.random.default_rng(2)
    check_grad(_bn(train), rng.standard_normal((3, 2)), rng.standard_normal(2),
               rng.standard_normal(2), order=3, rtol=1e-5, atol=1e-6)


def test_batch_nrom_is_batch_norm():
    assert F.batch_nrom is F.batch_norm
    assert "batch_nrom" in F.__all__


# -----------------------------------------------------------------------------
# layer_norm, embed_id
# -----------------------------------------------------------------------------


def test_layer_norm_normalises_the_last_axis():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 8)).astype(np.float32) * 3 + 2
    y = F.layer_norm(x, np.ones(8, np.float32), np.zeros(8, np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.data.std(axis=-1), 1, rtol=1e-3)
    with dezero.test_mode():  # no running statistics: both modes agree
        np.testing.assert_array_equal(F.layer_norm(x, np.ones(8, np.float32),
                                                   np.zeros(8, np.float32)).data, y.data)


def test_layer_norm_third_order():
    rng = np.random.default_rng(4)
    check_grad(lambda x, g, b: F.layer_norm(x, g, b), rng.standard_normal((2, 3)),
               rng.standard_normal(3), rng.standard_normal(3), order=3, rtol=1e-5, atol=1e-6)


def test_embed_id_accumulates_repeated_ids():
    W = Variable(np.arange(12, dtype=np.float32).reshape(4, 3))
    ids = np.array([[0, 2], [2, 2]])
    y = F.embed_id(ids, W)
    np.testing.assert_array_equal(y.data, W.data[ids])
    y.backward()
    np.testing.assert_array_equal(W.grad.data[:, 0], [1, 0, 3, 0])
    assert W.grad.dtype == np.float32


def test_norms_on_gpu_match_cpu(xp):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 2, 2))
    g, b = rng.standard_normal(3), rng.standard_normal(3)
    out = []
    for mod in (np, xp):
        xs = [Variable(mod.asarray(a)) for a in (x, g, b)]
        mean, var = mod.zeros(3), mod.ones(3)
        y = F.batch_norm(*xs, mean, var)
        y.backward()
        out.append([dezero.cuda.as_numpy(a) for a in
                    (y.data, xs[0].grad.data, xs[1].grad.data, mean, var)])
    for a, c in zip(*out):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)


def test_device_agnostic_under_emulated_cupy(monkeypatch):
    """Run on a strict CuPy stand-in (tests/gpu/emulated_cupy.py): no host conversions."""
    emulated = pytest.importorskip("gpu.emulated_cupy")
    cp = emulated.install(monkeypatch)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 3, 2, 2))
    g, b = rng.standard_normal(3), rng.standard_normal(3)
    for train in (True, False):
        out = []
        for mod in (cp, np):
            vs = [Variable(mod.asarray(a)) for a in (x, g, b)]
            mean, var = mod.zeros(3), mod.ones(3)
            with dezero.using_config("train", train):
                y = F.batch_norm(*vs, mean, var)
            F.sum(y * y).backward(create_graph=True)
            z = F.layer_norm(vs[0], mod.ones(2), mod.zeros(2))
            out.append([dezero.cuda.as_numpy(a) for a in
                        (y.data, z.data, mean, var, *(v.grad.data for v in vs))])
        for a, c in zip(*out):
            np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)
    y = F.dropout(Variable(cp.asarray(x)))
    y.backward()
    assert isinstance(y.data, cp.ndarray)
    W = Variable(cp.asarray(rng.standard_normal((4, 3))))
    F.embed_id(cp.asarray(np.array([0, 2, 2])), W).backward()
    np.testing.assert_array_equal(W.grad.data.get()[:, 0], [1, 0, 2, 0])
