"""The built-in converters: one per Function class, ``converter(ctx, f, inputs, outputs)``.

Each reads the parameters the Function stored (``f.axis``, ``f.stride``...) and the traced
shapes and dtypes (``ctx.shape``, ``ctx.dtype``), and appends ONNX nodes. Inputs are cast
to the output's dtype where NumPy would have promoted them, so float32 stays float32 and
float64 stays float64.
"""
from __future__ import annotations

import numpy as np

from dezero import core
from dezero._ops import activation, arith, array, conv, linalg, loss, norm, pooling, reduce
from dezero._ops import math as math_ops
from dezero.onnx._export import UnsupportedOperatorError, register_converter

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)


def _out_dtype(ctx, outputs):
    return ctx.dtype(outputs[0])


def _axes_tuple(axis, ndim):
    if axis is None:
        return None
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(int(a) % ndim for a in items)


def _reduce(ctx, op_type, x, axes, keepdims, outputs=None):
    """A Reduce* node; ``axes`` None reduces every axis. Axes are an input from opset 18
    (13 for ReduceSum), an attribute before."""
    inputs = [x]
    attrs = {"keepdims": int(bool(keepdims))}
    if axes is not None:
        if op_type == "ReduceSum" or ctx.opset >= 18:
            inputs.append(ctx.int64s(list(axes), "axes"))
        else:
            attrs["axes"] = list(axes)
    return ctx.node(op_type, inputs, outputs, **attrs)


def _reduced_batch_axis(b, axes, keepdims):
    if b is None or axes is None or b in axes:
        return None
    return b if keepdims else b - sum(1 for a in axes if a < b)


# =============================================================================
# arithmetic
# =============================================================================


def _arith(op_type):
    def convert(ctx, f, inputs, outputs):
        dtype = _out_dtype(ctx, outputs)
        if len(inputs) == 1:  # x op c (c op x with swap): the number c is held by f
            x = ctx.cast(inputs[0], dtype)
            c = ctx.const(np.asarray(f.c, dtype=dtype), "c")
            args = [c, x] if f.swap else [x, c]
        else:
            args = [ctx.cast(name, dtype) for name in inputs]
        ctx.node(op_type, args, outputs)

    return convert


register_converter(arith.Add)(_arith("Add"))
register_converter(arith.Sub)(_arith("Sub"))
register_converter(arith.Mul)(_arith("Mul"))
register_converter(arith.Div)(_arith("Div"))
register_converter(math_ops.Maximum)(_arith("Max"))
register_converter(math_ops.Minimum)(_arith("Min"))


@register_converter(arith.Neg)
def _neg(ctx, f, inputs, outputs):
    ctx.node("Neg", inputs, outputs)


