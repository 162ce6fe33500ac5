"""Hand-written tests of convolution and pooling (the catalogue covers the generic checks)."""
import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.functions_conv as FC
from dezero import Variable, cuda
from dezero._ops import _im2col
from dezero._ops import conv as conv_ops
from dezero._ops import pooling as pooling_ops
from dezero.testing import check_grad

CONFIGS = [  # x shape, kernel, stride, pad
    ((2, 3, 5, 5), 3, 1, 0),
    ((2, 3, 5, 6), (2, 3), (1, 2), (1, 0)),
    ((1, 2, 7, 7), 3, 2, 1),
    ((2, 1, 4, 4), 2, 2, 2),
    ((1, 2, 6, 5), (3, 1), (2, 3), (1, 2)),
]


def _on(xp, a):
    return a if xp is np else xp.asarray(a)


def _made_by(v):
    """The Function that computed a gradient (the engine copies a leaf's gradient that is a
    view, through a private copy node)."""
    f = v.creator
    if type(f).__name__ == "_Copy":
        f = f.inputs[0].creator
    return f


def _tensordot_conv(x, W, b, stride, pad):
    """Chainer's forward: 6-D im2col, tensordot over (C, KH, KW), bias, rollaxis."""
    col = FC.im2col_array(x, W.shape[2:], stride, pad, to_matrix=False)
    y = np.tensordot(col, W, ((1, 2, 3), (1, 2, 3)))
    if b is not None:
        y += b
    return np.rollaxis(y, 3, 1)


