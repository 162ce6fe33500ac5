"""dezero.testing: the gradient checker must catch wrong gradients, never silently pass."""
import numpy as np
import pytest

from dezero import Function, Variable
from dezero.testing import (
    GradientCheckError,
    array_allclose,
    array_equal,
    assert_allclose,
    check_grad,
    numerical_grad,
)


class Cube(Function):
    """y = x^3 with a differentiable backward."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        x, = self.inputs
        return 3 * x ** 2 * gy


class ScaledCube(Cube):
    """A wrong backward, off by a small factor."""

    def backward(self, gy):
        return super().backward(gy) * 1.001


class RawCube(Cube):
    """Right first derivative, but written on raw arrays: nothing to differentiate again."""

    def backward(self, gy):
        x = self.inputs[0].data
        return Variable(3 * x ** 2 * gy.data)


class MulAdd(Function):
    """y = x0 * x1 + x2, with broadcasting of x1."""

    def forward(self, x0, x1, x2):
        return x0 * x1 + x2

    def backward(self, gy):
        x0, x1, x2 = self.inputs
        gx1 = gy * x0
        if x1.shape != gx1.shape:
            gx1 = gx1.sum(axis=0)
        return gy * x1, gx1, gy


class SwappedMulAdd(MulAdd):
    """Forgets the broadcasting of x1's gradient's partner: returns x0's gradient for x1."""

    def backward(self, gy):
        g0, g1, g2 = super().backward(gy)
        return g0, g1 * 2.0, g2


class Halves(Function):
    """Two outputs: (x[:n] * 2, x[n:] ** 2)."""

    def forward(self, x):
        n = len(x) // 2
        return x[:n] * 2, x[n:] ** 2

    def backward(self, g0, g1):
        n = len(g0.data)
        x = self.inputs[0].data
        return Variable(np.concatenate([g0.data * 2, g1.data * 2 * x[n:]]))


class Lookup(Function):
    """y = W[t] for integer labels t (no gradient for t)."""

    def forward(self, W, t):
        return W[t]

    def backward(self, gy):
        W, t = self.inputs
        gW = np.zeros_like(W.data)
        np.add.at(gW, t.data, gy.data)
        return Variable(gW)


def cube(x):
    return Cube()(x)


# -----------------------------------------------------------------------------
# correct gradients pass
# -----------------------------------------------------------------------------


def test_correct_gradients_pass():
    rng = np.random.default_rng(1)
    assert check_grad(cube, rng.standard_normal((3, 4))) is True
    assert check_grad(lambda a, b, c: MulAdd()(a, b, c), rng.standard_normal((2, 3)),
                      rng.standard_normal(3), rng.standard_normal((2, 3))) is True
    assert check_grad(lambda x: Halves()(x), rng.standard_normal(6)) is True
    assert check_grad(lambda W, t: Lookup()(W, t), rng.standard_normal((4, 3)),
                      np.array([0, 2, 2])) is True


def test_second_and_third_order_pass_for_a_differentiable_backward():
    x = np.random.default_rng(2).standard_normal(5)
    assert check_grad(cube, x, order=3) is True


def test_float32_inputs_are_checked_in_float64():
    x = np.random.default_rng(3).standard_normal((2, 2)).astype(np.float32)
    assert check_grad(cube, x) is True
    assert check_grad(cube, Variable(x)) is True


def test_large_inputs_use_random_directions():
    x = np.random.default_rng(4).standard_normal((40, 30))  # 1200 elements
    calls = []

    def f(v):
        calls.append(1)
        return cube(v)

    assert check_grad(f, x) is True
    assert len(calls) < 40  # far fewer than 4 evaluations per element


# -----------------------------------------------------------------------------
# wrong gradients fail, with a useful report
# -----------------------------------------------------------------------------


