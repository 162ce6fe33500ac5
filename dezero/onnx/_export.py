"""Trace a model, convert its graph Function by Function, write the ONNX file atomically."""
from __future__ import annotations

import os

import numpy as np

from dezero import cuda
from dezero.core import Function, Variable, using_config

DEFAULT_OPSET = 21
MIN_OPSET = 17  # LayerNormalization and the opset-13 forms of Split, Squeeze, ReduceSum

_CONVERTERS: dict = {}


class UnsupportedOperatorError(NotImplementedError):
    """An op met while exporting has no ONNX converter (or one of its settings has none).

    Attributes
    ----------
    function : type
        The ``Function`` class.
    layer : str or None
        The path of the innermost layer whose call produced the op (``"res2.a.conv1"``),
        ``""`` for the model itself, None when no layer call contains it.
    chain : str
        The ops leading to it from a graph input or parameter (``"input 'x' -> Linear ->
        Sin"``).
    """

    def __init__(self, message, function=None, layer=None, chain=""):
        super().__init__(message)
        self.function = function
        self.layer = layer
        self.chain = chain


def register_converter(function_class):
    """Decorator registering ``converter(ctx, func, inputs, outputs)`` for a Function class.

    ``inputs`` and ``outputs`` are the ONNX tensor names of the Function's inputs and
    outputs; the converter appends nodes with ``ctx.node(op_type, inputs, outputs,
    **attributes)`` and may use ``ctx.const(array)``, ``ctx.cast(name, dtype)``,
    ``ctx.shape(name)``, ``ctx.dtype(name)``, ``ctx.opset`` and ``ctx.batch_axis(name)``.
    A converter registered later for the same class replaces the earlier one; subclasses
    of a registered class use its converter unless they have their own.

    Raises
    ------
    TypeError
        When ``function_class`` is not a subclass of ``dezero.Function``.

    Examples
    --------
    >>> @register_converter(MySoftsign)                               # doctest: +SKIP
    ... def _softsign(ctx, f, inputs, outputs):
    ...     ctx.node("Softsign", inputs, outputs)
    """
    if not (isinstance(function_class, type) and issubclass(function_class, Function)):
        raise TypeError(f"register_converter: expected a dezero Function subclass; got "
                        f"{function_class!r}")

    def decorator(converter):
        _CONVERTERS[function_class] = converter
        return converter

    return decorator


def get_converter(function_class):
    """The converter registered for ``function_class`` (or a base class), else None."""
    for cls in function_class.__mro__:
        if cls is Function:
            return None
        converter = _CONVERTERS.get(cls)
        if converter is not None:
            return converter
    return None


def supported_functions() -> list:
    """The Function classes that have a converter, sorted by name."""
    return sorted(_CONVERTERS, key=lambda cls: cls.__name__)


def _require_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper  # noqa: F401
    except ImportError:
        from dezero._install_hint import install_hint

        raise ImportError(f"dezero.onnx.export needs the onnx package; "
                          f"{install_hint('onnx', 'onnx')}") from None
    return onnx


# =============================================================================
# conversion context
# =============================================================================


