"""Catalogue entries: losses and accuracy (dezero/_ops/loss.py)."""
import numpy as np

import dezero.functions as F
from op_catalogue import (
    Bad,
    OpSpec,
    binary_labels,
    extreme_logits,
    input_errors,
    labels,
    normal,
    unit_interval,
)


def extreme_probabilities(rng, shape, dtype):
    """Probabilities of exactly 0, 1 and 0.5: the clamped logs and floored gradient."""
    return rng.choice([0.0, 0.5, 1.0], size=shape).astype(dtype)


# -----------------------------------------------------------------------------
# NumPy references (float64)
# -----------------------------------------------------------------------------


def _mse_ref(x0, x1):
    diff = x0 - x1
    return np.asarray((diff ** 2).sum() / len(diff))


def _softmax_ce_ref(x, t):
    t = t.ravel()
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return np.asarray(-log_p[np.arange(len(x)), t].mean())


def _sigmoid_ce_ref(x, t):
    t = t.reshape(x.shape).astype(x.dtype)
    p = 1 / (1 + np.exp(-x))
    return np.asarray(-(t * np.log(p) + (1 - t) * np.log(1 - p)).sum() / len(x))


def _bce_ref(p, t):
    t = t.reshape(p.shape).astype(p.dtype)
    return np.asarray(-(t * np.log(p) + (1 - t) * np.log(1 - p)).sum() / len(p))


def _accuracy_ref(y, t):
    return np.asarray((y.argmax(axis=1).reshape(t.shape) == t).mean())


# -----------------------------------------------------------------------------
# PyTorch counterparts
# -----------------------------------------------------------------------------


def _torch_mse(t, x0, x1):
    diff = x0 - x1
    return (diff ** 2).sum() / diff.shape[0]


def _torch_softmax_ce(t, x, labels):
    return t.nn.functional.cross_entropy(x, labels.reshape(-1))


def _torch_sigmoid_ce(t, x, labels):
    target = labels.reshape(x.shape).to(x.dtype)
    return t.nn.functional.binary_cross_entropy_with_logits(x, target, reduction="sum") / len(x)


def _torch_bce(t, p, labels):
    target = labels.reshape(p.shape).to(p.dtype)
    return t.nn.functional.binary_cross_entropy(p, target, reduction="sum") / len(p)


# -----------------------------------------------------------------------------
# error cases
# -----------------------------------------------------------------------------


def _mse_errors(name):
    def args():
        return (np.ones((2, 3)), np.ones((2, 3)))
    return [
        Bad(ValueError, rf"^{name}: x0 and x1 do not broadcast together; got x0 \(2, 3\) "
            r"float64, x1 \(4,\) float64", shapes=((2, 3), (4,))),
        Bad(ValueError, rf"^{name}: x0 - x1 must have a non-empty first dimension",
            shapes=((), ())),
        *input_errors(name, args, arg="x0"),
        *input_errors(name, args, position=1, arg="x1"),
    ]


def _sce_errors(name):
    def args():
        return (np.zeros((3, 4)), np.array([0, 1, 2]))
    return [
        Bad(TypeError, rf"^{name}: t must hold integer labels; got t \(3,\) float32",
            args=lambda: (np.zeros((3, 4)), np.zeros(3, dtype=np.float32))),
        Bad(ValueError, rf"^{name}: t must hold one label per row of x \(3\); got x \(3, 4\) "
            r"float64, t \(2,\) int64", args=lambda: (np.zeros((3, 4)), np.array([0, 1]))),
        Bad(ValueError, rf"^{name}: labels must be in \[0, 4\) for x with 4 classes; got "
            r"labels from -1 to 2", args=lambda: (np.zeros((3, 4)), np.array([0, -1, 2]))),
        Bad(ValueError, rf"^{name}: labels must be in \[0, 4\)",
            args=lambda: (np.zeros((3, 4)), np.array([0, 4, 2]))),
        Bad(ValueError, rf"^{name}: x must be 2-D logits \(N, C\) with N > 0; got x "
            r"\(3, 4, 2\) float64", args=lambda: (np.zeros((3, 4, 2)), np.array([0, 1, 2]))),
        Bad(TypeError, rf"^{name}: x must hold floating-point values; got x \(3, 4\) int64",
            args=lambda: (np.zeros((3, 4), dtype=np.int64), np.array([0, 1, 2]))),
        *input_errors(name, args),
        *input_errors(name, args, position=1, arg="t"),
    ]


