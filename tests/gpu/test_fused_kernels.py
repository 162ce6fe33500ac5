"""The fused CUDA kernels (dezero/_ops/_gpu_kernels.py) against CuPy's generic array code.

Real CuPy only: each case runs twice on the GPU, once through the fused kernels and once
with them switched off (the vectorised CuPy code that the emulated-CuPy tests also cover),
and the values and gradients must agree. Padding, strides, overlapping windows, ties,
NaN, non-contiguous inputs, float32 and float64 are covered.
"""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable, cuda, optimizers
from dezero._ops import _gpu_kernels
from dezero.functions_conv import col2im_array, im2col_array
from dezero.models import MLP

pytestmark = pytest.mark.gpu


def _real_cupy():
    try:
        return cuda.gpu_enable
    except Exception:
        return False


@pytest.fixture
def cp():
    if not _real_cupy():
        pytest.skip("no usable GPU (CuPy + CUDA device)")
    import cupy

    return cupy


@pytest.fixture
def both(monkeypatch):
    """``run(fn)`` -> (fused result, generic result) of ``fn()`` on the GPU."""
    def run(fn):
        fused = fn()
        with monkeypatch.context() as m:
            m.setattr(_gpu_kernels, "usable", lambda *a: False)
            m.setattr(_gpu_kernels, "real_cupy", lambda a: False)
            generic = fn()
        return fused, generic
    return run


