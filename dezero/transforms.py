"""Transforms applied to one sample of a dataset.

Image transforms (``Convert``, ``Resize``, ``ToPIL``) work on Pillow images and import Pillow
only when called. Array transforms (``Normalize``, ``Flatten``, ``AsType``...) work on CHW
ndarrays. ``CenterCrop`` and ``RandomHorizontalFlip`` accept either.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

import numpy as np

from dezero import cuda
from dezero._install_hint import install_hint
from dezero.utils import pair

__all__ = [
    "Compose", "Convert", "Resize", "CenterCrop", "ToArray", "ToPIL", "RandomHorizontalFlip",
    "Normalize", "Flatten", "AsType", "ToFloat", "ToInt",
]


def _pil_image():
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("image transforms need Pillow; " + install_hint("viz", "pillow")
                          ) from e
    return Image


def _is_pil(img):
    # A PIL image can only exist once PIL.Image is imported, so this never imports Pillow.
    module = sys.modules.get("PIL.Image")
    return module is not None and isinstance(img, module.Image)


class Compose:
    """Apply ``transforms`` in order; an empty list is the identity.

    Examples
    --------
    >>> f = Compose([Flatten(), ToFloat(), Normalize(0., 255.)])
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]] | None = None) -> None:
        self.transforms = list(transforms) if transforms is not None else []

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


# =============================================================================
# Pillow images
# =============================================================================


class Convert:
    """Pillow ``convert(mode)``; ``mode='BGR'`` gives an RGB image with channels swapped."""

    def __init__(self, mode: str = "RGB") -> None:
        self.mode = mode

    def __call__(self, img):
        Image = _pil_image()
        if self.mode == "BGR":
            r, g, b = img.convert("RGB").split()
            return Image.merge("RGB", (b, g, r))
        return img.convert(self.mode)


class Resize:
    """Resize a Pillow image to ``pair(size)`` (width, height); bilinear by default."""

    def __init__(self, size: int | tuple[int, int], mode: Any = None) -> None:
        self.size = pair(size)
        self.mode = mode  # None: Pillow's BILINEAR, looked up when first used

    def __call__(self, img):
        mode = self.mode
        if mode is None:
            mode = _pil_image().Resampling.BILINEAR
        return img.resize(self.size, mode)


class CenterCrop:
    """Crop the centre ``pair(size)`` (width, height, as Pillow) of a Pillow image or a CHW array.

    When the margin is odd, the extra pixel is cut from the right or bottom.
    """

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = pair(size)

    def __call__(self, img):
        if _is_pil(img):
            W, H = img.size
        else:
            H, W = img.shape[-2:]
        OW, OH = self.size
        if OH > H or OW > W:
            raise ValueError(f"CenterCrop: crop (width, height) {self.size} is larger than the "
                             f"image ({W}, {H})")
        top = (H - OH) // 2
        left = (W - OW) // 2
        if _is_pil(img):
            return img.crop((left, top, left + OW, top + OH))
        return img[..., top:top + OH, left:left + OW]


class ToArray:
    """Pillow image -> CHW array in ``dtype``; an ndarray passes through unchanged."""

    def __init__(self, dtype: Any = np.float32) -> None:
        self.dtype = dtype

    def __call__(self, img):
        if isinstance(img, np.ndarray) or cuda.is_cupy_array(img):
            return img
        if _is_pil(img):
            x = np.asarray(img)
            x = x[np.newaxis] if x.ndim == 2 else x.transpose(2, 0, 1)
            return x.astype(self.dtype)
        raise TypeError(f"ToArray: expected a PIL image or an ndarray, got {type(img).__name__}")


class ToPIL:
    """CHW array -> Pillow image (one channel gives a grayscale image)."""

    def __call__(self, array):
        Image = _pil_image()
        x = cuda.as_numpy(array)
        if x.ndim != 3:
            raise ValueError(f"ToPIL: expected a CHW array, got shape {x.shape}")
        x = x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0)
        try:
            return Image.fromarray(x)
        except TypeError as e:
            raise TypeError(f"ToPIL: cannot make an image from a {x.dtype} array of shape "
                            f"{x.shape}; convert it to uint8 first (AsType(np.uint8))") from e


class RandomHorizontalFlip:
    """Flip a Pillow image or a CHW array left-right with probability ``p``.

    Draws from the global NumPy RNG, so ``np.random.seed`` makes it reproducible.
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, img):
        if np.random.rand() >= self.p:
            return img
        if _is_pil(img):
            return img.transpose(_pil_image().Transpose.FLIP_LEFT_RIGHT)
        return img[..., ::-1].copy()


# =============================================================================
# ndarrays
# =============================================================================


class Normalize:
    """``(x - mean) / std``; a sequence ``mean`` or ``std`` applies per channel (axis 0)."""

    def __init__(self, mean: Any = 0, std: Any = 1) -> None:
        self.mean = mean
        self.std = std

    def _per_channel(self, value, array):
        if np.isscalar(value):
            return value
        xp = cuda.get_array_module(array)
        value = xp.asarray(value, dtype=array.dtype if array.dtype.kind == "f" else None)
        shape = [1] * array.ndim
        shape[0] = value.size
        return value.reshape(shape)

    def __call__(self, array):
        mean = self._per_channel(self.mean, array)
        std = self._per_channel(self.std, array)
        return (array - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean!r}, std={self.std!r})"


class Flatten:
    """Flatten an array to 1-D."""

    def __call__(self, array):
        return array.flatten()

    def __repr__(self):
        return "Flatten()"


class AsType:
    """Cast an array to ``dtype``."""

    def __init__(self, dtype: Any = np.float32) -> None:
        self.dtype = dtype

    def __call__(self, array):
        return array.astype(self.dtype)

    def __repr__(self):
        return f"{type(self).__name__}({np.dtype(self.dtype).name})"


ToFloat = AsType


class ToInt(AsType):
    """Cast an array to an integer ``dtype``."""

    def __init__(self, dtype: Any = int) -> None:
        super().__init__(dtype)
