"""backward: order, accumulation, retain_grad, leaves, unused outputs, aliasing, checks."""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Function, Variable


class CountingSquare(Function):
    """y = x ** 2, counting how often its backward runs."""

    calls = 0

    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        type(self).calls += 1
        x, = self.inputs
        return 2 * x * gy


def square(x):
    return CountingSquare()(x)


@pytest.fixture(autouse=True)
def _reset_counter():
    CountingSquare.calls = 0


class Split(Function):
    """Two outputs: the halves of a 1-D array."""

    def forward(self, x):
        n = len(x) // 2
        return x[:n] * 1.0, x[n:] * 1.0

    def backward(self, g0, g1):
        self.seen = (g0.data.copy(), g1.data.copy())
        return Variable(np.concatenate([g0.data, g1.data]))


# -----------------------------------------------------------------------------
# ordering: every function once, after all its outputs' gradients
# -----------------------------------------------------------------------------


def test_diamond_runs_each_backward_once():
    x = Variable(np.array(2.0))
    a = square(x)
    y = square(a) + square(a)
    y.backward()
    assert y.data == 32.0
    assert x.grad.data == 64.0
    assert CountingSquare.calls == 3


def test_wide_diamond_with_uneven_branches():
    # x -> a -> (b = a^2 -> c = b^2) and a used directly: a must wait for both branches.
    x = Variable(np.array(1.5))
    a = square(x)
    c = square(square(a))
    y = c + a
    y.backward()
    # y = x^8 + x^2
    assert np.isclose(x.grad.data, 8 * 1.5 ** 7 + 2 * 1.5)
    assert CountingSquare.calls == 3


def test_reused_variable_in_many_places():
    x = Variable(np.array(3.0))
    y = x * x * x + x  # x^3 + x
    y.backward()
    assert x.grad.data == 3 * 9.0 + 1.0


def test_generation_order_on_a_ladder():
    # Each rung reads the previous two: order errors would double-count.
    x = Variable(np.array(1.0))
    prev, cur = x, x * 1.0
    for _ in range(30):
        prev, cur = cur, prev + cur
    cur.backward()
    p, c = 1, 1  # the same recurrence on the coefficients of x
    for _ in range(30):
        p, c = c, p + c
    assert x.grad.data == float(c)


def test_same_generation_functions_all_run():
    x = Variable(np.array(2.0))
    ys = [square(x) for _ in range(5)]
    total = ys[0]
    for y in ys[1:]:
        total = total + y
    total.backward()
    assert x.grad.data == 5 * 4.0
    assert CountingSquare.calls == 5


# -----------------------------------------------------------------------------
# non-leaf gradients, retain_grad, repeated passes
# -----------------------------------------------------------------------------


def test_non_leaf_grads_are_cleared_without_retain_grad():
    x0 = Variable(np.array(1.0))
    x1 = Variable(np.array(1.0))
    t = x0 + x1
    y = x0 + t
    y.backward()
    assert y.grad is None and t.grad is None
    assert x0.grad.data == 2.0 and x1.grad.data == 1.0


def test_retain_grad_keeps_this_pass_gradients_and_the_seed():
    x0 = Variable(np.array(1.0))
    x1 = Variable(np.array(1.0))
    t = x0 + x1
    y = x0 + t
    y.backward(retain_grad=True)
    assert y.grad.data == 1.0 and t.grad.data == 1.0
    assert x0.grad.data == 2.0 and x1.grad.data == 1.0


def test_two_retain_grad_passes_give_exactly_twice_one_pass():
    x = Variable(np.array(3.0))
    a = square(x)
    y = square(a) + square(a)
    y.backward(retain_grad=True)
    once = x.grad.data.copy()
    a_once = a.grad.data.copy()
    y.backward(retain_grad=True)
    assert x.grad.data == 2 * once
    assert a.grad.data == a_once  # non-leaf: this pass only
    y.grad = None
    y.backward(retain_grad=True)
    assert x.grad.data == 3 * once


def test_repeated_backward_accumulates_in_leaves():
    x = Variable(np.array(3.0))
    y = x * x
    y.backward()
    y.backward()
    assert x.grad.data == 12.0
    x.cleargrad()
    y.backward()
    assert x.grad.data == 6.0


def test_accumulation_makes_new_objects():
    x = Variable(np.array([1.0, 2.0]))
    y = x * 2.0
    y.backward()
    first, first_data = x.grad, x.grad.data
    y.backward()
    assert x.grad is not first and x.grad.data is not first_data
    np.testing.assert_array_equal(first_data, [2.0, 2.0])  # untouched
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0])


