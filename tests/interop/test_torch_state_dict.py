"""dezero.io.load_torch_state_dict: PyTorch weights give the same outputs in dezero.

PyTorch is the oracle: it builds the network, saves it with ``safetensors.torch``, and the
same architecture in dezero must compute the same numbers after loading.
"""
import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import Model, WeightFileError, test_mode
from dezero.io import load_torch_state_dict

torch = pytest.importorskip("torch", reason="PyTorch (the test oracle) is not installed")
st_torch = pytest.importorskip("safetensors.torch", reason="safetensors is not installed")
nn = torch.nn


def save(module, tmp_path, name="w.safetensors"):
    path = tmp_path / name
    st_torch.save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path


def dz(model, x):
    with test_mode(), dezero.no_grad():
        return model(dezero.Variable(x)).data


def th(module, x):
    module.eval()
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mlp_from_sequential_with_mapping(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 3))
    model = dezero.models.MLP((8, 3))
    load_torch_state_dict(model, save(net, tmp_path), mapping={"l0": "0", "l1": "2"})
    assert model.l0.W.shape == (4, 8)  # transposed from torch's (8, 4)
    x = np.random.randn(5, 4).astype(np.float32)
    close(dz(model, x), th(net, x))


class TorchCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(4, eps=2e-5)  # dezero's batch_norm eps
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False)
        self.fc = nn.Linear(6 * 4 * 4, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 1)
        return self.fc(x.flatten(1))


class DezeroCNN(Model):
    def __init__(self):
        super().__init__()
        self.conv1 = L.Conv2d(4, 3, 1, 1)
        self.bn1 = L.BatchNorm()
        self.conv2 = L.Conv2d(6, 3, 2, 1, nobias=True)
        self.fc = L.Linear(5)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.pooling(F.relu(self.conv2(x)), 1)
        return self.fc(F.flatten(x))


def test_cnn_with_batch_norm_running_statistics(tmp_path):
    torch.manual_seed(1)
    net = TorchCNN()
    with torch.no_grad():
        net.bn1.running_mean.uniform_(-0.5, 0.5)
        net.bn1.running_var.uniform_(0.5, 1.5)
        net.bn1.weight.uniform_(0.5, 1.5)
        net.bn1.bias.uniform_(-0.5, 0.5)
    model = DezeroCNN()
    load_torch_state_dict(model, save(net, tmp_path))
    x = np.random.randn(2, 3, 8, 8).astype(np.float32)
    close(dz(model, x), th(net, x))
    np.testing.assert_array_equal(model.bn1.avg_var.data, net.bn1.running_var.numpy())


def test_deconv_embedding_layer_norm_from_a_dict_of_tensors():
    torch.manual_seed(2)
    deconv = nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1)
    model = L.Deconv2d(2, 4, 2, 1)
    load_torch_state_dict(model, {"weight": deconv.weight, "bias": deconv.bias})
    x = np.random.randn(2, 3, 5, 5).astype(np.float32)
    close(dz(model, x), th(deconv, x))

    emb, norm = nn.Embedding(10, 6), nn.LayerNorm(6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    net = nn.Sequential(emb, norm)
    model = dezero.models.Sequential(L.EmbedID(10, 6), L.LayerNorm())
    load_torch_state_dict(model, net.state_dict(), mapping=lambda p: p[1:])  # "l0" -> "0"
    ids = np.array([[1, 2, 9], [0, 0, 5]])
    with test_mode():
        got = model(ids).data
    close(got, net(torch.from_numpy(ids)).detach().numpy())


class TorchSeq(nn.Module):
    def __init__(self, kind, cell=False):
        super().__init__()
        self.cell = cell
        module = getattr(nn, kind + ("Cell" if cell else ""))
        self.rnn = module(3, 5) if cell else module(3, 5, batch_first=True)
        self.fc = nn.Linear(5, 2)
        self.kind = kind

    def forward(self, x):
        if not self.cell:
            out = self.rnn(x)[0]
            return self.fc(out[:, -1])
        state = None
        for t in range(x.shape[1]):
            state = self.rnn(x[:, t], state)
        h = state[0] if self.kind == "LSTM" else state
        return self.fc(h)


class DezeroSeq(Model):
    def __init__(self, kind):
        super().__init__()
        self.rnn = getattr(L, kind)(5)
        self.fc = L.Linear(2)

    def forward(self, x):
        self.rnn.reset_state()
        for t in range(x.shape[1]):
            h = self.rnn(x[:, t, :])
        return self.fc(h)


@pytest.mark.parametrize("cell", [False, True], ids=["module", "cell"])
@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_recurrent_gate_order(tmp_path, kind, cell):
    torch.manual_seed(3)
    net = TorchSeq(kind, cell)
    model = DezeroSeq(kind)
    load_torch_state_dict(model, save(net, tmp_path))
    x = np.random.randn(4, 6, 3).astype(np.float32)
    close(dz(model, x), th(net, x))


def test_float64_model_takes_float32_weights(tmp_path):
    net = nn.Linear(3, 2)
    model = L.Linear(2, in_size=3, dtype=np.float64)
    load_torch_state_dict(model, save(net, tmp_path))
    assert model.W.dtype == np.float64
    x = np.random.randn(2, 3)
    close(dz(model, x), th(net.double(), x))


# =============================================================================
# refusals: all or nothing
# =============================================================================


def test_missing_unused_and_mismatched_keys_load_nothing(tmp_path):
    net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3))
    model = dezero.models.MLP((8, 3))
    model(np.zeros((1, 4), np.float32))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(WeightFileError) as info:
        load_torch_state_dict(model, save(net, tmp_path))  # no mapping: l0 is not "0"
    text = str(info.value)
    assert "missing key 'l0.weight'" in text and "unused key '0.weight'" in text
    assert "nothing was loaded" in text
    bad = nn.Sequential(nn.Linear(5, 8), nn.Linear(8, 3))  # in_size 5, the model has 4
    with pytest.raises(WeightFileError, match=r"'l0/W': expected \(4, 8\) float32, found "
                                              r"\(5, 8\) float32"):
        load_torch_state_dict(model, save(bad, tmp_path), mapping={"l0": "0", "l1": "1"})
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_strict_false_loads_what_matches():
    net = nn.Linear(4, 8)
    model = dezero.models.MLP((8, 3))
    state = dict(net.state_dict(), extra=torch.zeros(2))
    load_torch_state_dict(model, state, mapping={"l0": ""}, strict=False)
    np.testing.assert_array_equal(model.l0.W.data, net.weight.detach().numpy().T)
    assert model.l1.W.data is None


def test_pickle_files_are_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(ValueError, match="pickles"):
        load_torch_state_dict(L.Linear(2), path)
    with pytest.raises(TypeError, match="mapping"):
        load_torch_state_dict(L.Linear(2), {}, mapping=3)
