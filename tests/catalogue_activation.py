"""Catalogue entries: activations (dezero/_ops/activation.py)."""
import numpy as np

import dezero.functions as F
from op_catalogue import Bad, OpSpec, extreme_logits, input_errors, normal, off_kinks

UNARY_SHAPES = [((),), ((3,),), ((2, 3),)]


def _x():
    return (np.ones((2, 3)),)


def twin(simple):
    """A composed ``*_simple`` function as a reference on raw arrays."""
    def ref(*arrays, **kwargs):
        return simple(*arrays, **kwargs).data
    ref.__name__ = simple.__name__
    return ref


def _sigmoid_ref(x):
    return 1 / (1 + np.exp(-x))


def _gelu_ref(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def _softmax_ref(x, axis=1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax_ref(x, axis=1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _unary(name, ref, torch, sample=normal, **kw):
    f = getattr(F, name)
    return OpSpec(name, lambda x: f(x), ref=ref, shapes=UNARY_SHAPES, sample=sample,
                  torch=torch, errors=input_errors(name, _x), **kw)


SOFTMAX_SHAPES = [((2, 3),)]
SOFTMAX_GRID = [{}, {"axis": 0}, {"axis": -1}]
SOFTMAX_EXTRA = [(((2, 3, 4),), {"axis": 1}), (((2, 3, 4),), {"axis": (1, 2)}),
                 (((3,),), {"axis": 0})]


def _softmax_errors(name):
    return [
        Bad(ValueError, rf"^{name}: axis 1 is out of bounds for 1 dimensions; got x \(3,\) "
            r"float64", shapes=((3,),)),
        Bad(ValueError, rf"^{name}: x must have at least 1 dimension; got x \(\) float64",
            shapes=((),), kwargs={"axis": 0}),
        Bad(TypeError, rf"^{name}: axis must be an int or a tuple of ints; got None",
            shapes=((2, 3),), kwargs={"axis": None}),
        *input_errors(name, _x),
    ]


def _torch_softmax(t, x, axis=1):
    if isinstance(axis, tuple):  # torch.softmax takes one dim: go through logsumexp
        return t.exp(x - t.logsumexp(x, dim=axis, keepdim=True))
    return t.softmax(x, dim=axis)


def _torch_log_softmax(t, x, axis=1):
    if isinstance(axis, tuple):
        return x - t.logsumexp(x, dim=axis, keepdim=True)
    return t.log_softmax(x, dim=axis)


ENTRIES = [
    _unary("sigmoid", twin(F.sigmoid_simple), lambda t, x: t.sigmoid(x),
           extreme=extreme_logits),
    _unary("sigmoid_simple", _sigmoid_ref, lambda t, x: t.sigmoid(x)),
    _unary("relu", lambda x: np.maximum(x, 0), lambda t, x: t.relu(x), sample=off_kinks),
    OpSpec(
        "leaky_relu", lambda x, **kw: F.leaky_relu(x, **kw),
        ref=lambda x, slope=0.2: np.where(x > 0, x, slope * x), shapes=UNARY_SHAPES,
        sample=off_kinks, kwargs_grid=[{}, {"slope": 0.01}, {"slope": -0.5}],
        torch=lambda t, x, slope=0.2: t.nn.functional.leaky_relu(x, slope),
        errors=[
            Bad(TypeError, r"^leaky_relu: slope must be a real number; got str",
                shapes=((2, 3),), kwargs={"slope": "0.1"}),
            *input_errors("leaky_relu", _x),
        ]),
    _unary("softplus", lambda x: np.logaddexp(0, x), lambda t, x: t.nn.functional.softplus(x),
           extreme=extreme_logits),
    _unary("gelu", _gelu_ref, lambda t, x: t.nn.functional.gelu(x, approximate="tanh")),
    OpSpec(
        "softmax", lambda x, **kw: F.softmax(x, **kw), ref=twin(F.softmax_simple),
        shapes=SOFTMAX_SHAPES, kwargs_grid=SOFTMAX_GRID, extra_cases=SOFTMAX_EXTRA,
        torch=_torch_softmax, extreme=extreme_logits, errors=_softmax_errors("softmax")),
    OpSpec(
        "softmax_simple", lambda x, **kw: F.softmax_simple(x, **kw), ref=_softmax_ref,
        shapes=SOFTMAX_SHAPES, kwargs_grid=SOFTMAX_GRID, extra_cases=SOFTMAX_EXTRA,
        torch=_torch_softmax, errors=_softmax_errors("softmax_simple")),
    OpSpec(
        "log_softmax", lambda x, **kw: F.log_softmax(x, **kw), ref=_log_softmax_ref,
        shapes=SOFTMAX_SHAPES, kwargs_grid=SOFTMAX_GRID, extra_cases=SOFTMAX_EXTRA,
        torch=_torch_log_softmax, extreme=extreme_logits,
        errors=_softmax_errors("log_softmax")),
]
