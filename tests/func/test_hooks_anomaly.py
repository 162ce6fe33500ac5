"""Variable.register_hook, Variable.retain_grad and anomaly mode."""
import numpy as np
import pytest

import dezero
import dezero.functions as F
from dezero import AnomalyError, Variable, core
from dezero import func as fn

# -----------------------------------------------------------------------------
# hooks
# -----------------------------------------------------------------------------


def test_hook_sees_the_gradient_and_can_replace_it():
    x = Variable(np.array([1.0, 2.0]))
    h = x * 3
    seen = []

    def hook(g):
        seen.append(g.data.copy())
        return g * 10

    h.register_hook(hook)
    y = F.sum(h * h)
    y.backward()
    np.testing.assert_allclose(seen[0], 2 * 3 * x.data)  # dy/dh = 2h
    np.testing.assert_allclose(x.grad.data, 10 * 2 * 3 * x.data * 3)


def test_hook_on_a_leaf_runs_before_accumulation_and_can_be_removed():
    x = Variable(np.array([1.0, -1.0]))
    handle = x.register_hook(lambda g: g * 0 + 1)
    F.sum(x * 5).backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])
    handle.remove()
    F.sum(x * 5).backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0])
    assert id(x) not in core._var_hooks


def test_hooks_run_in_order_and_none_keeps_the_gradient():
    x = Variable(np.array(2.0))
    y = x * x
    calls = []
    y.register_hook(lambda g: calls.append("a"))
    y.register_hook(lambda g: calls.append("b") or g + 1)
    (y * 3).backward()
    assert calls == ["a", "b"]
    assert x.grad.data == pytest.approx((3 + 1) * 2 * 2.0)


def test_hook_with_a_wrong_shape_raises():
    x = Variable(np.array([1.0, 2.0]))
    y = x * 2
    y.register_hook(lambda g: np.ones(3))
    with pytest.raises(ValueError, match=r"^register_hook: hook '<lambda>' returned a gradient "
                                         r"of shape \(3,\) for a Variable of shape \(2,\)"):
        F.sum(y).backward()


def test_hook_is_called_under_create_graph_and_by_func_transforms():
    seen = []

    def f(x):
        h = F.sin(x)
        h.register_hook(lambda g: seen.append(type(g).__name__))
        return F.sum(h)

    fn.grad(f)(np.array([0.1, 0.2]))
    assert seen == ["Variable"]
    x = Variable(np.array([0.3]))
    y = f(x)
    y.backward(create_graph=True)
    assert len(seen) == 2


def test_register_hook_refuses_a_non_callable():
    with pytest.raises(TypeError, match=r"^register_hook: fn must be callable; got int"):
        Variable(np.ones(1)).register_hook(3)


def test_retain_grad_keeps_one_intermediate_gradient():
    x = Variable(np.array([1.0, 2.0]))
    h = F.exp(x)
    h.retain_grad()
    z = h * 2
    y = F.sum(z * z)
    y.backward()
    np.testing.assert_allclose(h.grad.data, 2 * (2 * z.data))
    assert z.grad is None  # not retained
    x.retain_grad()  # a leaf: nothing to do, grad is kept anyway
    assert x.grad is not None


def test_retain_grad_does_not_keep_the_variable_alive():
    import gc
    import weakref

    x = Variable(np.array([1.0]))
    h = x * 2
    h.retain_grad()
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is None


# -----------------------------------------------------------------------------
# anomaly mode
# -----------------------------------------------------------------------------


def _line_of(marker):
    import inspect

    source, start = inspect.getsourcelines(inspect.stack()[1].frame)
    for i, line in enumerate(source):
        if marker in line:
            return start + i
    raise AssertionError(marker)


def test_log_of_zero_is_reported_with_the_op_and_the_user_line():
    x = Variable(np.array([1.0, 0.0, 2.0]))
    with dezero.detect_anomaly():
        y = F.log(x)  # the culprit
        loss = F.sum(y * 2)
        with pytest.raises(AnomalyError) as info:
            loss.backward()
    message = str(info.value)
    assert message.startswith("detect_anomaly: Log.backward returned Inf in gradient 0 "
                              "(shape (3,), float64); Log had inputs of shapes ((3,))")
    assert f'{__file__}", line {_line_of("# the culprit")}' in message
    assert "y = F.log(x)  # the culprit" in message
    assert info.value.function.__class__.__name__ == "Log"


def test_sqrt_at_zero_is_reported_through_a_model():
    def model(v):
        return F.sum(F.sqrt(v * v))  # sqrt here

    x = Variable(np.array([0.0, 3.0]))
    dezero.set_detect_anomaly(True)
    try:
        y = model(x)
        with pytest.raises(AnomalyError, match=r"^detect_anomaly: Sqrt.backward") as info, \
                np.errstate(divide="ignore"):
            y.backward()
    finally:
        dezero.set_detect_anomaly(False)
    assert f"line {_line_of('# sqrt here')}, in model" in str(info.value)


def test_nan_from_zero_times_inf_is_named_nan():
    x = Variable(np.array([0.0]))
    with dezero.detect_anomaly():
        y = F.sum(F.sqrt(x) * 0.0)
        with pytest.raises(AnomalyError, match=r"Sqrt.backward returned NaN"):
            y.backward()


def test_anomaly_mode_covers_func_transforms():
    with dezero.detect_anomaly():
        with pytest.raises(AnomalyError, match=r"^detect_anomaly: Log.backward"):
            fn.grad(lambda v: F.sum(F.log(v)))(np.array([0.0, 1.0]))


def test_without_anomaly_mode_nothing_is_recorded_or_raised():
    x = Variable(np.array([0.0]))
    with np.errstate(divide="ignore"):
        y = F.log(x)
        y.backward()
    assert np.isinf(x.grad.data).all()
    assert not hasattr(y.creator, "_anomaly_where")
    assert not core._anomaly_on


def test_detect_anomaly_restores_the_previous_mode():
    assert not core._anomaly_on
    with dezero.detect_anomaly():
        assert core._anomaly_on
        with dezero.detect_anomaly(False):
            assert not core._anomaly_on
        assert core._anomaly_on
    assert not core._anomaly_on
