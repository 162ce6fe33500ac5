"""Shape functions: reshape, transpose, expand_dims, flatten, squeeze, broadcast_to, sum_to,
get_item, concat, stack and split."""
from __future__ import annotations

import builtins
from typing import Any, Sequence

import numpy as np

from dezero import _arrays as _ua
from dezero import cuda
from dezero._ops import _checks
from dezero._ops._sums import sum_array
from dezero._typing import ArrayLike, Axis, Shape
from dezero.core import Function, Variable

# =============================================================================
# reshape and its relatives
# =============================================================================


class Reshape(Function):
    """y = x reshaped to ``shape``."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.x_shape)

    def backward_raw(self, g):
        return g.reshape(self.x_shape)

    def jvp(self, t):
        return reshape(t, self.shape)


def _check_reshape(op, x, shape):
    size = 1
    unknown = 0
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{op}: shape must contain ints; got {shape!r}")
        if s == -1:
            unknown += 1
        elif s < 0:
            raise ValueError(f"{op}: negative dimension {s} in shape {shape}; {_checks.got(x=x)}")
        else:
            size *= s
    if unknown > 1:
        raise ValueError(f"{op}: only one dimension of shape {shape} may be -1; "
                         f"{_checks.got(x=x)}")
    if (size != x.size) if not unknown else (size == 0 or x.size % size):
        raise ValueError(f"{op}: cannot reshape x of size {x.size} into shape {shape}; "
                         f"{_checks.got(x=x)}")


def reshape(x: ArrayLike, shape: Shape | int) -> Variable:
    """``x`` with a new shape (one entry may be -1).

    Returns ``x`` itself (as a Variable, with no graph node) when the shape is unchanged.

    Raises
    ------
    ValueError
        The sizes do not match.
    """
    x = _checks.as_input("reshape", "x", x)
    if type(shape) is not tuple:
        shape = _checks.shape_tuple("reshape", "shape", shape)
    if x.data.shape == shape:
        return x
    _check_reshape("reshape", x, shape)
    return Reshape(shape)(x)


def expand_dims(x: ArrayLike, axis: int | Sequence[int]) -> Variable:
    """``x`` with new axes of size 1 inserted at ``axis`` (an int or a tuple), via reshape."""
    x = _checks.as_input("expand_dims", "x", x)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out_ndim = x.ndim + len(axes)
    new = _checks.axis_tuple("expand_dims", axes, x, allow_none=False, ndim=out_ndim)
    rest = iter(x.shape)
    shape = tuple(1 if i in new else next(rest) for i in range(out_ndim))
    return reshape(x, shape)


def flatten(x: ArrayLike) -> Variable:
    """``x`` reshaped to ``(x.shape[0], -1)``: one row per sample."""
    x = _checks.as_input("flatten", "x", x)
    if x.ndim == 0:
        raise ValueError(f"flatten: x must have at least 1 dimension; {_checks.got(x=x)}")
    rest = 1
    for s in x.shape[1:]:
        rest *= s
    return reshape(x, (x.shape[0], rest))  # the explicit size also works when N == 0


def squeeze(x: ArrayLike, axis: Axis = None) -> Variable:
    """``x`` without the axes of size 1 in ``axis`` (all of them when None), via reshape.

    Raises
    ------
    ValueError
        An axis in ``axis`` does not have size 1.
    """
    x = _checks.as_input("squeeze", "x", x)
    if axis is None:
        axes = tuple(i for i, s in enumerate(x.shape) if s == 1)
    else:
        axes = _checks.axis_tuple("squeeze", axis, x)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of x has size {x.shape[a]}, not 1; "
                                 f"{_checks.got(x=x)}")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in axes))


# =============================================================================
# transpose
# =============================================================================


class Transpose(Function):
    """y = x with its axes permuted (reversed when ``axes`` is None)."""

    def __init__(self, axes: Any = None) -> None:
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        return transpose(gy, self._inverse())

    def backward_raw(self, g):
        return g.transpose(self._inverse())

    def _inverse(self):
        """The axes that undo this transpose (None: reversed again)."""
        if self.axes is None:
            return None
        ndim = len(self.axes)
        return tuple(int(i) for i in np.argsort([a % ndim for a in self.axes]))

    def jvp(self, t):
        return transpose(t, self.axes)


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Variable:
    """Permute the axes of ``x``; ``None`` reverses them. Negative axes are allowed.

    Raises
    ------
    ValueError
        ``axes`` is not a permutation of the axes of ``x``.
    """
    x = _checks.as_input("transpose", "x", x)
    if axes is not None:
        axes = _checks.shape_tuple("transpose", "axes", axes)
        ndim = x.ndim
        if sorted(a % ndim if -ndim <= a < ndim else a for a in axes) != list(range(ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {ndim} "
                             f"axes of x; {_checks.got(x=x)}")
    return Transpose(axes)(x)


# =============================================================================
# broadcast_to and sum_to
# =============================================================================


class BroadcastTo(Function):
    """y = x broadcast to ``shape``."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return cuda.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.x_shape)

    def backward_raw(self, g):
        return g if g.shape == self.x_shape else sum_to_array(g, self.x_shape)

    def jvp(self, t):
        return broadcast_to(t, self.shape)


