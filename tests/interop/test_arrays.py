"""Variables meet NumPy, PyTorch and CuPy: __array__, Python numbers, DLPack, seeding,
and the PyTorch-style state and repr of layers."""
import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import Variable, WeightFileError
from dezero.models import MLP

# =============================================================================
# NumPy: __array__
# =============================================================================


def test_asarray_gives_the_data_without_a_copy():
    v = Variable(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    a = np.asarray(v)
    assert a.dtype == np.float32 and a.shape == (2, 3)
    assert a is v.data
    numpy2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"  # asarray(copy=) is NumPy 2's
    if numpy2:
        assert np.asarray(v, copy=False) is v.data
    assert v.__array__(copy=False) is v.data
    b = np.array(v)  # np.array copies
    assert not np.shares_memory(b, v.data)
    np.testing.assert_array_equal(b, v.data)
    c = np.asarray(v, dtype=np.float64)
    assert c.dtype == np.float64 and not np.shares_memory(c, v.data)
    with pytest.raises(ValueError, match="copy=False"):
        if numpy2:
            np.asarray(v, dtype=np.float64, copy=False)
        else:
            v.__array__(np.float64, copy=False)


def test_asarray_of_variables_is_numeric_not_object():
    vs = [Variable(np.array(1.5)), Variable(np.array(2.5))]
    a = np.asarray(vs)
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a, [1.5, 2.5])
    assert np.asarray(Variable(np.array([1, 2]))).dtype.kind == "i"


@pytest.mark.parametrize("left", [np.array(2.0), np.array([2.0, 3.0]), np.float64(2.0)],
                         ids=["0-d", "1-d", "scalar"])
def test_numpy_on_the_left_still_builds_a_graph(left):
    x = Variable(np.array([1.0, 4.0]))
    for y in (left * x, left + x, left - x, left / x, left ** x):
        assert isinstance(y, Variable) and y.creator is not None
    y = F.sum(left * x)
    y.backward()
    np.testing.assert_allclose(x.grad.data, np.broadcast_to(left, (2,)))


def test_numpy_functions_read_variables():
    v = Variable(np.array([[1.0, -2.0], [3.0, 4.0]]))
    assert np.dot(np.ones(2), v).tolist() == [4.0, 2.0]
    np.testing.assert_array_equal(np.abs(v), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(np.concatenate([v, v]).shape, (4, 2))


def test_cupy_data_is_refused(monkeypatch):
    from gpu import emulated_cupy

    cp = emulated_cupy.install(monkeypatch)
    v = Variable(cp.asarray(np.ones(3)))
    with pytest.raises(TypeError, match="CuPy array on the GPU.*as_numpy"):
        np.asarray(v)
    assert float(Variable(cp.asarray(np.array([2.5])))) == 2.5  # one element: .item()


def test_no_data():
    with pytest.raises(TypeError, match="no data"):
        np.asarray(Variable(None))


# =============================================================================
# Python numbers: __float__, __int__, __bool__
# =============================================================================


def test_size_one_variables_convert():
    assert float(Variable(np.array(2.5))) == 2.5
    assert float(Variable(np.array([[2.5]], dtype=np.float32))) == 2.5
    assert int(Variable(np.array([7.9]))) == 7
    assert int(Variable(np.array(3))) == 3
    assert bool(Variable(np.array(0.0))) is False
    assert bool(Variable(np.array([1]))) is True
    assert "%.1f" % Variable(np.array(0.25)) == "0.2"  # formatting through __float__
    assert round(float(F.sum(Variable(np.ones(4)))), 1) == 4.0


@pytest.mark.parametrize("convert", [float, int])
def test_numbers_refuse_bigger_variables(convert):
    with pytest.raises(TypeError, match=r"only a Variable of size 1.*\(2,\)"):
        convert(Variable(np.array([1.0, 2.0])))


def test_truth_value_is_ambiguous_for_bigger_variables():
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Variable(np.array([1.0, 2.0])))
    with pytest.raises(ValueError, match="ambiguous"):
        if Variable(np.zeros((0,))):
            pass


# =============================================================================
# DLPack
# =============================================================================


def test_numpy_from_dlpack_shares_memory():
    v = Variable(np.arange(4.0))
    a = np.from_dlpack(v)
    assert np.shares_memory(a, v.data)
    assert v.__dlpack_device__()[0] == 1  # kDLCPU


def test_torch_from_dlpack_shares_memory():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    v = Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    t = torch.from_dlpack(v)
    assert t.shape == (2, 3) and t.dtype == torch.float32
    t[0, 0] = 42.0
    assert v.data[0, 0] == 42.0


