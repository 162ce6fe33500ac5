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
    yield
    import dezero

    try:
        dezero.set_num_threads(None)  # the examples set one BLAS thread (--threads)
    except ImportError:
        pass


def test_spiral(tmp_path, capsys):
    acc = load("spiral").main(["--epochs", "3", "--out", str(tmp_path)])
    assert 0 <= acc <= 1
    assert "test accuracy:" in capsys.readouterr().out
    assert (tmp_path / "spiral.png").stat().st_size > 0


def test_mnist_digits(tmp_path, capsys):
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
    loss_d, loss_g = load("gan").main(["--iters", "3", "--batch-size", "16",
                                       "--out", str(tmp_path)])
    assert math.isfinite(loss_d) and math.isfinite(loss_g)
    assert (tmp_path / "gan_samples.png").exists()


def test_vae(tmp_path):
    loss = load("vae").main(["--epochs", "1", "--out", str(tmp_path)])
    assert math.isfinite(loss) and loss > 0
    assert (tmp_path / "vae.png").exists()


ALL = ["spiral", "mnist", "tanh_derivatives", "sin_rnn", "gan", "vae"]


@pytest.mark.parametrize("name, argv", [
    ("gan", ["--iters", "-5"]),  # found when tried: UnboundLocalError
    ("gan", ["--iters", "0"]),
    ("gan", ["--latent", "0"]),
    ("mnist", ["--epochs", "0"]),
    ("mnist", ["--hidden", "-3"]),
    ("spiral", ["--batch-size", "0"]),
    ("spiral", ["--lr", "inf"]),
    ("sin_rnn", ["--bptt", "0"]),
    ("vae", ["--batch-size", "abc"]),
    ("tanh_derivatives", ["--order", "0"]),
    ("tanh_derivatives", ["--x", "nan"]),
    ("spiral", ["--threads", "0"]),
])
def test_bad_sizes_are_usage_errors(name, argv, capsys):
    with pytest.raises(SystemExit) as info:
        load(name).main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument" in err and ("must be" in err or "expected" in err)
    assert "Traceback" not in err and "positive_int" not in err


@pytest.mark.parametrize("name", ALL)
def test_every_flag_has_help_text(name):
    parser = load(name).build_parser()
    flags = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert any(a.dest == "threads" for a in flags)
    for action in flags:
        assert action.help, (name, action.option_strings)


@pytest.mark.parametrize("name", ["mnist", "gan", "vae"])
def test_offline_dataset_is_one_line(name, tmp_path):
    # Found when tried: --dataset mnist offline gave a full traceback.
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import runpy, sys, dezero.utils, dezero.datasets as d; "
        f"dezero.utils.cache_dir = {str(tmp_path / 'cache')!r}; "
        f"d.MNIST.url = 'http://127.0.0.1:{port}/'; "
        f"sys.argv = ['{name}.py', '--dataset', 'mnist', '--out', {str(tmp_path)!r}]; "
        f"runpy.run_path({os.path.join(EXAMPLES, name + '.py')!r}, run_name='__main__')")
    root = os.path.abspath(os.path.join(EXAMPLES, os.pardir))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 1
    lines = [s for s in result.stderr.splitlines() if not s.startswith("Downloading")]
    assert len(lines) == 1 and lines[0].startswith(f"{name}.py: error: ")
    assert f"127.0.0.1:{port}" in lines[0] and "Traceback" not in result.stderr


def test_threads_flag(tmp_path):
    pytest.importorskip("threadpoolctl")
    import dezero

    try:
        load("tanh_derivatives").main(["--order", "1", "--threads", "2", "--out", str(tmp_path)])
        assert dezero.get_num_threads() == 2
    finally:
        dezero.set_num_threads(None)
