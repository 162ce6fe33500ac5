"""Catalogue entries: reductions (dezero/_ops/reduce.py)."""
import numpy as np

import dezero.functions as F
from op_catalogue import Bad, OpSpec, distinct, extreme_logits, input_errors


def _x():
    return (np.ones((2, 3)),)


def _dims(x, axis):
    """torch's dim for a NumPy axis (None: every axis)."""
    return tuple(range(x.ndim)) if axis is None else axis


AXIS_GRID = [{"axis": a, "keepdims": k} for a in (None, 0, -1, (0, 2)) for k in (False, True)]
EXTREME_GRID = [{"axis": a, "keepdims": k} for a in (None, 1, (0, 2)) for k in (False, True)]


def _axis_errors(name, **kwargs):
    return [
        Bad(ValueError, rf"^{name}: axis 2 is out of bounds for 2 dimensions; got x \(2, 3\) "
            r"float64", shapes=((2, 3),), kwargs={"axis": 2, **kwargs}),
        Bad(ValueError, rf"^{name}: repeated axis in axis=\(0, -2\)", shapes=((2, 3),),
            kwargs={"axis": (0, -2), **kwargs}),
        Bad(TypeError, rf"^{name}: axis must be an int, a tuple of ints or None; got float",
            shapes=((2, 3),), kwargs={"axis": 1.0, **kwargs}),
    ]


def _np_sum(x, axis=None, keepdims=False):
    # NumPy takes a tuple of axes, dezero a list as well
    return np.sum(x, axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=keepdims)


def _torch_sum(t, x, axis=None, keepdims=False):
    if isinstance(axis, list):
        axis = tuple(axis)
    return x.sum(dim=_dims(x, axis), keepdim=keepdims) if x.ndim else x.sum()


def _torch_mean(t, x, axis=None, keepdims=False):
    return x.mean(dim=_dims(x, axis), keepdim=keepdims) if x.ndim else x.mean()


def _torch_amax(t, x, axis=None, keepdims=False):
    return t.amax(x, dim=_dims(x, axis), keepdim=keepdims)


def _torch_amin(t, x, axis=None, keepdims=False):
    return t.amin(x, dim=_dims(x, axis), keepdim=keepdims)


def _logsumexp_ref(x, axis=1, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    y = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return y if keepdims else np.squeeze(y, axis=axis)


def _mean_entry(name):
    """average, and mean (the same function: its errors name average)."""
    f = getattr(F, name)
    return OpSpec(
        name, lambda x, **kw: f(x, **kw), ref=lambda x, **kw: np.mean(x, **kw),
        shapes=[((2, 3, 4),)], kwargs_grid=AXIS_GRID, extra_cases=[(((),), {})],
        torch=_torch_mean,
        errors=[*_axis_errors("average"), *input_errors("average", _x)])


ENTRIES = [
    OpSpec(
        "sum", lambda x, **kw: F.sum(x, **kw), ref=_np_sum,
        shapes=[((2, 3, 4),)], kwargs_grid=AXIS_GRID,
        extra_cases=[(((),), {}), (((3,),), {"axis": 0}), (((2, 3),), {"axis": [1, 0]})],
        torch=_torch_sum,
        errors=[*_axis_errors("sum"), *input_errors("sum", _x),
                Bad(TypeError, r"^sum: keepdims must be a bool; got str", shapes=((2, 3),),
                    kwargs={"keepdims": "yes"})]),
    _mean_entry("average"),
    _mean_entry("mean"),
    OpSpec(
        "max", lambda x, **kw: F.max(x, **kw), ref=lambda x, **kw: np.max(x, **kw),
        shapes=[((2, 3, 4),)], sample=distinct, kwargs_grid=EXTREME_GRID,
        extra_cases=[(((),), {}), (((4,),), {"axis": 0})],
        torch=_torch_amax,
        errors=[*_axis_errors("max"), *input_errors("max", _x),
                Bad(ValueError, r"^max: there is no maximum of zero elements \(x is empty",
                    shapes=((0,),)),
                Bad(ValueError, r"^max: there is no maximum of zero elements \(axis 0 has "
                    r"length 0", shapes=((0, 3),), kwargs={"axis": 0})]),
    OpSpec(
        "min", lambda x, **kw: F.min(x, **kw), ref=lambda x, **kw: np.min(x, **kw),
        shapes=[((2, 3, 4),)], sample=distinct, kwargs_grid=EXTREME_GRID,
        extra_cases=[(((),), {}), (((4,),), {"axis": 0})],
        torch=_torch_amin,
        errors=[*_axis_errors("min"), *input_errors("min", _x),
                Bad(ValueError, r"^min: there is no minimum of zero elements \(axis -1 has "
                    r"length 0", shapes=((3, 0),), kwargs={"axis": -1})]),
    OpSpec(
        "argmax", lambda x, **kw: F.argmax(x, **kw), ref=lambda x, **kw: np.argmax(x, **kw),
        shapes=[((3, 4),)], sample=distinct, kwargs_grid=[{}, {"axis": 0}, {"axis": 1},
                                                          {"axis": -1}],
        extra_cases=[(((),), {})],
        order=0, keeps_dtype=False,
        torch=lambda t, x, axis=None: t.argmax(x, dim=axis),
        errors=[
            Bad(ValueError, r"^argmax: axis 2 is out of bounds for 2 dimensions",
                shapes=((2, 3),), kwargs={"axis": 2}),
            Bad(TypeError, r"^argmax: axis must be an int; got tuple", shapes=((2, 3),),
                kwargs={"axis": (0, 1)}),
            *input_errors("argmax", _x),
        ]),
    OpSpec(
        "logsumexp", lambda x, **kw: F.logsumexp(x, **kw), ref=_logsumexp_ref,
        shapes=[((2, 3),)],
        kwargs_grid=[{}, {"axis": 0}, {"axis": -1, "keepdims": True}, {"axis": None},
                     {"axis": (0, 1), "keepdims": True}],
        extra_cases=[(((2, 3, 4),), {"axis": (0, 2)}), (((3,),), {"axis": 0})],
        torch=lambda t, x, axis=1, keepdims=False: t.logsumexp(x, dim=_dims(x, axis),
                                                              keepdim=keepdims),
        extreme=extreme_logits,
        errors=[*_axis_errors("logsumexp"), *input_errors("logsumexp", _x)]),
]
