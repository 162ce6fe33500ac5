"""Helpers of the command-line tests: run ``dezero`` in this process or in a subprocess."""
import numpy as np
import pytest

import dezero
from dezero import cli


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Each test runs in its own folder (default run folders land there), Agg backend, and
    gets NumPy's BLAS thread count back afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield
    try:
        dezero.set_num_threads(None)
    except ImportError:
        pass


@pytest.fixture
def run(capsys):
    """``run(argv) -> (exit code, stdout, stderr)`` of ``dezero`` called in this process."""

    def call(argv):
        code = cli.main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


@pytest.fixture
def image_folder(tmp_path):
    """A tiny image dataset: 3 classes (digits 0, 1, 7) of 12 grey 8x8 PNGs each."""
    Image = pytest.importorskip("PIL.Image")
    from dezero.datasets import load_digits_arrays

    images, labels = load_digits_arrays()
    root = tmp_path / "my_digits"
    for name, digit in (("zero", 0), ("one", 1), ("seven", 7)):
        (root / name).mkdir(parents=True)
        for i, img in enumerate(images[labels == digit][:12]):
            Image.fromarray((img.astype(np.uint16) * 255 // 16).astype(np.uint8), "L").save(
                root / name / f"{i:02d}.png")
    return root
