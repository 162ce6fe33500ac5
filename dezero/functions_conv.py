"""Convolution and pooling functions, where the book has them (``dezero.functions_conv``).

A facade: the implementations live in ``dezero._ops.conv`` and ``dezero._ops.pooling``;
``dezero.functions`` re-exports the differentiable ones.
"""
from dezero._ops.conv import (
    Col2im,
    Conv2d,
    Conv2DGradW,
    Deconv2d,
    Im2col,
    col2im,
    col2im_array,
    conv2d,
    conv2d_simple,
    deconv2d,
    im2col,
    im2col_array,
)
from dezero._ops.pooling import (
    AveragePooling,
    AveragePooling2DGrad,
    Pooling,
    Pooling2DGrad,
    Pooling2DWithIndexes,
    average_pooling,
    pooling,
    pooling_simple,
)
from dezero.utils import get_conv_outsize, get_deconv_outsize, pair

__all__ = [
    "conv2d",
    "deconv2d",
    "conv2d_simple",
    "Conv2d",
    "Deconv2d",
    "Conv2DGradW",
    "pooling",
    "pooling_simple",
    "average_pooling",
    "Pooling",
    "Pooling2DGrad",
    "Pooling2DWithIndexes",
    "AveragePooling",
    "AveragePooling2DGrad",
    "im2col",
    "col2im",
    "Im2col",
    "Col2im",
    "im2col_array",
    "col2im_array",
    "get_conv_outsize",
    "get_deconv_outsize",
    "pair",
]
