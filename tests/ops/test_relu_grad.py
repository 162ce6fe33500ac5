"""relu's fused backward node (ReLUGrad): values, dtype, double backward, no shared memory."""
import numpy as np

import dezero.functions as F
from dezero import Variable
from dezero._ops.activation import ReLUGrad
from dezero.testing import check_grad


def test_relu_backward_is_one_fused_node_with_the_mask_x_gt_0():
    x = Variable(np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, 1e-30]], np.float32))
    y = F.relu(x)
    gy = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    y.grad = Variable(gy)
    y.backward(create_graph=True)
    np.testing.assert_array_equal(x.grad.data, gy * (x.data > 0))
    assert x.grad.dtype == np.float32
    assert isinstance(x.grad.creator, ReLUGrad)
    assert not np.shares_memory(x.grad.data, gy)


def test_relu_second_derivative_is_zero_and_the_gradient_is_linear_in_gy():
    x = Variable(np.array([-1.5, 0.5, 2.0]))
    y = F.relu(x) * F.relu(x)  # d/dx = 2 relu(x) relu'(x); d2/dx2 = 2 relu'(x)^2
    y.backward(create_graph=True)
    gx = x.grad
    np.testing.assert_allclose(gx.data, [0.0, 1.0, 4.0])
    x.cleargrad()
    gx.backward()
    np.testing.assert_allclose(x.grad.data, [0.0, 2.0, 2.0])
    check_grad(lambda v: F.relu(v) ** 2, np.array([[-1.2, 0.7], [0.3, -0.4]]), order=2)
