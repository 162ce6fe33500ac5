"""Hand-written tests for shape functions: identity returns, get_item, concat/stack/split."""
import numpy as np
import pytest

import dezero.functions as F
from dezero import Variable
from dezero.testing import check_grad


@pytest.mark.parametrize("op, arg", [
    (F.reshape, (2, 3)), (F.sum_to, (2, 3)), (F.broadcast_to, (2, 3)),
])
def test_unchanged_shape_returns_the_input_itself(op, arg):
    x = Variable(np.ones((2, 3)))
    y = op(x, arg)
    assert y is x
    assert y.creator is None


def test_unchanged_shape_wraps_an_ndarray_without_a_node():
    a = np.ones((2, 3))
    y = F.reshape(a, (2, 3))
    assert isinstance(y, Variable) and y.data is a and y.creator is None


def test_variable_reshape_and_transpose_forms():
    x = Variable(np.arange(6.0))
    for y in (x.reshape(2, 3), x.reshape((2, 3)), x.reshape([2, 3]), F.reshape(x, [2, 3])):
        assert y.shape == (2, 3)
    z = Variable(np.zeros((2, 3, 4)))
    assert z.transpose().shape == (4, 3, 2)
    assert z.transpose(1, 0, 2).shape == (3, 2, 4)
    assert z.transpose((2, 0, 1)).shape == (4, 2, 3)
    assert z.transpose(None).shape == (4, 3, 2)
    assert z.T.shape == (4, 3, 2)
    assert F.transpose(z, (-1, 0, 1)).shape == (4, 2, 3)


def test_transpose_backward_inverts_the_permutation():
    x = Variable(np.random.randn(2, 3, 4))
    y = F.transpose(x, (2, 0, 1))
    y.grad = Variable(np.random.randn(*y.shape))
    y.backward(retain_grad=True)
    np.testing.assert_array_equal(x.grad.data, y.grad.data.transpose(1, 2, 0))


def test_get_item_repeated_indices_accumulate():
    x = Variable(np.arange(6.0).reshape(2, 3))
    y = F.get_item(x, [0, 0, 1])
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [[2, 2, 2], [1, 1, 1]])
    x.cleargrad()
    x[np.array([1, 1]), np.array([2, 2])].backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0, 0], [0, 0, 2]])


def test_get_item_double_backward():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    y = F.sum(F.get_item(x, np.array([0, 0, 2])) ** 2)
    y.backward(create_graph=True)
    gx = x.grad
    np.testing.assert_array_equal(gx.data, [4.0, 0.0, 6.0])  # 2 x * count
    assert type(gx.creator).__name__ in ("GetItemGrad", "Add", "Mul")
    x.cleargrad()
    F.sum(gx).backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 0.0, 2.0])  # 2 * count
    check_grad(lambda v: F.get_item(v, (slice(None), np.array([1, 1, 0]))),
               np.random.randn(2, 3), order=3)


def test_get_item_backward_is_get_item_grad_and_its_backward_is_get_item():
    x = Variable(np.random.randn(3, 4))
    y = x[1:, [0, 0]]
    y.backward(create_graph=True)
    assert isinstance(x.grad.creator, F.GetItemGrad)
    assert x.grad.creator.inputs[0] is not None


def test_get_item_with_variable_index_and_iteration():
    x = Variable(np.arange(12.0).reshape(3, 4))
    t = Variable(np.array([2, 0]))
    np.testing.assert_array_equal(x[t].data, x.data[[2, 0]])
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(r, Variable) for r in rows)
    np.testing.assert_array_equal(x[np.arange(3), np.array([0, 1, 3])].data, [0.0, 5.0, 11.0])


def test_concat_and_stack_gradients():
    a = Variable(np.ones((2, 3)))
    b = Variable(np.ones((2, 1)))
    y = F.concat([a, b], axis=1)
    assert isinstance(y.creator, F.Concat) and y.shape == (2, 4)
    y.grad = Variable(np.arange(8.0).reshape(2, 4))
    y.backward()
    np.testing.assert_array_equal(a.grad.data, [[0, 1, 2], [4, 5, 6]])
    np.testing.assert_array_equal(b.grad.data, [[3], [7]])
    s = F.stack((a, a), axis=1)
    assert isinstance(s.creator, F.Stack) and s.shape == (2, 2, 3)
    a.cleargrad()
    s.backward()
    np.testing.assert_array_equal(a.grad.data, 2 * np.ones((2, 3)))


def test_split_returns_a_list_and_unused_pieces_get_zero_gradient():
    x = Variable(np.arange(6.0))
    pieces = F.split(x, 3)
    assert isinstance(pieces, list) and len(pieces) == 3
    assert [p.shape for p in pieces] == [(2,), (2,), (2,)]
    (pieces[1] * 3.0).backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0, 3, 3, 0, 0])
    one = F.split(x, 1)
    assert isinstance(one, list) and len(one) == 1
    assert [p.shape for p in F.split(x, [2, 5])] == [(2,), (3,), (1,)]


def test_expand_dims_flatten_squeeze_shapes():
    x = Variable(np.zeros((2, 3)))
    assert F.expand_dims(x, 0).shape == (1, 2, 3)
    assert F.expand_dims(x, -1).shape == (2, 3, 1)
    assert F.expand_dims(x, (0, 3)).shape == (1, 2, 3, 1)
    assert F.flatten(Variable(np.zeros((4, 2, 3)))).shape == (4, 6)
    assert F.flatten(Variable(np.zeros((0, 2, 3)))).shape == (0, 6)
    assert F.squeeze(Variable(np.zeros((1, 3, 1)))).shape == (3,)
    assert F.squeeze(Variable(np.zeros((1, 3, 1))), -1).shape == (1, 3)
