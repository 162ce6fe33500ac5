"""Testing helpers (public): the gradient checker and array assertions."""
from dezero.testing.arrays import array_allclose, array_equal, assert_allclose
from dezero.testing.gradcheck import GradientCheckError, check_grad, numerical_grad

__all__ = [
    "check_grad",
    "numerical_grad",
    "GradientCheckError",
    "array_allclose",
    "array_equal",
    "assert_allclose",
]
