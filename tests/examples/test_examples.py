"""Smoke tests: each program in examples/ runs a few iterations offline, writing to tmp_path.

The examples are scripts, not a package: each is loaded from its file and its ``main(argv)``
is called, so a failure shows the example's own traceback.
"""
import importlib.util
import math
import os
import shutil

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "examples")


def load(name):
    path = os.path.join(EXAMPLES, name + ".py")
    spec = importlib.util.spec_from_file_location(f"dezero_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _agg(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


def test_spiral(tmp_path, capsys):
    acc = load("spiral").main(["--epochs", "3", "--out", str(tmp_path)])
    assert 0 <= acc <= 1
    assert "test accuracy:" in capsys.readouterr().out
    assert (tmp_path / "spiral.png").stat().st_size > 0


def test_mnist_digits(tmp_path, capsys):
    pytest.importorskip("sklearn")
    acc = load("mnist").main(["--epochs", "2", "--out", str(tmp_path)])
    assert acc > 0.5  # two epochs of Adam on the digits already do much better than chance
    out = capsys.readouterr().out
    assert "reloaded model's test accuracy" in out
    assert (tmp_path / "mlp.npz").exists()


def test_tanh_derivatives(tmp_path, capsys):
    values = load("tanh_derivatives").main(["--order", "3", "--out", str(tmp_path)])
    t = math.tanh(1.0)
    assert values[1] == pytest.approx(1 - t ** 2)
    assert values[2] == pytest.approx(-2 * t * (1 - t ** 2))
    assert values[3] == pytest.approx(-2 * (1 - t ** 2) * (1 - 3 * t ** 2))
    assert (tmp_path / "tanh_derivatives.png").exists()
    if shutil.which("dot"):
        assert (tmp_path / "tanh_grad3.png").stat().st_size > 0


@pytest.mark.graphviz
def test_tanh_graphs_drawn(tmp_path):
    load("tanh_derivatives").main(["--order", "2", "--out", str(tmp_path)])
    with open(tmp_path / "tanh_grad2.png", "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("model", ["rnn", "lstm"])
def test_sin_rnn(tmp_path, model):
    mse = load("sin_rnn").main(["--model", model, "--epochs", "1", "--hidden", "10",
                                "--out", str(tmp_path)])
    assert math.isfinite(mse)
    assert (tmp_path / "sin_rnn.png").exists()


def test_gan(tmp_path):
    pytest.importorskip("sklearn")
    loss_d, loss_g = load("gan").main(["--iters", "3", "--batch-size", "16",
                                       "--out", str(tmp_path)])
    assert math.isfinite(loss_d) and math.isfinite(loss_g)
    assert (tmp_path / "gan_samples.png").exists()


def test_vae(tmp_path):
    pytest.importorskip("sklearn")
    loss = load("vae").main(["--epochs", "1", "--out", str(tmp_path)])
    assert math.isfinite(loss) and loss > 0
    assert (tmp_path / "vae.png").exists()
