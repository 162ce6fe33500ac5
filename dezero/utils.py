"""The book's helper functions, kept for compatibility."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any, Callable

import numpy as np

from dezero import _arrays, _cache, cuda
from dezero.core import Variable

# =============================================================================
# Graph drawing
# =============================================================================


def _dot_label(text):
    """``text`` escaped for a double-quoted DOT string, on one line.

    Backslashes are doubled first (a name ending in ``\\`` would otherwise escape the
    closing quote, and ``\\N``, ``\\l`` ... are Graphviz escapes), then quotes are
    escaped and line breaks become Graphviz's ``\\n``; other control characters, which
    Graphviz rejects or drops, are shown as ``\\xNN`` (a literal backslash, then xNN).
    """
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        text = "".join(c if ord(c) >= 32 and ord(c) != 127 or c == "\t" else f"\\\\x{ord(c):02x}"
                       for c in text)
    return text


def _dot_var(v, verbose=False):
    name = "" if v.name is None else str(v.name)
    if verbose and v.data is not None:
        if v.name is not None:
            name += ": "
        name += f"{v.shape} {v.dtype}"
    return f'{id(v)} [label="{_dot_label(name)}", color=orange, style=filled]\n'


def _dot_func(f):
    label = _dot_label(type(f).__name__)
    lines = [f'{id(f)} [label="{label}", color=lightblue, style=filled, shape=box]\n']
    for x in f.inputs:
        lines.append(f"{id(x)} -> {id(f)}\n")
    for ref in f.outputs:
        y = ref()
        if y is not None:
            lines.append(f"{id(f)} -> {id(y)}\n")
    return "".join(lines)


def get_dot_graph(output: Variable, verbose: bool = True) -> str:
    """DOT text of the graph that produced ``output`` (needs nothing installed)."""
    txt = _dot_var(output, verbose)
    funcs = []
    seen = set()
    if output.creator is not None:
        funcs.append(output.creator)
        seen.add(output.creator)
    while funcs:
        f = funcs.pop()
        txt += _dot_func(f)
        for x in f.inputs:
            txt += _dot_var(x, verbose)
            if x.creator is not None and x.creator not in seen:
                seen.add(x.creator)
                funcs.append(x.creator)
    return "digraph g {\n" + txt + "}"


def plot_dot_graph(output: Variable, verbose: bool = True, to_file: str = "graph.png") -> Any:
    """Render the graph with Graphviz ``dot`` (no shell) to ``to_file``.

    Returns an ``IPython.display.Image`` when IPython is importable, else None.

    Raises
    ------
    RuntimeError
        When ``dot`` is not installed or fails; the message carries dot's stderr.
    """
    dot_graph = get_dot_graph(output, verbose)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("plot_dot_graph: Graphviz 'dot' was not found on PATH; install "
                           "Graphviz (e.g. apt-get install graphviz) or use get_dot_graph()")
    out_dir = os.path.dirname(os.path.abspath(to_file))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        graph_path = os.path.join(tmp, "graph.dot")
        with open(graph_path, "w", encoding="utf-8") as fh:
            fh.write(dot_graph)
        try:
            result = subprocess.run([dot, graph_path, "-T", extension, "-o", to_file],
                                    capture_output=True, text=True)
        except OSError as exc:  # vanished or not executable since shutil.which found it
            raise RuntimeError(f"plot_dot_graph: could not run Graphviz {dot!r}: {exc}") from exc
    if result.returncode != 0:
        raise RuntimeError(f"plot_dot_graph: dot failed (exit {result.returncode}) writing "
                           f"{to_file!r}: {result.stderr.strip()}")
    try:
        from IPython import display
    except ImportError:
        return None
    return display.Image(filename=to_file)


# =============================================================================
# Raw-array helpers
# =============================================================================


def sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum the array ``x`` to ``shape`` (the inverse of broadcasting).

    Raises
    ------
    ValueError
        When ``shape`` does not broadcast to ``x.shape`` (the original returned an array of
        some other shape, as ``F.sum_to`` did; see docs/differences.md).
    """
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    x_shape = np.shape(x)
    tail = x_shape[len(x_shape) - len(shape):] if shape else ()
    if len(shape) > len(x_shape) or any(s != 1 and s != d for s, d in zip(shape, tail)):
        raise ValueError(f"sum_to: shape {shape} does not broadcast to x's shape {x_shape}, "
                         "so x cannot be summed to it")
    return _arrays.sum_to(x, shape)


