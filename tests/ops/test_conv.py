"""Hand-written tests of convolution and pooling (the catalogue covers the generic checks)."""
import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.functions_conv as FC
from dezero import Variable, cuda
from dezero._ops import conv as conv_ops
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


def test_blocked_conv_matches_unblocked(monkeypatch):
    """Large batches go through the batch in blocks (with a short last block)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 3, 6, 5))
    W = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    gy = rng.standard_normal((7, 4, 3, 4))

    def run():
        xv, Wv, bv = Variable(x), Variable(W), Variable(b)
        y = F.conv2d(xv, Wv, bv, stride=(2, 1), pad=(1, 0))
        y.grad = Variable(gy)
        y.backward()
        d = F.deconv2d(gy, W.transpose(0, 1, 2, 3), stride=(2, 1), pad=(1, 0),
                       outsize=(6, 5))
        return [y.data, xv.grad.data, Wv.grad.data, bv.grad.data, d.data]

    whole = run()
    monkeypatch.setattr(conv_ops, "_BLOCK_ELEMENTS", 100)  # one or two images per block
    assert len(conv_ops._blocks(7, 3 * 3 * 2 * 3 * 4, np)) == 7
    blocked = run()
    np.testing.assert_allclose(whole[0], _tensordot_conv(x, W, b, (2, 1), (1, 0)), rtol=1e-12)
    for a, c in zip(whole, blocked):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


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
        old = conv_ops._BLOCK_ELEMENTS
        conv_ops._BLOCK_ELEMENTS = block
        try:
            y = F.conv2d(x, W, pad=1)
        finally:
            conv_ops._BLOCK_ELEMENTS = old
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
    monkeypatch.setattr(conv_ops, "_BLOCK_ELEMENTS", 50)  # several blocks on the host
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
