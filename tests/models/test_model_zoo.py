"""Model, Sequential, MLP, VGG16 and ResNet: structure, forward, pretrained weights offline."""
import os

import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import utils
from dezero.models import (
    MLP,
    VGG16,
    BottleneckA,
    BottleneckB,
    BuildingBlock,
    Model,
    ResNet,
    ResNet50,
    ResNet101,
    ResNet152,
    Sequential,
)


def _flat(layer):
    d = {}
    layer._flatten_params(d)
    return d


# -----------------------------------------------------------------------------
# Sequential / MLP / plot
# -----------------------------------------------------------------------------


def test_sequential_chains_layers_and_plain_callables():
    np.random.seed(0)
    double = lambda x: x * 2  # noqa: E731
    seq = Sequential(L.Linear(4, in_size=3), F.relu, double, L.Linear(2, in_size=4))
    assert seq.layers[1] is F.relu and seq.l2 is double
    assert list(_flat(seq)) == ["l0/W", "l0/b", "l3/W", "l3/b"]
    x = np.random.randn(5, 3).astype(np.float32)
    ref = seq.l3(double(F.relu(seq.l0(x))))
    np.testing.assert_array_equal(seq(x).data, ref.data)
    assert isinstance(seq, Model)
    with pytest.raises(TypeError, match="Sequential: item 1 must be a Layer or a callable"):
        Sequential(L.Linear(2), 3)


def test_mlp_structure_and_activation_between_layers():
    np.random.seed(0)
    mlp = MLP((5, 4, 2))
    assert [layer.out_size for layer in mlp.layers] == [5, 4, 2]
    x = np.random.randn(3, 6).astype(np.float32)
    y = mlp(x)
    h = F.sigmoid(mlp.l0(x))
    h = F.sigmoid(mlp.l1(h))
    np.testing.assert_array_equal(y.data, mlp.l2(h).data)  # no activation after the last
    assert list(_flat(mlp)) == ["l0/W", "l0/b", "l1/W", "l1/b", "l2/W", "l2/b"]
    relu_mlp = MLP((3, 1), activation=F.relu)
    assert relu_mlp.activation is F.relu
    assert MLP((3,)).activation is F.sigmoid
    with pytest.raises(ValueError, match="MLP: fc_output_sizes must hold at least one size"):
        MLP(())


@pytest.mark.graphviz
def test_model_plot_writes_the_graph(tmp_path):
    mlp = MLP((3, 2))
    out = tmp_path / "model.png"
    mlp.plot(np.ones((1, 2), np.float32), to_file=str(out))
    assert out.exists() and out.stat().st_size > 0


# -----------------------------------------------------------------------------
# VGG16
# -----------------------------------------------------------------------------

VGG_LAYERS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
              "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3",
              "fc6", "fc7", "fc8"]