class ConversionContext:
    """What a converter sees: names, traced shapes and dtypes, and the node list."""

    def __init__(self, opset: int, dynamic_batch: bool):
        from onnx import helper, numpy_helper

        self._helper = helper
        self._numpy_helper = numpy_helper
        self.opset = opset
        self.dynamic_batch = dynamic_batch
        self.nodes: list = []
        self.initializers: list = []
        self._used: set = set()
        self._info: dict = {}  # name -> (shape, dtype)
        self._batch: dict = {}  # name -> the axis that is the symbolic batch dimension
        self._array_names: dict = {}  # id(array) -> name (inputs, parameters, constants)
        self._keep: list = []  # arrays whose id() is used as a key stay alive
        self._node_count = 0
        self._pending: dict = {}  # parameter name -> array, until a node uses it

    # -- names ----------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A tensor name not used yet, from ``hint``."""
        name = hint
        k = 1
        while name in self._used:
            name = f"{hint}_{k}"
            k += 1
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        self._used.add(name)

    def record(self, name: str, shape, dtype, batch_axis=None) -> None:
        self._info[name] = (tuple(shape), np.dtype(dtype))
        if batch_axis is not None:
            self._batch[name] = batch_axis

    def shape(self, name: str) -> tuple:
        """The traced shape of tensor ``name`` (the example batch size included)."""
        return self._info[name][0]

    def dtype(self, name: str):
        """The NumPy dtype of tensor ``name``, or None for a converter's temporary."""
        info = self._info.get(name)
        return None if info is None else info[1]

    def batch_axis(self, name: str):
        """The axis of ``name`` that is the symbolic batch dimension, or None."""
        return self._batch.get(name)

    def set_batch_axis(self, name: str, axis) -> None:
        """Declare the batch axis of ``name`` (None: it has none); the default, guessed from
        the inputs when a converter says nothing, is then skipped."""
        self._batch[name] = None if axis is None else int(axis)

    # -- nodes and constants --------------------------------------------------
    def node(self, op_type: str, inputs, outputs=None, **attributes):
        """Append a node; returns its output name (or the list when there are several)."""
        if outputs is None:
            outputs = [self.fresh(op_type.lower())]
        elif isinstance(outputs, str):
            outputs = [outputs]
        self._node_count += 1
        node = self._helper.make_node(op_type, list(inputs), list(outputs),
                                      name=f"{op_type}_{self._node_count}", **attributes)
        self.nodes.append(node)
        return outputs[0] if len(outputs) == 1 else list(outputs)

    def const(self, array, hint: str = "const", dtype=None) -> str:
        """An initializer holding ``array`` (copied to the host); returns its name."""
        array = np.asarray(cuda.as_numpy(array), dtype=dtype)
        name = self.fresh(hint)
        self.add_initializer(name, array)
        return name

    def int64s(self, values, hint: str = "ints") -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def add_initializer(self, name: str, array) -> None:
        array = np.asarray(cuda.as_numpy(array))
        if not array.flags.c_contiguous:  # (not ascontiguousarray: it makes 0-d arrays 1-d)
            array = array.copy(order="C")
        self.initializers.append(self._numpy_helper.from_array(array, name))
        self.record(name, array.shape, array.dtype)

    def name_array(self, name: str, array, initializer: bool = False) -> None:
        """Let ``array_name(array)`` find ``name`` (a graph input, or with ``initializer``
        a parameter, written as an initializer when first used)."""
        self._keep.append(array)
        self._array_names[id(array)] = name
        if initializer:
            self.reserve(name)
            self._pending[name] = array

    def array_name(self, array, hint: str = "const") -> str:
        """The input or parameter holding exactly this array object, else a new constant."""
        name = self._array_names.get(id(array))
        if name is None:
            name = self.const(array, hint)
            self.name_array(name, array)
        elif name in self._pending:
            self.add_initializer(name, self._pending.pop(name))
        return name

    def cast(self, name: str, dtype) -> str:
        """``name`` itself when it already has ``dtype``, else the output of a Cast node."""
        dtype = np.dtype(dtype)
        if self.dtype(name) == dtype:
            return name
        out = self.node("Cast", [name], to=int(self._helper.np_dtype_to_tensor_dtype(dtype)))
        self._info[out] = (self._info[name][0], dtype) if name in self._info else ((), dtype)
        return out


# =============================================================================
# tracing and the graph walk
# =============================================================================


def _as_input_array(op, i, a):
    if isinstance(a, Variable):
        a = a.data
    if not (isinstance(a, np.ndarray) or cuda.is_cupy_array(a)):
        a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{op}: example input {i} must be a numeric array; got dtype {a.dtype}")
    return a


def _names(op, given, n, default, what):
    if given is None:
        return [default] if n == 1 else [f"{default}{i}" for i in range(n)]
    if isinstance(given, str):
        given = [given]
    given = list(given)
    if len(given) != n or not all(isinstance(s, str) and s for s in given):
        raise ValueError(f"{op}: {what} must be {n} non-empty string(s); got {given!r}")
    if len(set(given)) != n:
        raise ValueError(f"{op}: {what} must be distinct; got {given!r}")
    return given


