"""argparse value types with messages that name the problem (``dezero`` and the examples).

Each takes the command-line text and returns the value, or raises
``argparse.ArgumentTypeError`` saying what was expected and what was found, so
``--epochs abc`` reads "expected a whole number >= 1, got 'abc'" rather than a traceback or
the name of a Python function.
"""
from __future__ import annotations

import argparse
import math

__all__ = ["positive_int", "seed_int", "positive_float", "nonnegative_float", "finite_float",
           "fraction", "sizes", "use_threads"]


def _parse_int(text, what):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text):
    """An int >= 1 (argparse type)."""
    value = _parse_int(text, "a whole number >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def seed_int(text):
    """A NumPy seed: an int in 0 .. 2**32 - 1."""
    value = _parse_int(text, "a whole number in 0..4294967295")
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in 0..4294967295, got {value}")
    return value


def _parse_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text):
    """A finite float > 0."""
    value = _parse_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def nonnegative_float(text):
    """A finite float >= 0."""
    value = _parse_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def fraction(text):
    """A float in [0, 1)."""
    value = _parse_float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def sizes(text):
    """Layer sizes like ``100`` or ``128,64``."""
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 100 or 128,64, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return values


def finite_float(text):
    """A finite float (argparse type)."""
    return _parse_float(text)


def use_threads(n: int) -> None:
    """``dezero.set_num_threads(n)`` when threadpoolctl is installed; NumPy's default otherwise."""
    import dezero

    try:
        dezero.set_num_threads(n)
    except ImportError:
        pass
