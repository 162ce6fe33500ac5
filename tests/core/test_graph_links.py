"""How a Function holds its graph links, and the raw backward protocol.

- ``inputs`` and ``outputs`` read as the book's lists (Variables; weak references) for any
  number of inputs and outputs, can be assigned and deleted, and a chain costs three objects
  tracked by the cyclic garbage collector per op.
- ``backward_raw`` is called instead of ``backward`` only when the pass builds no graph and
  keeps no intermediate gradient; a subclass that redefines ``backward`` alone, a hooked
  output and anomaly mode all get ``backward``.
- The backward walk's shortcut for a link of a chain gives what its general loop gives.
"""
import gc
import sys
import weakref

import numpy as np
import pytest

import dezero
import dezero.functions as F
from dezero import Function, Variable


class _Three(Function):
    def forward(self, a, b, c):
        return a + b + c

    def backward(self, gy):
        return gy, gy, gy


class _Split(Function):
    def forward(self, x):
        return x * 2, x * 3

    def backward(self, g0, g1):
        return g0 * 2 + g1 * 3


def _v(value=1.0, dtype=np.float64):
    return Variable(np.array(value, dtype=dtype))


@pytest.mark.parametrize("n_inputs", [1, 2, 3])
def test_inputs_read_as_a_new_list_of_the_variables(n_inputs):
    xs = [_v(i) for i in range(n_inputs)]
    y = {1: lambda: F.exp(xs[0]), 2: lambda: xs[0] * xs[1], 3: lambda: _Three()(*xs)}[n_inputs]()
    f = y.creator
    first, second = f.inputs, f.inputs
    assert type(first) is list and first == xs and all(a is b for a, b in zip(first, xs))
    assert first is not second  # a new list on each read: mutating one changes nothing
    first.clear()
    assert f.inputs == xs


def test_outputs_read_as_a_list_of_weak_references():
    x = _v(2.0)
    y = F.exp(x)
    refs = y.creator.outputs
    assert type(refs) is list and len(refs) == 1
    assert type(refs[0]) is weakref.ref and refs[0]() is y
    a, b = _Split()(x)
    refs = a.creator.outputs
    assert [r() for r in refs] == [a, b] and all(type(r) is weakref.ref for r in refs)


def test_zero_input_function_records_an_empty_list():
    class Const(Function):
        def forward(self):
            return np.array(7.0)

    y = Const()()
    assert y.creator.inputs == [] and y.creator.outputs[0]() is y


def test_links_can_be_assigned_and_deleted():
    x0, x1, x2 = _v(1.0), _v(2.0), _v(3.0)
    y = x0 * x1
    f = y.creator
    f.inputs = [x2, x0]
    assert f.inputs == [x2, x0]
    f.inputs = (x0, x1, x2)  # any sequence; three inputs
    assert f.inputs == [x0, x1, x2]
    f.inputs = [x1]
    assert f.inputs == [x1]
    z = F.exp(x0)
    f.outputs = [weakref.ref(z)]
    assert f.outputs[0]() is z
    del f.inputs, f.outputs
    with pytest.raises(AttributeError, match="Mul.*inputs.*not recorded"):
        f.inputs
    with pytest.raises(AttributeError, match="Mul.*outputs.*not recorded"):
        f.outputs
    f.inputs, f.outputs = [x0], [weakref.ref(z)]
    f.inputs = f.outputs = None  # dropping the links, as some code does: they read None
    assert f.inputs is None and f.outputs is None


def test_a_function_that_was_never_called_has_no_links():
    f = F.Exp()
    assert not hasattr(f, "inputs") and not hasattr(f, "outputs")


def test_book_style_function_reads_its_links():
    class Square(Function):
        def forward(self, x):
            return x ** 2

        def backward(self, gy):
            x, = self.inputs
            assert self.outputs[0]() is not None
            return 2 * x * gy

    x = _v(3.0)
    y = Square()(x)
    y.backward()
    assert x.grad.data == 6.0


def test_a_chain_costs_three_collector_tracked_objects_per_op():
    # Python 3.10 keeps each Function's attributes in a dict of its own: one more object
    per_op = 3 if sys.version_info >= (3, 11) else 4
    x = _v(1.0, np.float32)
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        y = x
        for _ in range(500):
            y = F.sin(y * 0.5)  # 1,000 ops: Function, Variable and weak reference each
        grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    assert 1000 * per_op <= grown < 1000 * per_op + 50, grown


# =============================================================================
# backward_raw
# =============================================================================


class _Twice(Function):
    """y = 2 x, recording which backward ran and what it got."""

    def __init__(self, log):
        self.log = log

    def forward(self, x):
        return x * 2

    def backward(self, gy):
        self.log.append(("backward", type(gy)))
        return gy * 2

    def backward_raw(self, g):
        self.log.append(("raw", type(g)))
        return g * 2


def test_raw_backward_gets_arrays_and_its_results_are_used():
    log = []
    x = Variable(np.ones(3, dtype=np.float32))
    y = F.sum(_Twice(log)(x))
    y.backward()
    assert log == [("raw", np.ndarray)]
    assert x.grad.dtype == np.float32 and np.array_equal(x.grad.data, [2, 2, 2])


@pytest.mark.parametrize("kwargs", [{"retain_grad": True}, {"create_graph": True}])
def test_backward_runs_when_the_pass_keeps_or_builds(kwargs):
    log = []
    x = _v(1.0)
    y = F.exp(_Twice(log)(x))
    y.backward(**kwargs)
    assert log == [("backward", Variable)] and x.grad.data == pytest.approx(2 * np.exp(2))


