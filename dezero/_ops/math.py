"""Elementwise math: exp, log, sin, cos, tanh, abs."""
from __future__ import annotations

from dezero import cuda
from dezero.core import Function


class Exp(Function):
    """y = exp(x)"""

    def forward(self, x):
        return cuda.get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.outputs[0]()


def exp(x):
    """Elementwise exponential."""
    return Exp()(x)


class Log(Function):
    """y = log(x)"""

    def forward(self, x):
        return cuda.get_array_module(x).log(x)

    def backward(self, gy):
        x, = self.inputs
        return gy / x


def log(x):
    """Elementwise natural logarithm."""
    return Log()(x)


class Sin(Function):
    """y = sin(x)"""

    def forward(self, x):
        return cuda.get_array_module(x).sin(x)

    def backward(self, gy):
        x, = self.inputs
        return gy * cos(x)


def sin(x):
    """Elementwise sine."""
    return Sin()(x)


class Cos(Function):
    """y = cos(x)"""

    def forward(self, x):
        return cuda.get_array_module(x).cos(x)

    def backward(self, gy):
        x, = self.inputs
        return gy * -sin(x)


def cos(x):
    """Elementwise cosine."""
    return Cos()(x)


class Tanh(Function):
    """y = tanh(x)"""

    def forward(self, x):
        return cuda.get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.outputs[0]()
        return gy * (1 - y * y)


def tanh(x):
    """Elementwise hyperbolic tangent."""
    return Tanh()(x)


class Abs(Function):
    """y = |x| (subgradient 0 at 0)."""

    def forward(self, x):
        return cuda.get_array_module(x).abs(x)

    def backward(self, gy):
        x, = self.inputs
        return gy * cuda.get_array_module(x.data).sign(x.data)


def abs(x):
    """Elementwise absolute value."""
    return Abs()(x)