@register_converter(arith.Pow)
def _pow(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    c = np.asarray(f.c.get() if hasattr(f.c, "get") else f.c)
    if c.ndim == 0 and float(c) == 2.0:
        x = ctx.cast(inputs[0], dtype)
        ctx.node("Mul", [x, x], outputs)
        return
    ctx.node("Pow", [ctx.cast(inputs[0], dtype), ctx.const(c.astype(dtype), "exponent")],
             outputs)


@register_converter(arith.RPow)
def _rpow(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    c = np.asarray(f.c.get() if hasattr(f.c, "get") else f.c)
    ctx.node("Pow", [ctx.const(c.astype(dtype), "base"), ctx.cast(inputs[0], dtype)], outputs)


# =============================================================================
# elementwise math and activations
# =============================================================================


def _unary(op_type):
    def convert(ctx, f, inputs, outputs):
        ctx.node(op_type, [ctx.cast(inputs[0], _out_dtype(ctx, outputs))], outputs)

    return convert


for _cls, _op in ((math_ops.Exp, "Exp"), (math_ops.Log, "Log"), (math_ops.Sin, "Sin"),
                  (math_ops.Cos, "Cos"), (math_ops.Tan, "Tan"), (math_ops.Tanh, "Tanh"),
                  (math_ops.Sqrt, "Sqrt"), (math_ops.Abs, "Abs"),
                  (activation.Sigmoid, "Sigmoid"), (activation.ReLU, "Relu"),
                  (core._Copy, "Identity")):
    register_converter(_cls)(_unary(_op))


@register_converter(math_ops.Square)
def _square(ctx, f, inputs, outputs):
    x = ctx.cast(inputs[0], _out_dtype(ctx, outputs))
    ctx.node("Mul", [x, x], outputs)


@register_converter(math_ops.Clip)
def _clip(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    lo = "" if f.x_min is None else ctx.const(np.asarray(f.x_min, dtype=dtype), "min")
    hi = "" if f.x_max is None else ctx.const(np.asarray(f.x_max, dtype=dtype), "max")
    ctx.node("Clip", [ctx.cast(inputs[0], dtype), lo, hi], outputs)


@register_converter(math_ops.Where)
def _where(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    cond = ctx.array_name(f.cond, "condition")
    if ctx.dtype(cond) != np.bool_:
        cond = ctx.cast(cond, np.bool_)
    ctx.node("Where", [cond] + [ctx.cast(n, dtype) for n in inputs], outputs)


@register_converter(activation.Softplus)
def _softplus(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    x = inputs[0]
    if dtype in (np.float32, np.float16):
        ctx.node("Softplus", [x], outputs)
        return
    # no float64 Softplus in ONNX Runtime: max(x, 0) + log(1 + exp(-|x|)), as logaddexp
    tail = ctx.node("Exp", [ctx.node("Neg", [ctx.node("Abs", [x])])])
    tail = ctx.node("Log", [ctx.node("Add", [tail, ctx.const(np.ones((), dtype), "one")])])
    ctx.node("Add", [ctx.node("Relu", [x]), tail], outputs)


@register_converter(activation.LeakyReLU)
def _leaky_relu(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    x = inputs[0]
    if dtype in (np.float32, np.float16):
        ctx.node("LeakyRelu", [x], outputs, alpha=float(f.slope))
        return
    # ONNX Runtime has no float64 LeakyRelu: where(x > 0, x, x * slope), as dezero computes
    positive = ctx.node("Greater", [x, ctx.const(np.zeros((), dtype), "zero")])
    scaled = ctx.node("Mul", [x, ctx.const(np.asarray(f.slope, dtype), "slope")])
    ctx.node("Where", [positive, x, scaled], outputs)


@register_converter(activation.GELU)
def _gelu(ctx, f, inputs, outputs):
    # the tanh form dezero computes: x/2 * (1 + tanh(c * (x + a x^3)))
    dtype = _out_dtype(ctx, outputs)
    x = inputs[0]

    def k(v, hint):
        return ctx.const(np.asarray(v, dtype=dtype), hint)

    x3 = ctx.node("Mul", [ctx.node("Mul", [x, x]), x])
    inner = ctx.node("Add", [x, ctx.node("Mul", [x3, k(activation._GELU_A, "gelu_a")])])
    t = ctx.node("Tanh", [ctx.node("Mul", [inner, k(activation._GELU_C, "gelu_c")])])
    half_x = ctx.node("Mul", [x, k(0.5, "half")])
    ctx.node("Mul", [half_x, ctx.node("Add", [t, k(1.0, "one")])], outputs)


def _softmax_family(op_type, log):
    def convert(ctx, f, inputs, outputs):
        x = inputs[0]
        ndim = len(ctx.shape(x))
        axes = _axes_tuple(f.axis, ndim)
        if len(axes) == 1:
            ctx.node(op_type, [x], outputs, axis=axes[0])
            return
        # several axes at once: written out, max-shifted as dezero computes it
        shifted = ctx.node("Sub", [x, _reduce(ctx, "ReduceMax", x, axes, True)])
        e = ctx.node("Exp", [shifted])
        s = _reduce(ctx, "ReduceSum", e, axes, True)
        if log:
            ctx.node("Sub", [shifted, ctx.node("Log", [s])], outputs)
        else:
            ctx.node("Div", [e, s], outputs)

    return convert


register_converter(activation.Softmax)(_softmax_family("Softmax", log=False))
register_converter(activation.LogSoftmax)(_softmax_family("LogSoftmax", log=True))


# =============================================================================
# linear algebra
# =============================================================================


@register_converter(linalg.MatMul)
def _matmul(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    ctx.node("MatMul", [ctx.cast(n, dtype) for n in inputs], outputs)


@register_converter(linalg.Linear)
def _linear(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    x, W = ctx.cast(inputs[0], dtype), ctx.cast(inputs[1], dtype)
    if len(inputs) == 2:
        ctx.node("MatMul", [x, W], outputs)
    else:
        ctx.node("Add", [ctx.node("MatMul", [x, W]), ctx.cast(inputs[2], dtype)], outputs)


# =============================================================================
# shapes: reshape, transpose, broadcast, indexing, joining
# =============================================================================


def _batch_shape(ctx, x, target):
    """``target`` for an ONNX Reshape/Expand of ``x``, with 0 (copy) for the batch axis.

    Returns the shape list and the output's batch axis.
    """
    target = [int(s) for s in target]
    b = ctx.batch_axis(x)
    if b == 0 and target:
        n = ctx.shape(x)[0]
        if target[0] == n:
            target[0] = 0  # Reshape: copy input dim 0, the symbolic batch size
            return target, 0
        if target[0] == -1 and n != 0:
            return target, 0
    return target, None


@register_converter(array.Reshape)
def _reshape(ctx, f, inputs, outputs):
    x = inputs[0]
    shape = f.shape if isinstance(f.shape, (tuple, list)) else (f.shape,)
    target, b = _batch_shape(ctx, x, shape)
    ctx.node("Reshape", [x, ctx.int64s(target, "shape")], outputs)
    ctx.set_batch_axis(outputs[0], b)


@register_converter(array.Transpose)
def _transpose(ctx, f, inputs, outputs):
    ndim = len(ctx.shape(inputs[0]))
    perm = list(range(ndim))[::-1] if f.axes is None else [int(a) % ndim for a in f.axes]
    ctx.node("Transpose", inputs, outputs, perm=perm)
    b = ctx.batch_axis(inputs[0])
    ctx.set_batch_axis(outputs[0], None if b is None else perm.index(b))


@register_converter(array.BroadcastTo)
def _broadcast_to(ctx, f, inputs, outputs):
    x = inputs[0]
    target = [int(s) for s in f.shape]
    b = ctx.batch_axis(x)
    ob = None
    if b is not None:
        ob = b + len(target) - len(ctx.shape(x))
        target[ob] = 1  # Expand broadcasts both ways: the batch size comes from x
    ctx.node("Expand", [x, ctx.int64s(target, "shape")], outputs)
    ctx.set_batch_axis(outputs[0], ob)


@register_converter(array.SumTo)
def _sum_to(ctx, f, inputs, outputs):
    x = inputs[0]
    in_shape = ctx.shape(x)
    shape = tuple(f.shape)
    lead = len(in_shape) - len(shape)
    axes = list(range(lead)) + [i + lead for i, s in enumerate(shape)
                                if s == 1 and in_shape[i + lead] != 1]
    y = _reduce(ctx, "ReduceSum", x, axes, True) if axes else x
    target, b = list(shape), None
    xb = ctx.batch_axis(x)
    if lead == 0 and xb == 0 and 0 not in axes:
        target[0], b = 0, 0  # Reshape copies the symbolic batch size
    ctx.node("Reshape", [y, ctx.int64s(target, "shape")], outputs)
    ctx.set_batch_axis(outputs[0], b)


def _expand_index(slices, ndim):
    items = list(slices) if isinstance(slices, tuple) else [slices]
    n_ellipsis = sum(1 for s in items if s is Ellipsis)
    if n_ellipsis > 1:
        raise UnsupportedOperatorError("an index with more than one Ellipsis")
    used = sum(1 for s in items if s is not None and s is not Ellipsis)
    if n_ellipsis:
        i = items.index(Ellipsis)
        items[i:i + 1] = [slice(None)] * (ndim - used)
    else:
        items += [slice(None)] * (ndim - used)
    return items


def _is_int(s):
    return isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_))


@register_converter(array.GetItem)
def _get_item(ctx, f, inputs, outputs):
    x = inputs[0]
    ndim = len(ctx.shape(x))
    items = _expand_index(f.slices, ndim)
    arrays = [(k, s) for k, s in enumerate(items) if hasattr(s, "shape") and hasattr(s, "dtype")
              and getattr(s, "ndim", 0) > 0 or isinstance(s, list)]
    if len(arrays) > 1 or (arrays and any(_is_int(s) or s is None for s in items)):
        raise UnsupportedOperatorError(
            "only one integer-array index, with slices elsewhere, converts (got the index "
            f"{tuple(type(s).__name__ for s in items)})")
    b = ctx.batch_axis(x)
    starts, ends, axes, steps = [], [], [], []
    axis = 0  # the input axis each item consumes
    for s in items:
        if isinstance(s, slice):
            if s != slice(None):
                step = 1 if s.step is None else int(s.step)
                if step > 0:
                    start = 0 if s.start is None else int(s.start)
                    end = _INT64_MAX if s.stop is None else int(s.stop)
                else:
                    start = -1 if s.start is None else int(s.start)
                    end = _INT64_MIN if s.stop is None else int(s.stop)
                starts.append(start)
                ends.append(end)
                axes.append(axis)
                steps.append(step)
            axis += 1
        elif s is not None:
            axis += 1
    y = x
    if axes:
        y = ctx.node("Slice", [x, ctx.int64s(starts, "starts"), ctx.int64s(ends, "ends"),
                               ctx.int64s(axes, "axes"), ctx.int64s(steps, "steps")])
        if b is not None and b in axes:
            # a slice of the batch axis keeps it symbolic only when it takes all of it
            b = None
    # ints and one integer array become Gathers, from the last axis so numbering holds
    consumed = [k for k, s in enumerate(items) if s is not None]
    input_axis = {k: i for i, k in enumerate(consumed)}
    out_b = b
    for k in reversed(range(len(items))):
        s = items[k]
        if _is_int(s):
            idx = ctx.const(np.asarray(int(s), dtype=np.int64), "index")
            y = ctx.node("Gather", [y, idx], axis=input_axis[k])
            if out_b is not None:
                out_b = None if out_b == input_axis[k] else (
                    out_b - 1 if out_b > input_axis[k] else out_b)
        elif (k, s) in [(i, a) for i, a in arrays]:
            index = np.asarray(s) if isinstance(s, list) else s
            if index.dtype == np.bool_:
                if index.ndim != 1:
                    raise UnsupportedOperatorError("a boolean index with more than 1 dimension")
                idx = ctx.const(np.nonzero(np.asarray(index.get() if hasattr(index, "get")
                                                      else index))[0].astype(np.int64), "index")
            else:
                idx = ctx.array_name(index, "index")
                if ctx.dtype(idx) not in (np.dtype(np.int32), np.dtype(np.int64)):
                    idx = ctx.cast(idx, np.int64)
            ax = input_axis[k]
            y = ctx.node("Gather", [y, idx], axis=ax)
            q = np.ndim(index)
            ib = ctx.batch_axis(idx)
            if out_b is not None:
                out_b = None if out_b == ax else (out_b + q - 1 if out_b > ax else out_b)
            if ib is not None:
                out_b = ax + ib
    new_axes = []
    pos = 0
    for s in items:
        if s is None:
            new_axes.append(pos)
            pos += 1
        elif not _is_int(s):
            pos += 1
    if new_axes:
        y = ctx.node("Unsqueeze", [y, ctx.int64s(new_axes, "axes")])
        if out_b is not None:
            for a in new_axes:
                if a <= out_b:
                    out_b += 1
    ctx.node("Identity", [y], outputs)
    ctx.set_batch_axis(outputs[0], out_b)


@register_converter(array.Concat)
def _concat(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    ndim = len(ctx.shape(inputs[0]))
    ctx.node("Concat", [ctx.cast(n, dtype) for n in inputs], outputs, axis=int(f.axis) % ndim)


@register_converter(array.Stack)
def _stack(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    ndim = len(ctx.shape(inputs[0])) + 1
    axis = int(f.axis) % ndim
    axes = ctx.int64s([axis], "axes")
    parts = [ctx.node("Unsqueeze", [ctx.cast(n, dtype), axes]) for n in inputs]
    ctx.node("Concat", parts, outputs, axis=axis)
    b = ctx.batch_axis(inputs[0])
    ctx.set_batch_axis(outputs[0], None if b is None else (b + 1 if b >= axis else b))


@register_converter(array.Split)
def _split(ctx, f, inputs, outputs):
    shape = ctx.shape(inputs[0])
    axis = int(f.axis) % len(shape)
    sizes = [len(p) for p in np.split(np.empty(shape[axis], dtype=np.bool_),
                                      f.indices_or_sections)]
    ctx.node("Split", [inputs[0], ctx.int64s(sizes, "split")], outputs, axis=axis)


# =============================================================================
# reductions
# =============================================================================


def _reduction(op_type):
    def convert(ctx, f, inputs, outputs):
        x = inputs[0]
        axes = _axes_tuple(f.axis, len(ctx.shape(x)))
        _reduce(ctx, op_type, x, axes, f.keepdims, outputs)
        ctx.set_batch_axis(outputs[0], _reduced_batch_axis(ctx.batch_axis(x), axes,
                                                            f.keepdims))

    return convert


register_converter(reduce.Sum)(_reduction("ReduceSum"))
register_converter(reduce.Max)(_reduction("ReduceMax"))
register_converter(reduce.Min)(_reduction("ReduceMin"))
register_converter(activation.LogSumExp)(_reduction("ReduceLogSumExp"))


# =============================================================================
# convolution and pooling
# =============================================================================


def _conv_inputs(ctx, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    return [ctx.cast(n, dtype) for n in inputs]


@register_converter(conv.Conv2d)
def _conv2d(ctx, f, inputs, outputs):
    (ph, pw), (sh, sw) = f.pad, f.stride
    kh, kw = ctx.shape(inputs[1])[2:]
    ctx.node("Conv", _conv_inputs(ctx, inputs, outputs), outputs, kernel_shape=[kh, kw],
             strides=[sh, sw], pads=[ph, pw, ph, pw])


@register_converter(conv.Deconv2d)
def _deconv2d(ctx, f, inputs, outputs):
    (ph, pw), (sh, sw) = f.pad, f.stride
    h, w = ctx.shape(inputs[0])[2:]
    kh, kw = ctx.shape(inputs[1])[2:]
    natural = (sh * (h - 1) + kh - 2 * ph, sw * (w - 1) + kw - 2 * pw)
    extra = [int(o - n) for o, n in zip(f.outsize, natural)]
    if any(e < 0 or e >= s for e, s in zip(extra, (sh, sw))):
        raise UnsupportedOperatorError(f"outsize {f.outsize} is not reachable with "
                                       f"output_padding for stride {f.stride}")
    attrs = {"kernel_shape": [kh, kw], "strides": [sh, sw], "pads": [ph, pw, ph, pw]}
    if any(extra):
        attrs["output_padding"] = extra
    ctx.node("ConvTranspose", _conv_inputs(ctx, inputs, outputs), outputs, **attrs)


@register_converter(pooling.Pooling)
def _max_pooling(ctx, f, inputs, outputs):
    (ph, pw), (sh, sw) = f.pad, f.stride
    x = inputs[0]
    if ph or pw:
        # dezero pads with zeros (which can win the max), ONNX MaxPool with -inf
        zero = ctx.const(np.zeros((), dtype=ctx.dtype(x)), "zero")
        x = ctx.node("Pad", [x, ctx.int64s([0, 0, ph, pw, 0, 0, ph, pw], "pads"), zero])
    ctx.node("MaxPool", [x], outputs, kernel_shape=list(f.kernel_size), strides=[sh, sw])


@register_converter(pooling.AveragePooling)
def _average_pooling(ctx, f, inputs, outputs):
    (ph, pw), (sh, sw) = f.pad, f.stride
    ctx.node("AveragePool", inputs, outputs, kernel_shape=list(f.kernel_size),
             strides=[sh, sw], pads=[ph, pw, ph, pw], count_include_pad=1)


# =============================================================================
# normalisation
# =============================================================================


@register_converter(norm.BatchNorm)
def _batch_norm(ctx, f, inputs, outputs):
    if f.train:
        raise UnsupportedOperatorError("batch_norm recorded in train mode (export runs the "
                                       "model under dezero.test_mode())")
    dtype = _out_dtype(ctx, outputs)
    x, gamma, beta = (ctx.cast(n, dtype) for n in inputs)
    mean = ctx.cast(ctx.array_name(f.avg_mean, "avg_mean"), dtype)
    var = ctx.cast(ctx.array_name(f.avg_var, "avg_var"), dtype)
    ctx.node("BatchNormalization", [x, gamma, beta, mean, var], outputs,
             epsilon=float(f.eps))


@register_converter(norm.LayerNorm)
def _layer_norm(ctx, f, inputs, outputs):
    dtype = _out_dtype(ctx, outputs)
    ctx.node("LayerNormalization", [ctx.cast(n, dtype) for n in inputs], outputs, axis=-1,
             epsilon=float(f.eps))


# =============================================================================
# losses (for exporting a model together with its training objective)
# =============================================================================


def _batch_count(ctx, name, dtype):
    """``len(name)`` as a 0-d tensor of ``dtype``, read at run time (the batch may vary)."""
    n = ctx.node("Gather", [ctx.node("Shape", [name]),
                            ctx.const(np.asarray(0, np.int64), "zero")])
    return ctx.node("Cast", [n], to=_tensor_type(dtype))


@register_converter(loss.MeanSquaredError)
def _mean_squared_error(ctx, f, inputs, outputs):
    # dezero: sum((x0 - x1) ** 2) / len(x0 - x1)
    dtype = _out_dtype(ctx, outputs)
    x0, x1 = (ctx.cast(n, dtype) for n in inputs)
    d = ctx.node("Sub", [x0, x1])
    total = _reduce(ctx, "ReduceSum", ctx.node("Mul", [d, d]), None, False)
    ctx.node("Div", [total, _batch_count(ctx, d, dtype)], outputs)


@register_converter(loss.SoftmaxCrossEntropy)
def _softmax_cross_entropy(ctx, f, inputs, outputs):
    # -mean_i log_softmax(x)[i, t_i], for logits (N, C) and labels (N,)
    x, t = inputs
    log_p = ctx.node("LogSoftmax", [x], axis=1)
    labels = ctx.node("Unsqueeze", [ctx.cast(t, np.int64), ctx.int64s([1], "axes")])
    picked = ctx.node("GatherElements", [log_p, labels], axis=1)
    ctx.node("Neg", [_reduce(ctx, "ReduceMean", picked, None, False)], outputs)


@register_converter(loss.SigmoidCrossEntropy)
def _sigmoid_cross_entropy(ctx, f, inputs, outputs):
    # sum(max(x, 0) - x*t + log(1 + exp(-|x|))) / len(x), from the logits x
    dtype = _out_dtype(ctx, outputs)
    x, t = ctx.cast(inputs[0], dtype), ctx.cast(inputs[1], dtype)
    tail = ctx.node("Exp", [ctx.node("Neg", [ctx.node("Abs", [x])])])
    tail = ctx.node("Log", [ctx.node("Add", [tail, ctx.const(np.ones((), dtype), "one")])])
    loss_ = ctx.node("Add", [ctx.node("Sub", [ctx.node("Relu", [x]), ctx.node("Mul", [x, t])]),
                             tail])
    total = _reduce(ctx, "ReduceSum", loss_, None, False)
    ctx.node("Div", [total, _batch_count(ctx, x, dtype)], outputs)


def _tensor_type(dtype):
    from onnx import helper

    return int(helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))
