"""The op catalogue: every public function of ``dezero.functions`` described once.

Generic tests in ``tests/ops/test_catalogue.py`` walk ``CATALOGUE``. Entries are split by
family across ``tests/catalogue_*.py`` modules; each exports a list named ``ENTRIES``.
"""
from __future__ import annotations

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

    name        the attribute of ``dezero.functions``
    fn          callable taking the sampled inputs (Variables) and returning a Variable
                or a list of Variables; usually ``lambda x: F.op(x, axis=1)``
    ref         reference on raw NumPy float64 arrays (NumPy or a *_simple twin wrapped
                to return arrays); None only for ops with no independent reference
    shapes      list of input-shape tuples, one tuple of shapes per case
    sample      one sampler, or a list with one per input
    kwargs_grid list of kwargs dicts; every case runs with each
    order       highest derivative order checked (0 = not differentiable)
    dtypes      dtypes checked for preservation (output dtype == input dtype)
    rtol, atol  tolerances of the gradient check (float64)
    fwd_rtol    tolerance of the forward comparison with ``ref``
    torch       callable (torch module, *tensors, **kwargs) -> tensor, or None
    errors      list of Bad
    differentiable_inputs   indices of inputs checked (None = all floating inputs)
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
    note: str = ""

    def samplers(self, n_inputs):
        if isinstance(self.sample, (list, tuple)):
            return list(self.sample)
        return [self.sample] * n_inputs

    def make_inputs(self, shapes, dtype=np.float64, seed=0):
        rng = np.random.default_rng(seed)
        return [s(rng, shape, dtype) for s, shape in zip(self.samplers(len(shapes)), shapes)]

    def cases(self):
        """(case id, shapes, kwargs) for every shape case and kwargs combination."""
        out = []
        for shapes in self.shapes:
            for kw in self.kwargs_grid:
                kid = ",".join(f"{k}={v}" for k, v in kw.items())
                sid = "x".join(str(s) for s in shapes)
                out.append((f"{self.name}[{sid}{'|' + kid if kid else ''}]", shapes, kw))
        return out


def _load():
    import importlib
    import pkgutil
    import os

    entries = []
    here = os.path.dirname(__file__)
    for mod in sorted(m.name for m in pkgutil.iter_modules([here])):
        if mod.startswith("catalogue_"):
            module = importlib.import_module(mod)
            entries.extend(module.ENTRIES)
    return entries


CATALOGUE: list[OpSpec] = _load()

# Public names of F that are not ops to describe (classes are covered by their wrappers).
NOT_OPS = set()
