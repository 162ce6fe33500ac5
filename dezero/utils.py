"""The book's helper functions, kept for compatibility."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from dezero import cuda
from dezero import _arrays
from dezero.core import Variable
from dezero.testing.arrays import array_allclose, array_equal

# =============================================================================
# Graph drawing
# =============================================================================


def _dot_var(v, verbose=False):
    name = "" if v.name is None else v.name
    if verbose and v.data is not None:
        if v.name is not None:
            name += ": "
        name += f"{v.shape} {v.dtype}"
    name = name.replace('"', '\\"')
    return f'{id(v)} [label="{name}", color=orange, style=filled]\n'


def _dot_func(f):
    lines = [f'{id(f)} [label="{type(f).__name__}", color=lightblue, style=filled, shape=box]\n']
    for x in f.inputs:
        lines.append(f"{id(x)} -> {id(f)}\n")
    for ref in f.outputs:
        y = ref()
        if y is not None:
            lines.append(f"{id(f)} -> {id(y)}\n")
    return "".join(lines)


def get_dot_graph(output, verbose=True):
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


def plot_dot_graph(output, verbose=True, to_file="graph.png"):
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


def sum_to(x, shape):
    """Sum the array ``x`` to ``shape`` (the inverse of broadcasting)."""
    return _arrays.sum_to(x, shape)


def reshape_sum_backward(gy, x_shape, axis, keepdims):
    """Reshape ``gy`` so it broadcasts back over the axes a sum removed."""
    if isinstance(axis, list):
        axis = tuple(axis)
    return _arrays.reshape_sum_backward(gy, x_shape, axis, keepdims)


def logsumexp(x, axis=1):
    """Max-shifted ``log(sum(exp(x), axis, keepdims=True))`` on arrays."""
    return _arrays.logsumexp(x, axis)


def max_backward_shape(x, axis):
    """``x.shape`` with the reduced axes set to 1."""
    return _arrays.max_backward_shape(x, axis)


# =============================================================================
# Gradient check (the book's interface on top of dezero.testing)
# =============================================================================


def gradient_check(f, x, *args, rtol=1e-4, atol=1e-5, **kwargs):
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


def as_float64_variable(x):
    if isinstance(x, Variable):
        x.data = x.data.astype(np.float64)
        return x
    xp = cuda.get_array_module(x)
    return Variable(xp.asarray(x, dtype=np.float64))


def numerical_grad(f, x, *args, **kwargs):
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


# =============================================================================
# Conv helpers
# =============================================================================


def pair(x):
    """``int -> (x, x)``; a 2-tuple passes through; anything else raises ValueError."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return (int(x), int(x))
    if isinstance(x, tuple) and len(x) == 2:
        return x
    raise ValueError(f"pair: expected an int or a 2-tuple, got {x!r}")


def get_conv_outsize(input_size, kernel_size, stride, pad):
    return (input_size + pad * 2 - kernel_size) // stride + 1


def get_deconv_outsize(size, k, s, p):
    return s * (size - 1) + k - 2 * p


# =============================================================================
# Downloads
# =============================================================================

cache_dir = os.environ.get("DEZERO_HOME") or os.path.join(os.path.expanduser("~"), ".dezero")


def get_file(url, file_name=None, *, sha256=None, timeout=30):
    """Path of the cached download of ``url``, downloading (and verifying) it if needed."""
    from dezero import _download

    return _download.get_file(url, file_name, sha256=sha256, timeout=timeout)


def show_progress(block_num, block_size, total_size):
    """Text progress bar used when tqdm is not installed."""
    bar_template = "\r[{}] {:.2f}%"
    downloaded = block_num * block_size
    p = downloaded / total_size * 100 if total_size > 0 else 100.0
    i = int(downloaded / total_size * 30) if total_size > 0 else 30
    if p >= 100.0:
        p = 100.0
    if i >= 30:
        i = 30
    bar = "#" * i + "." * (30 - i)
    print(bar_template.format(bar, p), end="")


__all__ = [
    "get_dot_graph", "plot_dot_graph", "sum_to", "reshape_sum_backward", "logsumexp",
    "max_backward_shape", "gradient_check", "numerical_grad", "array_equal", "array_allclose",
    "pair", "get_conv_outsize", "get_deconv_outsize", "cache_dir", "get_file", "show_progress",
]
