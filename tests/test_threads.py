"""``dezero.set_num_threads`` / ``get_num_threads`` (BLAS threads through threadpoolctl)."""
import builtins

import pytest

import dezero
from dezero import _threads


@pytest.fixture(autouse=True)
def _restore():
    yield
    try:
        dezero.set_num_threads(None)
    except ImportError:
        pass


def test_set_and_get():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import numpy  # noqa: F401

    if not threadpoolctl.threadpool_info():
        pytest.skip("NumPy's BLAS is not visible to threadpoolctl here")
    dezero.set_num_threads(None)  # whatever an earlier test left
    original = dezero.get_num_threads()
    dezero.set_num_threads(1)
    assert dezero.get_num_threads() == 1
    assert {i["num_threads"] for i in threadpoolctl.threadpool_info()} == {1}
    dezero.set_num_threads(2)
    assert dezero.get_num_threads() == 2
    dezero.set_num_threads(None)  # back to the libraries' own setting
    assert dezero.get_num_threads() == original


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                      (True, TypeError), ("2", TypeError)])
def test_bad_values(bad, exc):
    with pytest.raises(exc, match="^set_num_threads: "):
        dezero.set_num_threads(bad)


def test_without_threadpoolctl(monkeypatch):
    real_import = builtins.__import__

    def no_threadpoolctl(name, *args, **kwargs):
        if name == "threadpoolctl":
            raise ImportError("no threadpoolctl")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_threadpoolctl)
    with pytest.raises(ImportError, match="pip install threadpoolctl"):
        dezero.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert dezero.get_num_threads() == 3


def test_default_is_one_thread():
    assert _threads.DEFAULT_THREADS == 1
    assert "set_num_threads" in dezero.__all__ and "get_num_threads" in dezero.__all__
