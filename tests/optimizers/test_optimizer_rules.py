"""Update rules (NumPy references and torch.optim), the base class, hooks and state."""
import math

import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import Parameter, Variable, WeightFileError, optimizers


class Toy(L.Layer):
    def __init__(self, dtype=np.float64):
        super().__init__()
        rng = np.random.default_rng(0)
        self.W = Parameter(rng.standard_normal((3, 4)).astype(dtype), name="W")
        self.sub = L.Layer()
        self.sub.b = Parameter(rng.standard_normal(4).astype(dtype), name="b")


def _grads(n_steps, dtype=np.float64):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(4).astype(dtype))
            for _ in range(n_steps)]


def _run(opt, model, grads):
    for gW, gb in grads:
        model.W.grad = Variable(gW.copy())
        model.sub.b.grad = Variable(gb.copy())
        opt.update()
    return model.W.data, model.sub.b.data


# -----------------------------------------------------------------------------
# NumPy references: the book's formulas, step by step
# -----------------------------------------------------------------------------


def _ref_momentum(p, gs, lr=0.01, momentum=0.9):
    v = np.zeros_like(p)
    for g in gs:
        v = momentum * v - lr * g
        p = p + v
    return p


def _ref_adagrad(p, gs, lr=0.001, eps=1e-8):
    h = np.zeros_like(p)
    for g in gs:
        h = h + g * g
        p = p - lr * g / (np.sqrt(h) + eps)
    return p


def _ref_adadelta(p, gs, rho=0.95, eps=1e-6):
    msg = np.zeros_like(p)
    msdx = np.zeros_like(p)
    for g in gs:
        msg = rho * msg + (1 - rho) * g * g
        dx = np.sqrt((msdx + eps) / (msg + eps)) * g
        msdx = rho * msdx + (1 - rho) * dx * dx
        p = p - dx
    return p