def test_intermediate_grads_never_feed_a_later_pass():
    x = Variable(np.array(2.0))
    t = x * 3.0
    y = t * t
    y.backward(retain_grad=True)
    t.grad = Variable(np.array(1000.0))  # stale value must be ignored
    x.cleargrad()
    y.backward()
    assert x.grad.data == 2 * 6.0 * 3.0


# -----------------------------------------------------------------------------
# leaves, seeds, unused outputs
# -----------------------------------------------------------------------------


def test_backward_on_a_leaf_seeds_ones():
    x = Variable(np.array([[1.0, 2.0]], dtype=np.float32))
    x.backward()
    np.testing.assert_array_equal(x.grad.data, np.ones((1, 2)))
    assert x.grad.dtype == np.float32
    x.backward()  # already seeded: nothing more
    np.testing.assert_array_equal(x.grad.data, np.ones((1, 2)))


def test_non_scalar_output_is_seeded_with_ones():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    y = x * x
    y.backward(retain_grad=True)
    np.testing.assert_array_equal(y.grad.data, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0, 6.0])


def test_user_seed_is_used_and_may_be_an_ndarray():
    x = Variable(np.array([1.0, 2.0]))
    y = x * 3.0
    y.grad = np.array([1.0, 10.0])
    y.backward(retain_grad=True)
    assert isinstance(y.grad, Variable)
    np.testing.assert_array_equal(x.grad.data, [3.0, 30.0])


def test_unused_output_contributes_zeros():
    x = Variable(np.arange(4.0))
    a, b = Split()(x)
    f = a.creator
    y = a * 2.0
    y.backward()
    np.testing.assert_array_equal(f.seen[1], [0.0, 0.0])
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 0.0, 0.0])


def test_dropped_output_contributes_zeros():
    x = Variable(np.arange(4.0))
    a = Split()(x)[0]  # the second output is garbage now
    y = a * 2.0
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 0.0, 0.0])


def test_both_outputs_used():
    x = Variable(np.arange(4.0))
    a, b = Split()(x)
    y = F.sum(a * 2.0) + F.sum(b * b)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 4.0, 6.0])


def test_integer_gradients_are_allowed():
    x = Variable(np.array([1, 2, 3]))
    y = x + np.array([10])
    y.backward()
    np.testing.assert_array_equal(y.data, [11, 12, 13])
    assert x.grad.dtype.kind == "i"


# -----------------------------------------------------------------------------
# no aliasing: no two variables share a gradient object or its memory
# -----------------------------------------------------------------------------


def _grads_disjoint(*vs):
    objs = [v.grad for v in vs]
    for i, a in enumerate(objs):
        for b in objs[i + 1:]:
            assert a is not b
            assert not np.shares_memory(a.data, b.data)


def test_add_gives_two_distinct_gradients():
    a = Variable(np.array([1.0, 2.0]))
    b = Variable(np.array([3.0, 4.0]))
    y = a + b
    y.backward()
    assert a.grad is not b.grad
    _grads_disjoint(a, b)
    a.grad.data += 1  # an in-place hook on one gradient...
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0])  # ...leaves the other alone


def test_no_gradient_aliases_the_seed_or_retained_grads():
    a = Variable(np.array([1.0, 2.0]))
    b = Variable(np.array([3.0, 4.0]))
    t = a + b
    y = t + a
    y.backward(retain_grad=True)
    _grads_disjoint(a, b, t, y)


def test_views_are_copied_into_owned_gradients():
    x = Variable(np.ones((2, 3)))
    y = F.sum(x)  # backward broadcasts: a read-only view
    y.backward()
    assert x.grad.data.base is None
    x.grad.data *= 2  # writable
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 2.0))


def test_create_graph_gradients_are_also_distinct():
    a = Variable(np.array([1.0, 2.0]))
    b = Variable(np.array([3.0, 4.0]))
    y = a + b
    y.backward(create_graph=True)
    _grads_disjoint(a, b)


# -----------------------------------------------------------------------------
# shape and count checks
# -----------------------------------------------------------------------------


def test_seed_of_the_wrong_shape_raises():
    x = Variable(np.ones((2, 3)))
    y = x + x
    y.grad = Variable(np.ones((1, 3)))
    with pytest.raises(ValueError) as info:
        y.backward()
    assert str(info.value) == ("backward seed for the output of 'Add': grad shape (1, 3) does "
                               "not match shape (2, 3)")


def test_seed_of_the_wrong_shape_on_a_leaf_raises():
    x = Variable(np.ones(3))
    x.grad = Variable(np.ones(2))
    with pytest.raises(ValueError, match=r"leaf variable: grad shape \(2,\) does not match"):
        x.backward()


