"""Models: Layers with extras, and ready-made networks (``from dezero.models import MLP``)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import dezero.functions as F
import dezero.layers as L
from dezero import utils
from dezero._typing import DType
from dezero.core import Variable

# =============================================================================
# Model / Sequential / MLP
# =============================================================================


class Model(L.Layer):
    """A Layer meant as the top of a network; adds ``plot``."""

    def plot(self, *inputs: Any, to_file: str = "model.png") -> Any:
        """Run ``forward(*inputs)`` and draw the graph with Graphviz to ``to_file``.

        Returns what ``utils.plot_dot_graph`` returns (an IPython image or None).

        Raises
        ------
        RuntimeError
            When Graphviz's ``dot`` is missing or fails.
        """
        y = self.forward(*inputs)
        return utils.plot_dot_graph(y, verbose=True, to_file=to_file)


class Sequential(Model):
    """Chain of layers or plain callables (``F.relu``, lambdas), applied in order.

    Items are stored as ``l0, l1, ...`` (Layers are registered, so their parameters are
    saved under ``l0/W``...) and in the list ``self.layers``.
    """

    def __init__(self, *layers: Any) -> None:
        super().__init__()
        self.layers = []
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential: item {i} must be a Layer or a callable; "
                                f"got {type(layer).__name__}")
            setattr(self, "l" + str(i), layer)
            self.layers.append(layer)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class MLP(Model):
    """Multi-layer perceptron: one ``Linear(size)`` per entry, stored as ``l0, l1, ...``.

    ``activation`` (``F.sigmoid`` by default) runs between layers, not after the last.
    """

    def __init__(self, fc_output_sizes: Sequence[int],
                 activation: Callable[[Any], Variable] = F.sigmoid) -> None:
        super().__init__()
        self.activation = activation
        self.layers = []
        for i, out_size in enumerate(fc_output_sizes):
            layer = L.Linear(out_size)
            setattr(self, "l" + str(i), layer)
            self.layers.append(layer)
        if not self.layers:
            raise ValueError("MLP: fc_output_sizes must hold at least one size; got "
                             f"{fc_output_sizes!r}")

    def forward(self, x):
        layers = self.layers
        activation = self.activation
        for layer in layers[:-1]:
            x = activation(layer(x))
        return layers[-1](x)


# =============================================================================
# VGG16
# =============================================================================


class VGG16(Model):
    """VGG-16 (13 convolutions, 3 fully connected layers), ImageNet layout.

    With ``pretrained=True`` the weights file is fetched through ``utils.get_file`` (the
    download cache, ``$DEZERO_HOME`` or ``~/.dezero``) and loaded in the constructor.
    """

    WEIGHTS_PATH = "https://github.com/koki0702/dezero-models/releases/download/v0.1/vgg16.npz"

    def __init__(self, pretrained: bool = False) -> None:
        super().__init__()
        self.conv1_1 = L.Conv2d(64, kernel_size=3, stride=1, pad=1)
        self.conv1_2 = L.Conv2d(64, kernel_size=3, stride=1, pad=1)
        self.conv2_1 = L.Conv2d(128, kernel_size=3, stride=1, pad=1)
        self.conv2_2 = L.Conv2d(128, kernel_size=3, stride=1, pad=1)
        self.conv3_1 = L.Conv2d(256, kernel_size=3, stride=1, pad=1)
        self.conv3_2 = L.Conv2d(256, kernel_size=3, stride=1, pad=1)
        self.conv3_3 = L.Conv2d(256, kernel_size=3, stride=1, pad=1)
        self.conv4_1 = L.Conv2d(512, kernel_size=3, stride=1, pad=1)
        self.conv4_2 = L.Conv2d(512, kernel_size=3, stride=1, pad=1)
        self.conv4_3 = L.Conv2d(512, kernel_size=3, stride=1, pad=1)
        self.conv5_1 = L.Conv2d(512, kernel_size=3, stride=1, pad=1)
        self.conv5_2 = L.Conv2d(512, kernel_size=3, stride=1, pad=1)
        self.conv5_3 = L.Conv2d(512, kernel_size=3, stride=1, pad=1)
        self.fc6 = L.Linear(4096)
        self.fc7 = L.Linear(4096)
        self.fc8 = L.Linear(1000)
        if pretrained:
            weights_path = utils.get_file(VGG16.WEIGHTS_PATH)
            self.load_weights(weights_path)

    def forward(self, x):
        x = F.relu(self.conv1_1(x))
        x = F.relu(self.conv1_2(x))
        x = F.pooling(x, 2, 2)
        x = F.relu(self.conv2_1(x))
        x = F.relu(self.conv2_2(x))
        x = F.pooling(x, 2, 2)
        x = F.relu(self.conv3_1(x))
        x = F.relu(self.conv3_2(x))
        x = F.relu(self.conv3_3(x))
        x = F.pooling(x, 2, 2)
        x = F.relu(self.conv4_1(x))
        x = F.relu(self.conv4_2(x))
        x = F.relu(self.conv4_3(x))
        x = F.pooling(x, 2, 2)
        x = F.relu(self.conv5_1(x))
        x = F.relu(self.conv5_2(x))
        x = F.relu(self.conv5_3(x))
        x = F.pooling(x, 2, 2)
        x = F.reshape(x, (x.shape[0], -1))
        x = F.dropout(F.relu(self.fc6(x)))
        x = F.dropout(F.relu(self.fc7(x)))
        x = self.fc8(x)
        return x

    @staticmethod
    def preprocess(image: Any, size: tuple[int, int] = (224, 224),
                   dtype: DType = np.float32) -> np.ndarray:
        """PIL image -> BGR, mean-subtracted CHW array ``(3, H, W)`` in ``dtype``.

        The image is converted to RGB and resized to ``size`` (unless ``size`` is None).
        """
        image = image.convert("RGB")
        if size:
            image = image.resize(size)
        image = np.asarray(image, dtype=dtype)
        image = image[:, :, ::-1] - np.array([103.939, 116.779, 123.68], dtype=dtype)
        return np.ascontiguousarray(image.transpose((2, 0, 1)))


# =============================================================================
# ResNet
# =============================================================================


class BottleneckA(L.Layer):
    """Bottleneck with a projection shortcut (the first block of each ResNet stage).

    ``relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + bn4(conv4(x)))``; the stride
    goes on the 1x1 ``conv1`` or, with ``downsample_fb``, on the 3x3 ``conv2``.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int = 2,
                 downsample_fb: bool = False) -> None:
        super().__init__()
        stride_1x1, stride_3x3 = (1, stride) if downsample_fb else (stride, 1)
        self.conv1 = L.Conv2d(mid_channels, 1, stride_1x1, 0, nobias=True,
                              in_channels=in_channels)
        self.bn1 = L.BatchNorm()
        self.conv2 = L.Conv2d(mid_channels, 3, stride_3x3, 1, nobias=True,
                              in_channels=mid_channels)
        self.bn2 = L.BatchNorm()
        self.conv3 = L.Conv2d(out_channels, 1, 1, 0, nobias=True, in_channels=mid_channels)
        self.bn3 = L.BatchNorm()
        self.conv4 = L.Conv2d(out_channels, 1, stride, 0, nobias=True, in_channels=in_channels)
        self.bn4 = L.BatchNorm()

    def forward(self, x):
        h1 = F.relu(self.bn1(self.conv1(x)))
        h1 = F.relu(self.bn2(self.conv2(h1)))
        h1 = self.bn3(self.conv3(h1))
        h2 = self.bn4(self.conv4(x))
        return F.relu(h1 + h2)