def _close(a, b, dtype):
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-11
    a, b = (cuda.as_numpy(v.data if isinstance(v, Variable) else v) for v in (a, b))
    assert a.dtype == b.dtype and a.shape == b.shape
    # sums of many terms: the error scales with the largest magnitude, not each element's
    scale = max(1.0, float(np.nanmax(np.abs(b), initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, equal_nan=True)


def _grads(out, *variables):
    for v in variables:
        v.cleargrad()
    F.sum(out * out).backward()
    return [out.data] + [v.grad.data for v in variables]


def _assert_pairs(fused, generic, dtype):
    assert len(fused) == len(generic)
    for a, b in zip(fused, generic):
        _close(a, b, dtype)


CONV_CASES = [((3, 3), 1, 1), ((3, 3), 2, 0), ((2, 3), (2, 1), (1, 0)), ((5, 5), 3, 2),
              ((1, 1), 1, 0)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel,stride,pad", CONV_CASES)
def test_conv2d_forward_backward(cp, both, dtype, kernel, stride, pad):
    rng = np.random.default_rng(0)
    x = Variable(cp.asarray(rng.standard_normal((3, 4, 9, 8)).astype(dtype)))
    W = Variable(cp.asarray(rng.standard_normal((5, 4) + kernel).astype(dtype)))
    b = Variable(cp.asarray(rng.standard_normal(5).astype(dtype)))
    _assert_pairs(*both(lambda: _grads(F.conv2d(x, W, b, stride, pad), x, W, b)), dtype)


def test_conv2d_non_contiguous_input_and_no_bias(cp, both):
    rng = np.random.default_rng(1)
    x = Variable(cp.asarray(rng.standard_normal((4, 6, 7, 3)).astype(np.float32))
                 .transpose(0, 3, 1, 2))  # channels-last memory
    W = Variable(cp.asarray(rng.standard_normal((2, 3, 3, 3)).astype(np.float32)))
    _assert_pairs(*both(lambda: _grads(F.conv2d(x, W, None, 1, 1), x, W)), np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deconv2d_forward_backward(cp, both, dtype):
    rng = np.random.default_rng(2)
    x = Variable(cp.asarray(rng.standard_normal((2, 3, 5, 4)).astype(dtype)))
    W = Variable(cp.asarray(rng.standard_normal((3, 2, 3, 3)).astype(dtype)))
    b = Variable(cp.asarray(rng.standard_normal(2).astype(dtype)))
    _assert_pairs(*both(lambda: _grads(F.deconv2d(x, W, b, 2, 1, outsize=(10, 8)), x, W, b)),
                  dtype)


POOL_CASES = [(2, 2, 0), (3, 2, 1), (3, 1, 1), ((2, 3), (1, 2), (1, 0))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel,stride,pad", POOL_CASES)
def test_max_pooling_with_ties(cp, both, dtype, kernel, stride, pad):
    rng = np.random.default_rng(3)
    data = rng.integers(-3, 3, (2, 3, 7, 6)).astype(dtype)  # many tied maxima
    x = Variable(cp.asarray(data))
    _assert_pairs(*both(lambda: _grads(F.pooling(x, kernel, stride, pad), x)), dtype)


def test_max_pooling_channels_last_and_second_order(cp, both):
    rng = np.random.default_rng(4)
    x = Variable(cp.asarray(rng.standard_normal((2, 5, 6, 3)).astype(np.float64))
                 .transpose(0, 3, 1, 2))

    def second_order():
        x.cleargrad()
        y = F.pooling(x, 3, 2, 1)
        y.backward(create_graph=True)
        gx = x.grad
        x.cleargrad()
        F.sum(gx * gx * x).backward()
        return [y.data, gx.data, x.grad.data]

    _assert_pairs(*both(second_order), np.float64)


def test_max_pooling_nan(cp, both):
    data = np.arange(2 * 2 * 4 * 4, dtype=np.float32).reshape(2, 2, 4, 4)
    data[0, 0, 1, 1] = np.nan
    data[1, 1, 0, 0] = np.nan
    x = Variable(cp.asarray(data))

    def run():  # gy = 1: the generic backward's NaN * 0 would smear a NaN gy over a window
        x.cleargrad()
        y = F.pooling(x, 2, 2)
        F.sum(y).backward()
        return [y.data, x.grad.data]

    _assert_pairs(*both(run), np.float32)


@pytest.mark.parametrize("to_matrix", [True, False])
def test_im2col_col2im(cp, both, to_matrix):
    rng = np.random.default_rng(5)
    img = cp.asarray(rng.standard_normal((2, 3, 7, 6)))
    col = both(lambda: im2col_array(img, (3, 2), (2, 1), (1, 1), to_matrix))
    _assert_pairs(*([c] for c in col), np.float64)
    back = both(lambda: col2im_array(col[1], img.shape, (3, 2), (2, 1), (1, 1), to_matrix))
    _assert_pairs(*([c] for c in back), np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [F.relu, F.sigmoid])
def test_activations(cp, both, dtype, fn):
    rng = np.random.default_rng(6)
    data = (rng.standard_normal((5, 7)) * 10).astype(dtype)
    data[0, :3] = [0.0, 1000.0, -1000.0]
    x = Variable(cp.asarray(data))
    _assert_pairs(*both(lambda: _grads(fn(x), x)), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy(cp, both, dtype):
    rng = np.random.default_rng(7)
    data = rng.standard_normal((6, 5)).astype(dtype) * 3
    data[1] = 1000.0 * np.array([1, -1, 1, 0, -1])
    data[2, 3] = -np.inf
    x = Variable(cp.asarray(data))
    t = cp.asarray(np.array([0, 2, 4, 1, 3, 0]))

    def run():
        x.cleargrad()
        loss = F.softmax_cross_entropy(x, t)
        loss.backward()
        return [loss.data, x.grad.data]

    _assert_pairs(*both(run), dtype)


def test_softmax_cross_entropy_rejects_labels_out_of_range(cp):
    x = cp.zeros((3, 4), dtype=np.float32)
    for bad in ([0, 4, 1], [0, -1, 1]):
        with pytest.raises(ValueError, match="softmax_cross_entropy.*labels"):
            F.softmax_cross_entropy(x, cp.asarray(bad))


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(0.1),
                                  lambda: optimizers.MomentumSGD(0.05, 0.9),
                                  lambda: optimizers.Adam(0.01)],
                         ids=["sgd", "momentum", "adam"])
def test_optimizer_updates(cp, both, make):
    rng = np.random.default_rng(8)
    x = cp.asarray(rng.standard_normal((16, 5)).astype(np.float32))
    t = cp.asarray(rng.integers(0, 3, 16))

    def train():
        np.random.seed(0)
        model = MLP((7, 3))
        model(cuda.as_numpy(x))  # weights drawn on the host from one seed, then moved
        model.to_gpu()
        opt = make().setup(model)
        for _ in range(4):
            loss = F.softmax_cross_entropy(model(x), t)
            model.cleargrads()
            loss.backward()
            opt.update()
        return [p.data for p in model.params()]

    _assert_pairs(*both(train), np.float32)


def test_relu_keeps_memory_layout(cp):
    x = Variable(cp.asarray(np.random.default_rng(9).standard_normal((3, 4, 5, 6)),
                            dtype=np.float32).transpose(1, 0, 2, 3))  # channels-first memory
    y = F.relu(x)
    F.sum(y * y).backward()
    order = list(np.argsort(x.data.strides))
    assert list(np.argsort(y.data.strides)) == order
    assert list(np.argsort(x.grad.data.strides)) == order