def _functions(outputs):
    """Every Function that produced the outputs, in an order where producers come first."""
    funcs = []
    seen = set()
    stack = [y.creator for y in outputs if y.creator is not None]
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        funcs.append(f)
        for x in f.inputs:
            if x.creator is not None and id(x.creator) not in seen:
                stack.append(x.creator)
    # A Function's generation is larger than that of every Function producing its inputs.
    funcs.sort(key=lambda f: f.generation)
    return funcs


def _named_layers(layer, prefix=""):
    from dezero.layers import Layer

    yield prefix, layer
    d = layer.__dict__
    for name in d.get("_params", ()):
        obj = d[name]
        if isinstance(obj, Layer):
            yield from _named_layers(obj, f"{prefix}.{name}" if prefix else name)


def _locate(model, f, traced_ids):
    """(layer path, layer class name) of the innermost layer call that produced ``f``."""
    best = None
    for path, layer in _named_layers(model):
        outs = [r() for r in layer.__dict__.get("outputs", ())]
        outs = [v for v in outs if isinstance(v, Variable) and id(v) in traced_ids]
        if not outs:
            continue
        stop = {id(r()) for r in layer.__dict__.get("inputs", ()) if r() is not None}
        stack = [v.creator for v in outs if v.creator is not None and id(v) not in stop]
        seen = set()
        found = False
        while stack:
            g = stack.pop()
            if g is f:
                found = True
                break
            if id(g) in seen:
                continue
            seen.add(id(g))
            for x in g.inputs:
                if x.creator is not None and id(x) not in stop:
                    stack.append(x.creator)
        if found and (best is None or path.count(".") + bool(path)
                      >= best[0].count(".") + bool(best[0])):
            best = (path, type(layer).__name__)
    return best


def _chain(f, leaf_name, limit=6):
    names = [type(f).__name__]
    g = f
    leaf = None
    while True:
        upstream = [x for x in g.inputs if x.creator is not None]
        if not upstream:
            leaf = leaf_name(g.inputs[0]) if g.inputs else None
            break
        g = upstream[0].creator
        names.append(type(g).__name__)
    names.reverse()
    if len(names) > limit:
        names = names[:1] + ["..."] + names[-(limit - 1):]
    head = [leaf] if leaf else []
    return " -> ".join(head + names)


