"""Catalogue entries: matrix products (dezero/_ops/linalg.py)."""
import numpy as np

import dezero.functions as F
from op_catalogue import Bad, OpSpec, input_errors

MATMUL_SHAPES = [
    ((2, 3), (3, 4)), ((1, 3), (3, 1)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)),
    ((2, 2, 3), (3, 4)),  # batch of x, shared W
    ((2, 3), (2, 3, 2)),  # shared x, batch of W
    ((2, 1, 2, 3), (3, 3, 2)),  # broadcast batch dimensions on both sides
]

LINEAR_SHAPES = [
    ((2, 3), (3, 4), (4,)), ((2, 3), (3, 4)), ((1, 3), (3, 2), (1, 2)), ((2, 2, 3), (3, 4), (4,)),
    ((3,), (3, 2), (2,)), ((2, 3), (3, 4), ()),
]


def _linear_ref(x, W, b=None):
    y = x @ W
    return y if b is None else y + b


def _torch_linear(t, x, W, b=None):
    return t.nn.functional.linear(x, W.T, b)


def _linear_errors(name):
    def xwb():
        return (np.ones((2, 3)), np.ones((3, 4)), np.ones(4))
    return [
        Bad(ValueError, rf"^{name}: x.shape\[-1\] \(3\) != W.shape\[0\] \(4\); got x \(2, 3\) "
            r"float64, W \(4, 5\) float64", shapes=((2, 3), (4, 5))),
        Bad(ValueError, rf"^{name}: b of shape \(5,\) does not broadcast to the output shape "
            r"\(2, 4\); got x \(2, 3\) float64, W \(3, 4\) float64, b \(5,\) float64",
            shapes=((2, 3), (3, 4), (5,))),
        Bad(ValueError, rf"^{name}: W must be 2-D \(in_size, out_size\); got x \(2, 3\) "
            r"float64, W \(1, 3, 4\) float64", shapes=((2, 3), (1, 3, 4))),
        *input_errors(name, xwb),
        *input_errors(name, xwb, position=1, arg="W"),
        *input_errors(name, xwb, position=2, arg="b"),
    ]


ENTRIES = [
    OpSpec(
        "matmul", lambda x, W: F.matmul(x, W), ref=np.matmul, shapes=MATMUL_SHAPES,
        torch=lambda t, x, W: t.matmul(x, W),
        errors=[
            Bad(ValueError, r"^matmul: x.shape\[-1\] \(3\) != W.shape\[0\] \(4\); got x "
                r"\(2, 3\) float64, W \(4, 5\) float64", shapes=((2, 3), (4, 5))),
            Bad(ValueError, r"^matmul: x.shape\[-1\] \(3\) != W.shape\[-2\] \(4\)",
                shapes=((2, 2, 3), (2, 4, 5))),
            Bad(ValueError, r"^matmul: batch dimensions \(2,\) of x and \(3,\) of W do not "
                r"broadcast", shapes=((2, 2, 3), (3, 3, 5))),
            Bad(ValueError, r"^matmul: operands must have at least 1 dimension; got x \(\) "
                r"float64, W \(3,\) float64", shapes=((), (3,))),
            *input_errors("matmul", lambda: (np.ones((2, 3)), np.ones((3, 4)))),
            *input_errors("matmul", lambda: (np.ones((2, 3)), np.ones((3, 4))), position=1,
                          arg="W"),
        ]),
    OpSpec(
        "linear", lambda *xs: F.linear(*xs), ref=_linear_ref, shapes=LINEAR_SHAPES,
        torch=_torch_linear, errors=_linear_errors("linear")),
    OpSpec(
        "linear_simple", lambda *xs: F.linear_simple(*xs), ref=_linear_ref,
        shapes=LINEAR_SHAPES, torch=_torch_linear, errors=_linear_errors("linear_simple")),
]