def test_a_slightly_wrong_backward_is_caught_and_reported():
    x = np.random.default_rng(5).standard_normal((2, 3))
    with pytest.raises(GradientCheckError) as info:
        check_grad(lambda v: ScaledCube()(v), x, atol=1e-6, rtol=1e-6, name="scaled_cube")
    msg = str(info.value)
    assert "scaled_cube" in msg
    assert "(2, 3) float64" in msg
    assert "rtol=1e-06" in msg and "atol=1e-06" in msg and "eps=" in msg
    assert "numeric:" in msg and "analytic:" in msg
    assert isinstance(info.value, AssertionError)


def test_a_wrong_gradient_of_one_input_names_that_input():
    rng = np.random.default_rng(6)
    args = rng.standard_normal((2, 3)), rng.standard_normal(3), rng.standard_normal((2, 3))
    with pytest.raises(GradientCheckError, match="input 1"):
        check_grad(lambda a, b, c: SwappedMulAdd()(a, b, c), *args)


def test_a_missing_gradient_is_caught():
    class Forgets(Function):
        def forward(self, x0, x1):
            return x0 * x1

        def backward(self, gy):
            x0, x1 = self.inputs
            return gy * x1, None

    with pytest.raises(GradientCheckError, match="input 1"):
        check_grad(lambda a, b: Forgets()(a, b), np.ones(3), np.full(3, 2.0))


def test_a_wrong_backward_is_caught_in_direction_mode():
    x = np.random.default_rng(7).standard_normal(1000)
    with pytest.raises(GradientCheckError, match="random direction"):
        check_grad(lambda v: ScaledCube()(v), x)
    with pytest.raises(GradientCheckError, match="random direction"):
        check_grad(lambda v: ScaledCube()(v), x[:10], directions=3)


def test_a_non_differentiable_backward_fails_only_at_second_order():
    x = np.random.default_rng(8).standard_normal(4) + 2.0
    assert check_grad(lambda v: RawCube()(v), x) is True
    with pytest.raises(GradientCheckError, match="d/dx"):
        check_grad(lambda v: RawCube()(v), x, order=2)


def test_a_wrong_multi_output_backward_is_caught():
    class WrongHalves(Halves):
        def backward(self, g0, g1):
            g = super().backward(g0, g1)
            return Variable(g.data[::-1].copy())

    with pytest.raises(GradientCheckError):
        check_grad(lambda x: WrongHalves()(x), np.random.default_rng(9).standard_normal(6))


def test_the_output_gradient_is_random_not_ones():
    # A backward that ignores gy is right only for gy = 1; the checker must notice.
    class IgnoresGy(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return Variable(np.full(self.inputs[0].shape, 2.0))

    with pytest.raises(GradientCheckError):
        check_grad(lambda v: IgnoresGy()(v), np.ones(3))


# -----------------------------------------------------------------------------
# numerical_grad and array helpers
# -----------------------------------------------------------------------------


def test_numerical_grad_per_input():
    x0 = np.array([1.0, 2.0])
    labels = np.array([1, 0])
    grads = numerical_grad(lambda a, t: Variable(a.data * 3.0 + t.data), x0, labels)
    np.testing.assert_allclose(grads[0], [3.0, 3.0], rtol=1e-9)
    assert grads[1] is None
    np.testing.assert_array_equal(x0, [1.0, 2.0])


def test_numerical_grad_with_output_gradients():
    gys = [np.array([1.0, -2.0])]
    grads = numerical_grad(cube, np.array([1.0, 2.0]), gys=gys)
    np.testing.assert_allclose(grads[0], [3.0, -24.0], rtol=1e-9)


def test_array_helpers():
    a = np.array([1.0, 2.0])
    assert array_equal(Variable(a), a)
    assert array_allclose(a, Variable(a + 1e-8))
    assert not array_allclose(a, np.array([1.0, 2.0, 3.0]))
    assert_allclose(Variable(a), a)
    with pytest.raises(AssertionError):
        assert_allclose(a, a + 1.0)
