"""``dezero.manual_seed``: one call seeds every generator dezero draws from."""
from __future__ import annotations

import sys

import numpy as np


def manual_seed(seed: int) -> None:
    """Seed NumPy's global generator and, when CuPy is loaded, CuPy's.

    dezero draws initial weights and dropout masks from these generators
    (``numpy.random`` and ``cupy.random``), so a seeded run repeats on either device.
    CuPy is not imported by this call: it is seeded only if something imported it already.

    Raises
    ------
    TypeError
        When ``seed`` is not an integer.
    ValueError
        When ``seed`` is negative or does not fit 32 bits (NumPy's limit).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be an int; got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"manual_seed: seed must be in [0, 2**32); got {seed}")
    np.random.seed(seed)
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        cupy.random.seed(seed)


__all__ = ["manual_seed"]
