"""ONNX export: ``dezero.onnx.export(model, example_inputs, "model.onnx")``.

The exporter runs the model once in test mode, walks the recorded graph of Functions and
converts each through a registry with one converter per Function class
(``register_converter``), the way torch.onnx symbolics and onnx-chainer are organised.
The ``onnx`` package (the ``onnx`` extra) is imported only when ``export`` runs;
``import dezero`` never imports it. See docs/onnx.md.
"""
from __future__ import annotations

from dezero.onnx._export import (
    DEFAULT_OPSET,
    MIN_OPSET,
    ConversionContext,
    UnsupportedOperatorError,
    export,
    get_converter,
    register_converter,
    supported_functions,
)

__all__ = [
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "ConversionContext",
    "UnsupportedOperatorError",
    "export",
    "get_converter",
    "register_converter",
    "supported_functions",
]