class MyFunc(Function):
    def __init__(self, grads):
        self.grads = grads

    def forward(self, x0, x1):
        return x0 * x1

    def backward(self, gy):
        return self.grads


def test_returned_gradient_of_the_wrong_shape_raises():
    x0, x1 = Variable(np.ones((2, 3))), Variable(np.ones((2, 3)))
    y = MyFunc((np.ones((2, 3)), np.array(1.0)))(x0, x1)
    with pytest.raises(ValueError) as info:
        y.backward()
    assert str(info.value) == ("Function 'MyFunc' returned an invalid gradient at index 1 - got "
                               "() but expected shape (2, 3)")


def test_too_many_gradients_raise():
    x0, x1 = Variable(np.ones(2)), Variable(np.ones(2))
    y = MyFunc((np.ones(2), np.ones(2), np.ones(2)))(x0, x1)
    with pytest.raises(ValueError, match="'MyFunc' returned 3 gradients for 2 inputs"):
        y.backward()


def test_too_few_gradients_raise_for_float_inputs():
    x0, x1 = Variable(np.ones(2)), Variable(np.ones(2))
    y = MyFunc((np.ones(2),))(x0, x1)
    with pytest.raises(ValueError, match="only integer inputs may be left without one"):
        y.backward()


def test_trailing_integer_inputs_may_be_left_out():
    x = Variable(np.ones(2))
    labels = Variable(np.array([1, 0]))
    y = MyFunc((np.full(2, 5.0),))(x, labels)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [5.0, 5.0])
    assert labels.grad is None


def test_none_means_no_gradient():
    x0, x1 = Variable(np.ones(2)), Variable(np.ones(2))
    y = MyFunc((None, np.full(2, 3.0)))(x0, x1)
    y.backward()
    assert x0.grad is None
    np.testing.assert_array_equal(x1.grad.data, [3.0, 3.0])


# -----------------------------------------------------------------------------
# the pass switches graph recording according to create_graph
# -----------------------------------------------------------------------------


def test_backward_without_create_graph_records_nothing():
    x = Variable(np.array(2.0))
    y = x * x * x
    y.backward()
    assert x.grad.creator is None


def test_backward_with_create_graph_records_and_restores_config():
    import dezero

    x = Variable(np.array(2.0))
    y = x * x * x
    with dezero.no_grad():
        y.backward(create_graph=True)  # create_graph wins inside the pass...
        assert dezero.Config.enable_backprop is False  # ...and the old value comes back
    assert x.grad.creator is not None


def test_config_is_restored_after_a_failing_pass():
    import dezero

    x0, x1 = Variable(np.ones(2)), Variable(np.ones(2))
    y = MyFunc((np.ones(3), None))(x0, x1)
    with pytest.raises(ValueError):
        y.backward(create_graph=True)
    assert dezero.Config.enable_backprop is True


def test_retain_grad_keeps_the_seed_object_itself():
    x = Variable(np.array([1.0, 2.0]))
    y = x + x
    seed = Variable(np.array([1.0, 3.0]))
    y.grad = seed
    y.backward(retain_grad=True)
    assert y.grad is seed
    np.testing.assert_array_equal(x.grad.data, [2.0, 6.0])
    assert not np.shares_memory(x.grad.data, seed.data)


def test_a_leaf_grad_set_by_hand_as_an_array_accumulates():
    x = Variable(np.array([1.0, 2.0]))
    x.grad = np.array([10.0, 10.0])
    (x * 3.0).backward()
    assert isinstance(x.grad, Variable)
    np.testing.assert_array_equal(x.grad.data, [13.0, 13.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (3,)])
def test_many_uses_sum_exactly_and_keep_the_dtype(dtype, shape):
    x = Variable(np.full(shape, 0.5, dtype=dtype))
    y = x
    for _ in range(9):
        y = y + x  # x receives 10 gradients, summed inside the pass
    y.backward()
    assert x.grad.dtype == dtype and x.grad.shape == shape
    assert type(x.grad.data) is np.ndarray
    np.testing.assert_array_equal(x.grad.data, np.full(shape, 10.0, dtype=dtype))
    y.backward()
    np.testing.assert_array_equal(x.grad.data, np.full(shape, 20.0, dtype=dtype))


def test_mixed_dtype_gradients_sum_like_numpy():
    x = Variable(np.array(1.0, dtype=np.float32))
    y = x * np.array(2.0) + x  # float64 branch and float32 branch meet in x
    y.backward()
    assert x.grad.dtype == np.float64 and x.grad.data == 3.0
