"""``load_torch_state_dict``: weights trained in PyTorch into the same dezero architecture.

PyTorch is not needed: ``.safetensors`` files (``safetensors.torch.save_file(
model.state_dict(), path)``) are read with dezero's own checked reader, and a dict of
arrays (or of CPU tensors, converted with ``numpy.asarray``) is accepted too. Each dezero
layer takes its PyTorch module's entries under the same dotted path (``l0``, ``res2.a.conv1``)
unless ``mapping`` says otherwise; docs/interop.md has the table of names, transposes and
gate orders.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from dezero import cuda

_IGNORED_SUFFIXES = (".num_batches_tracked",)


def _host_array(key, value):
    if hasattr(value, "detach"):  # a torch tensor (torch itself is never imported)
        value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            raise TypeError(f"load_torch_state_dict: {key!r} is bfloat16, which NumPy cannot "
                            "hold; convert it with .float() first")
    if cuda.is_cupy_array(value):
        value = cuda.as_numpy(value)
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"load_torch_state_dict: {key!r} must be a numeric array; got "
                        f"{type(value).__name__} with dtype {array.dtype}")
    return array


def _read_source(path_or_dict, op):
    from dezero.io import load_arrays

    if isinstance(path_or_dict, dict):
        arrays = {}
        for key, value in path_or_dict.items():
            if not isinstance(key, str):
                raise TypeError(f"{op}: keys must be strings; got {key!r}")
            arrays[key] = _host_array(key, value)
        return arrays, f"{op}: the given dict"
    if not isinstance(path_or_dict, (str, os.PathLike)):
        raise TypeError(f"{op}: expected a .safetensors path or a dict of arrays; got "
                        f"{type(path_or_dict).__name__}")
    path = os.fspath(path_or_dict)
    if not path.lower().endswith(".safetensors"):
        raise ValueError(f"{op}: {path!r} is not a .safetensors file; PyTorch .pt/.pth files "
                         "are pickles, which dezero never loads. Save the weights with "
                         "safetensors.torch.save_file(model.state_dict(), 'model.safetensors') "
                         "or pass torch's state_dict itself")
    return load_arrays(path, op=op), f"{op}: {path!r}"


def _children(layer):
    from dezero.layers import Layer

    d = layer.__dict__
    for name in d.get("_params", ()):
        obj = d[name]
        yield name, obj, isinstance(obj, Layer)


def _recurrent_rules(prefix, torch_prefix, gates, source):
    """Rules of an LSTM (gates ``i, f, u, o`` as PyTorch's rows ``i, f, g, o``) or RNN."""
    n = len(gates)
    rules = []

    def pick(array, k, transpose):
        rows = array.shape[0] // n
        part = array[k * rows:(k + 1) * rows]
        return part.T if transpose else part

    names = [torch_prefix + s for s in (".weight_ih", ".weight_hh", ".bias_ih", ".bias_hh")]
    if names[0] + "_l0" in source:  # nn.LSTM / nn.RNN rather than the Cell modules
        names = [s + "_l0" for s in names]
    w_ih, w_hh, b_ih, b_hh = names
    for k, gate in enumerate(gates):
        x2, h2 = f"x2{gate}", f"h2{gate}"
        rules.append((f"{prefix}{x2}/W", [w_ih], lambda a, k=k: pick(a, k, True)))
        rules.append((f"{prefix}{x2}/b", [b_ih, b_hh],
                      lambda a, b, k=k: pick(a, k, False) + pick(b, k, False)))
        rules.append((f"{prefix}{h2}/W", [w_hh], lambda a, k=k: pick(a, k, True)))
    return rules


def _rules(model, mapping, source):
    """``(dezero key, [torch keys], transform)`` for every parameter of ``model``."""
    import dezero.layers as L

    def torch_name(path):
        if mapping is None:
            return path
        if callable(mapping):
            return mapping(path)
        return mapping.get(path, path)

    rules = []

    def visit(layer, path):
        key = path.replace(".", "/") + "/" if path else ""
        tp = torch_name(path)
        t = tp + "." if tp else ""
        if isinstance(layer, L.LSTM):
            # dezero's four gates x2i, x2f, x2u, x2o are PyTorch's rows i, f, g, o
            rules.extend(_recurrent_rules(key, tp, ["i", "f", "u", "o"], source))
            return
        if isinstance(layer, L.RNN):
            rules.extend(_recurrent_rules(key, tp, ["h"], source))
            return
        own = {}
        if isinstance(layer, L.Linear):
            own = {"W": ("weight", lambda a: a.T), "b": ("bias", None)}
        elif isinstance(layer, (L.Conv2d, L.EmbedID)):  # Deconv2d too: the same layout
            own = {"W": ("weight", None), "b": ("bias", None)}
        elif isinstance(layer, L.BatchNorm):
            own = {"gamma": ("weight", None), "beta": ("bias", None),
                   "avg_mean": ("running_mean", None), "avg_var": ("running_var", None)}
        elif isinstance(layer, L.LayerNorm):
            own = {"gamma": ("weight", None), "beta": ("bias", None)}
        for name, obj, is_layer in _children(layer):
            if is_layer:
                visit(obj, f"{path}.{name}" if path else name)
            else:
                tname, fn = own.get(name, (name, None))
                rules.append((key + name, [t + tname], fn or (lambda a: a)))

    visit(model, "")
    return rules


def load_torch_state_dict(model: Any, path_or_dict: Any, mapping: Any = None, *,
                          strict: bool = True) -> None:
    """Load PyTorch weights into a dezero model of the same architecture, all or nothing.

    Parameters
    ----------
    model : Layer
        The dezero model. Each of its layers reads the PyTorch module with the same dotted
        path (``fc1``, ``res2.a.conv1``), converting as docs/interop.md tabulates:
        ``Linear`` weights are transposed, ``BatchNorm`` takes ``running_mean`` and
        ``running_var``, ``LSTM``/``RNN`` are cut from PyTorch's stacked gate matrices (rows
        ``i, f, g, o``) with the two biases summed.
    path_or_dict : str, os.PathLike or dict
        A ``.safetensors`` file written by ``safetensors.torch.save_file`` (torch is not
        needed to read it), or a ``{name: array or tensor}`` dict such as
        ``torch_model.state_dict()``.
    mapping : dict or callable, optional
        dezero layer path -> PyTorch module name, for layers whose names differ
        (``{"l0": "0", "l1": "2"}`` for an ``nn.Sequential``).
    strict : bool
        When True (default) every dezero parameter must be found and every PyTorch entry
        used (``num_batches_tracked`` is always ignored).

    Raises
    ------
    WeightFileError
        Listing every missing, unused or mismatched entry; nothing was loaded.
    ValueError
        For a path that is not a ``.safetensors`` file (``.pt`` files are pickles).
    """
    from dezero.io import array_problems, assign_params, raise_problems

    op = "load_torch_state_dict"
    if mapping is not None and not (isinstance(mapping, dict) or callable(mapping)):
        raise TypeError(f"{op}: mapping must be a dict or a callable; got "
                        f"{type(mapping).__name__}")
    source, where = _read_source(path_or_dict, op)
    params = dict(model.named_params())
    problems = []
    arrays = {}
    used = set()
    for key, torch_keys, fn in _rules(model, mapping, source):
        missing = [k for k in torch_keys if k not in source]
        if missing:
            if strict:
                problems.append(f"missing key {missing[0]!r} for dezero's {key!r}")
            continue
        used.update(torch_keys)
        array = np.ascontiguousarray(fn(*[source[k] for k in torch_keys]))
        param = params[key]
        if param.data is not None and array.dtype.kind == "f" and param.data.dtype.kind == "f":
            array = array.astype(param.data.dtype, copy=False)  # torch float32 -> float64 etc.
        arrays[key] = array
    if strict:
        for k, a in source.items():
            if k not in used and not k.endswith(_IGNORED_SUFFIXES):
                problems.append(f"unused key {k!r}: found {a.shape} {a.dtype}")
    if not strict:
        params = {k: p for k, p in params.items() if k in arrays}
    expected = {k: (None, None) if p.data is None else (p.data.shape, p.data.dtype)
                for k, p in params.items()}
    problems += [p for p in array_problems(expected, arrays) if not p.startswith("missing")]
    if problems:
        raise_problems(where, "the model", problems)
    assign_params(params, arrays, where, copy=True)


__all__ = ["load_torch_state_dict"]
