"""The ``dezero`` command line: ``dezero train`` end to end, options and error messages."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dezero import cli, datasets, utils

pytest.importorskip("sklearn")  # the default dataset is scikit-learn's digits


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_one_epoch_writes_everything(tmp_path, capsys):
    code, out, err = run(["train", "--epochs", "1", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert "epoch 1/1" in out and "train loss" in out and "test loss" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("test accuracy: ")
    acc = float(last.split(": ")[1])
    assert 0.5 < acc <= 1.0
    assert (tmp_path / "weights.npz").exists()
    with np.load(tmp_path / "weights.npz", allow_pickle=False) as f:
        assert set(f.files) == {"l0/W", "l0/b", "l1/W", "l1/b"}
        assert f["l0/W"].shape == (64, 100)
    png = tmp_path / "training.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["history"][0]["test_acc"] == pytest.approx(acc, abs=1e-4)


def test_progress_bar_on_stderr(tmp_path, capsys):
    pytest.importorskip("tqdm")
    code, out, err = run(["train", "--epochs", "1", "--out", str(tmp_path)], capsys)
    assert code == 0
    assert "training: 100%" in err and "45/45" in err  # tqdm's bar, one tick per batch
    assert "epoch 1/1" in out
    code, out, err = run(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path)], capsys)
    assert "batch" not in err


def test_seed_makes_runs_identical(tmp_path, capsys):
    a = cli.main(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "a")])
    b = cli.main(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "b")])
    assert a == b == 0
    with np.load(tmp_path / "a" / "weights.npz") as fa, np.load(tmp_path / "b" / "weights.npz") \
            as fb:
        for k in fa.files:
            np.testing.assert_array_equal(fa[k], fb[k])


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_optimizers_and_options(tmp_path, capsys, optimizer):
    code, out, err = run(["train", "--epochs", "1", "--optimizer", optimizer, "--lr", "0.01",
                          "--batch-size", "64", "--hidden", "32,16", "--quiet",
                          "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert f"{optimizer} lr=0.01" in out and "MLP 64-32-16-10" in out


def test_cnn_one_epoch(tmp_path, capsys):
    code, out, err = run(["train", "--model", "cnn", "--epochs", "1", "--quiet",
                          "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert "CNN" in out
    assert (tmp_path / "weights.npz").exists()


@pytest.mark.graphviz
def test_graph_rendered(tmp_path, capsys):
    code, out, err = run(["train", "--epochs", "1", "--graph", "--quiet",
                          "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert (tmp_path / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_without_dot_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.shutil, "which", lambda name: None)
    code, out, err = run(["train", "--graph", "--out", str(tmp_path)], capsys)
    assert code == 1
    assert "Graphviz" in err and "epoch" not in out


def test_mnist_offline_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(utils, "cache_dir", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets.MNIST, "url", f"http://127.0.0.1:{port}/")
    code, out, err = run(["train", "--dataset", "mnist", "--out", str(tmp_path)], capsys)
    assert code == 1
    assert f"http://127.0.0.1:{port}/train-images-idx3-ubyte.gz" in err
    assert os.path.join(str(tmp_path / "cache"), "train-images-idx3-ubyte.gz") in err
    assert "Traceback" not in err


def test_gpu_without_device_is_a_clear_error(tmp_path, capsys):
    from dezero import cuda

    if cuda.gpu_enable:
        pytest.skip("a GPU is usable here")
    code, out, err = run(["train", "--gpu", "--out", str(tmp_path)], capsys)
    assert code == 1 and "GPU" in err


@pytest.mark.parametrize("argv", [["train", "--epochs", "0"], ["train", "--lr", "0"],
                                  ["train", "--model", "rnn"], ["train", "--hidden", "a,b"],
                                  ["train", "--batch-size", "0"]])
def test_bad_options_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "train" in capsys.readouterr().out


def test_python_m_dezero():
    out = subprocess.run([sys.executable, "-m", "dezero", "--version"], capture_output=True,
                         text=True, check=True)
    import dezero

    assert out.stdout.strip() == f"dezero {dezero.__version__}"
    out = subprocess.run([sys.executable, "-m", "dezero", "train", "--help"],
                         capture_output=True, text=True, check=True)
    assert "--dataset" in out.stdout and "--graph" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_default_run_reaches_95_percent(tmp_path, capsys, model):
    code, out, err = run(["train", "--model", model, "--quiet", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    acc = float(out.strip().splitlines()[-1].split(": ")[1])
    assert acc >= 0.95


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_mnist_option_downloads_and_trains(tmp_path, capsys, monkeypatch, model):
    # Small generated IDX files behind a file:// URL stand in for the MNIST server.
    import gzip

    def idx(array):
        header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
        return gzip.compress(header + array.astype(np.uint8).tobytes())

    rng = np.random.RandomState(0)
    src = tmp_path / "server"
    src.mkdir()
    for prefix, n in (("train", 64), ("t10k", 32)):
        (src / f"{prefix}-images-idx3-ubyte.gz").write_bytes(idx(rng.randint(0, 256, (n, 28, 28))))
        (src / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(idx(rng.randint(0, 10, n)))
    monkeypatch.setattr(utils, "cache_dir", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets.MNIST, "url", src.as_uri() + "/")
    code, out, err = run(["train", "--dataset", "mnist", "--model", model, "--epochs", "1",
                          "--quiet", "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    assert "mnist: 64 train / 32 test images" in out
    assert "Downloading: train-images-idx3-ubyte.gz" in err
    assert len(os.listdir(tmp_path / "cache")) == 4
    assert (tmp_path / "run" / "weights.npz").exists()