# -----------------------------------------------------------------------------
# im2col / col2im
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("to_matrix", [True, False])
@pytest.mark.parametrize("shape, k, s, p", CONFIGS)
def test_im2col_col2im_are_adjoint(xp, shape, k, s, p, to_matrix):
    rng = np.random.default_rng(0)
    x = _on(xp, rng.standard_normal(shape))
    col = FC.im2col_array(x, k, s, p, to_matrix=to_matrix)
    c = _on(xp, rng.standard_normal(col.shape))
    back = FC.col2im_array(c, shape, k, s, p, to_matrix=to_matrix)
    assert back.shape == shape
    lhs = float((cuda.as_numpy(col) * cuda.as_numpy(c)).sum())
    rhs = float((cuda.as_numpy(x) * cuda.as_numpy(back)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_im2col_array_matrix_layout():
    x = np.arange(2 * 2 * 3 * 3, dtype=np.float64).reshape(2, 2, 3, 3)
    col = FC.im2col_array(x, 2, 1, 0)
    assert col.shape == (2 * 2 * 2, 2 * 2 * 2)
    # row (n=1, oh=0, ow=1), columns (c, kh, kw)
    np.testing.assert_array_equal(col[4 + 1], x[1, :, 0:2, 1:3].ravel())
    six = FC.im2col_array(x, 2, 1, 0, to_matrix=False)
    assert six.shape == (2, 2, 2, 2, 2, 2)
    np.testing.assert_array_equal(six[1, :, :, :, 0, 1], x[1, :, 0:2, 1:3])


def test_raw_arrays_are_new_and_keep_dtype():
    x = np.ones((1, 1, 3, 3), dtype=np.float32)
    col = FC.im2col_array(x, 1, 1, 0)  # a 1x1 kernel could have been a view of x
    assert col.dtype == np.float32 and not np.shares_memory(col, x)
    img = FC.col2im_array(col, x.shape, 1, 1, 0)
    assert img.dtype == np.float32 and not np.shares_memory(img, col)
    np.testing.assert_array_equal(img, x)


def test_book_step57_shapes():
    x1 = np.random.rand(1, 3, 7, 7)
    assert F.im2col(x1, kernel_size=5, stride=1, pad=0, to_matrix=True).shape == (9, 75)
    x2 = np.random.rand(10, 3, 7, 7)
    assert F.im2col(x2, kernel_size=5, stride=1, pad=0, to_matrix=True).shape == (90, 75)
    x = Variable(np.random.randn(1, 5, 15, 15))
    W = np.random.randn(8, 5, 3, 3)
    y = F.conv2d_simple(x, W, b=None, stride=1, pad=1)
    y.backward()
    assert y.shape == (1, 8, 15, 15)
    assert x.grad.shape == (1, 5, 15, 15)


def test_im2col_and_col2im_are_each_others_backward():
    x = Variable(np.random.randn(1, 2, 4, 4))
    y = F.im2col(x, 3, 1, 1)
    assert isinstance(y.creator, F.Im2col)
    y.backward(create_graph=True)
    assert isinstance(_made_by(x.grad), F.Col2im)
    c = Variable(np.random.randn(*y.shape))
    z = F.col2im(c, x.shape, 3, 1, 1)
    z.backward(create_graph=True)
    assert isinstance(_made_by(c.grad), F.Im2col)


# -----------------------------------------------------------------------------
# conv2d / deconv2d
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape, k, s, p", CONFIGS)
def test_conv2d_equals_conv2d_simple(shape, k, s, p):
    rng = np.random.default_rng(1)
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal(shape).astype(np.float32)
    W = rng.standard_normal((4, shape[1], kh, kw)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    xs = [Variable(x), Variable(W), Variable(b)]
    ys = [Variable(x), Variable(W), Variable(b)]
    y = F.conv2d(*xs, stride=s, pad=p)
    z = F.conv2d_simple(*ys, stride=s, pad=p)
    assert y.dtype == z.dtype == np.float32
    np.testing.assert_allclose(y.data, z.data, rtol=1e-5, atol=1e-5)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y.grad, z.grad = Variable(gy), Variable(gy.copy())
    y.backward()
    z.backward()
    for a, c in zip(xs, ys):
        assert a.grad.dtype == np.float32
        np.testing.assert_allclose(a.grad.data, c.grad.data, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n, c, h, oc, k, s, p", [
    (1, 5, 15, 8, 3, 1, 1),  # the book's test case
    (2, 3, 7, 4, 3, 2, 1), (1, 1, 5, 1, 3, 1, 0), (3, 2, 6, 5, 2, 1, 0),
])
def test_conv2d_has_chainers_float32_bits(n, c, h, oc, k, s, p):
    """Small problems run exactly Chainer's tensordot, so float32 results are equal."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, c, h, h)).astype(np.float32)
    W = rng.standard_normal((oc, c, k, k)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    for bias in (None, b):
        y = F.conv2d(x, W, bias, s, p)
        np.testing.assert_array_equal(y.data, _tensordot_conv(x, W, bias, s, p))


def _force_blocks(monkeypatch, elements):
    """Send every conv2d through the blocked path, in blocks of about ``elements``."""
    monkeypatch.setattr(_im2col, "_SMALL_ELEMENTS", 0)
    monkeypatch.setattr(_im2col, "_BLOCK_ELEMENTS", elements)
    monkeypatch.setattr(_im2col, "_BLOCK_COLUMNS", elements)


def test_blocks_and_chunks_are_near_equal_ranges(monkeypatch):
    monkeypatch.setattr(_im2col, "_BLOCK_ELEMENTS", 100)
    monkeypatch.setattr(_im2col, "_BLOCK_COLUMNS", 8)
    assert _im2col._blocks(7, 30, np) == [(0, 2), (2, 4), (4, 7)]
    assert _im2col._blocks(7, 1000, np) == [(i, i + 1) for i in range(7)]  # a row at least
    assert _im2col._blocks(7, 1000, object()) == [(0, 7)]  # one block off NumPy
    assert _im2col._chunks(21, np) == [slice(0, 7), slice(7, 14), slice(14, 21)]
    assert _im2col._chunks(21, object()) == [slice(0, 21)]


@pytest.mark.parametrize("elements", [1, 150, 1 << 20])  # a row per block, a few, one
@pytest.mark.parametrize("shape, k, s, p", CONFIGS + [((7, 3, 6, 5), (3, 2), (2, 1), (1, 0))])
def test_blocked_conv_matches_unblocked(monkeypatch, shape, k, s, p, elements):
    """Big problems go through the output in blocks of rows (with a short last block)."""
    rng = np.random.default_rng(3)
    kh, kw = FC.pair(k)
    x = rng.standard_normal(shape)
    W = rng.standard_normal((4, shape[1], kh, kw))
    b = rng.standard_normal(4)

    def run():
        xv, Wv, bv = Variable(x), Variable(W), Variable(b)
        y = F.conv2d(xv, Wv, bv, stride=s, pad=p)
        gy = np.linspace(-1, 1, y.size).reshape(y.shape)
        y.grad = Variable(gy)
        y.backward()
        d = F.deconv2d(gy, W, stride=s, pad=p, outsize=shape[2:])
        return [y.data, xv.grad.data, Wv.grad.data, bv.grad.data, d.data]

    whole = run()  # small: Chainer's tensordot forward
    _force_blocks(monkeypatch, elements)
    blocked = run()
    np.testing.assert_allclose(whole[0], _tensordot_conv(x, W, b, s, p), rtol=1e-12)
    for a, c in zip(whole, blocked):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)
    for a in (blocked[0], blocked[4]):  # (N, C, H, W) views of batch-last buffers
        assert a.transpose(1, 2, 3, 0).flags.c_contiguous


@pytest.mark.parametrize("dtypes", [(np.float32,) * 3, (np.float32, np.float64, np.float32)])
def test_blocked_conv_keeps_dtypes(monkeypatch, dtypes):
    _force_blocks(monkeypatch, 200)
    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal(shape).astype(dt)
              for shape, dt in zip([(3, 2, 7, 6), (5, 2, 3, 3), (5,)], dtypes)]
    vs = [Variable(a) for a in arrays]
    y = F.conv2d(*vs, stride=1, pad=1)
    expected = np.result_type(*dtypes)
    assert y.dtype == expected
    ref = _tensordot_conv(*[a.astype(np.float64) for a in arrays], 1, 1)
    np.testing.assert_allclose(y.data, ref, rtol=1e-5, atol=1e-5)
    y.backward()
    for v, a in zip(vs, arrays):
        assert v.grad.dtype == expected and v.grad.shape == a.shape


def test_blocked_conv_second_order(monkeypatch):
    _force_blocks(monkeypatch, 40)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 2, 5, 4))
    W = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    check_grad(lambda x, W, b: F.conv2d(x, W, b, stride=(2, 1), pad=1), x, W, b, order=2,
               rtol=1e-5, atol=1e-6)
    check_grad(lambda x, W: F.deconv2d(x, W, stride=2, pad=1), x, W.transpose(1, 0, 2, 3),
               order=2, rtol=1e-5, atol=1e-6)


def _conv_grads(x, W, b, create_graph=False):
    y = F.conv2d(x, W, b, pad=1)
    y.grad = Variable(np.linspace(-1, 1, y.size, dtype=y.dtype).reshape(y.shape))
    y.backward(create_graph=create_graph)
    return [None if not isinstance(v, Variable) or v.grad is None else v.grad.data
            for v in (x, W, b)]


@pytest.mark.parametrize("create_graph", [False, True])
def test_conv2d_gives_raw_arrays_no_gradient(monkeypatch, create_graph):
    """An operand given as a raw array needs no gradient: its product is not computed,
    and the other gradients are the same bits."""
    rng = np.random.default_rng(14)
    x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    W = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    ref = _conv_grads(Variable(x), Variable(W), Variable(b), create_graph)
    calls = []
    for name in ("_deconv_forward", "_conv_grad_w"):
        real = getattr(conv_ops, name)
        monkeypatch.setattr(conv_ops, name,
                            lambda *a, real=real, name=name: calls.append(name) or real(*a))
    got = _conv_grads(x, Variable(W), Variable(b), create_graph)
    assert calls == ["_conv_grad_w"]  # no deconv2d for x
    for r, g in zip(ref[1:], got[1:]):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(r, g)
    calls.clear()
    got = _conv_grads(Variable(x), W, b, create_graph)
    assert calls == ["_deconv_forward"] and got[1:] == [None, None]
    np.testing.assert_array_equal(ref[0], got[0])


def test_conv2d_raw_operands_keep_higher_order_gradients():
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 2, 4, 4))
    W = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    check_grad(lambda W, b: F.conv2d(x, W, b, pad=1), W, b, order=2)
    check_grad(lambda x: F.conv2d(x, W, b, pad=1), x, order=2)


def test_conv2d_accepts_any_memory_layout():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((3, 2, 5, 5))
    layouts = [base, base.transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3),
               base.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2), base[:, :, ::-1, :]]
    W = rng.standard_normal((4, 2, 3, 3))
    expected = _tensordot_conv(np.ascontiguousarray(layouts[3]), W, None, 1, 1)
    for x in layouts[:3]:
        np.testing.assert_allclose(F.conv2d(x, W, pad=1).data,
                                   _tensordot_conv(base, W, None, 1, 1), rtol=1e-12)
    np.testing.assert_allclose(F.conv2d(layouts[3], W, pad=1).data, expected, rtol=1e-12)


def test_deconv2d_is_the_adjoint_of_conv2d():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    W = rng.standard_normal((4, 3, 3, 2))
    y = F.conv2d(x, W, stride=2, pad=1)
    u = rng.standard_normal(y.shape)
    back = F.deconv2d(u, W, stride=2, pad=1, outsize=(7, 6))
    assert back.shape == x.shape
    assert float((y.data * u).sum()) == pytest.approx(float((x * back.data).sum()), rel=1e-12)


@pytest.mark.parametrize("op", ["conv2d", "deconv2d"])
def test_third_order_through_conv_weights(op):
    """Conv2DGradW's own backward is correct (API.md D16): third order checks numerically."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 4, 4)) if op == "conv2d" else rng.standard_normal((1, 2, 3, 3))
    W = rng.standard_normal((2, 2, 2, 2))
    f = getattr(F, op)
    check_grad(lambda x, W: f(x, W, stride=2, pad=1) if op == "deconv2d" else f(x, W, pad=1),
               x, W, order=3, rtol=1e-5, atol=1e-6)


def test_conv2d_gradw_backward_uses_the_incoming_gradient():
    x = Variable(np.random.randn(1, 1, 3, 3))
    W = Variable(np.random.randn(1, 1, 2, 2))
    y = F.conv2d(x, W)
    gy = Variable(np.random.randn(*y.shape))
    gW = F.Conv2DGradW(y.creator)(x, gy)
    assert isinstance(gW.creator, F.Conv2DGradW)
    ggW = np.random.randn(*gW.shape)
    gW.grad = Variable(ggW)
    gW.backward()
    # d<gW, ggW>/d gy = conv2d(x, ggW), d/dx = deconv2d(gy, ggW)
    np.testing.assert_allclose(gy.grad.data, F.conv2d(x.data, ggW).data, rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, F.deconv2d(gy.data, ggW, outsize=(3, 3)).data,
                               rtol=1e-12)


def test_conv2d_backward_classes():
    x = Variable(np.random.randn(1, 2, 4, 4))
    W = Variable(np.random.randn(3, 2, 3, 3))
    b = Variable(np.zeros(3))
    y = F.conv2d(x, W, b, pad=1)
    assert isinstance(y.creator, F.Conv2d)
    y.backward(create_graph=True)
    assert isinstance(_made_by(x.grad), F.Deconv2d)
    assert isinstance(_made_by(W.grad), F.Conv2DGradW)
    assert b.grad.shape == (3,)


def test_facades_reexport_the_conv_functions():
    for name in ["conv2d", "deconv2d", "conv2d_simple", "im2col", "col2im", "pooling",
                 "pooling_simple", "average_pooling"]:
        assert getattr(F, name) is getattr(FC, name)
        assert name in F.__all__
    for name in ["Conv2d", "Deconv2d", "Conv2DGradW", "Pooling", "Pooling2DGrad",
                 "Pooling2DWithIndexes", "AveragePooling", "Im2col", "Col2im"]:
        assert issubclass(getattr(FC, name), dezero.Function)
    assert FC.pair(3) == (3, 3) and FC.get_conv_outsize(4, 3, 1, 1) == 4


# -----------------------------------------------------------------------------
# pooling
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape, k, s, p", CONFIGS)
def test_pooling_equals_pooling_simple(shape, k, s, p):
    rng = np.random.default_rng(7)
    n = int(np.prod(shape))
    data = ((rng.permutation(n) - n / 2 + 0.5) * 0.1).reshape(shape)  # distinct, nonzero
    x, x2 = Variable(data.astype(np.float32)), Variable(data.astype(np.float32))
    y = F.pooling(x, k, s, p)
    z = F.pooling_simple(x2, k, s, p)
    np.testing.assert_array_equal(y.data, z.data)
    y.backward()
    z.backward()
    np.testing.assert_array_equal(x.grad.data, x2.grad.data)


def test_pooling_gives_a_tie_to_the_first_maximum():
    x = Variable(np.array([[[[1.0, 3.0], [3.0, 2.0]]]]))
    y = F.pooling(x, 2, 2)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_pooling_backward_chain_is_differentiable():
    x = Variable(np.random.randn(1, 2, 4, 4))
    y = F.pooling(x, 2, 2)
    gy = Variable(np.random.randn(*y.shape))
    y.grad = gy
    y.backward(create_graph=True)
    gx = x.grad
    assert isinstance(_made_by(gx), F.Pooling2DGrad)
    F.sum(gx * gx).backward(create_graph=True)
    assert isinstance(_made_by(gy.grad), F.Pooling2DWithIndexes)
    np.testing.assert_allclose(gy.grad.data, 2 * gy.data)  # windows do not overlap
    rng = np.random.default_rng(8)
    data = (rng.permutation(32) - 15.5).reshape(1, 2, 4, 4) * 0.1
    check_grad(lambda x: F.pooling(x, 2, 2), data, order=3)
    check_grad(lambda x: F.pooling(x, 3, 1, 1), data, order=3)


def test_pooling_on_conv_output_layouts():
    """conv2d returns views of channels-last or channels-first buffers; pooling handles any."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 3, 6, 6))
    W = rng.standard_normal((4, 3, 3, 3))
    for block in (1 << 18, 50):
        old = _im2col._BLOCK_ELEMENTS
        _im2col._BLOCK_ELEMENTS = block
        try:
            y = F.conv2d(x, W, pad=1)
        finally:
            _im2col._BLOCK_ELEMENTS = old
        yc = np.ascontiguousarray(y.data)
        for f in (F.pooling, F.average_pooling):
            np.testing.assert_array_equal(f(y, 2, 2).data, f(yc, 2, 2).data)
            np.testing.assert_array_equal(f(y, 3, 1, 1).data, f(yc, 3, 1, 1).data)


def test_average_pooling_counts_padding_as_zeros():
    x = np.ones((1, 1, 2, 2))
    y = F.average_pooling(x, 2, 1, 1)
    np.testing.assert_allclose(y.data[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5],
                                              [0.25, 0.5, 0.25]])
    check_grad(lambda x: F.average_pooling(x, 3, 2, 1), np.random.randn(1, 2, 5, 5), order=3)


def test_max_pooling_pads_with_zeros():
    x = -np.ones((1, 1, 2, 2))
    # every window but the middle one holds a padding zero, which beats -1
    np.testing.assert_array_equal(F.pooling(x, 2, 1, 1).data[0, 0],
                                  [[0, 0, 0], [0, -1, 0], [0, 0, 0]])


def _max_pool_reference(x, gy, k, s):
    """Max pooling without padding and its gradient, window by window: the first maximum
    (argmax) of each window gets the gradient."""
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    y = np.empty((n, c, oh, ow), x.dtype)
    gx = np.zeros(x.shape, gy.dtype)
    for i in range(oh):
        for j in range(ow):
            win = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(n, c, -1)
            a = win.argmax(axis=2)
            y[:, :, i, j] = np.take_along_axis(win, a[..., None], 2)[..., 0]
            for nn in range(n):
                for cc in range(c):
                    gx[nn, cc, i * s + a[nn, cc] // k, j * s + a[nn, cc] % k] += gy[nn, cc, i, j]
    return y, gx


def _layouts(a):
    """``a`` as contiguous, channels-last, batch-last and strided (non-contiguous) views."""
    return [a, a.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2),
            a.transpose(1, 2, 3, 0).copy().transpose(3, 0, 1, 2),
            np.pad(a, ((0, 0), (0, 1), (0, 0), (1, 0)))[:, :-1, :, 1:]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, k, s", [((2, 3, 8, 8), 2, 2), ((2, 3, 7, 9), 2, 2),
                                         ((3, 2, 9, 7), 3, 3), ((2, 2, 8, 9), 2, 3),
                                         ((1, 1, 17, 17), 17, 17)])
def test_pooling_without_overlap_matches_window_by_window(shape, k, s, dtype):
    """The non-overlapping windows (stride >= kernel, no pad) on every memory layout, with
    ties (the first maximum wins), leftover rows and columns, and int32 indexes (17x17)."""
    rng = np.random.default_rng(16)
    data = rng.integers(-2, 3, shape).astype(dtype)  # many ties
    for x in _layouts(data):
        for gy_layout in range(2):
            xv = Variable(x)
            y = F.pooling(xv, k, s)
            gy = _layouts(np.linspace(-1, 1, y.size, dtype=dtype).reshape(y.shape))[gy_layout]
            y_ref, gx_ref = _max_pool_reference(data, gy, k, s)
            assert y.dtype == dtype
            np.testing.assert_array_equal(y.data, y_ref)
            y.grad = Variable(gy)
            y.backward()
            assert xv.grad.dtype == dtype
            np.testing.assert_array_equal(xv.grad.data, gx_ref)


def test_pooling_keeps_the_layout_it_is_given():
    x = _layouts(np.random.default_rng(17).standard_normal((2, 3, 8, 8)))[2]  # batch-last
    xv = Variable(x)
    y = F.pooling(xv, 2, 2)
    assert y.data.transpose(1, 2, 3, 0).flags.c_contiguous
    gx = pooling_ops.Pooling2DGrad(y.creator)(np.ones(y.shape))
    assert gx.data.transpose(1, 2, 3, 0).flags.c_contiguous


# -----------------------------------------------------------------------------
# devices
# -----------------------------------------------------------------------------


@pytest.mark.gpu
def test_conv_and_pooling_on_gpu():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    xv, Wv, bv = (Variable(cp.asarray(a)) for a in (x, W, b))
    y = F.pooling(F.conv2d(xv, Wv, bv, pad=1), 2, 2)
    y.backward()
    xc, Wc, bc = Variable(x), Variable(W), Variable(b)
    z = F.pooling(F.conv2d(xc, Wc, bc, pad=1), 2, 2)
    z.backward()
    np.testing.assert_allclose(cp.asnumpy(y.data), z.data, rtol=1e-4, atol=1e-5)
    for a, c in zip((xv, Wv, bv), (xc, Wc, bc)):
        np.testing.assert_allclose(cp.asnumpy(a.grad.data), c.grad.data, rtol=1e-4, atol=1e-4)


def test_device_agnostic_under_emulated_cupy(monkeypatch):
    """Run on a strict CuPy stand-in (tests/gpu/emulated_cupy.py): no host conversions."""
    emulated = pytest.importorskip("gpu.emulated_cupy")
    cp = emulated.install(monkeypatch)
    monkeypatch.setattr(_im2col, "_BLOCK_ELEMENTS", 50)  # several blocks on the host
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 2, 6, 6))
    W = rng.standard_normal((4, 2, 3, 3))
    b = rng.standard_normal(4)

    def run(mod, f):
        vs = [Variable(mod.asarray(a)) for a in (x, W, b)]
        y = f(*vs)
        y.backward()
        return [cuda.as_numpy(a) for a in (y.data, *(v.grad.data for v in vs))]

    for f in [lambda x, W, b: F.pooling(F.conv2d(x, W, b, 1, 1), 3, 1, 1),
              lambda x, W, b: F.average_pooling(F.conv2d(x, W, b, 2, 1), 2, 1, 1),
              lambda x, W, b: F.pooling_simple(F.conv2d_simple(x, W, b, 1, 1), 2, 2),
              lambda x, W, b: F.deconv2d(F.col2im(F.im2col(x, 3, 2, 1), x.shape, 3, 2, 1),
                                         W.transpose(1, 0, 2, 3), b, stride=2)]:
        for a, c in zip(run(cp, f), run(np, f)):
            np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)


# -----------------------------------------------------------------------------
# conv2d_simple: the book's composition (im2col, then linear)
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_conv2d_simple_has_chainers_bits_on_the_books_forward2_case(seed):
    """The book's TestConv2d_simple.test_forward2: stride (3, 1), pad (2, 1), one image.

    Chainer's convolution_2d is 6-D im2col + tensordot + bias (``_tensordot_conv``);
    conv2d_simple must give its float32 bits, as F.conv2d does.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 5, 15, 15)).astype(np.float32)
    W = rng.standard_normal((8, 5, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    stride, pad = (3, 1), (2, 1)
    expected = _tensordot_conv(x, W, b, stride, pad)
    y = F.conv2d_simple(x, W, b, stride=stride, pad=pad)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, expected)
    np.testing.assert_array_equal(y.data, F.conv2d(x, W, b, stride=stride, pad=pad).data)


@pytest.mark.parametrize("shape, oc, k, s, p", [
    ((1, 5, 15, 15), 8, 3, (3, 1), (2, 1)), ((3, 2, 7, 6), 4, (3, 2), (2, 1), (1, 0)),
    ((2, 1, 5, 5), 1, 1, 1, 0),
])
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_simple_is_im2col_then_linear(shape, oc, k, s, p, with_bias):
    """Exactly the book's composition; close to conv2d and to a float64 reference."""
    rng = np.random.default_rng(7)
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal(shape).astype(np.float32)
    W = rng.standard_normal((oc, shape[1], kh, kw)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32) if with_bias else None
    y = F.conv2d_simple(x, W, b, stride=s, pad=p)
    col = F.im2col(x, (kh, kw), s, p, to_matrix=True)
    t = F.linear(col, F.transpose(F.reshape(W, (oc, -1))), b)
    n, _, oh, ow = y.shape
    np.testing.assert_array_equal(y.data, t.data.reshape(n, oh, ow, oc).transpose(0, 3, 1, 2))
    np.testing.assert_allclose(y.data, F.conv2d(x, W, b, stride=s, pad=p).data,
                               rtol=1e-5, atol=1e-5)
    ref = _tensordot_conv(x.astype(np.float64), W.astype(np.float64),
                          None if b is None else b.astype(np.float64), s, p)
    np.testing.assert_allclose(y.data, ref, rtol=1e-5, atol=1e-5)


def test_conv2d_simple_gradients():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 5, 5))
    W = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    check_grad(lambda x, W, b: F.conv2d_simple(x, W, b, stride=(2, 1), pad=(1, 0)), x, W, b)


