"""How many threads NumPy's BLAS may use: ``dezero.set_num_threads`` / ``get_num_threads``.

dezero's models are small: most matrix products are a few hundred rows wide, where a
multi-threaded BLAS spends more time waking and synchronising threads than computing,
and on a busy machine its spinning threads fight the other processes for the cores.
Measured on a 2-core machine (docs/cli.md, "Threads"), one thread was faster than two in
all but one noisy case and always used less CPU; two were up to 13x slower for the GAN
example when another process kept a core busy. So the command line and
the examples default to one thread (:data:`DEFAULT_THREADS`); larger models may gain from
``--threads 2`` or more.

The limit goes through ``threadpoolctl`` (an optional package) and applies to every BLAS
and OpenMP pool loaded in the process. Without ``threadpoolctl`` the calls raise
``ImportError`` naming the package; ``get_num_threads`` then reads ``OMP_NUM_THREADS``.
"""
from __future__ import annotations

import os

__all__ = ["set_num_threads", "get_num_threads", "DEFAULT_THREADS"]

#: Threads used by ``dezero train`` and the examples when ``--threads`` is not given.
DEFAULT_THREADS = 1

_limiter = None  # the threadpoolctl controller of the current limit, kept alive


def _threadpoolctl(op: str):
    try:
        import threadpoolctl
    except ImportError as e:
        from dezero._install_hint import install_hint

        raise ImportError(f"{op} needs the threadpoolctl package; "
                          f"{install_hint('viz', 'threadpoolctl')}") from e
    return threadpoolctl


def set_num_threads(n: int | None) -> None:
    """Let NumPy's BLAS (and OpenMP pools) use at most ``n`` threads from now on.

    Parameters
    ----------
    n : int or None
        A positive number of threads, or None to lift the limit (the libraries' defaults).

    Raises
    ------
    TypeError
        ``n`` is not an int or None.
    ValueError
        ``n`` < 1.
    ImportError
        ``threadpoolctl`` is not installed.

    Examples
    --------
    >>> import dezero
    >>> dezero.set_num_threads(1)       # doctest: +SKIP
    >>> dezero.get_num_threads()        # doctest: +SKIP
    1
    """
    global _limiter
    if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
        raise TypeError(f"set_num_threads: n must be an int or None, got {type(n).__name__}")
    if n is not None and n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    threadpoolctl = _threadpoolctl("set_num_threads")
    import numpy  # noqa: F401  (load NumPy's BLAS so that threadpoolctl sees it)

    if _limiter is not None:
        _limiter.restore_original_limits()
        _limiter = None
    if n is not None:
        _limiter = threadpoolctl.threadpool_limits(limits=n)


def get_num_threads() -> int:
    """The number of threads NumPy's BLAS uses now (the largest over loaded pools)."""
    try:
        threadpoolctl = _threadpoolctl("get_num_threads")
    except ImportError:
        value = os.environ.get("OMP_NUM_THREADS", "")
        return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)
    import numpy  # noqa: F401

    counts = [info["num_threads"] for info in threadpoolctl.threadpool_info()]
    return max(counts) if counts else 1