class BottleneckB(L.Layer):
    """Bottleneck with an identity shortcut: 1x1, 3x3 and 1x1 convolutions with BatchNorm."""

    def __init__(self, in_channels: int, mid_channels: int) -> None:
        super().__init__()
        self.conv1 = L.Conv2d(mid_channels, 1, 1, 0, nobias=True, in_channels=in_channels)
        self.bn1 = L.BatchNorm()
        self.conv2 = L.Conv2d(mid_channels, 3, 1, 1, nobias=True, in_channels=mid_channels)
        self.bn2 = L.BatchNorm()
        self.conv3 = L.Conv2d(in_channels, 1, 1, 0, nobias=True, in_channels=mid_channels)
        self.bn3 = L.BatchNorm()

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return F.relu(h + x)


class BuildingBlock(L.Layer):
    """One ResNet stage: ``a = BottleneckA(...)``, then ``b1 ... b{n-1} = BottleneckB``."""

    # the book's signature: every argument defaults to None, and all are needed
    def __init__(self, n_layers: Any = None, in_channels: Any = None, mid_channels: Any = None,
                 out_channels: Any = None, stride: Any = None, downsample_fb: Any = None) -> None:
        super().__init__()
        self.a = BottleneckA(in_channels, mid_channels, out_channels, stride, downsample_fb)
        self._forward = ["a"]
        for i in range(n_layers - 1):
            name = "b" + str(i + 1)
            setattr(self, name, BottleneckB(out_channels, mid_channels))
            self._forward.append(name)

    def forward(self, x):
        for name in self._forward:
            x = getattr(self, name)(x)
        return x


