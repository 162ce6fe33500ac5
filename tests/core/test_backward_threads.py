"""backward() from several threads on graphs that share leaves loses no gradient."""
import sys
import threading

import numpy as np
import pytest

import dezero.functions as F
from dezero import Parameter, Variable


@pytest.fixture
def frequent_switches():
    # Switch threads every microsecond so that an unguarded read-modify-write of a
    # shared .grad is interrupted often (without it a lost update is rarer, not absent).
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_threads(n_threads, body):
    errors = []
    start = threading.Barrier(n_threads)

    def run():
        try:
            start.wait()
            body()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@pytest.mark.parametrize("trial", range(3))  # a lost update is likely, not certain, per run
def test_four_threads_accumulate_every_pass_into_a_shared_parameter(frequent_switches, trial):
    W = Parameter(np.zeros((64, 64)))
    passes = 300

    def body():
        for _ in range(passes):
            F.sum(W * 1.0).backward()  # adds ones to W.grad

    _run_threads(4, body)
    np.testing.assert_array_equal(W.grad.data, np.full((64, 64), 4.0 * passes))


def test_threads_sharing_two_leaves_and_an_intermediate(frequent_switches):
    a = Variable(np.ones(8))
    b = Variable(np.full(8, 2.0))
    h = a * b  # built once, shared by every thread's graph
    passes = 500

    def body():
        for _ in range(passes):
            (F.sum(h) + F.sum(a)).backward()  # a.grad += b + 1, b.grad += a

    _run_threads(3, body)
    np.testing.assert_array_equal(a.grad.data, np.full(8, 3.0 * 3 * passes))
    np.testing.assert_array_equal(b.grad.data, np.full(8, 1.0 * 3 * passes))


def test_create_graph_accumulation_from_threads(frequent_switches):
    x = Variable(np.array([1.0, 2.0]))
    passes = 300

    def body():
        for _ in range(passes):
            F.sum(x * x).backward(create_graph=True)

    _run_threads(2, body)
    np.testing.assert_allclose(x.grad.data, 2 * 2 * passes * np.array([1.0, 2.0]))


def test_an_error_during_accumulation_releases_the_lock():
    x = Variable(np.ones(3))
    x.grad = Variable(np.ones(4))  # set by hand, of a shape that cannot take the sum
    with pytest.raises(ValueError):
        F.sum(x * 2.0).backward()
    y = Variable(np.ones(3))
    done = []
    t = threading.Thread(target=lambda: (F.sum(y * 2.0).backward(), done.append(True)))
    t.start()
    t.join(timeout=60)
    assert done == [True]
    np.testing.assert_array_equal(y.grad.data, [2.0, 2.0, 2.0])