def _ref_adam(p, gs, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        m = m + (1 - beta1) * (g - m)
        v = v + (1 - beta2) * (g * g - v)
        lr = alpha * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        p = p - lr * m / (np.sqrt(v) + eps)
    return p


@pytest.mark.parametrize("make, ref", [
    (lambda: optimizers.SGD(0.1), lambda p, gs: p - 0.1 * sum(gs)),
    (lambda: optimizers.MomentumSGD(0.05, 0.8), lambda p, gs: _ref_momentum(p, gs, 0.05, 0.8)),
    (lambda: optimizers.AdaGrad(0.1), lambda p, gs: _ref_adagrad(p, gs, 0.1)),
    (lambda: optimizers.AdaDelta(), _ref_adadelta),
    (lambda: optimizers.Adam(0.01), lambda p, gs: _ref_adam(p, gs, 0.01)),
], ids=["SGD", "MomentumSGD", "AdaGrad", "AdaDelta", "Adam"])
def test_book_rules_match_numpy_reference(make, ref):
    model = Toy()
    W0, b0 = model.W.data.copy(), model.sub.b.data.copy()
    grads = _grads(6)
    opt = make().setup(model)
    W, b = _run(opt, model, grads)
    np.testing.assert_allclose(W, ref(W0, [g[0] for g in grads]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b, ref(b0, [g[1] for g in grads]), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("grad_dtype", [np.float32, np.float64])
def test_adam_float32_is_bit_identical_to_the_plain_formulas(grad_dtype):
    model = Toy(np.float32)
    p, q = model.W.data.copy(), model.sub.b.data.copy()
    grads = _grads(5, grad_dtype)
    opt = optimizers.Adam(0.01).setup(model)
    W, b = _run(opt, model, grads)
    for data, ref, k in ((W, p, 0), (b, q, 1)):
        m = np.zeros_like(ref)
        v = np.zeros_like(ref)
        for t, g in enumerate(grads, start=1):
            g = g[k]
            m += (1 - 0.9) * (g - m)
            v += (1 - 0.999) * (g * g - v)
            lr = opt.alpha * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)  # a Python float
            ref -= lr * m / (np.sqrt(v) + 1e-8)
        assert data.dtype == np.float32
        np.testing.assert_array_equal(data, ref)


def test_defaults_follow_the_contract():
    assert optimizers.SGD().lr == 0.01
    m = optimizers.MomentumSGD()
    assert (m.lr, m.momentum) == (0.01, 0.9)
    assert (optimizers.AdaGrad().lr, optimizers.AdaGrad().eps) == (0.001, 1e-8)
    assert (optimizers.AdaDelta().rho, optimizers.AdaDelta().eps) == (0.95, 1e-6)
    a = optimizers.Adam()
    assert (a.alpha, a.beta1, a.beta2, a.eps, a.t) == (0.001, 0.9, 0.999, 1e-8, 0)


def test_adam_lr_property_and_step_counter():
    opt = optimizers.Adam(alpha=0.01).setup(Toy())
    assert opt.lr == pytest.approx(0.01 * np.sqrt(1 - 0.999) / (1 - 0.9))  # t = 0: first step
    opt.update()  # no gradients: t still increments first
    opt.update()
    assert opt.t == 2
    assert opt.lr == pytest.approx(0.01 * np.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2))


# -----------------------------------------------------------------------------
# torch.optim as an oracle (float64, same gradients)
# -----------------------------------------------------------------------------


TORCH_CASES = {
    "SGD": (lambda: optimizers.SGD(0.1), lambda t, ps: t.optim.SGD(ps, lr=0.1), 1e-13),
    "MomentumSGD": (lambda: optimizers.MomentumSGD(0.05, 0.8),
                    lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.8), 1e-12),
    "AdaGrad": (lambda: optimizers.AdaGrad(0.1, eps=1e-10),
                lambda t, ps: t.optim.Adagrad(ps, lr=0.1, eps=1e-10), 1e-12),
    "AdaDelta": (lambda: optimizers.AdaDelta(rho=0.9, eps=1e-6),
                 lambda t, ps: t.optim.Adadelta(ps, lr=1.0, rho=0.9, eps=1e-6), 1e-12),
    # the book's Adam adds eps to sqrt(v) before the bias correction: equal up to ~eps
    "Adam": (lambda: optimizers.Adam(0.01),
             lambda t, ps: t.optim.Adam(ps, lr=0.01, eps=1e-8), 1e-6),
    "AdamW": (lambda: optimizers.AdamW(0.01, weight_decay=0.1),
              lambda t, ps: t.optim.AdamW(ps, lr=0.01, weight_decay=0.1), 1e-12),
    "AdamW-betas": (lambda: optimizers.AdamW(0.02, beta1=0.8, beta2=0.99, eps=1e-6),
                    lambda t, ps: t.optim.AdamW(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6),
                    1e-12),
    "RMSprop": (lambda: optimizers.RMSprop(0.01),
                lambda t, ps: t.optim.RMSprop(ps, lr=0.01), 1e-12),
    "RMSprop-all": (lambda: optimizers.RMSprop(0.01, alpha=0.9, eps=1e-6, momentum=0.5,
                                               centered=True, weight_decay=0.01),
                    lambda t, ps: t.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-6,
                                                  momentum=0.5, centered=True,
                                                  weight_decay=0.01), 1e-12),
}


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_matches_torch_optim(name):
    torch = pytest.importorskip("torch")
    make, make_torch, rtol = TORCH_CASES[name]
    model = Toy()
    tW = torch.tensor(model.W.data.copy(), requires_grad=True)
    tb = torch.tensor(model.sub.b.data.copy(), requires_grad=True)
    topt = make_torch(torch, [tW, tb])
    grads = _grads(8)
    for gW, gb in grads:
        tW.grad = torch.tensor(gW)
        tb.grad = torch.tensor(gb)
        topt.step()
    W, b = _run(make().setup(model), model, grads)
    np.testing.assert_allclose(W, tW.detach().numpy(), rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(b, tb.detach().numpy(), rtol=rtol, atol=1e-14)


# -----------------------------------------------------------------------------
# base class behaviour
# -----------------------------------------------------------------------------


def test_setup_returns_self_and_checks_its_target():
    opt = optimizers.SGD()
    model = Toy()
    assert opt.setup(model) is opt and opt.target is model
    with pytest.raises(TypeError, match=r"SGD.setup: target must have a params\(\) method"):
        optimizers.SGD().setup(3)
    with pytest.raises(RuntimeError, match=r"SGD.update: no target; call setup\(model\)"):
        optimizers.SGD().update()
    with pytest.raises(NotImplementedError, match="Optimizer.update_one"):
        model.W.grad = Variable(np.ones((3, 4)))
        optimizers.Optimizer().setup(model).update()


def test_params_without_gradient_are_skipped_and_state_follows_dtype():
    model = Toy(np.float32)
    opt = optimizers.Adam().setup(model)
    model.W.grad = Variable(np.ones((3, 4), np.float32))
    b_before = model.sub.b.data.copy()
    opt.update()
    np.testing.assert_array_equal(model.sub.b.data, b_before)
    assert model.W.data.dtype == np.float32
    state = opt.state_dict()
    assert set(state) == {"W/m", "W/v", "t"}
    assert state["W/m"].dtype == np.float32


def test_shared_parameter_is_updated_once():
    model = Toy()
    model.tied = model.sub  # the same layer twice
    assert len(list(model.params())) == 3
    before = model.sub.b.data.copy()
    model.sub.b.grad = Variable(np.ones(4))
    optimizers.SGD(0.5).setup(model).update()
    np.testing.assert_allclose(model.sub.b.data, before - 0.5)


def test_hooks_run_in_order_and_none_grads_are_dropped_before_each():
    model = Toy()
    seen = []
    opt = optimizers.SGD().setup(model)
    opt.add_hook(lambda params: seen.append(len(params)))
    opt.add_hook(optimizers.FreezeParam(model.sub))
    opt.add_hook(lambda params: seen.append(len(params)))
    model.W.grad = Variable(np.ones((3, 4)))
    model.sub.b.grad = Variable(np.ones(4))
    opt.update()
    assert seen == [2, 1]


def test_update_works_on_any_object_with_params():
    class Bag:
        def __init__(self):
            self.p = Parameter(np.zeros(2))

        def params(self):
            yield self.p

    bag = Bag()
    opt = optimizers.MomentumSGD(1.0).setup(bag)
    bag.p.grad = Variable(np.ones(2))
    opt.update()
    np.testing.assert_array_equal(bag.p.data, [-1.0, -1.0])
    assert set(opt.state_dict()) == {"0/v"}


# -----------------------------------------------------------------------------
# hooks
# -----------------------------------------------------------------------------


def _mlp_loss(model, x, t):
    return F.sum((model(x) - t) ** 2)


def test_weight_decay_equals_an_explicit_l2_term():
    rate = 0.1
    x = np.random.randn(5, 3)
    t = np.random.randn(5, 2)
    results = []
    for explicit in (False, True):
        np.random.seed(0)
        model = dezero.models.MLP((4, 2))
        model(x)  # initialise
        for p in model.params():
            p.data = p.data.astype(np.float64)
        opt = optimizers.SGD(0.1).setup(model)
        if not explicit:
            opt.add_hook(optimizers.WeightDecay(rate))
        for _ in range(3):
            loss = _mlp_loss(model, x, t)
            if explicit:
                loss = loss + rate / 2 * sum(F.sum(p ** 2) for p in model.params())
            model.cleargrads()
            loss.backward()
            opt.update()
        results.append([p.data.copy() for p in model.params()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_clip_grad_caps_the_global_norm():
    model = Toy()
    grads = [np.full((3, 4), 3.0), np.full(4, 4.0)]
    model.W.grad, model.sub.b.grad = Variable(grads[0].copy()), Variable(grads[1].copy())
    norm = np.sqrt(sum((g ** 2).sum() for g in grads))
    optimizers.ClipGrad(2.0)([model.W, model.sub.b])
    clipped = np.sqrt((model.W.grad.data ** 2).sum() + (model.sub.b.grad.data ** 2).sum())
    assert clipped == pytest.approx(2.0, rel=1e-6)
    np.testing.assert_allclose(model.W.grad.data / grads[0], 2.0 / (norm + 1e-6))
    # under the cap nothing changes
    optimizers.ClipGrad(1e6)([model.W, model.sub.b])
    assert np.sqrt((model.W.grad.data ** 2).sum() + (model.sub.b.grad.data ** 2).sum()) \
        == pytest.approx(2.0, rel=1e-6)


def test_clip_grad_inside_an_update():
    model = Toy()
    opt = optimizers.SGD(1.0).setup(model)
    opt.add_hook(optimizers.ClipGrad(1.0))
    W0 = model.W.data.copy()
    model.W.grad = Variable(np.full((3, 4), 10.0))
    opt.update()
    step = W0 - model.W.data
    assert np.sqrt((step ** 2).sum()) == pytest.approx(1.0, rel=1e-6)


def test_freeze_param_leaves_frozen_parameters_unchanged():
    np.random.seed(0)
    model = dezero.models.MLP((4, 4, 2))
    x = np.random.randn(6, 3).astype(np.float32)
    t = np.random.randn(6, 2).astype(np.float32)
    model(x)
    opt = optimizers.Adam(0.1).setup(model)
    opt.add_hook(optimizers.FreezeParam(model.l0, model.l2.b))
    frozen = [model.l0.W, model.l0.b, model.l2.b]
    before = {id(p): p.data.copy() for p in model.params()}
    for _ in range(3):
        model.cleargrads()
        _mlp_loss(model, x, t).backward()
        opt.update()
    for p in model.params():
        if any(p is f for f in frozen):
            np.testing.assert_array_equal(p.data, before[id(p)])
        else:
            assert not np.array_equal(p.data, before[id(p)])
    with pytest.raises(TypeError, match="FreezeParam: expected Layers or Parameters"):
        optimizers.FreezeParam(3)


# -----------------------------------------------------------------------------
# state_dict / load_state_dict
# -----------------------------------------------------------------------------


def _trained_opt(make, steps=3):
    model = Toy()
    opt = make().setup(model)
    _run(opt, model, _grads(steps))
    return model, opt


STATEFUL = {
    "MomentumSGD": (optimizers.MomentumSGD, {"v"}),
    "AdaGrad": (optimizers.AdaGrad, {"h"}),
    "AdaDelta": (optimizers.AdaDelta, {"msg", "msdx"}),
    "Adam": (optimizers.Adam, {"m", "v"}),
    "AdamW": (optimizers.AdamW, {"m", "v"}),
    "RMSprop": (lambda: optimizers.RMSprop(momentum=0.9, centered=True),
                {"square_avg", "momentum_buffer", "grad_avg"}),
}


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_state_dict_round_trip_continues_identically(name, tmp_path):
    make, slots = STATEFUL[name]
    model, opt = _trained_opt(make)
    state = opt.state_dict()
    expected = {f"{p}/{s}" for p in ("W", "sub/b") for s in slots}
    if name in ("Adam", "AdamW"):
        expected.add("t")
        assert state["t"].dtype == np.int64 and int(state["t"]) == 3
    assert set(state) == expected
    # copies, not views of the live state
    first = next(k for k in state if k != "t")
    state[first][...] = 123.0
    assert not np.array_equal(opt.state_dict()[first], state[first])

    dezero.io.save_arrays(tmp_path / "opt", opt.state_dict())
    model.save_weights(tmp_path / "model")
    more = _grads(6)[3:]
    W_cont, b_cont = _run(opt, model, more)

    model2 = Toy()
    model2.load_weights(tmp_path / "model")
    opt2 = make().setup(model2)
    opt2.load_state_dict(dezero.io.load_arrays(tmp_path / "opt"))
    W2, b2 = _run(opt2, model2, more)
    np.testing.assert_array_equal(W2, W_cont)
    np.testing.assert_array_equal(b2, b_cont)


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    model, opt = _trained_opt(optimizers.Adam)
    state = opt.state_dict()
    good = opt.state_dict()
    del state["W/v"]                                  # a missing slot
    state["W/q"] = np.zeros((3, 4))                   # an unknown slot
    state["sub/b/m"] = np.zeros(5)                    # wrong shape
    state["t"] = np.array(3, dtype=np.int32)          # wrong dtype
    state["ghost/W/m"] = np.zeros(1)                  # unknown parameter
    with pytest.raises(WeightFileError) as info:
        opt.load_state_dict(state)
    msg = str(info.value)
    assert msg.startswith("Adam.load_state_dict does not match this Adam (5 problems)")
    for needle in ("missing key 'W/v'", "unexpected key 'W/q'", "'sub/b/m': expected (4,)",
                   "'t': expected () int64, found () int32", "unexpected key 'ghost/W/m'"):
        assert needle in msg
    after = opt.state_dict()
    assert after.keys() == good.keys()
    for k in good:
        np.testing.assert_array_equal(after[k], good[k])
    assert opt.t == 3


def test_load_state_dict_refuses_negative_step_and_lazy_params():
    model, opt = _trained_opt(optimizers.Adam)
    state = opt.state_dict()
    state["t"] = np.array(-1, dtype=np.int64)
    with pytest.raises(WeightFileError, match="step count >= 0"):
        opt.load_state_dict(state)

    lazy = L.Linear(2)
    mopt = optimizers.MomentumSGD().setup(lazy)
    with pytest.raises(WeightFileError, match="'W': the parameter has no data yet"):
        mopt.load_state_dict({"W/v": np.zeros((3, 2), np.float32)})
    with pytest.raises(TypeError, match="expected a dict of arrays"):
        mopt.load_state_dict([1, 2])


def test_loading_fresh_state_resets_parameters_absent_from_it():
    model, opt = _trained_opt(optimizers.MomentumSGD)
    state = {k: v for k, v in opt.state_dict().items() if k.startswith("W/")}
    opt.load_state_dict(state)
    assert set(opt.state_dict()) == {"W/v"}
    fresh = optimizers.MomentumSGD().setup(Toy())
    fresh.load_state_dict({})
    assert fresh.state_dict() == {}
