"""The concrete layers: initialisation (values, dtypes, RNG draw order) and forward maths."""
import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import Variable
from dezero.testing import check_grad


def _next_draw():
    """The next value of the global RNG, to check how much a constructor drew."""
    return np.random.randn()


def _expected_scaled(shape, fan_in, dtype=np.float32, seed=0):
    np.random.seed(seed)
    return np.random.randn(*shape).astype(dtype) * np.dtype(dtype).type(np.sqrt(1 / fan_in))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# -----------------------------------------------------------------------------
# Linear
# -----------------------------------------------------------------------------


def test_linear_init_matches_the_book_in_float32():
    expected = _expected_scaled((3, 5), 3)
    after = _next_draw()
    np.random.seed(0)
    layer = L.Linear(5, in_size=3)  # out_size is the first positional argument
    assert layer.W.data.dtype == np.float32 and layer.b.data.dtype == np.float32
    np.testing.assert_array_equal(layer.W.data, expected)
    np.testing.assert_array_equal(layer.b.data, np.zeros(5, np.float32))
    assert layer.W.name == "W" and layer.b.name == "b"
    assert _next_draw() == after  # exactly one randn(in, out) was drawn


def test_linear_lazy_init_draws_at_the_first_forward():
    np.random.seed(0)
    first = _next_draw()
    np.random.seed(0)
    layer = L.Linear(4)
    assert layer.W.data is None
    assert _next_draw() == first  # the constructor drew nothing
    np.random.seed(0)
    layer = L.Linear(4)
    x = np.ones((2, 3), np.float32)
    y = layer(x)
    assert y.shape == (2, 4) and y.dtype == np.float32 and layer.in_size == 3
    np.testing.assert_array_equal(layer.W.data, _expected_scaled((3, 4), 3))
    np.testing.assert_allclose(y.data, x @ layer.W.data, rtol=1e-6)


def test_linear_dtype_and_nobias():
    layer = L.Linear(2, nobias=True, dtype=np.float64, in_size=3)
    assert layer.b is None and list(layer._params) == ["W"]
    assert layer.W.data.dtype == np.float64
    y = layer(np.ones((1, 3)))
    np.testing.assert_allclose(y.data, np.ones((1, 3)) @ layer.W.data)


def test_linear_needs_2d_input_to_infer_its_size():
    with pytest.raises(ValueError, match=r"Linear: x must be 2-D .* got shape \(3,\)"):
        L.Linear(2)(np.ones(3, np.float32))


def test_linear_gradients():
    layer = L.Linear(3, dtype=np.float64, in_size=4)
    x = np.random.randn(2, 4)

    def f(x, W, b):
        layer.W.data, layer.b.data = W.data, b.data
        return F.linear(x, W, b)

    check_grad(f, x, layer.W.data.copy(), layer.b.data.copy())


# -----------------------------------------------------------------------------
# Conv2d / Deconv2d
# -----------------------------------------------------------------------------


def test_conv2d_init_shape_scale_and_forward():
    expected = _expected_scaled((8, 3, 3, 2), 3 * 3 * 2)
    np.random.seed(0)
    layer = L.Conv2d(8, (3, 2), stride=1, pad=1, in_channels=3)
    np.testing.assert_array_equal(layer.W.data, expected)
    assert layer.b.data.shape == (8,) and layer.b.data.dtype == np.float32
    y = layer(np.random.randn(2, 3, 5, 5).astype(np.float32))
    assert y.shape == (2, 8, 5, 6) and y.dtype == np.float32


def test_conv2d_lazy_in_channels_and_nobias():
    layer = L.Conv2d(4, 3, nobias=True)
    assert layer.W.data is None and layer.b is None
    y = layer(np.zeros((1, 2, 6, 6), np.float32))
    assert layer.W.data.shape == (4, 2, 3, 3) and y.shape == (1, 4, 4, 4)
    with pytest.raises(ValueError, match=r"Conv2d: x must be 4-D"):
        L.Conv2d(4, 3)(np.zeros((2, 6, 6), np.float32))


