"""Catalogue entries: dropout, batch_norm, layer_norm, embed_id (dezero/_ops/norm.py)."""
import numpy as np

import dezero
import dezero.functions as F
from dezero import cuda
from op_catalogue import Bad, OpSpec, input_errors, labels, normal

# -----------------------------------------------------------------------------
# dropout: the entry reseeds the global RNG on every call, so the mask is fixed
# -----------------------------------------------------------------------------

_SEED = 7


def _dropout(x, **kw):
    # The mask comes from the RNG of x's device (numpy.random or cupy.random).
    cuda.get_array_module(x).random.seed(_SEED)
    return F.dropout(x, **kw)


def _dropout_ref(x, dropout_ratio=0.5):
    np.random.seed(_SEED)
    mask = np.random.rand(*x.shape) > dropout_ratio
    return x * mask / (1.0 - dropout_ratio)


# -----------------------------------------------------------------------------
# batch_norm: fresh running statistics on every call (train mode updates them)
# -----------------------------------------------------------------------------

_DECAY, _BN_EPS = 0.9, 2e-5


def _running(c, dtype):
    """(mean, var) running statistics that are not trivial, in ``dtype``."""
    return (np.linspace(-0.5, 0.5, c).astype(dtype), np.linspace(0.5, 1.5, c).astype(dtype))


def _batch_norm(name):
    f = getattr(F, name)

    def fn(x, gamma, beta, train=True):
        xp = cuda.get_array_module(x)
        mean, var = (xp.asarray(a) for a in _running(x.shape[1], x.dtype))
        with dezero.using_config("train", train):
            return f(x, gamma, beta, mean, var)
    return fn


def _bn_ref(x, gamma, beta, train=True):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if train:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mean, var = _running(x.shape[1], x.dtype)
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + _BN_EPS)
    return gamma.reshape(shape) * xhat + beta.reshape(shape)


def _torch_bn(t, x, gamma, beta, train=True):
    mean, var = (t.from_numpy(a) for a in _running(x.shape[1], np.float64))
    return t.nn.functional.batch_norm(x, mean, var, gamma, beta, training=train,
                                      momentum=1 - _DECAY, eps=_BN_EPS)


def _bn_errors(name):
    def args():
        return (np.ones((2, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    return [
        Bad(ValueError, rf"^{name}: x must be a floating \(N, C\) or \(N, C, H, W\) array; "
            r"got x \(2, 3, 4\) float64",
            args=lambda: (np.ones((2, 3, 4)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))),
        Bad(ValueError, rf"^{name}: gamma must have shape \(3,\) \(one value per channel\); "
            r"got x \(2, 3\) float64, gamma \(4,\) float64",
            args=lambda: (np.ones((2, 3)), np.ones(4), np.zeros(3), np.zeros(3), np.ones(3))),
        Bad(ValueError, rf"^{name}: var must be a floating array of shape \(3,\) \(one value "
            r"per channel\); got var \(2,\) float64",
            args=lambda: (np.ones((2, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(2))),
        Bad(TypeError, rf"^{name}: mean must be an ndarray \(updated in place\); got list",
            args=lambda: (np.ones((2, 3)), np.ones(3), np.zeros(3), [0.0] * 3, np.ones(3))),
        *input_errors(name, args),
        *input_errors(name, args, position=1, arg="gamma"),
        *input_errors(name, args, position=2, arg="beta"),
    ]


def _ln_ref(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


BN_SHAPES = [((4, 3), (3,), (3,)), ((2, 3, 2, 2), (3,), (3,))]

ENTRIES = [
    OpSpec(
        "dropout", _dropout, ref=_dropout_ref, shapes=[((3, 4),), ((2, 3, 4),), ((),)],
        kwargs_grid=[{}, {"dropout_ratio": 0.2}], device_rng=True,
        errors=[
            Bad(ValueError, r"^dropout: dropout_ratio must be in \[0, 1\); got 1.0",
                shapes=((2, 3),), kwargs={"dropout_ratio": 1.0}),
            Bad(ValueError, r"^dropout: dropout_ratio must be in \[0, 1\); got -0.1",
                shapes=((2, 3),), kwargs={"dropout_ratio": -0.1}),
            Bad(TypeError, r"^dropout: dropout_ratio must be a real number; got str",
                shapes=((2, 3),), kwargs={"dropout_ratio": "0.5"}),
            *input_errors("dropout", lambda: (np.ones((2, 3)),)),
        ]),
    OpSpec(
        "batch_norm", _batch_norm("batch_norm"), ref=_bn_ref, shapes=BN_SHAPES,
        kwargs_grid=[{}, {"train": False}], torch=_torch_bn, rtol=1e-5, atol=1e-6,
        fwd_rtol=1e-6, fwd_atol=1e-9, torch_rtol=1e-6, torch_atol=1e-9,
        errors=_bn_errors("batch_norm")),
    OpSpec(
        "batch_nrom", _batch_norm("batch_nrom"), ref=_bn_ref, shapes=BN_SHAPES[:1],
        kwargs_grid=[{}, {"train": False}], order=1, rtol=1e-5, atol=1e-6, fwd_rtol=1e-6,
        fwd_atol=1e-9, note="the book's spelling of batch_norm", errors=_bn_errors("batch_norm")),
    OpSpec(
        "layer_norm", lambda x, gamma, beta, **kw: F.layer_norm(x, gamma, beta, **kw),
        ref=_ln_ref, shapes=[((2, 5), (5,), (5,)), ((2, 3, 4), (4,), (4,)), ((3,), (3,), (3,))],
        kwargs_grid=[{}, {"eps": 1e-3}], rtol=1e-5, atol=1e-6, fwd_rtol=1e-6, fwd_atol=1e-9,
        torch=lambda t, x, gamma, beta, eps=1e-5: t.nn.functional.layer_norm(
            x, x.shape[-1:], gamma, beta, eps),
        torch_rtol=1e-6, torch_atol=1e-9,
        errors=[
            Bad(ValueError, r"^layer_norm: gamma must have shape \(4,\) \(x.shape\[-1\]\); got "
                r"x \(2, 4\) float64, gamma \(3,\) float64", shapes=((2, 4), (3,), (4,))),
            Bad(ValueError, r"^layer_norm: x must be a floating array with at least 1 "
                r"dimension; got x \(\) float64", shapes=((), (1,), (1,))),
            *input_errors("layer_norm", lambda: (np.ones((2, 3)), np.ones(3), np.zeros(3))),
        ]),
    OpSpec(
        "embed_id", lambda x, W: F.embed_id(x, W), ref=lambda x, W: W[x],
        shapes=[((2, 3), (5, 4)), ((6,), (5, 2)), ((), (5, 3))], sample=[labels(5), normal],
        torch=lambda t, x, W: t.nn.functional.embedding(x, W),
        errors=[
            Bad(TypeError, r"^embed_id: x must hold integer ids; got x \(2,\) float64",
                args=lambda: (np.array([0.0, 1.0]), np.ones((5, 3)))),
            Bad(ValueError, r"^embed_id: ids must be in \[0, 5\) for W \(5, 3\) float64; got "
                r"ids from 0 to 5", args=lambda: (np.array([0, 5]), np.ones((5, 3)))),
            Bad(ValueError, r"^embed_id: W must have at least 1 dimension",
                args=lambda: (np.array([0]), np.array(1.0))),
            *input_errors("embed_id", lambda: (np.array([0, 1]), np.ones((5, 3)))),
            *input_errors("embed_id", lambda: (np.array([0, 1]), np.ones((5, 3))), position=1,
                          arg="W"),
        ]),
]
