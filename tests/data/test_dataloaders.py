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


class Items:
    """A dataset given as a list of (x, t) pairs."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.mark.parametrize("loader_cls", [DataLoader, SeqDataLoader])
def test_samples_of_different_shapes_name_the_loader_and_the_sample(loader_cls):
    items = [(np.zeros(3), 0), (np.zeros(3), 1), (np.zeros(4), 2), (np.zeros(3), 3)]
    kwargs = {"shuffle": False} if loader_cls is DataLoader else {}
    loader = loader_cls(Items(items), 4, **kwargs)
    name = loader_cls.__name__
    with pytest.raises(ValueError, match=rf"^{name}: sample 2 has x of shape \(4,\), but "
                                         r"sample 0 in the same batch has shape \(3,\)"):
        next(loader)


def test_ragged_labels_and_scalars_beside_arrays():
    loader = DataLoader(Items([(np.zeros(2), np.array([1, 2])), (np.zeros(2), np.array([1]))]),
                        2, shuffle=False)
    with pytest.raises(ValueError, match=r"^DataLoader: sample 1 has label of shape \(1,\)"):
        next(loader)
    loader = DataLoader(Items([(1.0, 0), (np.zeros(2), 1)]), 2, shuffle=False)
    with pytest.raises(ValueError, match=r"^DataLoader: sample 1 has x of shape \(2,\), but "
                                         r"sample 0 in the same batch has shape \(\)"):
        next(loader)


def test_the_sample_index_is_the_datasets_index_when_shuffled():
    items = [(np.zeros(3), i) for i in range(6)]
    items[4] = (np.zeros((1, 3)), 4)
    np.random.seed(3)
    loader = DataLoader(Items(items), 6)
    with pytest.raises(ValueError, match=r"^DataLoader: sample 4 has x of shape \(1, 3\)"):
        next(loader)


@pytest.mark.parametrize("labels, missing, present", [([1, None, 3], 1, 0),
                                                      ([None, 2, None], 0, 1)])
def test_labels_mixing_none_and_numbers_are_refused(labels, missing, present):
    items = [(np.zeros(2), t) for t in labels]
    with pytest.raises(ValueError, match=rf"^DataLoader: sample {missing} has no label \(None\) "
                                         rf"but sample {present} has one"):
        next(DataLoader(Items(items), 3, shuffle=False))
    # all None is still an unlabelled batch, and numbers stack as before
    x, t = next(DataLoader(Items([(np.zeros(2), None)] * 3), 3, shuffle=False))
    assert t is None and x.shape == (3, 2)
    x, t = next(DataLoader(Items([(np.zeros(2), 7)] * 3), 3, shuffle=False))
    assert t.dtype.kind == "i" and t.tolist() == [7, 7, 7]


def test_samples_that_make_no_numeric_array_are_refused():
    items = [({"a": 1}, 0), ({"b": 2}, 1)]
    with pytest.raises(TypeError, match=r"^DataLoader: the x values of samples \[0, 1\] do not "
                                        r"make a numeric array \(got dict"):
        next(DataLoader(Items(items), 2, shuffle=False))