def test_deconv2d_weight_layout_and_output_size():
    expected = _expected_scaled((3, 5, 4, 4), 3 * 4 * 4)
    np.random.seed(0)
    layer = L.Deconv2d(5, 4, stride=2, pad=1, in_channels=3)
    np.testing.assert_array_equal(layer.W.data, expected)
    y = layer(np.random.randn(1, 3, 6, 6).astype(np.float32))
    assert y.shape == (1, 5, 12, 12)  # s(in-1) + k - 2p


# -----------------------------------------------------------------------------
# EmbedID
# -----------------------------------------------------------------------------


def test_embed_id_init_and_lookup():
    np.random.seed(0)
    expected = np.random.randn(10, 4).astype(np.float32)
    np.random.seed(0)
    layer = L.EmbedID(10, 4)
    np.testing.assert_array_equal(layer.W.data, expected)
    ids = np.array([[1, 3], [3, 9]])
    y = layer(ids)
    np.testing.assert_array_equal(y.data, expected[ids])
    F.sum(y).backward()
    assert layer.W.grad.data[3].tolist() == [2.0] * 4  # repeated ids accumulate
    assert layer(Variable(np.array(2))).shape == (4,)
    assert L.EmbedID(3, 2, dtype=np.float64).W.data.dtype == np.float64


# -----------------------------------------------------------------------------
# RNN / LSTM
# -----------------------------------------------------------------------------


def test_rnn_with_in_size_different_from_hidden_size():
    np.random.seed(0)
    rnn = L.RNN(4, in_size=2)
    assert rnn.x2h.W.shape == (2, 4) and rnn.h2h.W.shape == (4, 4)
    x = np.random.randn(3, 2).astype(np.float32)
    h1 = rnn(x)
    np.testing.assert_allclose(h1.data, np.tanh(x @ rnn.x2h.W.data + rnn.x2h.b.data),
                               rtol=1e-6)
    h2 = rnn(x)
    ref = np.tanh(x @ rnn.x2h.W.data + rnn.x2h.b.data + h1.data @ rnn.h2h.W.data)
    np.testing.assert_allclose(h2.data, ref, rtol=1e-5)
    rnn.reset_state()
    assert rnn.h is None
    assert list(rnn._params) == ["x2h", "h2h"] and rnn.h2h.b is None


def test_rnn_lazy_draws_h2h_at_the_second_step():
    rnn = L.RNN(3)
    x = np.ones((1, 5), np.float32)
    rnn(x)
    assert rnn.x2h.W.shape == (5, 3) and rnn.h2h.W.data is None
    rnn(x)
    assert rnn.h2h.W.shape == (3, 3)


def _lstm_reference(lstm, xs):
    W = {k: getattr(lstm, k).W.data.astype(np.float64) for k in
         ("x2f", "x2i", "x2o", "x2u", "h2f", "h2i", "h2o", "h2u")}
    b = {k: getattr(lstm, k).b.data.astype(np.float64) for k in ("x2f", "x2i", "x2o", "x2u")}
    h = c = None
    hs = []
    for x in xs:
        pre = {g: x @ W["x2" + g] + b["x2" + g] for g in "fiou"}
        if h is not None:
            pre = {g: pre[g] + h @ W["h2" + g] for g in "fiou"}
        f, i, o = (_sigmoid(pre[g]) for g in "fio")
        u = np.tanh(pre["u"])
        c = i * u if c is None else f * c + i * u
        h = o * np.tanh(c)
        hs.append(h)
    return hs


def test_lstm_gates_match_a_numpy_reference():
    np.random.seed(0)
    lstm = L.LSTM(4, in_size=3)
    assert list(lstm._params) == ["x2f", "x2i", "x2o", "x2u", "h2f", "h2i", "h2o", "h2u"]
    xs = [np.random.randn(2, 3).astype(np.float32) for _ in range(4)]
    ys = [lstm(x).data for x in xs]
    for y, ref in zip(ys, _lstm_reference(lstm, xs)):
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    lstm.reset_state()
    assert lstm.h is None and lstm.c is None
    np.testing.assert_allclose(lstm(xs[0]).data, ys[0], rtol=1e-6)