def _broadcasts_to(src, dst):
    """True when an array of shape ``src`` broadcasts to exactly ``dst``."""
    if len(src) > len(dst):
        return False
    return all(s == 1 or s == d for s, d in zip(src[::-1], dst[::-1]))


def broadcast_to(x: ArrayLike, shape: Shape | int) -> Variable:
    """Broadcast ``x`` to ``shape``; returns ``x`` itself when the shapes are equal.

    Raises
    ------
    ValueError
        ``x`` does not broadcast to ``shape``.
    """
    x = _checks.as_input("broadcast_to", "x", x)
    if type(shape) is not tuple:
        shape = _checks.shape_tuple("broadcast_to", "shape", shape)
    if x.data.shape == shape:
        return x
    if not _broadcasts_to(x.shape, shape):
        raise ValueError(f"broadcast_to: x of shape {tuple(x.shape)} does not broadcast to "
                         f"shape {shape}; {_checks.got(x=x)}")
    return BroadcastTo(shape)(x)


def sum_to_array(x, shape):
    """Raw-array ``sum_to``: ``x`` summed over its leading extra axes and the axes where
    ``shape`` has 1 (no graph; the BLAS route of ``sum_array`` where it applies)."""
    lead = x.ndim - len(shape)
    inner = tuple(i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1)
    if lead and not inner:  # the leading axes only (a bias): the sum has ``shape`` already
        return sum_array(x, tuple(range(lead)))
    return sum_array(x, tuple(range(lead)) + inner, keepdims=True).reshape(shape)


