"""The in-place updates: the same bits as the plain formulas, no array allocated per step,
gradients left alone, scratch shared across parameters of different sizes."""
import math
import tracemalloc

import numpy as np
import pytest

import dezero.layers as L
from dezero import Parameter, Variable, optimizers

# -----------------------------------------------------------------------------
# The plain formulas, with fresh temporaries (what the optimizers did before)
# -----------------------------------------------------------------------------


def _sgd(opt, p, g, s):
    p -= opt.lr * g


def _momentum(opt, p, g, s):
    v = s.setdefault("v", np.zeros_like(p))
    v *= opt.momentum
    v -= opt.lr * g
    p += v


def _adagrad(opt, p, g, s):
    h = s.setdefault("h", np.zeros_like(p))
    h += g * g
    p -= opt.lr * g / (np.sqrt(h) + opt.eps)


def _adadelta(opt, p, g, s):
    msg = s.setdefault("msg", np.zeros_like(p))
    msdx = s.setdefault("msdx", np.zeros_like(p))
    rho, eps = opt.rho, opt.eps
    msg *= rho
    msg += (1 - rho) * g * g
    dx = np.sqrt((msdx + eps) / (msg + eps)) * g
    msdx *= rho
    msdx += (1 - rho) * dx * dx
    p -= dx


def _adam(opt, p, g, s):
    m = s.setdefault("m", np.zeros_like(p))
    v = s.setdefault("v", np.zeros_like(p))
    m += (1 - opt.beta1) * (g - m)
    v += (1 - opt.beta2) * (g * g - v)
    p -= opt.lr * m / (np.sqrt(v) + opt.eps)


def _adamw(opt, p, g, s):
    m = s.setdefault("m", np.zeros_like(p))
    v = s.setdefault("v", np.zeros_like(p))
    lr, b1, b2 = opt.lr, opt.beta1, opt.beta2
    if opt.weight_decay:
        p *= 1 - lr * opt.weight_decay
    m += (1 - b1) * (g - m)
    v *= b2
    v += (1 - b2) * (g * g)
    denom = np.sqrt(v) / math.sqrt(1 - b2 ** opt.t) + opt.eps
    p -= lr / (1 - b1 ** opt.t) * m / denom


def _rmsprop(opt, p, g, s):
    if opt.weight_decay:
        g = g + opt.weight_decay * p
    sq = s.setdefault("square_avg", np.zeros_like(p))
    sq *= opt.alpha
    sq += (1 - opt.alpha) * (g * g)
    if opt.centered:
        ga = s.setdefault("grad_avg", np.zeros_like(p))
        ga += (1 - opt.alpha) * (g - ga)
        avg = np.sqrt(sq - ga * ga)
    else:
        avg = np.sqrt(sq)
    avg += opt.eps
    if opt.momentum > 0:
        buf = s.setdefault("buf", np.zeros_like(p))
        buf *= opt.momentum
        buf += g / avg
        p -= opt.lr * buf
    else:
        p -= opt.lr * (g / avg)


CASES = {
    "SGD": (lambda: optimizers.SGD(0.1), _sgd),
    "MomentumSGD": (lambda: optimizers.MomentumSGD(0.05, 0.8), _momentum),
    "AdaGrad": (lambda: optimizers.AdaGrad(0.1), _adagrad),
    "AdaDelta": (lambda: optimizers.AdaDelta(), _adadelta),
    "Adam": (lambda: optimizers.Adam(0.01), _adam),
    "AdamW": (lambda: optimizers.AdamW(0.01, weight_decay=0.1), _adamw),
    "RMSprop": (lambda: optimizers.RMSprop(0.01), _rmsprop),
    "RMSprop-all": (lambda: optimizers.RMSprop(0.01, alpha=0.9, eps=1e-6, momentum=0.5,
                                               centered=True, weight_decay=0.1), _rmsprop),
}


class Net(L.Layer):
    """Parameters of growing and shrinking sizes, so the shared scratch must grow."""

    def __init__(self, dtype):
        super().__init__()
        rng = np.random.default_rng(0)
        self.a = Parameter(rng.standard_normal(5).astype(dtype))
        self.W = Parameter(rng.standard_normal((30, 40)).astype(dtype))
        self.b = Parameter(rng.standard_normal(40).astype(dtype))
        self.c = Parameter(rng.standard_normal((2, 3, 7)).T.astype(dtype))  # not contiguous


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_have_the_bits_of_the_plain_formulas(name, dtype):
    make, plain = CASES[name]
    net = Net(dtype)
    ref = {k: p.data.copy() for k, p in vars(net).items() if isinstance(p, Parameter)}
    states = {k: {} for k in ref}
    opt = make().setup(net)
    rng = np.random.default_rng(1)
    for _ in range(5):
        grads = {k: rng.standard_normal(ref[k].shape).astype(dtype) for k in ref}
        for k, g in grads.items():
            getattr(net, k).grad = Variable(g.copy())
        opt.update()
        for k, g in grads.items():
            plain(opt, ref[k], g, states[k])
            # the gradient is read, never written
            np.testing.assert_array_equal(getattr(net, k).grad.data, g)
    for k, expected in ref.items():
        got = getattr(net, k).data
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected, err_msg=f"{name} {k}")


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop-all"])
def test_a_float64_gradient_of_a_float32_parameter_uses_numpy_promotion(name):
    make, plain = CASES[name]
    p = Parameter(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
    ref = p.data.copy()
    holder = L.Layer()
    holder.p = p
    opt = make().setup(holder)
    g = np.linspace(0.5, -0.5, 12).reshape(3, 4)  # float64
    p.grad = Variable(g)
    opt.update()
    plain(opt, ref, g, {})
    assert p.data.dtype == np.float32
    np.testing.assert_array_equal(p.data, ref)


@pytest.mark.parametrize("name", list(CASES))
def test_an_update_allocates_no_array_the_size_of_the_parameter(name):
    make, _ = CASES[name]
    holder = L.Layer()
    holder.W = Parameter(np.ones((512, 512), np.float32))  # 1 MiB
    opt = make().setup(holder)
    holder.W.grad = Variable(np.full((512, 512), 0.5, np.float32))
    opt.update()  # the first update creates the state and the scratch
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        opt.update()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"{name} allocated {peak} bytes during an update"