def test_dezero_from_dlpack_of_torch_and_numpy():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    t = torch.arange(5, dtype=torch.float64)
    v = dezero.from_dlpack(t)
    assert isinstance(v, Variable) and v.dtype == np.float64
    t[1] = -1.0
    assert v.data[1] == -1.0  # no copy
    a = np.arange(3, dtype=np.int32)
    w = dezero.from_dlpack(a)
    assert np.shares_memory(w.data, a)
    u = dezero.from_dlpack(w)
    assert np.shares_memory(u.data, a)
    y = F.sum(dezero.from_dlpack(torch.ones(2, 2)) * 2)
    y.backward()
    assert float(y) == 8.0


def test_from_dlpack_refuses_other_objects():
    with pytest.raises(TypeError, match="DLPack"):
        dezero.from_dlpack([1, 2, 3])


# =============================================================================
# manual_seed
# =============================================================================


def test_manual_seed_repeats_weights_and_dropout():
    def run():
        dezero.manual_seed(123)
        model = MLP((4, 2))
        x = Variable(np.ones((3, 5), np.float32))
        y = F.dropout(model(x))
        return model.l0.W.data.copy(), y.data

    (w1, y1), (w2, y2) = run(), run()
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(y1, y2)


def test_manual_seed_seeds_a_loaded_cupy(monkeypatch):
    from gpu import emulated_cupy

    cp = emulated_cupy.install(monkeypatch)
    dezero.manual_seed(7)
    a = cp.random.rand(3)
    dezero.manual_seed(7)
    b = cp.random.rand(3)
    np.testing.assert_array_equal(cp.asnumpy(a) if hasattr(cp, "asnumpy") else a.get(),
                                  cp.asnumpy(b) if hasattr(cp, "asnumpy") else b.get())


def test_manual_seed_checks_its_argument():
    with pytest.raises(TypeError, match="int"):
        dezero.manual_seed(1.5)
    with pytest.raises(ValueError, match="2\\*\\*32"):
        dezero.manual_seed(-1)


# =============================================================================
# named_params, state_dict, load_state_dict, repr
# =============================================================================


def _model():
    model = MLP((3, 2))
    model(np.zeros((1, 4), np.float32))
    return model


def test_named_params_and_state_dict_follow_weight_file_keys(tmp_path):
    model = _model()
    assert [k for k, _ in model.named_params()] == ["l0/W", "l0/b", "l1/W", "l1/b"]
    state = model.state_dict()
    assert state["l0/W"] is model.l0.W.data
    dezero.io.save_arrays(tmp_path / "w.npz", state)
    other = _model()
    other.load_weights(tmp_path / "w.npz")  # a state_dict saved is a weight file
    np.testing.assert_array_equal(other.l1.W.data, model.l1.W.data)


def test_load_state_dict_copies_and_checks_everything():
    model, other = _model(), _model()
    other.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(other.l0.W.data, model.l0.W.data)
    assert not np.shares_memory(other.l0.W.data, model.l0.W.data)
    before = other.l0.W.data.copy()
    bad = dict(model.state_dict())
    bad["l1/W"] = np.zeros((3, 5), np.float32)
    bad["extra"] = np.zeros(1)
    del bad["l0/b"]
    bad["l0/W"] = bad["l0/W"] + 1
    with pytest.raises(WeightFileError) as info:
        other.load_state_dict(bad)
    text = str(info.value)
    assert "missing key 'l0/b'" in text and "unexpected key 'extra'" in text and "'l1/W'" in text
    np.testing.assert_array_equal(other.l0.W.data, before)  # nothing was loaded
    del bad["l1/W"]
    other.load_state_dict(bad, strict=False)
    np.testing.assert_array_equal(other.l0.W.data, model.l0.W.data + 1)
    with pytest.raises(TypeError, match="dict"):
        other.load_state_dict([("l0/W", before)])


def test_repr_shows_the_tree_and_shapes():
    model = _model()
    assert repr(model) == ("MLP(\n"
                           "  (l0): Linear(W=(4, 3) float32, b=(3,) float32)\n"
                           "  (l1): Linear(W=(3, 2) float32, b=(2,) float32)\n"
                           ")")
    block = dezero.models.Sequential(L.Conv2d(2, 3), L.BatchNorm())
    text = repr(block)
    assert text.startswith("Sequential(\n  (l0): Conv2d(W=None, b=(2,) float32)\n")
    assert "(l1): BatchNorm(avg_mean=None, avg_var=None, gamma=None, beta=None)" in text
    nested = dezero.models.BottleneckB(4, 2)
    assert "  (conv1): Conv2d(W=(2, 4, 1, 1) float32)" in repr(nested)
