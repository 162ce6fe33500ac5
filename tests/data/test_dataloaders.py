"""DataLoader and SeqDataLoader."""
import numpy as np
import pytest

import dezero
from dezero import cuda
from dezero.dataloaders import DataLoader, SeqDataLoader
from dezero.datasets import Dataset, SinCurve, Spiral


class Range(Dataset):
    def __init__(self, n, labelled=True):
        self.n, self.labelled = n, labelled
        super().__init__()

    def prepare(self):
        self.data = np.arange(self.n, dtype=np.float32)[:, None]
        self.label = np.arange(self.n) * 10 if self.labelled else None


def test_batches_last_short_and_epochs():
    loader = DataLoader(Spiral(), batch_size=128)
    assert (loader.data_size, loader.max_iter, loader.iteration) == (300, 3, 0)
    for _ in range(2):  # each `for` is one epoch
        shapes = [(x.shape, t.shape) for x, t in loader]
        assert shapes == [((128, 2), (128,)), ((128, 2), (128,)), ((44, 2), (44,))]
        assert loader.iteration == 0
    assert iter(loader) is loader
    assert dezero.DataLoader is DataLoader and dezero.SeqDataLoader is SeqDataLoader


def test_shuffle_uses_global_rng_and_covers_everything():
    ds = Range(10)
    np.random.seed(3)
    loader = DataLoader(ds, batch_size=4)
    np.random.seed(3)
    expected = np.random.permutation(10)
    np.testing.assert_array_equal(loader.index, expected)
    xs, ts = zip(*list(loader))
    x = np.concatenate(xs)[:, 0]
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(np.concatenate(ts), expected * 10)


def test_no_shuffle_and_next_alias():
    loader = DataLoader(Range(5), batch_size=2, shuffle=False)
    x, t = loader.next()
    np.testing.assert_array_equal(x[:, 0], [0, 1])
    np.testing.assert_array_equal(t, [0, 10])
    x, t = next(loader)
    np.testing.assert_array_equal(x[:, 0], [2, 3])
    loader.next()
    with pytest.raises(StopIteration):
        loader.next()
    assert loader.iteration == 0


def test_unlabelled_batches():
    x, t = DataLoader(Range(3, labelled=False), 3, shuffle=False).next()
    assert x.shape == (3, 1) and t is None


@pytest.mark.parametrize("bad", [0, -1])
def test_batch_size_must_be_positive(bad):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(Range(3), bad)
    with pytest.raises(TypeError, match="batch_size"):
        DataLoader(Range(3), 2.5)


@pytest.mark.skipif(cuda.gpu_enable, reason="checks the error raised without a GPU")
def test_gpu_without_device_is_a_clear_error():
    with pytest.raises(RuntimeError, match="GPU"):
        DataLoader(Range(3), 2, gpu=True)
    loader = DataLoader(Range(3), 2)
    with pytest.raises(RuntimeError, match="GPU"):
        loader.to_gpu()
    assert loader.gpu is False
    loader.to_cpu()


@pytest.mark.gpu
def test_gpu_batches():
    import cupy

    loader = DataLoader(Range(5), 2, gpu=True)
    x, t = loader.next()
    assert isinstance(x, cupy.ndarray) and isinstance(t, cupy.ndarray)
    loader.to_cpu()
    x, t = loader.next()
    assert isinstance(x, np.ndarray)


def test_seq_dataloader_layout():
    np.random.seed(0)
    ds = SinCurve()
    loader = SeqDataLoader(ds, batch_size=30)
    assert loader.max_iter == 34
    batches = list(loader)
    assert len(batches) == 34
    jump = 999 // 30
    for k in (0, 1, 33):
        x, t = batches[k]
        idx = [(i * jump + k) % 999 for i in range(30)]
        np.testing.assert_array_equal(x, ds.data[idx])
        np.testing.assert_array_equal(t, ds.label[idx])
    assert loader.shuffle is False


def test_seq_dataloader_batch_larger_than_data():
    with pytest.raises(ValueError, match="exceed"):
        SeqDataLoader(Range(3), batch_size=4)
