"""Transforms on arrays and Pillow images."""
import numpy as np
import pytest

from dezero import transforms as T


def test_compose_order_and_identity():
    assert T.Compose()(5) == 5
    assert T.Compose([])(5) == 5
    f = T.Compose([lambda x: x + 1, lambda x: x * 10])
    assert f(1) == 20


def test_normalize_scalar_and_per_channel():
    x = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    y = T.Normalize(2.0, 4.0)(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, (x - 2) / 4)
    y = T.Normalize(mean=[0, 1, 2], std=[1, 2, 4])(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y[1], (x[1] - 1) / 2)
    np.testing.assert_allclose(y[2], (x[2] - 2) / 4)
    np.testing.assert_allclose(T.Normalize()(x), x)


def test_array_transforms():
    x = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    assert T.Flatten()(x).shape == (6,)
    assert T.ToFloat()(x).dtype == np.float32
    assert T.AsType is T.ToFloat
    assert T.AsType(np.float64)(x).dtype == np.float64
    assert T.ToInt()(x.astype(np.float32)).dtype == np.dtype(int)
    mnist_like = T.Compose([T.Flatten(), T.ToFloat(), T.Normalize(0.0, 255.0)])
    y = mnist_like(x)
    assert y.dtype == np.float32 and y.shape == (6,) and y.max() == pytest.approx(5 / 255)


def test_center_crop_array_odd_margin():
    x = np.arange(2 * 5 * 6).reshape(2, 5, 6)
    y = T.CenterCrop((3, 2))(x)  # (width, height)
    # width margin 3: 1 left, 2 right; height margin 3: 1 top, 2 bottom
    np.testing.assert_array_equal(y, x[:, 1:3, 1:4])
    with pytest.raises(ValueError, match="larger"):
        T.CenterCrop(7)(x)


def test_random_horizontal_flip_array():
    x = np.arange(6).reshape(1, 2, 3)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    np.random.seed(0)
    flips = sum(T.RandomHorizontalFlip()(x)[0, 0, 0] == 2 for _ in range(200))
    assert 60 < flips < 140
    with pytest.raises(ValueError):
        T.RandomHorizontalFlip(p=2)


def test_to_array_rejects_other_types():
    x = np.zeros((3, 2, 2))
    assert T.ToArray()(x) is x
    with pytest.raises(TypeError, match="ToArray"):
        T.ToArray()([1, 2, 3])


def test_import_does_not_load_pillow():
    import subprocess
    import sys

    code = "import sys, dezero.transforms; print('PIL' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# --- Pillow ---------------------------------------------------------------------------


@pytest.fixture
def image():
    Image = pytest.importorskip("PIL.Image")
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)  # H=4, W=6
    rgb[..., 0] = 10
    rgb[..., 1] = 20
    rgb[..., 2] = 30
    rgb[0, 0] = (255, 0, 0)
    return Image.fromarray(rgb)


def test_to_array_and_to_pil_roundtrip(image):
    x = T.ToArray()(image)
    assert x.shape == (3, 4, 6) and x.dtype == np.float32
    assert x[:, 1, 1].tolist() == [10, 20, 30]
    back = T.ToPIL()(x.astype(np.uint8))
    assert back.size == (6, 4)
    np.testing.assert_array_equal(np.asarray(back), np.asarray(image))
    gray = T.ToPIL()(np.zeros((1, 3, 5), np.uint8))
    assert gray.size == (5, 3) and gray.mode == "L"
    assert T.ToArray(np.uint8)(gray).shape == (1, 3, 5)
    with pytest.raises(TypeError, match="uint8"):
        T.ToPIL()(np.zeros((3, 2, 2), np.float64))


def test_convert_resize_crop_flip(image):
    bgr = T.Convert("BGR")(image)
    assert bgr.mode == "RGB" and bgr.getpixel((1, 1)) == (30, 20, 10)
    assert T.Convert("L")(image).mode == "L"
    assert T.Resize(8)(image).size == (8, 8)
    assert T.Resize((3, 2))(image).size == (3, 2)
    cropped = T.CenterCrop((3, 2))(image)
    assert cropped.size == (3, 2)
    np.testing.assert_array_equal(np.asarray(cropped), np.asarray(image)[1:3, 1:4])
    flipped = T.RandomHorizontalFlip(p=1.0)(image)
    assert flipped.getpixel((5, 0)) == (255, 0, 0)
    pipeline = T.Compose([T.Convert("RGB"), T.Resize(4), T.ToArray(), T.Normalize(
        mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])])
    assert pipeline(image).shape == (3, 4, 4)