def export(model, example_inputs, path, *, opset: int | None = None, input_names=None,
           output_names=None, dynamic_batch: bool = True) -> str:
    """Write ``model`` as an ONNX file that ONNX Runtime (or Netron) can open.

    The model runs once on ``example_inputs`` in test mode (dropout off, batch_norm with
    its running statistics) with the graph recorded; the recorded Functions are converted
    one by one through the converter registry. Parameters become initializers named after
    their layer path (``conv1.W``, ``res2.a.bn1.avg_mean``).

    Parameters
    ----------
    model : Layer
        Usually a ``Model``; its ``forward`` must be traceable (no data-dependent Python
        branches that should change with the input).
    example_inputs : array, Variable, or a tuple/list of them
        One example per ``forward`` argument (NumPy or CuPy). Use a batch of at least 2
        with ``dynamic_batch``, so the batch size cannot be mistaken for another size 1.
    path : str or os.PathLike
        The file to write (atomically: nothing is written when conversion fails).
    opset : int, optional
        ONNX opset of the default domain (``DEFAULT_OPSET``, 21, when None; at least 17).
    input_names, output_names : list of str, optional
        ``input``/``output`` (``input0``, ``input1``... for several) by default.
    dynamic_batch : bool
        Make axis 0 of every input a symbolic ``batch`` dimension, carried through
        reshapes to the outputs.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ImportError
        Without the onnx package (``pip install -e '.[onnx]'``).
    UnsupportedOperatorError
        An op with no converter, naming its Function class and where it was met.
    """
    op = "onnx.export"
    onnx = _require_onnx()
    import dezero.onnx._converters  # noqa: F401  (registers the built-in converters)
    from dezero.io import atomic_write
    from dezero.layers import Layer
    from onnx import helper

    if not isinstance(model, Layer):
        raise TypeError(f"{op}: model must be a dezero Layer or Model; got "
                        f"{type(model).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{op}: path must be a str or os.PathLike; got {type(path).__name__}")
    path = os.fspath(path)
    max_opset = onnx.defs.onnx_opset_version()
    opset = DEFAULT_OPSET if opset is None else opset
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= max_opset:
        raise ValueError(f"{op}: opset must be an int in [{MIN_OPSET}, {max_opset}] (the "
                         f"installed onnx knows up to {max_opset}); got {opset!r}")
    opset = int(opset)

    items = list(example_inputs) if isinstance(example_inputs, (tuple, list)) \
        else [example_inputs]
    if not items:
        raise ValueError(f"{op}: example_inputs is empty; give one array per forward argument")
    xs = [Variable(_as_input_array(op, i, a)) for i, a in enumerate(items)]
    in_names = _names(op, input_names, len(xs), "input", "input_names")

    with using_config("train", False), using_config("enable_backprop", True):
        ys = model(*xs)
    ys = list(ys) if isinstance(ys, (tuple, list)) else [ys]
    for i, y in enumerate(ys):
        if not isinstance(y, Variable):
            raise TypeError(f"{op}: forward must return Variables; output {i} is "
                            f"{type(y).__name__}")
    out_names = _names(op, output_names, len(ys), "output", "output_names")
    if set(in_names) & set(out_names):
        raise ValueError(f"{op}: input and output names overlap: "
                         f"{sorted(set(in_names) & set(out_names))}")

    ctx = ConversionContext(opset, dynamic_batch)
    names: dict = {}  # id(Variable) -> tensor name
    keep = list(xs) + list(ys)
    for x, name in zip(xs, in_names):
        ctx.reserve(name)
        names[id(x)] = name
        ctx.record(name, x.shape, x.dtype, 0 if dynamic_batch and x.ndim else None)
        ctx.name_array(name, x.data)
    for name in out_names:
        ctx.reserve(name)
    final = {}  # output index -> the tensor name to copy into it with Identity
    for i, y in enumerate(ys):
        if y.creator is not None and id(y) not in names:
            names[id(y)] = out_names[i]
        else:
            final[i] = y

    for key, param in model.named_params():
        if param.data is None:
            continue
        name = key.replace("/", ".")
        # by array: batch_norm holds its running statistics as arrays, not Variables
        ctx.name_array(name, param.data, initializer=True)

    def leaf_name(x):
        name = names.get(id(x))
        if name is not None:
            return name
        view = _input_view(x.data, xs, in_names)
        if view is not None:  # e.g. labels raveled by a loss: a reshape of the input
            src, src_shape = view
            target, b = _reshape_target(ctx, src, src_shape, x.shape)
            name = ctx.node("Reshape", [src, ctx.int64s(target, "shape")])
            ctx.record(name, x.shape, x.dtype, b)
        else:
            # a parameter of the model (found by its array), or a constant
            name = ctx.array_name(x.data, "const" if not x.name else f"const_{x.name}")
        names[id(x)] = name
        return name

    funcs = _functions(ys)
    for f in funcs:
        converter = get_converter(type(f))
        if converter is None:
            _raise_unsupported(model, f, funcs, names, path, leaf_name, "")
        in_names_f = []
        for x in f.inputs:
            if x.creator is None:
                in_names_f.append(leaf_name(x))
            else:
                in_names_f.append(names[id(x)])
        out_vars = [ref() for ref in f.outputs]
        out_names_f = []
        for v in out_vars:
            if v is None:  # an output nobody kept: still named, never used
                out_names_f.append(ctx.fresh(type(f).__name__.lower()))
                continue
            keep.append(v)
            name = names.get(id(v))
            if name is None:
                name = names[id(v)] = ctx.fresh(type(f).__name__.lower())
            ctx.record(name, v.shape, v.dtype)
            out_names_f.append(name)
        try:
            converter(ctx, f, in_names_f, out_names_f)
        except UnsupportedOperatorError as exc:
            _raise_unsupported(model, f, funcs, names, path, leaf_name, str(exc))
        _infer_batch_axes(ctx, in_names_f, out_names_f)

    for i, y in final.items():
        src = names.get(id(y)) or leaf_name(y)
        ctx.node("Identity", [src], [out_names[i]])
        ctx.record(out_names[i], y.shape, y.dtype, ctx.batch_axis(src))

    model_proto = _build_model(ctx, helper, xs, in_names, ys, out_names, opset)
    data = model_proto.SerializeToString()
    onnx.checker.check_model(data)  # a broken converter fails here, before anything is written
    atomic_write(path, lambda fobj: fobj.write(data), op=op)
    del keep
    return path


