"""The op catalogue: every public function of ``dezero.functions`` described once.

Generic tests in ``tests/ops/test_catalogue.py`` walk ``CATALOGUE``. Entries are split by
family across ``tests/catalogue_*.py`` modules; each exports a list named ``ENTRIES``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

# -----------------------------------------------------------------------------
# Input samplers: rng, shape, dtype -> ndarray
# -----------------------------------------------------------------------------


def normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def positive(rng, shape, dtype):
    """Away from 0: for log, sqrt, division."""
    return rng.uniform(0.5, 2.0, shape).astype(dtype)


def off_kinks(rng, shape, dtype):
    """|x| in [0.1, 1.5] with random signs: keeps relu/abs/clip/max off their kinks."""
    magnitude = rng.uniform(0.1, 1.5, shape)
    sign = rng.choice([-1.0, 1.0], size=shape)
    return (magnitude * sign).astype(dtype)


def distinct(rng, shape, dtype):
    """A random permutation scaled: no ties, so max/min/pooling are differentiable."""
    n = int(np.prod(shape)) if shape else 1
    values = (rng.permutation(n) - n / 2) * 0.1 + rng.uniform(-0.01, 0.01, n)
    return values.reshape(shape).astype(dtype)


def unit_interval(rng, shape, dtype):
    """Probabilities away from 0 and 1."""
    return rng.uniform(0.1, 0.9, shape).astype(dtype)


def small(rng, shape, dtype):
    """Uniform in [-1, 1]: keeps tan away from its poles."""
    return rng.uniform(-1.0, 1.0, shape).astype(dtype)


def grid(offset):
    """Points of the lattice 0.2*k + offset, jittered by 0.01.

    Samples from ``grid(0.0)`` and ``grid(0.1)`` are at least 0.08 apart, so maximum and
    minimum stay off their ties (the gradient check steps by at most 2e-3).
    """
    def sample(rng, shape, dtype):
        k = rng.integers(-8, 8, size=shape)
        return (0.2 * k + offset + rng.uniform(-0.01, 0.01, shape)).astype(dtype)
    return sample


def away_from(*points, margin=0.05, scale=1.5):
    """Uniform in [-scale, scale], at least ``margin`` from each of ``points`` (for clip)."""
    def sample(rng, shape, dtype):
        x = rng.uniform(-scale, scale, shape)
        for p in points:
            near = np.abs(x - p) < margin
            x = np.where(near, p + np.where(x >= p, margin, -margin) * 2, x)
        return np.asarray(x).astype(dtype)
    return sample


def bool_mask(rng, shape, dtype):
    """A random boolean array (a condition, never differentiated)."""
    return np.asarray(rng.random(shape) < 0.5)


bool_mask.integer = True


def extreme_logits(rng, shape, dtype):
    """Logits of +-1000 (and 0): softmax-like ops must stay finite in float32."""
    return rng.choice([-1000.0, 0.0, 1000.0], size=shape).astype(dtype)


def labels(n_classes):
    """Integer labels in [0, n_classes)."""
    def sample(rng, shape, dtype):
        return rng.integers(0, n_classes, size=shape).astype(np.int64)
    sample.integer = True
    return sample


def binary_labels(rng, shape, dtype):
    return rng.integers(0, 2, size=shape).astype(np.int64)


binary_labels.integer = True


def constant(array):
    """A fixed input (e.g. an index array), never differentiated."""
    def sample(rng, shape, dtype):
        return np.asarray(array)
    sample.integer = True
    return sample


# The 16 pairs over {(), (2,), (3, 2), (1, 2)} that broadcast together.
_BASE_SHAPES = [(), (2,), (3, 2), (1, 2)]


def _broadcastable(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


BROADCAST_PAIRS = [(a, b) for a in _BASE_SHAPES for b in _BASE_SHAPES if _broadcastable(a, b)]


# -----------------------------------------------------------------------------
# Entries
# -----------------------------------------------------------------------------


@dataclass
class Bad:
    """An error case: inputs built from ``shapes`` (or given ``args``) must raise ``exc``
    with a message matching ``match`` (``re.search``)."""

    exc: type
    match: str
    shapes: Sequence[tuple] | None = None
    args: Callable[[], tuple] | None = None  # returns the full positional arguments
    kwargs: dict = field(default_factory=dict)
    dtypes: Sequence[Any] | None = None


@dataclass
class OpSpec:
    """One public function of F.

    Calling conventions: for a case with input arrays ``xs`` and kwargs ``kw``, the tests
    call ``fn(*Variables(xs), **kw)``, ``ref(*xs, **kw)`` and ``torch(torch, *tensors, **kw)``.
    Error cases call the public function ``getattr(F, name)`` directly.

    name        the attribute of ``dezero.functions``
    fn          callable taking the sampled inputs (Variables) and returning a Variable
                or a list of Variables; usually ``lambda x, axis: F.op(x, axis=axis)``
    ref         reference on raw NumPy float64 arrays (NumPy or a *_simple twin wrapped
                to return arrays); None only for ops with no independent reference
    shapes      list of input-shape tuples, one tuple of shapes per case
    sample      one sampler, or a list with one per input
    kwargs_grid list of kwargs dicts; every shape case runs with each
    extra_cases list of (shapes, kwargs) pairs run as well (kwargs that suit one shape)
    order       highest derivative order checked (0 = not differentiable)
    dtypes      dtypes checked for preservation (output dtype == input dtype, and each
                gradient's dtype == its input's)
    rtol, atol  tolerances of the gradient check (float64)
    fwd_rtol, fwd_atol      tolerances of the forward comparison with ``ref``
    torch       callable (torch module, *tensors, **kwargs) -> tensor(s), or None
    torch_rtol, torch_atol  tolerances of the PyTorch comparison (float64)
    errors      list of Bad
    extreme     sampler of extreme inputs (e.g. ``extreme_logits``): in float32 the values
                and gradients must stay finite; None skips the test
    keeps_dtype False when the output dtype is not the input's (argmax, accuracy)
    differentiable_inputs   indices of the inputs differentiated (None = all floating
                inputs); the others are held constant
    """

    name: str
    fn: Callable
    ref: Callable | None = None
    shapes: Sequence[tuple] = ((((2, 3)),),)
    sample: Any = normal
    kwargs_grid: Sequence[dict] = ({},)
    order: int = 2
    dtypes: Sequence[Any] = (np.float32, np.float64)
    rtol: float = 1e-6
    atol: float = 1e-6
    fwd_rtol: float = 1e-7
    torch: Callable | None = None
    errors: Sequence[Bad] = ()
    keeps_dtype: bool = True
    # True when the op draws from the device's RNG: its forward is compared with the
    # NumPy reference on NumPy only (cupy.random draws other numbers).
    device_rng: bool = False
    note: str = ""
    extra_cases: Sequence[tuple] = ()
    fwd_atol: float = 1e-12
    torch_rtol: float = 1e-7
    torch_atol: float = 1e-10
    extreme: Callable | None = None
    differentiable_inputs: Sequence[int] | None = None

    def samplers(self, n_inputs):
        if isinstance(self.sample, (list, tuple)):
            return list(self.sample)
        return [self.sample] * n_inputs

    def make_inputs(self, shapes, dtype=np.float64, seed=0):
        rng = np.random.default_rng(seed)
        # np.asarray: arithmetic on 0-d arrays gives NumPy scalars, which Variable refuses
        return [np.asarray(s(rng, shape, dtype))
                for s, shape in zip(self.samplers(len(shapes)), shapes)]

    def is_constant(self, index, n_inputs):
        """True for an input that is never differentiated (labels, masks, indices)."""
        sampler = self.samplers(n_inputs)[index]
        if getattr(sampler, "integer", False):
            return True
        return self.differentiable_inputs is not None and index not in self.differentiable_inputs

    def cases(self):
        """(case id, shapes, kwargs) for every shape case and kwargs combination, then the
        extra cases. Ids are unique within the entry."""
        pairs = [(shapes, kw) for shapes in self.shapes for kw in self.kwargs_grid]
        pairs += [(tuple(shapes), kw) for shapes, kw in self.extra_cases]
        out = []
        seen = set()
        for shapes, kw in pairs:
            kid = ",".join(f"{k}={_short(v)}" for k, v in kw.items())
            sid = "x".join(str(s) for s in shapes)
            cid = f"{self.name}[{sid}{'|' + kid if kid else ''}]"
            base, n = cid, 1
            while cid in seen:
                n += 1
                cid = f"{base}#{n}"
            seen.add(cid)
            out.append((cid, shapes, kw))
        return out


def _short(v):
    """A compact id for a kwarg value (arrays by shape and a few values)."""
    if isinstance(v, np.ndarray):
        flat = v.ravel()
        body = ",".join(str(a) for a in flat[:4]) + (",..." if flat.size > 4 else "")
        return f"array{v.shape}[{body}]"
    if isinstance(v, tuple):
        return "(" + ",".join(_short(a) for a in v) + ")"
    if isinstance(v, slice):
        return f"{v.start}:{v.stop}" + (f":{v.step}" if v.step is not None else "")
    return str(v)


def input_errors(name, make_args, position=0, arg="x", **kwargs):
    """Two error cases for one input of ``name``: a Python list and an array of strings,
    both TypeError naming the op and the argument.

    ``make_args`` returns valid positional arguments; the one at ``position`` is replaced.
    """
    def replacing(value):
        def args():
            out = list(make_args())
            out[position] = value
            return tuple(out)
        return args
    arg_re = re.escape(arg)
    return [
        Bad(TypeError, rf"^{name}: {arg_re} must be a Variable or an ndarray.*; got list",
            args=replacing([0.5, 1.0]), kwargs=kwargs),
        Bad(TypeError, rf"^{name}: {arg_re} must hold a numeric .*<U1",
            args=replacing(np.array(["a", "b"])), kwargs=kwargs),
    ]


def _load():
    import importlib
    import os
    import pkgutil

    entries = []
    here = os.path.dirname(__file__)
    for mod in sorted(m.name for m in pkgutil.iter_modules([here])):
        if mod.startswith("catalogue_"):
            module = importlib.import_module(mod)
            entries.extend(module.ENTRIES)
    return entries


_catalogue: list[OpSpec] | None = None


def __getattr__(name):
    # ``CATALOGUE`` is loaded on first use, so a catalogue_* module can be imported on its
    # own (it imports this module, which would otherwise import it back half-built).
    if name == "CATALOGUE":
        global _catalogue
        if _catalogue is None:
            _catalogue = _load()
        return _catalogue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Public names of F that are not ops to describe (classes are covered by their wrappers).
NOT_OPS = set()
