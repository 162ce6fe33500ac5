"""Memory: reference counting frees graphs; deep chains need no recursion."""
import gc
import sys
import tracemalloc
import weakref

import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable


@pytest.fixture
def no_cycle_collector():
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _traced_mib():
    return tracemalloc.get_traced_memory()[0] / 2 ** 20


def test_graph_over_large_arrays_is_freed_by_refcounting(no_cycle_collector):
    tracemalloc.start()
    try:
        base = _traced_mib()
        for _ in range(5):
            x = Variable(np.ones((1000, 1000)))  # 8 MB each
            y = x
            for _ in range(4):
                y = y * 1.0001 + x
            y = F.sum(y)
            y.backward()
            assert _traced_mib() - base > 16
            del x, y
            assert _traced_mib() - base < 1.0  # everything went with the last reference
    finally:
        tracemalloc.stop()


def test_dropped_outputs_and_functions_die_at_once(no_cycle_collector):
    x = Variable(np.ones(10))
    y = x * 2.0
    z = y + 1.0
    refs = [weakref.ref(o) for o in (y, z, y.creator, z.creator)]
    del y, z
    assert all(r() is None for r in refs)
    assert x.data.shape == (10,)


def test_backward_leaves_no_cycles(no_cycle_collector):
    x = Variable(np.ones(100))
    y = F.sum(x * x + x)
    y.backward()
    refs = [weakref.ref(y), weakref.ref(y.creator), weakref.ref(x.grad)]
    del y
    x.cleargrad()
    assert all(r() is None for r in refs)


def test_create_graph_cycle_is_broken_by_cleargrad(no_cycle_collector):
    x = Variable(np.ones(100))
    y = F.sum(x * x)
    y.backward(create_graph=True)
    gref = weakref.ref(x.grad)
    yref = weakref.ref(y)
    del y
    x.cleargrad()
    assert gref() is None and yref() is None


def test_hundred_thousand_deep_chain_at_the_default_recursion_limit():
    assert sys.getrecursionlimit() <= 1000 or pytest.skip("recursion limit was raised")
    n = 100_000
    x = Variable(np.array(1.0))
    y = x
    for _ in range(n):
        y = y + x
    y.backward()
    assert x.grad.data == n + 1
    del y  # freeing the chain must not recurse either


def test_deep_chain_of_unary_ops_with_create_graph():
    x = Variable(np.array(0.5))
    y = x
    for _ in range(3000):
        y = y * 1.0
    y.backward(create_graph=True)
    assert x.grad.data == 1.0
    gx = x.grad
    x.cleargrad()
    gx.backward()
    assert x.grad is None or x.grad.data == 0.0


def test_intermediate_gradients_are_freed_during_backward(no_cycle_collector):
    # Without retain_grad, a 100-step chain over 1 MB arrays must not hold 100 gradients.
    x = Variable(np.ones(125_000))
    y = x
    for _ in range(100):
        y = y * 1.0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        y.backward()
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()
    assert peak < 10, peak


# -----------------------------------------------------------------------------
# The workspace cache (dezero/_ops/_workspace.py, dezero.clear_workspace)
# -----------------------------------------------------------------------------


@pytest.fixture
def workspace():
    from dezero._ops import _workspace

    _workspace.clear()
    yield _workspace
    _workspace.clear()


def test_workspace_reuses_a_buffer_only_when_nobody_holds_it(workspace):
    shape = (64, 1024)  # 256 KiB of float32: cached
    a = workspace.empty("test", shape, np.float32)
    b = workspace.empty("test", shape, np.float32)
    assert not np.shares_memory(a, b)  # a is held
    view = a[3:5]
    del a
    c = workspace.empty("test", shape, np.float32)
    assert not np.shares_memory(c, view)  # a view keeps the memory in use
    mem = memoryview(b)
    del b
    d = workspace.empty("test", shape, np.float32)
    assert not np.shares_memory(d, np.asarray(mem))  # so does a buffer export
    del mem, view
    e = workspace.empty("test", shape, np.float32)
    assert e.shape == shape and e.dtype == np.float32
    assert workspace.cached_bytes() == 4 * 64 * 1024 * 4  # a, b, c, d; e is a or b again


def test_workspace_leaves_small_arrays_and_other_shapes_alone(workspace, monkeypatch):
    small = workspace.empty("test", (10,), np.float32)
    assert small.shape == (10,) and workspace.cached_bytes() == 0
    monkeypatch.setattr(workspace, "_SHAPES_PER_SITE", 2)
    for rows in (64, 65, 66):  # a third shape at one site retires the oldest
        workspace.empty("test", (rows, 1024), np.float32)
    assert workspace.cached_bytes() == (65 + 66) * 1024 * 4


def test_clear_workspace_releases_the_memory(workspace):
    import dezero

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4, 32, 32)).astype(np.float32)
    W = Variable(rng.standard_normal((8, 4, 3, 3)).astype(np.float32))
    for _ in range(2):
        F.sum(F.pooling(F.relu(F.conv2d(x, W, pad=1)), 2, 2)).backward()
    held = workspace.cached_bytes()
    assert held > 4 * 2 ** 20  # the step's big buffers are kept
    F.sum(F.pooling(F.relu(F.conv2d(x, W, pad=1)), 2, 2)).backward()
    assert workspace.cached_bytes() == held  # a step in the same shapes allocates no more
    refs = [weakref.ref(a) for shapes in workspace._sites.values()
            for bufs in shapes.values() for a in bufs]
    assert refs and all(r() is not None for r in refs)
    dezero.clear_workspace()
    assert workspace.cached_bytes() == 0
    assert all(r() is None for r in refs)  # freed at once: nothing else held them