def _binary_errors(name, x):
    def args():
        return (np.full((3, 2), 0.5), np.ones((3, 2), dtype=np.int64))
    out = [
        Bad(ValueError, rf"^{name}: t must have the shape of {x} \(3, 2\) \(or its size, to "
            rf"be reshaped\); got {x} \(3, 2\) float64, t \(3, 3\) int64",
            args=lambda: (np.full((3, 2), 0.5), np.ones((3, 3), dtype=np.int64))),
        Bad(ValueError, rf"^{name}: {x} must have a non-empty first dimension",
            args=lambda: (np.array(0.5), np.array(1))),
        Bad(TypeError, rf"^{name}: {x} must hold floating-point values; got {x} \(3,\) int64",
            args=lambda: (np.ones(3, dtype=np.int64), np.ones(3, dtype=np.int64))),
        *input_errors(name, args, arg=x),
        *input_errors(name, args, position=1, arg="t"),
    ]
    if x == "p":
        out.append(Bad(ValueError, rf"^{name}: p must hold probabilities in \[0, 1\]; found "
                       r"1.5", args=lambda: (np.array([0.5, 1.5]), np.array([1, 0]))))
    return out


# Logits (N, C) with labels in [0, 3); the last case gives t as a column, raveled.
SCE_SHAPES = [((4, 3), (4,)), ((1, 5), (1,)), ((3, 4), (3, 1))]
BINARY_SHAPES = [((4, 3), (4, 3)), ((5,), (5,)), ((4, 1), (4,))]

ENTRIES = [
    OpSpec(
        "mean_squared_error", lambda x0, x1: F.mean_squared_error(x0, x1), ref=_mse_ref,
        shapes=[((3, 2), (3, 2)), ((4,), (4,)), ((3, 2), (1, 2)), ((1, 2), (3, 2))],
        torch=_torch_mse, errors=_mse_errors("mean_squared_error")),
    OpSpec(
        "mean_squared_error_simple", lambda x0, x1: F.mean_squared_error_simple(x0, x1),
        ref=_mse_ref, shapes=[((3, 2), (3, 2)), ((3, 2), (1, 2))], torch=_torch_mse,
        errors=_mse_errors("mean_squared_error_simple")),
    OpSpec(
        "softmax_cross_entropy", lambda x, t: F.softmax_cross_entropy(x, t),
        ref=_softmax_ce_ref, shapes=SCE_SHAPES, sample=[normal, labels(3)],
        torch=_torch_softmax_ce, extreme=extreme_logits,
        errors=_sce_errors("softmax_cross_entropy")),
    OpSpec(
        "softmax_cross_entropy_simple", lambda x, t: F.softmax_cross_entropy_simple(x, t),
        ref=_softmax_ce_ref, shapes=SCE_SHAPES, sample=[normal, labels(3)],
        torch=_torch_softmax_ce, errors=_sce_errors("softmax_cross_entropy_simple")),
    OpSpec(
        "sigmoid_cross_entropy", lambda x, t: F.sigmoid_cross_entropy(x, t),
        ref=_sigmoid_ce_ref, shapes=BINARY_SHAPES, sample=[normal, binary_labels],
        torch=_torch_sigmoid_ce, extreme=extreme_logits,
        errors=_binary_errors("sigmoid_cross_entropy", "x")),
    OpSpec(
        "binary_cross_entropy", lambda p, t: F.binary_cross_entropy(p, t), ref=_bce_ref,
        shapes=BINARY_SHAPES, sample=[unit_interval, binary_labels], torch=_torch_bce,
        extreme=extreme_probabilities, rtol=1e-5, atol=1e-6,
        errors=_binary_errors("binary_cross_entropy", "p")),
    OpSpec(
        "accuracy", lambda y, t: F.accuracy(y, t), ref=_accuracy_ref,
        shapes=[((5, 3), (5,)), ((4, 2), (4, 1)), ((2, 3, 2), (2, 2))],
        sample=[normal, labels(2)], order=0, keeps_dtype=False,
        errors=[
            Bad(ValueError, r"^accuracy: y must have a class axis 1 \(at least 2-D\); got y "
                r"\(3,\) float64", args=lambda: (np.ones(3), np.array([0, 1, 2]))),
            Bad(ValueError, r"^accuracy: y has 3 predictions \(argmax over axis 1\) but t has "
                r"2 labels", args=lambda: (np.ones((3, 4)), np.array([0, 1]))),
            *input_errors("accuracy", lambda: (np.ones((2, 3)), np.array([0, 1])), arg="y"),
            *input_errors("accuracy", lambda: (np.ones((2, 3)), np.array([0, 1])), position=1,
                          arg="t"),
        ]),
]
