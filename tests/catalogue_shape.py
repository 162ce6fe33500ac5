"""Catalogue entries: shape functions (dezero/_ops/array.py)."""
import numpy as np

import dezero.functions as F
from op_catalogue import Bad, OpSpec, input_errors


def _x():
    return (np.ones((2, 3)),)


def _first(arrays):
    """Torch ops take a sequence where ours take *xs."""
    return list(arrays)


def _torch_index(t, idx):
    """An index with NumPy arrays turned into torch tensors."""
    if isinstance(idx, tuple):
        return tuple(_torch_index(t, i) for i in idx)
    if isinstance(idx, np.ndarray):
        return t.from_numpy(idx)
    return idx


def _torch_getitem(t, x, slices):
    # torch has no negative slice steps: the one such case, x[..., None, ::-2], is
    # written with flip.
    if isinstance(slices, tuple) and isinstance(slices[-1], slice) and slices[-1].step == -2:
        return x.flip(-1)[..., None, ::2]
    return x[_torch_index(t, slices)]


def _torch_split(t, x, indices_or_sections, axis=0):
    return t.tensor_split(x, indices_or_sections, dim=axis)


def _squeeze_ref(x, axis=None):
    return np.squeeze(x, axis=axis)


def _torch_squeeze(t, x, axis=None):
    return x.squeeze() if axis is None else x.squeeze(axis)