class SumTo(Function):
    """y = x summed down to ``shape`` (the inverse of broadcasting)."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return sum_to_array(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.x_shape)

    def backward_raw(self, g):
        return cuda.get_array_module(g).broadcast_to(g, self.x_shape)

    def jvp(self, t):
        return sum_to(t, self.shape)


def sum_to(x: ArrayLike, shape: Shape | int) -> Variable:
    """Sum ``x`` down to ``shape``: the leading extra axes and the axes where ``shape`` has 1.

    Returns ``x`` itself when the shapes are equal.

    Raises
    ------
    ValueError
        ``shape`` does not broadcast to ``x.shape``.
    """
    x = _checks.as_input("sum_to", "x", x)
    if type(shape) is not tuple:
        shape = _checks.shape_tuple("sum_to", "shape", shape)
    if x.data.shape == shape:
        return x
    if not _broadcasts_to(shape, x.shape):
        raise ValueError(f"sum_to: shape {shape} does not broadcast to x's shape "
                         f"{tuple(x.shape)}, so x cannot be summed to it; {_checks.got(x=x)}")
    return SumTo(shape)(x)


# =============================================================================
# get_item
# =============================================================================


def _index_data(slices):
    """Replace Variables (and lists) inside an index by arrays."""
    if isinstance(slices, Variable):
        return slices.data
    if isinstance(slices, tuple):
        return tuple(_index_item(s) for s in slices)
    return _index_item(slices)


def _index_item(s):
    if isinstance(s, Variable):
        return s.data
    if isinstance(s, list):
        return np.asarray(s)
    return s


def _is_basic_index(slices):
    items = slices if isinstance(slices, tuple) else (slices,)
    return all(s is None or s is Ellipsis or isinstance(s, (int, np.integer, slice))
               for s in items)


class GetItem(Function):
    """y = x[slices] for any NumPy index."""

    def __init__(self, slices: Any) -> None:
        self.slices = slices

    def forward(self, x):
        return x[self.slices]

    def backward(self, gy):
        return GetItemGrad(self.slices, self._x0.shape)(gy)

    def backward_raw(self, g):
        return GetItemGrad(self.slices, self._x0.shape).forward(g)

    def jvp(self, t):
        return get_item(t, self.slices)


class GetItemGrad(Function):
    """gx = zeros(in_shape) with gy scatter-added at ``slices`` (repeats accumulate)."""

    def __init__(self, slices: Any, in_shape: tuple[int, ...]) -> None:
        self.slices = slices
        self.in_shape = in_shape

    def forward(self, gy):
        xp = cuda.get_array_module(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        if _is_basic_index(self.slices):
            gx[self.slices] = gy  # basic indexing cannot repeat an element
        else:
            _ua.scatter_add(gx, self.slices, gy)
        return gx

    def backward(self, ggx):
        return get_item(ggx, self.slices)


def get_item(x: ArrayLike, slices: Any) -> Variable:
    """``x[slices]`` for any NumPy index (ints, slices, None, Ellipsis, integer or boolean
    arrays, Variables holding them).

    The backward scatter-adds, so repeated indices accumulate; it is differentiable again.

    Raises
    ------
    IndexError
        The index is invalid for ``x`` (out of bounds, too many indices, float arrays).
    """
    x = _checks.as_input("get_item", "x", x)
    slices = _index_data(slices)
    try:
        return GetItem(slices)(x)
    except IndexError as exc:
        # NumPy found the index invalid during forward, so no graph node exists.
        raise IndexError(f"get_item: invalid index {_describe_index(slices)} for x: "
                         f"{_checks.root_message(exc)}; {_checks.got(x=x)}") from None


def _describe_index(slices):
    items = slices if isinstance(slices, tuple) else (slices,)
    parts = []
    for s in items:
        if hasattr(s, "shape") and hasattr(s, "dtype"):
            parts.append(f"array{_checks.describe(s).replace(' ', ' of ', 1)}")
        else:
            parts.append(repr(s))
    return "[" + ", ".join(parts) + "]"


# =============================================================================
# concat, stack, split
# =============================================================================


def _sequence(op, xs):
    if isinstance(xs, (Variable, np.ndarray)) or cuda.is_cupy_array(xs) \
            or not isinstance(xs, (list, tuple)):
        raise TypeError(f"{op}: xs must be a list or tuple of Variables or ndarrays; got "
                        f"{type(xs).__name__}")
    if len(xs) == 0:
        raise ValueError(f"{op}: xs is empty; give at least one array")
    xs = [_checks.as_input(op, f"xs[{i}]", x) for i, x in enumerate(xs)]
    if len(xs) > 1:
        _checks.same_device(op, **{f"xs[{i}]": x for i, x in enumerate(xs)})
    return xs


class Concat(Function):
    """y = concatenate(xs, axis)"""

    def __init__(self, axis: Any = 0) -> None:
        self.axis = axis

    def forward(self, *xs):
        axis = self.axis
        self.indices = np.cumsum([x.shape[axis] for x in xs[:-1]]).tolist()
        return cuda.get_array_module(xs[0]).concatenate(xs, axis=axis)

    def backward(self, gy):
        return tuple(split(gy, self.indices, axis=self.axis))


def concat(xs: Sequence[ArrayLike], axis: int = 0) -> Variable:
    """Join a sequence of arrays along an existing axis (``numpy.concatenate``).

    Raises
    ------
    ValueError
        The arrays differ in ndim, or in size along an axis other than ``axis``.
    """
    xs = _sequence("concat", xs)
    first = xs[0]
    if first.ndim == 0:
        raise ValueError(f"concat: 0-d arrays cannot be concatenated; use stack; "
                         f"{_checks.got(**{'xs[0]': first})}")
    axis = _checks.int_axis("concat", axis, first)
    for i, x in enumerate(xs[1:], 1):
        if x.ndim != first.ndim or any(a != b for k, (a, b) in enumerate(zip(x.shape, first.shape))
                                       if k != axis):
            raise ValueError(f"concat: all dimensions except axis {axis} must match; "
                             f"{_checks.got(**{'xs[0]': first, f'xs[{i}]': x})}")
    return Concat(axis)(*xs)


class Stack(Function):
    """y = stack(xs, axis)"""

    def __init__(self, axis: Any = 0) -> None:
        self.axis = axis

    def forward(self, *xs):
        return cuda.get_array_module(xs[0]).stack(xs, axis=self.axis)

    def backward(self, gy):
        n = len(self.inputs)
        pieces = split(gy, n, axis=self.axis)
        return tuple(reshape(p, x.shape) for p, x in zip(pieces, self.inputs))


def stack(xs: Sequence[ArrayLike], axis: int = 0) -> Variable:
    """Join a sequence of same-shaped arrays along a new axis (``numpy.stack``).

    Raises
    ------
    ValueError
        The shapes differ, or ``axis`` is out of range for the result.
    """
    xs = _sequence("stack", xs)
    first = xs[0]
    for i, x in enumerate(xs[1:], 1):
        if x.shape != first.shape:
            raise ValueError(f"stack: all arrays must have the same shape; "
                             f"{_checks.got(**{'xs[0]': first, f'xs[{i}]': x})}")
    axis = _checks.int_axis("stack", axis, first, ndim=first.ndim + 1)
    return Stack(axis)(*xs)


class Split(Function):
    """ys = split(x, indices_or_sections, axis)"""

    def __init__(self, indices_or_sections: Any, axis: Any = 0) -> None:
        self.indices_or_sections = indices_or_sections
        self.axis = axis

    def forward(self, x):
        xp = cuda.get_array_module(x)
        return tuple(xp.split(x, self.indices_or_sections, axis=self.axis))

    def backward(self, *gys):
        return concat(gys, axis=self.axis)


def split(x: ArrayLike, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Variable]:
    """Split ``x`` along ``axis`` like ``numpy.split``; returns a list of Variables.

    ``indices_or_sections`` is a number of equal sections or a sorted sequence of split
    points. Each piece gets its own gradient; pieces left unused get zeros.

    Raises
    ------
    ValueError
        ``x.shape[axis]`` does not divide into the requested number of sections.
    """
    x = _checks.as_input("split", "x", x)
    if x.ndim == 0:
        raise ValueError(f"split: x must have at least 1 dimension; {_checks.got(x=x)}")
    axis = _checks.int_axis("split", axis, x)
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)) \
            and not isinstance(indices_or_sections, bool):
        sections = int(indices_or_sections)
        if sections < 1 or n % sections:
            raise ValueError(f"split: x.shape[{axis}] ({n}) does not divide into "
                             f"{sections} equal sections; {_checks.got(x=x)}")
        spec: int | tuple[int, ...] = sections
    else:
        bounds = _checks.shape_tuple("split", "indices_or_sections", indices_or_sections)
        spec = tuple(builtins.min(builtins.max(i if i >= 0 else i + n, 0), n) for i in bounds)
    ys = Split(spec, axis)(x)
    return ys if isinstance(ys, list) else [ys]