def _global_average_pooling_2d(x):
    N, C, H, W = x.shape
    h = F.average_pooling(x, (H, W), stride=1)
    return F.reshape(h, (N, C))


class ResNet(Model):
    """ResNet-50/101/152 (bottleneck blocks), ImageNet layout.

    Raises
    ------
    ValueError
        When ``n_layers`` is not 50, 101 or 152.
    """

    WEIGHTS_PATH = "https://github.com/koki0702/dezero-models/releases/download/v0.1/resnet{}.npz"
    BLOCKS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}

    def __init__(self, n_layers: int = 152, pretrained: bool = False) -> None:
        super().__init__()
        if n_layers not in self.BLOCKS:
            raise ValueError(f"ResNet: n_layers must be 50, 101 or 152; got {n_layers!r}")
        block = self.BLOCKS[n_layers]
        self.conv1 = L.Conv2d(64, 7, 2, 3)
        self.bn1 = L.BatchNorm()
        self.res2 = BuildingBlock(block[0], 64, 64, 256, 1)
        self.res3 = BuildingBlock(block[1], 256, 128, 512, 2)
        self.res4 = BuildingBlock(block[2], 512, 256, 1024, 2)
        self.res5 = BuildingBlock(block[3], 1024, 512, 2048, 2)
        self.fc6 = L.Linear(1000)
        if pretrained:
            weights_path = utils.get_file(ResNet.WEIGHTS_PATH.format(n_layers))
            self.load_weights(weights_path)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.pooling(x, kernel_size=3, stride=2)
        x = self.res2(x)
        x = self.res3(x)
        x = self.res4(x)
        x = self.res5(x)
        x = _global_average_pooling_2d(x)
        x = self.fc6(x)
        return x


class ResNet152(ResNet):
    """``ResNet(152, pretrained)``."""

    def __init__(self, pretrained: bool = False) -> None:
        super().__init__(152, pretrained)


class ResNet101(ResNet):
    """``ResNet(101, pretrained)``."""

    def __init__(self, pretrained: bool = False) -> None:
        super().__init__(101, pretrained)


class ResNet50(ResNet):
    """``ResNet(50, pretrained)``."""

    def __init__(self, pretrained: bool = False) -> None:
        super().__init__(50, pretrained)


__all__ = [
    "Model",
    "Sequential",
    "MLP",
    "VGG16",
    "ResNet",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "BuildingBlock",
    "BottleneckA",
    "BottleneckB",
]
