"""Differentiable functions (``import dezero.functions as F``).

A facade: the implementations live in ``dezero._ops`` grouped by family.
"""
from dezero._ops.activation import (
    GELU,
    LeakyReLU,
    LogSoftmax,
    LogSumExp,
    ReLU,
    Sigmoid,
    SigmoidGrad,
    Softmax,
    Softplus,
    gelu,
    leaky_relu,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    sigmoid_simple,
    softmax,
    softmax_simple,
    softplus,
)
from dezero._ops.array import (
    BroadcastTo,
    Concat,
    GetItem,
    GetItemGrad,
    Reshape,
    Split,
    Stack,
    SumTo,
    Transpose,
    broadcast_to,
    concat,
    expand_dims,
    flatten,
    get_item,
    reshape,
    split,
    squeeze,
    stack,
    sum_to,
    transpose,
)
from dezero._ops.linalg import Linear, MatMul, linear, linear_simple, matmul
from dezero._ops.math import (
    Abs,
    Clip,
    Cos,
    Exp,
    Log,
    Maximum,
    Minimum,
    Sin,
    Sqrt,
    Square,
    Tan,
    Tanh,
    Where,
    abs,
    clip,
    cos,
    exp,
    log,
    maximum,
    minimum,
    sin,
    sqrt,
    square,
    tan,
    tanh,
    where,
)
from dezero._ops.reduce import (
    Max,
    Min,
    Sum,
    argmax,
    average,
    max,
    mean,
    min,
    sum,
)
from dezero.core import add, div, mul, neg, pow, rdiv, rpow, rsub, sub

__all__ = [
    # arithmetic (core)
    "add", "sub", "rsub", "mul", "div", "rdiv", "neg", "pow", "rpow",
    # math
    "Sin", "sin", "Cos", "cos", "Tan", "tan", "Tanh", "tanh", "Exp", "exp", "Log", "log",
    "Sqrt", "sqrt", "Abs", "abs", "Square", "square", "Clip", "clip",
    "Maximum", "maximum", "Minimum", "minimum", "Where", "where",
    # shape
    "Reshape", "reshape", "Transpose", "transpose", "expand_dims", "flatten", "squeeze",
    "GetItem", "GetItemGrad", "get_item", "BroadcastTo", "broadcast_to", "SumTo", "sum_to",
    "Concat", "concat", "Stack", "stack", "Split", "split",
    # reductions
    "Sum", "sum", "average", "mean", "Max", "max", "Min", "min", "argmax",
    "LogSumExp", "logsumexp",
    # linear algebra
    "MatMul", "matmul", "Linear", "linear", "linear_simple",
    # activations
    "Sigmoid", "SigmoidGrad", "sigmoid", "sigmoid_simple", "ReLU", "relu",
    "LeakyReLU", "leaky_relu", "Softplus", "softplus", "GELU", "gelu",
    "Softmax", "softmax", "softmax_simple", "LogSoftmax", "log_softmax",
]

# --- losses and normalisation (dezero/_ops/loss.py, dezero/_ops/norm.py) --------------
# (appended below by their owner, with `__all__ += [...]`)
from dezero._ops.loss import (  # noqa: E402
    BinaryCrossEntropy,
    MeanSquaredError,
    SigmoidCrossEntropy,
    SoftmaxCrossEntropy,
    accuracy,
    binary_cross_entropy,
    mean_squared_error,
    mean_squared_error_simple,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
    softmax_cross_entropy_simple,
)
from dezero._ops.norm import (  # noqa: E402
    BatchNorm,
    Dropout,
    LayerNorm,
    batch_norm,
    batch_nrom,
    dropout,
    embed_id,
    layer_norm,
)

__all__ += [
    "MeanSquaredError", "mean_squared_error", "mean_squared_error_simple",
    "SoftmaxCrossEntropy", "softmax_cross_entropy", "softmax_cross_entropy_simple",
    "SigmoidCrossEntropy", "sigmoid_cross_entropy", "BinaryCrossEntropy",
    "binary_cross_entropy", "accuracy",
    "Dropout", "dropout", "BatchNorm", "batch_norm", "batch_nrom", "LayerNorm", "layer_norm",
    "embed_id",
]

# --- convolution and pooling (dezero/functions_conv.py) -------------------------------
# (appended below by their owner, with `__all__ += [...]`)
from dezero.functions_conv import (  # noqa: E402
    AveragePooling,
    Col2im,
    Conv2d,
    Conv2DGradW,
    Deconv2d,
    Im2col,
    Pooling,
    Pooling2DGrad,
    Pooling2DWithIndexes,
    average_pooling,
    col2im,
    conv2d,
    conv2d_simple,
    deconv2d,
    im2col,
    pooling,
    pooling_simple,
)

__all__ += [
    "Conv2d", "conv2d", "Deconv2d", "deconv2d", "Conv2DGradW", "conv2d_simple",
    "Im2col", "im2col", "Col2im", "col2im",
    "Pooling", "Pooling2DGrad", "Pooling2DWithIndexes", "pooling", "pooling_simple",
    "AveragePooling", "average_pooling",
]