def reshape_sum_backward(gy: Any, x_shape: tuple[int, ...], axis: Any,
                         keepdims: bool) -> Any:
    """Reshape ``gy`` so it broadcasts back over the axes a sum removed."""
    if isinstance(axis, list):
        axis = tuple(axis)
    return _arrays.reshape_sum_backward(gy, x_shape, axis, keepdims)


def logsumexp(x: Any, axis: int = 1) -> Any:
    """Max-shifted ``log(sum(exp(x), axis, keepdims=True))`` on arrays."""
    return _arrays.logsumexp(x, axis)


def max_backward_shape(x: Any, axis: Any) -> list[int]:
    """``x.shape`` with the reduced axes set to 1."""
    return _arrays.max_backward_shape(x, axis)


# =============================================================================
# Gradient check (the book's interface on top of dezero.testing)
# =============================================================================


def gradient_check(f: Callable[..., Variable], x: Any, *args: Any, rtol: float = 1e-4,
                   atol: float = 1e-5, **kwargs: Any) -> bool:
    """Compare backprop with ``numerical_grad``; print a diagnostic and return False on failure."""
    x = as_float64_variable(x)
    num_grad = numerical_grad(f, x, *args, **kwargs)
    y = f(x, *args, **kwargs)
    x.cleargrad()  # a gradient left from earlier passes must not count
    y.backward()
    if x.grad is None:  # f does not depend on x
        bp_grad = cuda.get_array_module(x.data).zeros_like(x.data)
    else:
        bp_grad = x.grad.data
    if bp_grad.shape != num_grad.shape:
        print(f"gradient_check: shape mismatch: backprop {bp_grad.shape}, "
              f"numerical {num_grad.shape}")
        return False
    res = array_allclose(num_grad, bp_grad, rtol=rtol, atol=atol)
    if not res:
        print("")
        print("========== FAILED (Gradient Check) ==========")
        print("Numerical Grad")
        print(f" shape: {num_grad.shape}")
        print(f" values: {str(cuda.as_numpy(num_grad).flatten()[:10])} ...")
        print("Backprop Grad")
        print(f" shape: {bp_grad.shape}")
        print(f" values: {str(cuda.as_numpy(bp_grad).flatten()[:10])} ...")
    return res


def as_float64_variable(x: Any) -> Variable:
    """``x`` as a Variable holding a float64 *copy* of its data, as in the book.

    A Variable keeps its identity (its ``data`` is replaced by the copy); an array is
    never wrapped as is: ``numerical_grad`` perturbs the data in place, so a function
    that also reads the caller's array (``f = lambda y: x * y; gradient_check(f, x)``)
    would see its operand move too and get twice the gradient.
    """
    if isinstance(x, Variable):
        x.data = x.data.astype(np.float64)  # astype copies, even from float64
        return x
    xp = cuda.get_array_module(x)
    return Variable(xp.array(x, dtype=np.float64, copy=True))


def numerical_grad(f: Callable[..., Variable], x: Any, *args: Any, **kwargs: Any) -> Any:
    """Central differences (eps=1e-4) of the sum of ``f``'s outputs, perturbing ``x`` in place."""
    eps = 1e-4
    x = x.data if isinstance(x, Variable) else x
    xp = cuda.get_array_module(x)
    if xp is not np:
        np_x = cuda.as_numpy(x)
    else:
        np_x = x
    grad = xp.zeros_like(x)
    it = np.nditer(np_x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx].copy()
        x[idx] = tmp_val + eps
        y1 = f(x, *args, **kwargs)
        y1 = y1.data.copy() if isinstance(y1, Variable) else y1.copy()
        x[idx] = tmp_val - eps
        y2 = f(x, *args, **kwargs)
        y2 = y2.data.copy() if isinstance(y2, Variable) else y2.copy()
        diff = (y1 - y2).sum()
        grad[idx] = diff / (2 * eps)
        x[idx] = tmp_val
        it.iternext()
    return grad