def test_lstm_draws_its_eight_weights_in_order():
    np.random.seed(0)
    expected = [np.random.randn(3, 4) for _ in range(4)] + [np.random.randn(4, 4)
                                                            for _ in range(4)]
    np.random.seed(0)
    lstm = L.LSTM(4, in_size=3)
    names = ("x2f", "x2i", "x2o", "x2u", "h2f", "h2i", "h2o", "h2u")
    for name, raw in zip(names, expected):
        fan_in = raw.shape[0]
        ref = raw.astype(np.float32) * np.float32(np.sqrt(1 / fan_in))
        np.testing.assert_array_equal(getattr(lstm, name).W.data, ref, err_msg=name)
    d = {}
    lstm._flatten_params(d)
    assert "x2f/W" in d and "h2f/W" in d and "h2f/b" not in d


def test_lstm_backpropagates_through_time():
    np.random.seed(0)
    lstm = L.LSTM(3, in_size=2)
    loss = 0
    for _ in range(3):
        loss = loss + F.sum(lstm(np.random.randn(1, 2).astype(np.float32)))
    loss.backward()
    assert all(p.grad is not None for p in lstm.params())


# -----------------------------------------------------------------------------
# BatchNorm / LayerNorm / Dropout
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_parameters_and_running_statistics(dtype):
    bn = L.BatchNorm()
    assert list(bn._params) == ["avg_mean", "avg_var", "gamma", "beta"]
    assert all(p.data is None for p in bn.params())
    x = (np.random.randn(8, 3) * 2 + 5).astype(dtype)
    y = bn(x)
    assert [p.data.dtype for p in bn.params()] == [np.dtype(dtype)] * 4
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(bn.avg_mean.data, 0.1 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.avg_var.data, 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-5)
    F.sum(y * np.arange(3)).backward()
    assert bn.avg_mean.grad is None and bn.avg_var.grad is None
    assert bn.gamma.grad is not None and bn.beta.grad is not None
    with dezero.test_mode():
        mean_before = bn.avg_mean.data.copy()
        bn(x)
        np.testing.assert_array_equal(bn.avg_mean.data, mean_before)


def test_batch_norm_on_images_uses_channel_axis():
    bn = L.BatchNorm()
    y = bn(np.random.randn(2, 4, 3, 3).astype(np.float32))
    assert bn.gamma.shape == (4,) and y.shape == (2, 4, 3, 3)


def test_layer_norm_matches_numpy_and_its_gradients_check():
    ln = L.LayerNorm()
    x = np.random.randn(3, 5).astype(np.float32)
    y = ln(x)
    ref = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    assert y.dtype == np.float32 and ln.gamma.shape == (5,)
    np.testing.assert_allclose(y.data, ref, rtol=1e-5, atol=1e-5)
    assert list(ln._params) == ["gamma", "beta"]

    ln64 = L.LayerNorm(4, dtype=np.float64)
    g = np.random.randn(4)
    b = np.random.randn(4)

    def f(x, gamma, beta):
        ln64.gamma, ln64.beta = gamma, beta
        return ln64(x)

    check_grad(f, np.random.randn(2, 4), g, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"LayerNorm: x.shape\[-1\] \(3\)"):
        L.LayerNorm(4)(np.ones((2, 3), np.float32))


def test_dropout_layer_is_identity_in_test_mode():
    layer = L.Dropout(0.3)
    x = Variable(np.ones((100, 10), np.float32))
    with dezero.test_mode():
        assert layer(x) is x
    y = layer(x)
    kept = y.data != 0
    assert 0.5 < kept.mean() < 0.9
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)
    with pytest.raises(ValueError, match="dropout_ratio must be in"):
        L.Dropout(1.0)
