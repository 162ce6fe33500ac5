"""Config per thread, using_config, no_grad, test_mode."""
import threading

import numpy as np
import pytest

import dezero
from dezero import Config, Variable, no_grad, test_mode, using_config


def test_defaults_and_class_attribute_access():
    assert Config.enable_backprop is True
    assert Config.train is True
    Config.train = False
    try:
        assert Config.train is False
    finally:
        Config.train = True


def test_config_is_not_instantiated():
    with pytest.raises(TypeError):
        Config()


def test_using_config_sets_and_restores():
    with using_config("enable_backprop", False):
        assert Config.enable_backprop is False
        with using_config("enable_backprop", True):
            assert Config.enable_backprop is True
        assert Config.enable_backprop is False
    assert Config.enable_backprop is True


def test_using_config_restores_on_exceptions():
    with pytest.raises(KeyError):
        with using_config("train", False):
            raise KeyError("inside")
    assert Config.train is True


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="nonexistent"):
        with using_config("nonexistent", 1):
            pass
    with pytest.raises(AttributeError):
        Config.nonexistent  # noqa: B018


def test_no_grad_and_test_mode():
    x = Variable(np.array(1.0))
    with no_grad():
        assert Config.enable_backprop is False
        y = x * 2.0
    assert y.creator is None
    assert Config.enable_backprop is True
    with test_mode():
        assert Config.train is False
        assert Config.enable_backprop is True
    assert Config.train is True


def test_dezero_exports():
    assert dezero.Config is Config and dezero.no_grad is no_grad
    assert dezero.using_config is using_config and dezero.test_mode is test_mode


def _run_in_thread(target):
    box = {}

    def wrapper():
        try:
            box["value"] = target()
        except BaseException as exc:  # surfaced in the main thread
            box["error"] = exc

    t = threading.Thread(target=wrapper)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_a_new_thread_starts_at_the_defaults():
    with no_grad(), test_mode():
        seen = _run_in_thread(lambda: (Config.enable_backprop, Config.train))
    assert seen == (True, True)


def test_settings_of_one_thread_do_not_leak_into_another():
    def inside():
        Config.enable_backprop = False  # set and never reset, in this thread only
        Config.train = False
        return Config.enable_backprop, Config.train

    assert _run_in_thread(inside) == (False, False)
    assert Config.enable_backprop is True and Config.train is True


def test_config_per_thread_100_trials():
    """One thread sits inside no_grad() while the other builds a graph: 100 times."""
    failures = []
    for _ in range(100):
        entered = threading.Event()
        release = threading.Event()

        def holder():
            with no_grad(), test_mode():
                entered.set()
                release.wait(5)

        t = threading.Thread(target=holder)
        t.start()
        entered.wait(5)
        x = Variable(np.array(2.0))
        y = x * x
        if not (Config.enable_backprop and Config.train and y.creator is not None):
            failures.append((Config.enable_backprop, Config.train))
        release.set()
        t.join()
    assert failures == []


def test_concurrent_backward_in_threads():
    results = []
    errors = []

    def work(seed):
        try:
            x = Variable(np.array(float(seed)))
            for _ in range(20):
                x.cleargrad()
                y = x ** 3 + x * 2.0
                y.backward()
            results.append((seed, x.grad.item()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [(s, 3.0 * s * s + 2.0) for s in range(1, 5)]