def test_vgg16_forward_on_a_small_image_keeps_float32():
    np.random.seed(0)
    model = VGG16()
    assert list(model._params) == VGG_LAYERS
    assert [getattr(model, n).out_channels for n in VGG_LAYERS[:13]] == \
        [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    x = np.random.randn(1, 3, 32, 32).astype(np.float32)
    with dezero.test_mode():
        y = model(x)
        y2 = model(x)
    assert y.shape == (1, 1000) and y.dtype == np.float32
    np.testing.assert_array_equal(y.data, y2.data)  # no dropout in test mode
    assert model.fc6.W.shape == (512, 4096)
    assert model.conv5_3.outputs[0]().shape == (1, 512, 2, 2)  # Grad-CAM reads this


def test_vgg16_preprocess():
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    x = VGG16.preprocess(image, size=None)
    assert x.shape == (3, 20, 30) and x.dtype == np.float32
    expected = pixels[:, :, ::-1].astype(np.float32) - np.array([103.939, 116.779, 123.68],
                                                                np.float32)
    np.testing.assert_allclose(x, expected.transpose(2, 0, 1), rtol=1e-6)
    assert VGG16.preprocess(image.convert("L")).shape == (3, 224, 224)
    assert VGG16.preprocess(image, size=(8, 6), dtype=np.float64).shape == (3, 6, 8)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty download cache (DEZERO_HOME) that must be used without the network."""
    monkeypatch.setenv("DEZERO_HOME", str(tmp_path))
    monkeypatch.setattr(utils, "cache_dir", str(tmp_path))
    import dezero._download as download

    def offline(*args, **kwargs):
        raise AssertionError("the test must not touch the network")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    return tmp_path


def test_vgg16_pretrained_loads_from_the_download_cache(cache_dir):
    # A file in the original's format (np.savez of 'conv1_1/W'...). The lazy W's take
    # whatever floating shape the file holds, so tiny ones keep this test fast; the
    # biases were created by the constructor and must match exactly.
    rng = np.random.default_rng(0)
    arrays = {}
    out_sizes = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512, 4096, 4096,
                 1000]
    for name, size in zip(VGG_LAYERS, out_sizes):
        arrays[f"{name}/W"] = rng.standard_normal((2, 2)).astype(np.float32)
        arrays[f"{name}/b"] = rng.standard_normal(size).astype(np.float32)
    assert VGG16.WEIGHTS_PATH.endswith("/v0.1/vgg16.npz")
    np.savez(cache_dir / "vgg16.npz", **arrays)
    model = VGG16(pretrained=True)
    loaded = _flat(model)
    assert loaded.keys() == arrays.keys()
    for key, array in arrays.items():
        np.testing.assert_array_equal(loaded[key].data, array, err_msg=key)


# -----------------------------------------------------------------------------
# ResNet
# -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet50():
    np.random.seed(0)
    model = ResNet50()
    with dezero.test_mode():
        model(np.zeros((1, 3, 32, 32), np.float32))  # initialise the lazy parameters
    return model


def test_resnet50_structure_and_keys(resnet50):
    model = resnet50
    assert list(model._params) == ["conv1", "bn1", "res2", "res3", "res4", "res5", "fc6"]
    assert [len(getattr(model, f"res{i}")._forward) for i in range(2, 6)] == [3, 4, 6, 3]
    keys = _flat(model)
    for key in ("conv1/W", "conv1/b", "bn1/avg_mean", "res2/a/conv1/W", "res2/a/conv4/W",
                "res2/a/bn4/beta", "res2/b1/bn2/beta", "res5/b2/conv3/W", "fc6/W", "fc6/b"):
        assert key in keys
    assert "res2/a/conv1/b" not in keys  # the bottlenecks' convolutions have no bias
    assert keys["res3/a/conv4/W"].shape == (512, 256, 1, 1)
    assert keys["res5/b1/conv2/W"].shape == (512, 512, 3, 3)
    n_params = sum(p.data.size for p in model.params())
    assert 25_000_000 < n_params < 26_000_000


@pytest.mark.parametrize("size", [16, 32])
def test_resnet50_forward_in_both_modes(resnet50, size):
    x = np.random.randn(2, 3, size, size).astype(np.float32)
    with dezero.test_mode():
        y = resnet50(x)
    assert y.shape == (2, 1000) and y.dtype == np.float32
    mean_before = resnet50.bn1.avg_mean.data.copy()
    y = resnet50(x)  # train mode updates the running statistics
    assert y.shape == (2, 1000)
    assert not np.array_equal(resnet50.bn1.avg_mean.data, mean_before)


def test_resnet_rejects_other_depths_and_subclasses_pick_theirs(monkeypatch):
    with pytest.raises(ValueError, match=r"ResNet: n_layers must be 50, 101 or 152; got 34"):
        ResNet(34)
    assert ResNet.BLOCKS == {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
    seen = []
    monkeypatch.setattr(ResNet, "__init__",
                        lambda self, n_layers=152, pretrained=False: seen.append(
                            (n_layers, pretrained)))
    ResNet50()
    ResNet101(pretrained=True)
    ResNet152()
    assert seen == [(50, False), (101, True), (152, False)]
    assert ResNet.WEIGHTS_PATH.format(101).endswith("/v0.1/resnet101.npz")


@pytest.mark.slow
def test_resnet101_and_152_build():
    for cls, blocks in ((ResNet101, [3, 4, 23, 3]), (ResNet152, [3, 8, 36, 3])):
        model = cls()
        assert [len(getattr(model, f"res{i}")._forward) for i in range(2, 6)] == blocks


def test_bottlenecks():
    np.random.seed(0)
    a = BottleneckA(8, 4, 16, stride=2)
    assert list(a._params) == ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "conv4", "bn4"]
    assert (a.conv1.stride, a.conv2.stride) == (2, 1)
    assert (BottleneckA(8, 4, 16, 2, downsample_fb=True).conv2.stride) == 2
    x = np.random.randn(2, 8, 6, 6).astype(np.float32)
    y = a(x)
    assert y.shape == (2, 16, 3, 3) and (y.data >= 0).all()
    b = BottleneckB(16, 4)
    assert b(y).shape == (2, 16, 3, 3)
    block = BuildingBlock(3, 8, 4, 16, 2)
    assert block._forward == ["a", "b1", "b2"] and block(x).shape == (2, 16, 3, 3)


def test_resnet50_pretrained_loads_from_the_download_cache(cache_dir, resnet50):
    arrays = {k: p.data for k, p in _flat(resnet50).items()}
    np.savez(cache_dir / "resnet50.npz", **arrays)  # the original's file layout
    model = ResNet50(pretrained=True)
    loaded = _flat(model)
    assert loaded.keys() == arrays.keys()
    for key, array in arrays.items():
        np.testing.assert_array_equal(loaded[key].data, array, err_msg=key)
    os.remove(cache_dir / "resnet50.npz")