ENTRIES = [
    OpSpec(
        "reshape", lambda x, shape: F.reshape(x, shape),
        ref=lambda x, shape: np.reshape(x, shape),  # np.reshape(shape=) needs NumPy 2.1
        shapes=[((2, 3),)],
        kwargs_grid=[{"shape": (3, 2)}, {"shape": (6,)}, {"shape": (-1, 2)},
                     {"shape": (1, 2, 3)}, {"shape": (2, 3)}],
        extra_cases=[(((),), {"shape": (1, 1)}), (((4,),), {"shape": 4})],
        torch=lambda t, x, shape: t.reshape(x, (shape,) if isinstance(shape, int) else shape),
        errors=[
            Bad(ValueError, r"^reshape: cannot reshape x of size 6 into shape \(4, 2\); "
                r"got x \(2, 3\) float64", shapes=((2, 3),), kwargs={"shape": (4, 2)}),
            Bad(ValueError, r"^reshape: only one dimension of shape \(-1, -1\) may be -1",
                shapes=((2, 3),), kwargs={"shape": (-1, -1)}),
            Bad(TypeError, r"^reshape: shape must be an int or a sequence of ints; got float",
                shapes=((2, 3),), kwargs={"shape": 6.0}),
            Bad(TypeError, r"^reshape: shape must contain ints; got \(3\.0, 2\)",
                shapes=((2, 3),), kwargs={"shape": (3.0, 2)}),
            *input_errors("reshape", _x, shape=(6,)),
        ]),
    OpSpec(
        "transpose", lambda x, axes: F.transpose(x, axes), ref=np.transpose,
        shapes=[((2, 3, 4),)],
        kwargs_grid=[{"axes": None}, {"axes": (1, 0, 2)}, {"axes": (-1, 0, 1)},
                     {"axes": [2, 1, 0]}],
        extra_cases=[(((2, 3),), {"axes": None}), (((),), {"axes": None}),
                     (((3,),), {"axes": (0,)})],
        torch=lambda t, x, axes: x.permute(tuple(axes) if axes is not None
                                           else tuple(range(x.ndim - 1, -1, -1))),
        errors=[
            Bad(ValueError, r"^transpose: axes \(0, 0\) are not a permutation of the 2 axes "
                r"of x; got x \(2, 3\) float64", shapes=((2, 3),), kwargs={"axes": (0, 0)}),
            Bad(ValueError, r"^transpose: axes \(0, 1, 2\) are not a permutation",
                shapes=((2, 3),), kwargs={"axes": (0, 1, 2)}),
            *input_errors("transpose", _x),
        ]),
    OpSpec(
        "expand_dims", lambda x, axis: F.expand_dims(x, axis), ref=np.expand_dims,
        shapes=[((2, 3),)], kwargs_grid=[{"axis": 0}, {"axis": 1}, {"axis": -1},
                                         {"axis": (0, 3)}],
        extra_cases=[(((),), {"axis": 0})],
        torch=lambda t, x, axis: x.reshape(np.expand_dims(np.empty(x.shape), axis).shape),
        errors=[
            Bad(ValueError, r"^expand_dims: axis 3 is out of bounds for 3 dimensions; got x "
                r"\(2, 3\) float64", shapes=((2, 3),), kwargs={"axis": 3}),
            Bad(TypeError, r"^expand_dims: axis must be an int", shapes=((2, 3),),
                kwargs={"axis": 1.5}),
            *input_errors("expand_dims", _x, axis=0),
        ]),
    OpSpec(
        "flatten", lambda x: F.flatten(x), ref=lambda x: x.reshape(x.shape[0], -1),
        shapes=[((2, 3, 2),), ((3,),), ((2, 3),)],
        torch=lambda t, x: x.reshape(x.shape[0], -1),
        errors=[
            Bad(ValueError, r"^flatten: x must have at least 1 dimension; got x \(\) float64",
                shapes=((),)),
            *input_errors("flatten", _x),
        ]),
    OpSpec(
        "squeeze", lambda x, axis=None: F.squeeze(x, axis), ref=_squeeze_ref,
        shapes=[((1, 3, 1),)],
        kwargs_grid=[{}, {"axis": 0}, {"axis": -1}, {"axis": (0, 2)}],
        extra_cases=[(((),), {}), (((2, 3),), {})],
        torch=_torch_squeeze,
        errors=[
            Bad(ValueError, r"^squeeze: axis 1 of x has size 3, not 1; got x \(1, 3, 1\) "
                r"float64", shapes=((1, 3, 1),), kwargs={"axis": 1}),
            Bad(ValueError, r"^squeeze: axis 5 is out of bounds", shapes=((1, 3, 1),),
                kwargs={"axis": 5}),
            *input_errors("squeeze", _x),
        ]),
    OpSpec(
        "get_item", lambda x, slices: F.get_item(x, slices), ref=lambda x, slices: x[slices],
        shapes=[((3, 4),)],
        kwargs_grid=[
            {"slices": 1}, {"slices": slice(0, 2)}, {"slices": (slice(None), 1)},
            {"slices": np.array([0, 0, 2])},  # repeated rows accumulate
            {"slices": (np.array([0, 1, 1]), np.array([2, 2, 2]))},  # one element thrice
            {"slices": (Ellipsis, None, slice(None, None, -2))},
            {"slices": np.array([[True, False, True, False]] * 3)},
            {"slices": (slice(1, None), np.array([3, 0, 3]))},
        ],
        extra_cases=[(((5,),), {"slices": -1}), (((5,),), {"slices": np.array([4, 4, 1])})],
        torch=lambda t, x, slices: _torch_getitem(t, x, slices),
        errors=[
            Bad(IndexError, r"^get_item: invalid index \[5\] for x: .*out of bounds.*; got x "
                r"\(3, 4\) float64", shapes=((3, 4),), kwargs={"slices": 5}),
            Bad(IndexError, r"^get_item: invalid index \[array\(2,\) of float64\]",
                shapes=((3, 4),), kwargs={"slices": np.array([0.0, 1.0])}),
            Bad(IndexError, r"^get_item: invalid index \[0, 0, 0\] for x: too many indices",
                shapes=((3, 4),), kwargs={"slices": (0, 0, 0)}),
            *input_errors("get_item", lambda: (np.ones(3), 0)),
        ]),
    OpSpec(
        "broadcast_to", lambda x, shape: F.broadcast_to(x, shape), ref=np.broadcast_to,
        shapes=[],
        extra_cases=[(((2,),), {"shape": (3, 2)}), (((1, 2),), {"shape": (3, 2)}),
                     (((),), {"shape": (2, 3)}), (((3, 1),), {"shape": (2, 3, 4)}),
                     (((2, 3),), {"shape": (2, 3)})],
        torch=lambda t, x, shape: x.broadcast_to(shape),
        errors=[
            Bad(ValueError, r"^broadcast_to: x of shape \(3,\) does not broadcast to shape "
                r"\(2, 2\); got x \(3,\) float64", shapes=((3,),), kwargs={"shape": (2, 2)}),
            Bad(ValueError, r"^broadcast_to: x of shape \(2, 3\) does not broadcast to shape "
                r"\(3,\)", shapes=((2, 3),), kwargs={"shape": (3,)}),
            *input_errors("broadcast_to", _x, shape=(2, 2, 3)),
        ]),
    OpSpec(
        "sum_to", lambda x, shape: F.sum_to(x, shape),
        ref=lambda x, shape: _sum_to_ref(x, shape),
        shapes=[],
        extra_cases=[(((3, 2),), {"shape": (2,)}), (((3, 2),), {"shape": (1, 2)}),
                     (((3, 2),), {"shape": ()}), (((2, 3, 4),), {"shape": (3, 1)}),
                     (((2, 3),), {"shape": (2, 3)}), (((2, 3),), {"shape": (2, 1)})],
        torch=lambda t, x, shape: x.sum_to_size(shape) if shape else x.sum(),
        errors=[
            Bad(ValueError, r"^sum_to: shape \(4,\) does not broadcast to x's shape \(2, 3\)",
                shapes=((2, 3),), kwargs={"shape": (4,)}),
            Bad(ValueError, r"^sum_to: shape \(1, 2, 3\) does not broadcast",
                shapes=((2, 3),), kwargs={"shape": (1, 2, 3)}),
            *input_errors("sum_to", _x, shape=(3,)),
        ]),
    OpSpec(
        "concat", lambda *xs, axis=0: F.concat(xs, axis=axis),
        ref=lambda *xs, axis=0: np.concatenate(xs, axis=axis),
        shapes=[],
        extra_cases=[(((2, 3), (1, 3)), {"axis": 0}), (((2, 3), (2, 1), (2, 2)), {"axis": 1}),
                     (((2,), (3,)), {}), (((2, 2), (2, 3)), {"axis": -1}),
                     (((2, 3),), {})],
        torch=lambda t, *xs, axis=0: t.cat(_first(xs), dim=axis),
        errors=[
            Bad(ValueError, r"^concat: all dimensions except axis 0 must match; got xs\[0\] "
                r"\(2, 3\) float64, xs\[1\] \(2, 4\) float64",
                args=lambda: ([np.ones((2, 3)), np.ones((2, 4))],)),
            Bad(ValueError, r"^concat: xs is empty", args=lambda: ([],)),
            Bad(TypeError, r"^concat: xs must be a list or tuple .*; got ndarray",
                args=lambda: (np.ones((2, 3)),)),
            Bad(ValueError, r"^concat: axis 2 is out of bounds for 2 dimensions",
                args=lambda: ([np.ones((2, 3)), np.ones((2, 3))], 2)),
            Bad(TypeError, r"^concat: xs\[1\] must hold a numeric",
                args=lambda: ([np.ones(2), np.array(["a"])],)),
        ]),
    OpSpec(
        "stack", lambda *xs, axis=0: F.stack(xs, axis=axis),
        ref=lambda *xs, axis=0: np.stack(xs, axis=axis),
        shapes=[((2, 3), (2, 3))],
        kwargs_grid=[{}, {"axis": 1}, {"axis": 2}, {"axis": -1}],
        extra_cases=[(((), (), ()), {}), (((3,),), {})],
        torch=lambda t, *xs, axis=0: t.stack(_first(xs), dim=axis),
        errors=[
            Bad(ValueError, r"^stack: all arrays must have the same shape; got xs\[0\] \(2, 3\) "
                r"float64, xs\[1\] \(3, 2\) float64",
                args=lambda: ([np.ones((2, 3)), np.ones((3, 2))],)),
            Bad(ValueError, r"^stack: axis 3 is out of bounds for 3 dimensions",
                args=lambda: ([np.ones((2, 3))], 3)),
            Bad(TypeError, r"^stack: xs must be a list or tuple", args=lambda: (np.ones(3),)),
        ]),
    OpSpec(
        "split", lambda x, indices_or_sections, axis=0: F.split(x, indices_or_sections, axis),
        ref=lambda x, indices_or_sections, axis=0: np.split(x, indices_or_sections, axis),
        shapes=[],
        extra_cases=[(((6,),), {"indices_or_sections": 3}),
                     (((6,),), {"indices_or_sections": [1, 4]}),
                     (((2, 6),), {"indices_or_sections": 2, "axis": 1}),
                     (((4, 3),), {"indices_or_sections": [1, 1, 3]}),
                     (((3, 2),), {"indices_or_sections": 1, "axis": -1})],
        torch=_torch_split,
        errors=[
            Bad(ValueError, r"^split: x.shape\[0\] \(5\) does not divide into 2 equal sections; "
                r"got x \(5,\) float64", shapes=((5,),), kwargs={"indices_or_sections": 2}),
            Bad(TypeError, r"^split: axis must be an int; got tuple", shapes=((4,),),
                kwargs={"indices_or_sections": 2, "axis": (0,)}),
            *input_errors("split", lambda: (np.ones(4), 2)),
        ]),
]


def _sum_to_ref(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1)
    return x.sum(axis=axes, keepdims=True).reshape(shape)
