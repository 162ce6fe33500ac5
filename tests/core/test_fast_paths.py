"""The per-op fast paths give the same values, dtypes, graph records and order as the slow ones.

- Arithmetic backward without ``create_graph`` computes on raw arrays (and 0-d operands as
  NumPy scalars); with ``create_graph`` it builds dezero ops. Both must agree bit for bit.
- ``_apply`` (the built-in ops' ``Function.__call__``) records what ``__call__`` records.
- The backward walk skips the priority queue for the next function of a chain; the order of
  ``backward`` calls must still be the queue's order (highest generation, last added first).
"""
import heapq
import random
import weakref

import numpy as np
import pytest

import dezero.functions as F
from dezero import Function, Variable, no_grad
from dezero.core import _apply

OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "rsub": lambda a, b: b - a,
    "rdiv": lambda a, b: b / a,
}

SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((2, 3), ())]


def _grads(op, a, b, create_graph, constant=None):
    x0 = Variable(a.copy())
    x1 = Variable(b.copy()) if constant is None else constant
    y = OPS[op](x0, x1)
    y.backward(create_graph=create_graph)
    grads = [x0.grad]
    if constant is None:
        grads.append(x1.grad)
    return y, grads


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raw_backward_matches_the_differentiable_one(op, shapes, dtype):
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, shapes[0]).astype(dtype)
    b = rng.uniform(0.5, 2.0, shapes[1]).astype(dtype)
    y_raw, raw = _grads(op, a, b, create_graph=False)
    y_graph, graph = _grads(op, a, b, create_graph=True)
    assert type(y_raw.data) is np.ndarray and y_raw.dtype == dtype
    np.testing.assert_array_equal(y_raw.data, y_graph.data)
    for g_raw, g_graph, x in zip(raw, graph, (a, b)):
        assert type(g_raw.data) is np.ndarray and g_raw.creator is None
        assert g_raw.shape == x.shape and g_raw.dtype == g_graph.dtype
        np.testing.assert_array_equal(g_raw.data, g_graph.data)


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("c", [2.5, 3, -0.0, np.float64(1.5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_number_operand(op, c, dtype):
    a = np.array([0.5, 1.5, -2.0], dtype=dtype)
    with np.errstate(divide="ignore"):  # x / -0.0
        y_raw, (g_raw,) = _grads(op, a, None, create_graph=False, constant=c)
        y_graph, (g_graph,) = _grads(op, a, None, create_graph=True, constant=c)
    assert y_raw.dtype == dtype and g_raw.dtype == dtype  # rule D2
    np.testing.assert_array_equal(y_raw.data, y_graph.data)
    np.testing.assert_array_equal(g_raw.data, g_graph.data)


def test_zero_d_results_are_0d_arrays_as_numpy_computes_them():
    for dtype in (np.float16, np.float32, np.float64, np.int64):
        a = np.array(3, dtype=dtype)
        x = Variable(a)
        cases = [(x + x, a + a), (x - x, a - a), (x * x, a * a), (x / x, a / a),
                 (x * 2, a * 2), (x * 2.0, a * 2.0), (2 - x, 2 - a), (1 / x, 1 / a), (-x, -a)]
        for y, expected in cases:
            assert type(y.data) is np.ndarray and y.data.shape == ()
            # a float dtype is kept (NumPy 2's rule; NumPy 1.x would promote 0-d to float64)
            want = a.dtype if a.dtype.kind == "f" else np.asarray(expected).dtype
            assert y.dtype == want
            assert y.data == np.asarray(expected).astype(want)


def test_second_order_through_the_fast_ops():
    x = Variable(np.array(2.0))
    y = x * x * x / x - x + x  # x**2
    y.backward(create_graph=True)
    gx = x.grad
    assert gx.data == 4.0
    x.cleargrad()
    gx.backward()
    assert x.grad.data == 2.0


class _Twice(Function):
    def forward(self, x0, x1):
        return 2 * x0 + x1

    def backward(self, gy):
        return 2 * gy, gy


@pytest.mark.parametrize("n_inputs", [1, 2])
def test_apply_records_what_call_records(n_inputs):
    a = Variable(np.array(1.0))
    a = a + a  # generation 1
    b = Variable(np.array(2.0))
    inputs = [a, b][:n_inputs]
    f = F.Exp() if n_inputs == 1 else _Twice()
    y = _apply(f, *inputs)
    assert y.creator is f and f.generation == 1 and y.generation == 2
    assert type(f.inputs) is list and f.inputs == inputs
    assert type(f.outputs) is list and len(f.outputs) == 1
    assert type(f.outputs[0]) is weakref.ref and f.outputs[0]() is y
    with no_grad():
        z = _apply(type(f)(), *inputs)
    assert z.creator is None and z.generation == 0


def test_apply_returns_a_list_for_several_outputs():
    class Halves(Function):
        def forward(self, x):
            return x[:1].copy(), x[1:].copy()

        def backward(self, g0, g1):
            return Variable(np.concatenate([g0.data, g1.data]))

    x = Variable(np.array([1.0, 2.0]))
    ys = _apply(Halves(), x)
    assert isinstance(ys, list) and len(ys) == 2 and all(y.creator is ys[0].creator for y in ys)


def test_freed_intermediate_data_does_not_break_add_backward():
    # linear_simple in the book frees t.data; Add's backward must not need it.
    x = Variable(np.ones((2, 3)))
    W = Variable(np.ones((3, 4)))
    b = Variable(np.zeros(4))
    t = F.matmul(x, W)
    y = t + b
    t.data = None
    y.backward()
    np.testing.assert_array_equal(b.grad.data, np.full(4, 2.0))


# -----------------------------------------------------------------------------
# backward order with the chain shortcut
# -----------------------------------------------------------------------------


class _Logged(Function):
    log = []

    def __init__(self, tag, n_out=1):
        self.tag, self.n_out = tag, n_out

    def forward(self, *xs):
        y = sum(xs[1:], xs[0]) * 1.0
        return tuple(y * (i + 1) for i in range(self.n_out)) if self.n_out > 1 else y

    def backward(self, *gys):
        _Logged.log.append(self)
        g = sum(gys[1:], gys[0])
        return tuple(g for _ in self.inputs)


def _expected_order(root):
    """The order of the reference priority queue (section 2.5 of the contract)."""
    f = root.creator
    order, seen, heap, counter = [], {f}, [(-f.generation, 0, f)], 0
    while heap:
        f = heapq.heappop(heap)[2]
        order.append(f)
        for x in f.inputs:
            c = x.creator
            if c is not None and c not in seen:
                seen.add(c)
                counter -= 1
                heapq.heappush(heap, (-c.generation, counter, c))
    return order


@pytest.mark.parametrize("seed", range(40))
def test_backward_order_is_the_priority_queue_order(seed):
    rnd = random.Random(seed)
    nodes = [Variable(np.array(1.0)) for _ in range(3)]
    for i in range(rnd.randint(3, 40)):
        if rnd.random() < 0.15:
            nodes += _Logged(i, n_out=2)(rnd.choice(nodes))
        else:
            nodes.append(_Logged(i)(*[rnd.choice(nodes) for _ in range(rnd.randint(1, 3))]))
    y = _Logged("root")(*nodes[-3:])
    expected = _expected_order(y)
    _Logged.log = []
    y.backward()
    assert _Logged.log == expected
