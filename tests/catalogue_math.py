"""Catalogue entries: arithmetic and elementwise math (dezero/_ops/arith.py, math.py)."""
import numpy as np

import dezero.functions as F
from op_catalogue import (
    BROADCAST_PAIRS,
    Bad,
    OpSpec,
    away_from,
    bool_mask,
    grid,
    input_errors,
    normal,
    off_kinks,
    positive,
    small,
)

UNARY_SHAPES = [((),), ((3,),), ((2, 3),)]


def _x():
    return (np.ones((2, 3)),)


def _x0x1():
    return (np.ones((2, 3)), np.ones((2, 3)))


def _unary(name, ref, torch, sample=normal, **kw):
    f = getattr(F, name)
    return OpSpec(name, lambda x: f(x), ref=ref, shapes=UNARY_SHAPES, sample=sample,
                  torch=torch, errors=input_errors(name, _x), **kw)


def _binary(name, ref, torch, sample=normal):
    f = getattr(F, name)
    return OpSpec(
        name, lambda x0, x1: f(x0, x1), ref=ref, shapes=BROADCAST_PAIRS, sample=sample,
        torch=torch,
        errors=[
            Bad(ValueError, rf"^{name}: x0 and x1 do not broadcast together; "
                r"got x0 \(2, 3\) float64, x1 \(4,\) float64", shapes=((2, 3), (4,))),
            *input_errors(name, _x0x1, position=1, arg="x1"),
        ])