def _raise_unsupported(model, f, funcs, names, path, leaf_name, detail):
    cls = type(f)
    traced = {id(r()) for g in funcs for r in g.outputs if r() is not None}
    where = _locate(model, f, traced)
    chain = _chain(f, lambda x: repr(names.get(id(x)) or leaf_name(x)))
    layer_txt = (f"in layer {where[0]!r} ({where[1]})" if where and where[0]
                 else f"in the model's own forward ({type(model).__name__})" if where
                 else "outside any layer call")
    reason = f": {detail}" if detail else ""
    message = (f"onnx.export: cannot convert {cls.__module__}.{cls.__qualname__}{reason}; met "
               f"{layer_txt}, reached by {chain}. "
               + ("" if detail else f"Register a converter with "
                  f"dezero.onnx.register_converter({cls.__name__}). ")
               + f"Nothing was written to {path!r}.")
    raise UnsupportedOperatorError(message, cls, where[0] if where else None, chain)


def _input_view(data, xs, in_names):
    """``(input name, input shape)`` when ``data`` is a reshaped view of a graph input."""
    base = getattr(data, "base", None)
    if base is None or not data.flags.c_contiguous:
        return None
    for x, name in zip(xs, in_names):
        a = x.data
        if (base is a or (a.base is not None and base is a.base)) and data.size == a.size \
                and a.flags.c_contiguous:
            return name, a.shape
    return None


def _reshape_target(ctx, src, src_shape, shape):
    """A Reshape target keeping a symbolic batch axis 0 (written as 0: copy the input's)."""
    target = [int(s) for s in shape]
    if ctx.batch_axis(src) == 0 and target and src_shape and target[0] == src_shape[0]:
        target[0] = 0
        return target, 0
    return target, None


def _infer_batch_axes(ctx, in_names, out_names):
    """Outputs a converter left alone keep the batch axis of an input, aligned from the right
    as broadcasting aligns them, when the sizes there agree."""
    if not ctx.dynamic_batch:
        return
    for out in out_names:
        if out in ctx._batch or out not in ctx._info:
            continue
        out_shape = ctx.shape(out)
        for name in in_names:
            b = ctx.batch_axis(name)
            if b is None:
                continue
            in_shape = ctx.shape(name)
            ob = b + len(out_shape) - len(in_shape)
            if 0 <= ob < len(out_shape) and out_shape[ob] == in_shape[b]:
                ctx._batch[out] = ob
            break


def _value_info(helper, ctx, name, shape, dtype):
    dims = list(shape)
    b = ctx.batch_axis(name) if ctx.dynamic_batch else None
    if b is not None:
        dims[b] = "batch"
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                                         dims)


def _build_model(ctx, helper, xs, in_names, ys, out_names, opset):
    import dezero

    inputs = [_value_info(helper, ctx, n, x.shape, x.dtype) for x, n in zip(xs, in_names)]
    outputs = [_value_info(helper, ctx, n, y.shape, y.dtype) for y, n in zip(ys, out_names)]
    graph = helper.make_graph(ctx.nodes, "dezero_model", inputs, outputs,
                              initializer=ctx.initializers)
    opset_ids = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opset_ids, producer_name="dezero",
                              producer_version=dezero.__version__)
    model.ir_version = helper.find_min_ir_version_for(opset_ids)
    return model