def test_im2col_matrix_of_one_image_has_the_books_layout():
    """One image: the matrix is a transposed view of a contiguous (C, KH, KW, OH, OW) copy,
    as the book's and Chainer's im2col give (what makes conv2d_simple's bits Chainer's)."""
    x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(1, 2, 4, 4)
    col = FC.im2col_array(x, 3, 1, 1)
    six = FC.im2col_array(x, 3, 1, 1, to_matrix=False)
    np.testing.assert_array_equal(col, six.transpose(0, 4, 5, 1, 2, 3).reshape(16, 18))
    assert col.flags.f_contiguous and not col.flags.c_contiguous
    assert not np.shares_memory(col, x)
    col[0, 0] = -1.0  # writable, and its own memory
    assert x.min() == 0.0


# -----------------------------------------------------------------------------
# bias gradients by BLAS, and the workspace cache
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["nchw", "batch_last", "strided"])
def test_bias_gradient_matches_a_plain_sum(layout):
    rng = np.random.default_rng(0)
    g = rng.standard_normal((4, 3, 5, 6)).astype(np.float32)
    if layout == "batch_last":
        g = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    elif layout == "strided":
        g = np.ascontiguousarray(g.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    gb = conv_ops._bias_grad(g)
    assert gb.shape == (3,) and gb.dtype == np.float32
    np.testing.assert_allclose(gb, g.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-5)


def test_conv_layer_gradients_are_right_across_steps_with_cached_buffers():
    """Buffers reused step after step (and by two layers of one shape) never mix values."""
    from dezero._ops import _workspace

    rng = np.random.default_rng(1)
    W1 = Variable(rng.standard_normal((4, 2, 3, 3)).astype(np.float32))
    W2 = Variable(rng.standard_normal((4, 4, 3, 3)).astype(np.float32))
    b = Variable(np.zeros(4, np.float32))

    def net(x):
        h = F.pooling(F.relu(F.conv2d(x, W1, b, 1, 1)), 2, 2)
        return F.relu(F.conv2d(h, W2, b, 1, 1))

    def grads(x):
        for p in (W1, W2, b):
            p.cleargrad()
        y = net(x)
        F.sum(y * y).backward()
        return y.data.copy(), [p.grad.data.copy() for p in (W1, W2, b)]

    xs = [rng.standard_normal((16, 2, 32, 32)).astype(np.float32) for _ in range(2)]
    dezero.clear_workspace()
    first = [grads(x) for x in xs]  # fresh buffers
    kept = net(xs[0])  # holds buffers while the next steps run
    again = [grads(x) for x in xs[::-1]][::-1]
    assert _workspace.cached_bytes() > 0
    for (y0, g0), (y1, g1) in zip(first, again):
        np.testing.assert_array_equal(y0, y1)
        for a, c in zip(g0, g1):
            np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(kept.data, first[0][0])
    dezero.clear_workspace()
    assert _workspace.cached_bytes() == 0