ENTRIES = [
    # --- arithmetic (core re-exports) ------------------------------------------------
    _binary("add", np.add, lambda t, a, b: a + b),
    _binary("sub", np.subtract, lambda t, a, b: a - b),
    _binary("rsub", lambda a, b: b - a, lambda t, a, b: b - a),
    _binary("mul", np.multiply, lambda t, a, b: a * b),
    _binary("div", np.divide, lambda t, a, b: a / b, sample=[normal, positive]),
    _binary("rdiv", lambda a, b: b / a, lambda t, a, b: b / a, sample=[positive, normal]),
    _unary("neg", np.negative, lambda t, x: -x),
    OpSpec(
        "pow", lambda x, c: F.pow(x, c), ref=lambda x, c: np.power(x, c),
        shapes=UNARY_SHAPES, sample=positive,
        kwargs_grid=[{"c": 2}, {"c": 3}, {"c": 0.5}, {"c": -1.5}],
        torch=lambda t, x, c: t.pow(x, c),
        errors=[
            Bad(TypeError, r"^pow: c must be a constant .*not a Variable",
                args=lambda: (np.ones(3), F.exp(np.ones(3)))),
            Bad(TypeError, r"^pow: c must be a number or an ndarray; got list",
                args=lambda: (np.ones(3), [1, 2])),
            Bad(ValueError, r"^pow: x and c do not broadcast together; got x \(3,\) float64, "
                r"c \(2,\) float64", args=lambda: (np.ones(3), np.ones(2))),
            *input_errors("pow", lambda: (np.ones(3), 2)),
        ]),
    OpSpec(
        "rpow", lambda x, c: F.rpow(x, c), ref=lambda x, c: np.power(c, x),
        shapes=UNARY_SHAPES, kwargs_grid=[{"c": 2.0}, {"c": 0.5}],
        torch=lambda t, x, c: t.pow(c, x),
        errors=[Bad(TypeError, r"^rpow: c must be a constant",
                    args=lambda: (np.ones(3), F.exp(np.ones(3))))]),
    # --- elementwise math -------------------------------------------------------------
    _unary("sin", np.sin, lambda t, x: t.sin(x)),
    _unary("cos", np.cos, lambda t, x: t.cos(x)),
    _unary("tan", np.tan, lambda t, x: t.tan(x), sample=small),
    _unary("tanh", np.tanh, lambda t, x: t.tanh(x)),
    _unary("exp", np.exp, lambda t, x: t.exp(x)),
    _unary("log", np.log, lambda t, x: t.log(x), sample=positive),
    _unary("sqrt", np.sqrt, lambda t, x: t.sqrt(x), sample=positive),
    _unary("abs", np.abs, lambda t, x: t.abs(x), sample=off_kinks),
    _unary("square", np.square, lambda t, x: t.square(x)),
    OpSpec(
        "clip", lambda x, x_min, x_max: F.clip(x, x_min, x_max),
        ref=lambda x, x_min, x_max: np.clip(x, x_min, x_max),
        shapes=UNARY_SHAPES, sample=away_from(-0.5, 0.5),
        kwargs_grid=[{"x_min": -0.5, "x_max": 0.5}, {"x_min": None, "x_max": 0.5},
                     {"x_min": -0.5, "x_max": None}],
        torch=lambda t, x, x_min, x_max: t.clamp(x, x_min, x_max),
        errors=[
            Bad(ValueError, r"^clip: x_min \(1\.0\) > x_max \(0\.0\); got x \(2, 3\) float64",
                shapes=((2, 3),), kwargs={"x_min": 1.0, "x_max": 0.0}),
            Bad(ValueError, r"^clip: x_min and x_max are both None",
                shapes=((2, 3),), kwargs={"x_min": None, "x_max": None}),
            Bad(TypeError, r"^clip: x_min must be a real number; got list",
                shapes=((2, 3),), kwargs={"x_min": [0.0], "x_max": 1.0}),
            *input_errors("clip", _x, x_min=0.0, x_max=1.0),
        ]),
    OpSpec(
        "maximum", lambda x0, x1: F.maximum(x0, x1), ref=np.maximum, shapes=BROADCAST_PAIRS,
        sample=[grid(0.0), grid(0.1)], torch=lambda t, a, b: t.maximum(a, b),
        errors=[
            Bad(ValueError, r"^maximum: x0 and x1 do not broadcast together; "
                r"got x0 \(2, 3\) float64, x1 \(4,\) float64", shapes=((2, 3), (4,))),
            *input_errors("maximum", _x0x1, arg="x0"),
        ]),
    OpSpec(
        "minimum", lambda x0, x1: F.minimum(x0, x1), ref=np.minimum, shapes=BROADCAST_PAIRS,
        sample=[grid(0.0), grid(0.1)], torch=lambda t, a, b: t.minimum(a, b),
        errors=[
            Bad(ValueError, r"^minimum: x0 and x1 do not broadcast together",
                shapes=((2, 3), (3, 2))),
            *input_errors("minimum", _x0x1, position=1, arg="x1"),
        ]),
    OpSpec(
        "where", lambda c, x, y: F.where(c, x, y), ref=np.where,
        shapes=[((3, 2), (3, 2), (3, 2)), ((3, 2), (), (2,)), ((1, 2), (3, 1), ()),
                ((2,), (3, 2), (1, 2)), ((), (2,), ()), ((3, 2), (1, 2), (3, 2))],
        sample=[bool_mask, normal, normal], torch=lambda t, c, x, y: t.where(c, x, y),
        errors=[
            Bad(ValueError, r"^where: cond, x and y do not broadcast together; got cond "
                r"\(3, 2\) bool, x \(3, 2\) float64, y \(4,\) float64",
                args=lambda: (np.ones((3, 2), bool), np.ones((3, 2)), np.ones(4))),
            Bad(TypeError, r"^where: cond must hold booleans \(or integers\); got cond \(3,\) "
                r"float64", args=lambda: (np.ones(3), np.ones(3), np.ones(3))),
            Bad(TypeError, r"^where: cond must be a boolean ndarray or Variable; got list",
                args=lambda: ([True, False], np.ones(2), np.ones(2))),
            *input_errors("where", lambda: (np.ones(3, bool), np.ones(3), np.ones(3)),
                          position=2, arg="y"),
        ]),
]