def test_a_subclass_redefining_backward_alone_gets_its_backward():
    class Mine(F.Exp):
        def backward(self, gy):
            return gy * 10

    x = _v(0.0)
    y = Mine()(x)
    y.backward()
    assert x.grad.data == 10.0
    assert Mine.backward_raw is None and F.Exp.backward_raw is not None


def test_a_hooked_output_gets_backward_and_its_hook_runs():
    log, seen = [], []
    x = _v(1.0)
    h = _Twice(log)(x)
    h.register_hook(lambda g: seen.append(type(g)))
    F.exp(h).backward()
    assert log == [("backward", Variable)] and seen == [Variable]


def test_anomaly_mode_checks_what_raw_ops_return():
    x = _v(-1.0)
    with dezero.detect_anomaly(), np.errstate(invalid="ignore"):
        y = F.sqrt(x)  # nan, whose gradient is nan as well
        with pytest.raises(RuntimeError, match="Sqrt"):
            y.backward()


def test_a_raw_gradient_of_the_wrong_shape_is_an_error_naming_the_function():
    class Bad(Function):
        def forward(self, x):
            return x.copy()

        def backward(self, gy):
            return gy

        def backward_raw(self, g):
            return np.zeros(5)

    x = Variable(np.ones(3))
    y = F.exp(Bad()(x))
    with pytest.raises(ValueError, match=r"'Bad' returned an invalid gradient.*\(5,\).*\(3,\)"):
        y.backward()


# =============================================================================
# The chain shortcut of the walk
# =============================================================================


def test_chain_shortcut_and_general_loop_agree_on_a_branched_graph():
    def build(x):
        a = F.exp(x * 0.5)  # chain links
        b = F.sin(a) + F.cos(a)  # a reaches two functions: a sum in the general loop
        c = F.tanh(b * b)  # two inputs that are one Variable
        return F.exp(c) * a

    x1, x2 = _v(0.3, np.float32), _v(0.3, np.float32)
    build(x1).backward()  # raw ops and the shortcut
    build(x2).backward(create_graph=True)  # Variables everywhere, the general loop
    assert x1.grad.dtype == np.float32
    np.testing.assert_allclose(x1.grad.data, x2.grad.data, rtol=1e-6)


def test_chain_shortcut_keeps_the_order_of_the_priority_queue():
    order = []

    class Tag(Function):
        def __init__(self, name):
            self.name = name

        def forward(self, x):
            return x.copy()

        def backward(self, gy):
            order.append(self.name)
            return gy

        def backward_raw(self, g):
            order.append(self.name)
            return g

    x = _v(1.0)
    a = Tag("a")(x)
    deep = Tag("d3")(Tag("d2")(Tag("d1")(a)))  # a longer branch: higher generations
    y = Tag("s")(a) + deep
    y.backward()
    # the walk finishes the deep branch before it reaches a's creator
    assert order.index("d1") < order.index("a") and order.index("s") < order.index("a")


def test_raw_arrays_from_backward_under_create_graph_become_variables():
    class Double(Function):  # returns a raw array from backward, as the book allows
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy.data * 2

    x = _v(1.5)
    y = F.exp(Double()(x))
    y.backward(create_graph=True)
    assert type(x.grad) is Variable and x.grad.data == pytest.approx(2 * np.exp(3.0))


_RNG = np.random.default_rng(7)
_A = _RNG.uniform(0.5, 1.5, (3, 4)).astype(np.float32)
_B = _RNG.uniform(0.5, 1.5, (4, 2)).astype(np.float32)
_LABELS = np.array([0, 3, 1])

# Each case: a function of one Variable (3, 4) ending in a scalar, whose last-but-one op
# (the creator of the summed Variable, or the loss itself) has a backward_raw.
RAW_CASES = {
    "reshape": lambda x: F.reshape(x, (2, 6)),
    "transpose": lambda x: F.transpose(x),
    "transpose_axes": lambda x: F.transpose(F.reshape(x, (3, 2, 2)), (2, 0, 1)),
    "broadcast_to": lambda x: F.broadcast_to(F.sum(x, axis=0), (5, 4)),
    "sum_to": lambda x: F.sum_to(x, (1, 4)),
    "sum": lambda x: F.sum(x, axis=1, keepdims=True),
    "get_item_basic": lambda x: x[1:, ::2],
    "get_item_repeats": lambda x: x[np.array([0, 2, 0])],
    "exp": F.exp, "sin": F.sin, "tanh": F.tanh, "sqrt": F.sqrt, "log": F.log,
    "sigmoid": F.sigmoid, "relu": lambda x: F.relu(x - 1.0),
    "mul": lambda x: x * x, "div": lambda x: x / (x + 1.0), "sub": lambda x: 1.0 - x,
    "neg": lambda x: -x,
    "matmul": lambda x: F.matmul(x, Variable(_B)),
    "linear": lambda x: F.linear(x, Variable(_B), Variable(np.ones(2, np.float32))),
    "softmax_cross_entropy": lambda x: F.softmax_cross_entropy(x, _LABELS),
}


@pytest.mark.parametrize("name", sorted(RAW_CASES))
def test_raw_backward_gives_what_the_differentiable_backward_gives(name):
    def grad(create_graph):
        x = Variable(_A.copy())
        h = RAW_CASES[name](x)
        assert type(h.creator).backward_raw is not None, "the case must exercise a raw path"
        y = F.sum(h * h) if h.ndim else h * h
        y.backward(create_graph=create_graph)
        return x.grad

    raw, graph = grad(False), grad(True)
    assert raw.dtype == graph.dtype == np.float32 and raw.shape == (3, 4)
    np.testing.assert_allclose(raw.data, graph.data, rtol=1e-6, atol=1e-7)
