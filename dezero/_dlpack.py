"""``dezero.from_dlpack``: a Variable sharing the memory of any DLPack producer."""
from __future__ import annotations

import numpy as np

from dezero.core import Variable

_CPU_DEVICES = (1, 3)  # kDLCPU, kDLCUDAHost (pinned host memory NumPy can read)
_CUDA_DEVICES = (2, 13)  # kDLCUDA, kDLCUDAManaged


def from_dlpack(obj) -> Variable:
    """A Variable viewing the memory of ``obj`` through DLPack, without a copy.

    ``obj`` is anything with ``__dlpack__`` and ``__dlpack_device__``: a PyTorch tensor, a
    NumPy or CuPy array, a JAX array, another Variable. Host memory becomes a NumPy array,
    CUDA memory a CuPy array (CuPy must be installed). Writes through either side are seen
    by the other.

    Raises
    ------
    TypeError
        When ``obj`` does not implement the DLPack protocol.
    RuntimeError
        For CUDA memory without CuPy, or a device NumPy and CuPy cannot read.

    Examples
    --------
    >>> import torch                                                  # doctest: +SKIP
    >>> v = dezero.from_dlpack(torch.arange(3.0))                     # doctest: +SKIP
    """
    if not (hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__")):
        raise TypeError(f"from_dlpack: {type(obj).__name__} does not implement the DLPack "
                        "protocol (__dlpack__ and __dlpack_device__)")
    device_type = int(obj.__dlpack_device__()[0])
    if device_type in _CPU_DEVICES:
        return Variable(np.from_dlpack(obj))
    if device_type in _CUDA_DEVICES:
        try:
            import cupy
        except ImportError:
            raise RuntimeError("from_dlpack: the data is in CUDA memory, which needs CuPy; "
                               "install CuPy or move the data to the CPU first") from None
        return Variable(cupy.from_dlpack(obj))
    raise RuntimeError(f"from_dlpack: DLPack device type {device_type} is neither host nor "
                       "CUDA memory; dezero arrays live in NumPy or CuPy")


__all__ = ["from_dlpack"]
