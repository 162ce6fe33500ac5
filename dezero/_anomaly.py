"""Anomaly mode: find the op whose backward produced the first NaN or Inf.

While it is on, recording a graph node notes the line of user code that called the op
(the first frame outside the ``dezero`` package), and every backward step checks the
gradients it returns. It is off by default and then costs one flag test per op
(``dezero.core._anomaly_on``).
"""
from __future__ import annotations

import contextlib
import linecache
import os
import sys
import threading

import numpy as np

from dezero import core, cuda

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "AnomalyError"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_lock = threading.Lock()


class AnomalyError(RuntimeError):
    """A backward Function returned NaN or Inf while anomaly mode was on.

    Attributes
    ----------
    function : Function
        The Function whose backward produced the value.
    where : tuple (filename, lineno, code) or None
        The line of user code that called its forward.
    """

    def __init__(self, message, function=None, where=None):
        super().__init__(message)
        self.function = function
        self.where = where


def _user_frame():
    """(filename, lineno, function name) of the first caller outside dezero."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        path = os.path.abspath(filename) if not filename.startswith("<") else filename
        if not path.startswith(_PACKAGE_DIR) and "contextlib" not in filename:
            return filename, frame.f_lineno, frame.f_code.co_name
        frame = frame.f_back
    return None


def note_forward(f):
    """Record on ``f`` where its forward was called (anomaly mode only)."""
    f._anomaly_where = _user_frame()
    core._hook_backward(f, check=True)


def _describe_where(where):
    if where is None:
        return "its forward was called from inside dezero (no user frame found)"
    filename, lineno, name = where
    code = linecache.getline(filename, lineno).strip()
    text = f'its forward was called at File "{filename}", line {lineno}, in {name}'
    return text + (f"\n    {code}" if code else "")


def check_backward(f, gxs):
    """Raise AnomalyError if a gradient returned by ``f.backward`` holds NaN or Inf."""
    for i, g in enumerate(gxs):
        if g is None:
            continue
        data = g.data if isinstance(g, core.Variable) else g
        if not hasattr(data, "dtype"):
            data = np.asarray(data)
        if data.dtype.kind not in "fc":
            continue
        xp = cuda.get_array_module(data)
        finite = xp.isfinite(data)
        if bool(finite.all()):
            continue
        bad = "NaN" if bool(xp.isnan(data).any()) else "Inf"
        name = type(f).__name__
        shapes = ", ".join(str(tuple(x.shape)) for x in f.inputs)
        where = getattr(f, "_anomaly_where", None)
        raise AnomalyError(
            f"detect_anomaly: {name}.backward returned {bad} in gradient {i} "
            f"(shape {tuple(data.shape)}, {data.dtype}); {name} had inputs of shapes "
            f"({shapes}); {_describe_where(where)}",
            function=f, where=None if where is None else where + (
                linecache.getline(where[0], where[1]).strip(),))


def set_detect_anomaly(mode: bool) -> None:
    """Turn anomaly mode on or off for the whole process (all threads).

    Graph nodes recorded while it is on remember the user line that created them; any
    backward step that returns NaN or Inf raises ``AnomalyError`` naming the Function,
    the shapes and that line.
    """
    with _lock:
        core._anomaly_on = bool(mode)


def is_anomaly_enabled() -> bool:
    """True while anomaly mode is on."""
    return core._anomaly_on


@contextlib.contextmanager
def detect_anomaly(enabled: bool = True):
    """Context manager: anomaly mode inside the block, the previous mode after it.

    Examples
    --------
    >>> import numpy as np, dezero, dezero.functions as F
    >>> x = dezero.Variable(np.array([0.0, 1.0]))
    >>> with dezero.detect_anomaly():
    ...     y = F.sum(F.sqrt(x))
    ...     y.backward()                            # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dezero._anomaly.AnomalyError: detect_anomaly: Sqrt.backward returned ...
    """
    old = core._anomaly_on
    set_detect_anomaly(enabled)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            yield
    finally:
        set_detect_anomaly(old)