def _host(a):
    return cuda.as_numpy(a.data if isinstance(a, Variable) else a)


def array_equal(a: Any, b: Any) -> bool:
    """``numpy.array_equal`` on Variables, NumPy or CuPy arrays: same shape and elements.

    (The strict comparisons of ``dezero.testing`` behave the same here.)
    """
    return bool(np.array_equal(_host(a), _host(b)))


def array_allclose(a: Any, b: Any, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """``numpy.allclose`` on Variables, NumPy or CuPy arrays, with NumPy's broadcasting.

    As in the book, ``array_allclose(np.ones(1), np.array(1.0))`` is True: the shapes need
    only broadcast together. Shapes that do not broadcast give False. For a comparison
    that also requires equal shapes, use ``dezero.testing.array_allclose``.
    """
    a, b = _host(a), _host(b)
    try:
        np.broadcast_shapes(np.shape(a), np.shape(b))
    except ValueError:
        return False
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


# =============================================================================
# Conv helpers
# =============================================================================


def pair(x: int | tuple[int, int]) -> tuple[int, int]:
    """``int -> (x, x)``; a 2-tuple passes through; anything else raises ValueError."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return (int(x), int(x))
    if isinstance(x, tuple) and len(x) == 2:
        return x
    raise ValueError(f"pair: expected an int or a 2-tuple, got {x!r}")


def get_conv_outsize(input_size: int, kernel_size: int, stride: int, pad: int) -> int:
    """Output length of a convolution or pooling along one axis.

    ``(input_size + 2 * pad - kernel_size) // stride + 1``, e.g. ``get_conv_outsize(4, 3, 1, 1)``
    is 4.
    """
    return (input_size + pad * 2 - kernel_size) // stride + 1


def get_deconv_outsize(size: int, k: int, s: int, p: int) -> int:
    """Output length of a transposed convolution (``deconv2d``) along one axis.

    ``s * (size - 1) + k - 2 * p`` for input length `size`, kernel `k`, stride `s`, padding `p`.
    """
    return s * (size - 1) + k - 2 * p


# =============================================================================
# Downloads
# =============================================================================

# The folder and the text progress bar live in dezero._cache, below both this module and
# dezero._download; the book's names stay here. ``dezero.utils.cache_dir`` is ``$DEZERO_HOME``
# (default ``~/.dezero``) read when it is looked up, so setting the variable after import
# counts; assigning ``dezero.utils.cache_dir`` moves the cache: get_file reads it at each call.
show_progress = _cache.show_progress
cache_dir: str  # declared, not assigned: module __getattr__ below computes it


def __getattr__(name: str) -> str:
    if name == "cache_dir":  # not assigned: follow $DEZERO_HOME
        return _cache.default_cache_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_file(url: str, file_name: str | None = None, *, sha256: str | None = None,
             timeout: float = 30) -> str:
    """Path of the cached download of ``url``, downloading (and verifying) it if needed."""
    from dezero import _download  # urllib is imported on first use only

    return _download.get_file(url, file_name, sha256=sha256, timeout=timeout,
                              cache_dir=globals().get("cache_dir") or _cache.default_cache_dir())


__all__ = [
    "get_dot_graph", "plot_dot_graph", "sum_to", "reshape_sum_backward", "logsumexp",
    "max_backward_shape", "gradient_check", "numerical_grad", "array_equal", "array_allclose",
    "pair", "get_conv_outsize", "get_deconv_outsize", "cache_dir", "get_file", "show_progress",
]
