"""dezero.checkpoint: same gradients as the plain run, less memory, RNG replayed."""
import gc
import tracemalloc

import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import Variable


def _mlp(depth=8, width=16, seed=0):
    rng = np.random.default_rng(seed)
    layers = [L.Linear(width, in_size=width, dtype=np.float64) for _ in range(depth)]
    for layer in layers:
        layer.W.data = rng.standard_normal((width, width)) / np.sqrt(width)
    return layers


def _block(h, part, ratio=0.0):
    for layer in part:
        h = F.tanh(layer(h))
    return F.dropout(h, ratio) if ratio else h


def _run(layers, x, ck, segment=2, ratio=0.0):
    for layer in layers:
        layer.cleargrads()
    xv = Variable(x)
    h = xv
    for i in range(0, len(layers), segment):
        part = layers[i:i + segment]
        h = dezero.checkpoint(_block, h, part, ratio) if ck else _block(h, part, ratio)
    loss = F.sum(h * h)
    loss.backward()
    return loss.data, xv.grad.data, [(layer.W.grad.data, layer.b.grad.data) for layer in layers]


def _assert_same(a, b):
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])
    for (w0, b0), (w1, b1) in zip(a[2], b[2]):
        assert np.array_equal(w0, w1) and np.array_equal(b0, b1)


def test_mlp_gradients_are_bit_for_bit_the_plain_run():
    layers = _mlp()
    x = np.random.default_rng(1).standard_normal((4, 16))
    _assert_same(_run(layers, x, ck=False), _run(layers, x, ck=True))


def test_dropout_draws_the_same_mask_when_recomputed():
    layers = _mlp()
    x = np.random.default_rng(2).standard_normal((4, 16))
    np.random.seed(5)
    plain = _run(layers, x, ck=False, ratio=0.5)
    np.random.seed(5)
    ck = _run(layers, x, ck=True, ratio=0.5)
    _assert_same(plain, ck)
    # and the RNG continues where the forward pass left it, as without checkpointing
    np.random.seed(5)
    _run(layers, x, ck=False, ratio=0.5)
    after_plain = np.random.rand()
    np.random.seed(5)
    _run(layers, x, ck=True, ratio=0.5)
    assert np.random.rand() == after_plain


def test_multiple_outputs_and_shared_parameters_agree_to_round_off():
    rng = np.random.default_rng(3)
    W = Variable(rng.standard_normal((3, 3)))

    def step(h, c):
        z = F.matmul(h, W)
        return F.tanh(z + c), F.sigmoid(z) * c

    def run(ck):
        W.cleargrad()
        h = Variable(rng_h.copy())
        c = Variable(rng_c.copy())
        for _ in range(6):
            h, c = dezero.checkpoint(step, h, c) if ck else step(h, c)
        F.sum(h * c).backward()
        return W.grad.data.copy()

    rng_h, rng_c = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(run(True), run(False), rtol=1e-13, atol=1e-15)


def test_second_order_gradients_through_a_checkpoint():
    x = Variable(np.array([0.3, -0.8]))

    def seg(v):
        return F.sin(v) * v

    y = F.sum(dezero.checkpoint(seg, x))
    y.backward(create_graph=True)
    gx = x.grad
    x.cleargrad()
    F.sum(gx).backward()
    # d2/dx2 [x sin x] = 2 cos x - x sin x
    np.testing.assert_allclose(x.grad.data, 2 * np.cos(x.data) - x.data * np.sin(x.data),
                               rtol=1e-12)


def test_no_grad_runs_the_function_directly():
    with dezero.no_grad():
        y = dezero.checkpoint(lambda v: v * 2, Variable(np.ones(2)))
    assert y.creator is None


def test_errors():
    with pytest.raises(TypeError, match=r"^checkpoint: fn must be callable; got int"):
        dezero.checkpoint(3, Variable(np.ones(1)))
    with pytest.raises(ValueError, match=r"^checkpoint: no Variable or array among"):
        dezero.checkpoint(lambda a: a, 2.0)
    with pytest.raises(TypeError, match=r"checkpoint: fn must return Variables"):
        dezero.checkpoint(lambda v: 3, Variable(np.ones(1)))


def _peak(fn):
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_is_lower_for_a_deep_mlp():
    layers = _mlp(depth=16, width=64)
    x = np.random.default_rng(4).standard_normal((128, 64))
    _run(layers, x, ck=False)  # create every lazily built buffer first
    plain = _peak(lambda: _run(layers, x, ck=False, segment=4))
    ck = _peak(lambda: _run(layers, x, ck=True, segment=4))
    # activations: 16 layers x 2 arrays of 64 KiB kept without checkpoints, about 4
    # segment inputs + one segment's 8 with them; the 16 weight gradients (32 KiB) stay
    assert ck < 0.7 * plain, (plain, ck)
