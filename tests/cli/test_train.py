"""``dezero train``: outputs, options, run folders, checkpoints, resume and the defects found
when it was tried as a new user would."""
import json
import os
import re

import numpy as np
import pytest
from _cli_helpers import metrics_rows

import dezero
from dezero import cli, datasets, utils
from dezero.cli import _runs, _train


def test_one_epoch_writes_everything(tmp_path, run):
    code, out, err = run(["train", "--epochs", 1, "--out", tmp_path / "r"])
    assert code == 0, err
    assert "epoch 1/1" in out and "train loss" in out and "test loss" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("test accuracy: ")
    acc = float(last.split(": ")[1])
    assert 0.5 < acc <= 1.0
    r = tmp_path / "r"
    with np.load(r / "weights.npz", allow_pickle=False) as f:
        assert set(f.files) == {"l0/W", "l0/b", "l1/W", "l1/b"}
        assert f["l0/W"].shape == (64, 100)
    assert (r / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = metrics_rows(r)
    assert len(rows) == 1 and float(rows[0]["test_acc"]) == pytest.approx(acc, abs=1e-4)
    ckpt = _runs.Checkpoint(str(r / "checkpoint.npz"))
    assert ckpt.meta["epoch"] == 1 and ckpt.meta["arch"]["classes"] == list("0123456789")
    assert set(ckpt.model) == {"l0/W", "l0/b", "l1/W", "l1/b"}
    assert "l0/W/m" in ckpt.optimizer and "t" in ckpt.optimizer  # Adam state by path
    assert not [p for p in os.listdir(r) if p.endswith(".tmp")]


def test_header_and_epoch_times(tmp_path, run):
    # Found when tried: "1 epochs" in the header and "(0.0 s)" per epoch.
    code, out, err = run(["train", "--epochs", 1, "--quiet", "--out", tmp_path / "r"])
    assert code == 0, err
    assert "training  1 epoch, batch 32" in out
    line = next(s for s in out.splitlines() if s.startswith("epoch 1/1"))
    assert "(0.0 s)" not in line
    assert re.search(r"\((\d+ ms|\d+\.\d+ s)\)$", line), line
    code, out, err = run(["train", "--epochs", 2, "--quiet", "--out", tmp_path / "r2"])
    assert "training  2 epochs," in out


def test_metrics_json_records_resolved_arguments(tmp_path, run):
    # Found when tried: metrics.json stored null for the arguments resolved from defaults.
    code, out, err = run(["train", "--epochs", 1, "--quiet", "--out", tmp_path / "r"])
    assert code == 0, err
    meta = json.loads((tmp_path / "r" / "metrics.json").read_text())
    args = meta["args"]
    assert args["epochs"] == 1 and args["lr"] == 0.001 and args["val_split"] == 0.0
    assert args["out"] == str(tmp_path / "r") and args["threads"] >= 1
    assert None not in [v for k, v in args.items() if k not in ("early_stop",)]
    assert meta["history"][0]["epoch"] == 1


def test_progress_bar_on_stderr(tmp_path, run):
    pytest.importorskip("tqdm")
    code, out, err = run(["train", "--epochs", 1, "--out", tmp_path / "a"])
    assert code == 0
    assert "training: 100%" in err and "45/45" in err  # one tick per batch
    assert "epoch 1/1" in out
    code, out, err = run(["train", "--epochs", 1, "--quiet", "--out", tmp_path / "b"])
    assert "batch/s" not in err


def test_seed_makes_runs_identical(tmp_path, run):
    for name in "ab":
        assert run(["train", "--epochs", 1, "--quiet", "--out", tmp_path / name])[0] == 0
    with np.load(tmp_path / "a" / "weights.npz") as fa, np.load(tmp_path / "b" / "weights.npz") \
            as fb:
        for k in fa.files:
            np.testing.assert_array_equal(fa[k], fb[k])
    assert run(["train", "--epochs", 1, "--quiet", "--seed", 3, "--out", tmp_path / "c"])[0] == 0
    with np.load(tmp_path / "a" / "weights.npz") as fa, np.load(tmp_path / "c" / "weights.npz") \
            as fc:
        assert not np.array_equal(fa["l0/W"], fc["l0/W"])


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_optimizers_and_options(tmp_path, run, optimizer):
    code, out, err = run(["train", "--epochs", 1, "--optimizer", optimizer, "--lr", 0.01,
                          "--batch-size", 64, "--hidden", "32,16", "--quiet",
                          "--out", tmp_path / "r"])
    assert code == 0, err
    assert f"{optimizer} lr=0.01" in out and "MLP 64-32-16-10" in out


def test_cnn_uses_every_hidden_size(tmp_path, run):
    # Found when tried: --model cnn --hidden 128,64 silently ignored the 64.
    code, out, err = run(["train", "--model", "cnn", "--hidden", "24,12", "--epochs", 1,
                          "--quiet", "--out", tmp_path / "r"])
    assert code == 0, err
    assert "conv16-pool-conv32-pool-fc24-fc12-fc10" in out
    with np.load(tmp_path / "r" / "weights.npz") as f:
        assert f["fc1/W"].shape == (32 * 2 * 2, 24) and f["fc2/W"].shape == (24, 12)
        assert f["out/W"].shape == (12, 10)


def test_each_run_gets_its_own_folder(tmp_path, run):
    # Found when tried: a second run silently overwrote the first in runs/digits-mlp.
    for _ in range(2):
        assert run(["train", "--epochs", 1, "--quiet"])[0] == 0
    runs = sorted(os.listdir(tmp_path / "runs" / "digits-mlp"))
    assert len(runs) == 2
    for name in runs:
        assert (tmp_path / "runs" / "digits-mlp" / name / "checkpoint.npz").exists()


def test_out_not_empty_needs_overwrite(tmp_path, run):
    out = tmp_path / "r"
    out.mkdir()
    (out / "graph.png").write_bytes(b"stale graph of another model")
    (out / "notes.txt").write_text("mine")
    code, stdout, err = run(["train", "--epochs", 1, "--quiet", "--out", out])
    assert code == 1 and "--overwrite" in err and "epoch" not in stdout
    code, stdout, err = run(["train", "--epochs", 1, "--quiet", "--out", out, "--overwrite"])
    assert code == 0, err
    assert not (out / "graph.png").exists()  # no stale graph next to other weights
    assert (out / "notes.txt").read_text() == "mine"  # files that are not dezero's stay
    assert (out / "checkpoint.npz").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root can write into read-only folders")
def test_unwritable_out_fails_before_training(tmp_path, run):
    # Found when tried: found only after every epoch had run, naming an internal temp file.
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        code, stdout, err = run(["train", "--epochs", 1, "--quiet", "--out", out, "--overwrite"])
    finally:
        out.chmod(0o700)
    assert code == 1 and "epoch" not in stdout
    assert "cannot write into the output folder" in err and ".tmp" not in err


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux's /proc")
def test_unwritable_out_fails_before_training_even_as_root(run):
    code, stdout, err = run(["train", "--epochs", 1, "--quiet", "--out", "/proc/self",
                             "--overwrite"])
    assert code == 1 and "epoch" not in stdout
    assert "cannot write into the output folder /proc/self" in err and ".tmp" not in err


def test_out_below_a_file_fails_before_training(tmp_path, run):
    (tmp_path / "file").write_text("x")
    code, stdout, err = run(["train", "--epochs", 1, "--quiet", "--out", tmp_path / "file" / "r"])
    assert code == 1 and "cannot create the output folder" in err and "epoch" not in stdout


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "must be >= 1"),
    (["--epochs", "abc"], "expected a whole number >= 1, got 'abc'"),
    (["--seed", "-1"], "must be in 0..4294967295"),
    (["--seed", "4294967296"], "must be in 0..4294967295"),
    (["--lr", "0"], "must be > 0"),
    (["--lr", "inf"], "must be a finite number"),
    (["--lr", "nan"], "must be a finite number"),
    (["--model", "rnn"], "invalid choice"),
    (["--hidden", "a,b"], "expected sizes like"),
    (["--batch-size", "0"], "must be >= 1"),
    (["--val-split", "1"], "must be in [0, 1)"),
    (["--weight-decay", "-1"], "must be >= 0"),
    (["--lr-schedule", "linear"], "invalid choice"),
])
def test_bad_options_exit_2_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "_positive" not in err and "Traceback" not in err  # no internal names


def test_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path, run):
    # Found when tried: a diverging run exited 0 and saved all-NaN weights. Epoch 1 trains
    # normally; the step schedule then multiplies the learning rate by 1e30.
    out = tmp_path / "r"
    code, stdout, err = run(["train", "--optimizer", "sgd", "--lr", 0.1, "--lr-schedule", "step",
                             "--lr-step", 1, "--lr-gamma", 1e30, "--epochs", 3, "--quiet",
                             "--out", out])
    assert code == 1
    assert re.search(r"the loss became (nan|inf) at epoch 2, batch \d+", err), err
    assert "last good checkpoint (epoch 1)" in err and "it was 1e+29" in err
    assert "RuntimeWarning" not in err
    ckpt = _runs.Checkpoint(str(out / "checkpoint.npz"))
    assert ckpt.meta["epoch"] == 1
    assert all(np.isfinite(a).all() for a in ckpt.model.values())
    with np.load(out / "weights.npz") as f:
        assert all(np.isfinite(f[k]).all() for k in f.files)
    assert len(metrics_rows(out)) == 1


def test_diverging_in_the_first_epoch_leaves_no_folder(tmp_path, run):
    code, stdout, err = run(["train", "--optimizer", "sgd", "--lr", 1e12, "--epochs", 2,
                             "--quiet", "--out", tmp_path / "r"])
    assert code == 1 and "at epoch 1, batch" in err and "nothing was saved" in err
    assert not (tmp_path / "r").exists()


SAME = ["--model", "cnn", "--hidden", "16", "--lr-schedule", "step", "--lr-step", 2,
        "--weight-decay", 1e-4, "--val-split", 0.2, "--batch-size", 64, "--quiet"]


def _columns(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_resume_continues_exactly(tmp_path, run):
    assert run(["train", *SAME, "--epochs", 3, "--out", tmp_path / "full"])[0] == 0
    assert run(["train", *SAME, "--epochs", 1, "--out", tmp_path / "part"])[0] == 0
    code, out, err = run(["train", "--resume", tmp_path / "part", "--epochs", 2])
    assert code == 0, err
    assert "resumed   from" in out and "after epoch 1" in out
    code, out, err = run(["train", "--resume", "auto", "--out", tmp_path / "part", "--epochs", 3])
    assert code == 0, err
    full, part = metrics_rows(tmp_path / "full"), metrics_rows(tmp_path / "part")
    assert len(full) == len(part) == 3
    assert _columns(full) == _columns(part)  # the same losses, digit for digit
    for name in ("weights.npz",):
        with np.load(tmp_path / "full" / name) as a, np.load(tmp_path / "part" / name) as b:
            for k in a.files:
                np.testing.assert_array_equal(a[k], b[k])


def test_resume_auto_finds_the_latest_run(tmp_path, run):
    assert run(["train", "--epochs", 1, "--quiet"])[0] == 0
    code, out, err = run(["train", "--resume", "auto", "--epochs", 2, "--quiet"])
    assert code == 0, err
    (folder,) = os.listdir(tmp_path / "runs" / "digits-mlp")
    assert len(metrics_rows(tmp_path / "runs" / "digits-mlp" / folder)) == 2
    code, out, err = run(["train", "--resume", "auto", "--epochs", 2, "--quiet"])
    assert code == 0 and "nothing to do" in out


def test_resume_refuses_other_settings_and_bad_paths(tmp_path, run):
    assert run(["train", "--epochs", 1, "--quiet", "--out", tmp_path / "r"])[0] == 0
    code, out, err = run(["train", "--resume", tmp_path / "r", "--model", "cnn"])
    assert code == 1 and "--model cnn differs from the run's mlp" in err
    code, out, err = run(["train", "--resume", tmp_path / "nowhere"])
    assert code == 1 and "no such run folder" in err
    code, out, err = run(["train", "--resume", "auto", "--dataset", "mnist"])
    assert code == 1 and "no run with a checkpoint under runs" in err
    (tmp_path / "w.npz").write_bytes((tmp_path / "r" / "weights.npz").read_bytes())
    code, out, err = run(["train", "--resume", tmp_path / "w.npz"])
    assert code == 1 and "not a checkpoint of dezero train" in err


def test_save_best_and_early_stop(tmp_path, run):
    out = tmp_path / "r"
    code, stdout, err = run(["train", "--save-best", "--early-stop", 1, "--epochs", 40,
                             "--optimizer", "sgd", "--lr", 0.5, "--quiet", "--out", out])
    assert code == 0, err
    rows = metrics_rows(out)
    assert "early stop: validation accuracy has not improved for 1 epoch" in stdout
    assert 2 <= len(rows) < 40
    val = [float(r["val_acc"]) for r in rows]
    best_epoch = int(np.argmax(val)) + 1
    assert int(rows[-1]["epoch"]) == best_epoch + 1  # stopped one epoch after the best
    best = _runs.Checkpoint(str(out / "best.npz"))
    assert best.meta["epoch"] == best_epoch and best.meta["best"]["val_acc"] == max(val)
    assert "1293 train / 144 validation / 360 test" in stdout


def test_early_stop_needs_a_validation_split(tmp_path, run):
    code, out, err = run(["train", "--early-stop", 2, "--val-split", 0, "--out", tmp_path / "r"])
    assert code == 1 and "--val-split" in err


@pytest.mark.parametrize("schedule", ["cosine", "step"])
def test_learning_rate_schedules(tmp_path, run, schedule):
    code, out, err = run(["train", "--optimizer", "sgd", "--lr", 0.2, "--lr-schedule", schedule,
                          "--lr-step", 2, "--lr-gamma", 0.5, "--epochs", 4, "--quiet",
                          "--out", tmp_path / "r"])
    assert code == 0, err
    lrs = [float(r["lr"]) for r in metrics_rows(tmp_path / "r")]
    if schedule == "cosine":
        expected = [0.2 * 0.5 * (1 + np.cos(np.pi * e / 4)) for e in range(4)]
    else:
        expected = [0.2, 0.2, 0.1, 0.1]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_weight_decay_shrinks_the_weights(tmp_path, run):
    for name, wd in (("plain", 0), ("decay", 0.05)):
        argv = ["train", "--epochs", 2, "--quiet", "--weight-decay", wd, "--out", tmp_path / name]
        assert run(argv)[0] == 0
    with np.load(tmp_path / "plain" / "weights.npz") as a, \
            np.load(tmp_path / "decay" / "weights.npz") as b:
        assert np.linalg.norm(b["l0/W"]) < 0.9 * np.linalg.norm(a["l0/W"])


def test_plot_and_metrics_are_written_atomically(tmp_path, run, monkeypatch):
    # Found when tried: metrics.json and training.png were opened in place and truncated.
    out = tmp_path / "r"
    assert run(["train", "--epochs", 1, "--quiet", "--out", out])[0] == 0
    png, meta = (out / "training.png").read_bytes(), (out / "metrics.json").read_text()
    from matplotlib.figure import Figure

    def broken_savefig(self, f, **kwargs):
        f.write(b"half a picture")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    code, stdout, err = run(["train", "--resume", out, "--epochs", 2])
    assert code == 1 and "disk full" in err
    assert (out / "training.png").read_bytes() == png
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
    monkeypatch.undo()

    def broken_dumps(*args, **kwargs):
        raise TypeError("cannot serialise")

    monkeypatch.setattr(_runs.json, "dumps", broken_dumps)
    meta2 = (out / "metrics.json").read_text()
    with pytest.raises(TypeError):
        _runs.write_metrics_json(str(out / "metrics.json"), {"x": 1})
    assert (out / "metrics.json").read_text() == meta2 != ""
    assert json.loads(meta)["history"][0]["epoch"] == 1


def test_interrupt_before_the_first_epoch_leaves_nothing(tmp_path, run, monkeypatch):
    # Found when tried: Ctrl-C left an empty run folder behind.
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_train, "_one_epoch", interrupted)
    code, out, err = run(["train", "--epochs", 2, "--quiet"])
    assert code == 130 and "nothing was saved" in err
    assert os.listdir(tmp_path / "runs" / "digits-mlp") == []


def test_threads_option_sets_blas_threads(tmp_path, run):
    pytest.importorskip("threadpoolctl")
    code, out, err = run(["train", "--epochs", 1, "--quiet", "--threads", 2,
                          "--out", tmp_path / "r"])
    assert code == 0, err
    assert ", 2 threads" in out
    assert dezero.get_num_threads() == 2
    code, out, err = run(["train", "--epochs", 1, "--quiet", "--out", tmp_path / "s"])
    assert ", 1 thread" in out and dezero.get_num_threads() == 1  # the default


def test_tensorboard_files(tmp_path, run):
    pytest.importorskip("tensorboardX")
    from _cli_helpers import read_events

    code, out, err = run(["train", "--epochs", 2, "--quiet", "--tensorboard",
                          "--out", tmp_path / "r"])
    assert code == 0, err
    scalars, images = read_events(tmp_path / "r" / "tensorboard")
    assert [step for step, _ in scalars["train/loss"]] == [1, 2]
    rows = metrics_rows(tmp_path / "r")
    assert scalars["test/acc"][-1][1] == pytest.approx(float(rows[-1]["test_acc"]), rel=1e-6)
    assert "training" in images


def test_tensorboard_missing_is_a_clear_error(tmp_path, run, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboardx(name, *args, **kwargs):
        if name.startswith("tensorboardX"):
            raise ImportError("no tensorboardX")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboardx)
    code, out, err = run(["train", "--tensorboard", "--out", tmp_path / "r"])
    assert code == 1 and "tensorboardX" in err and "pip install" in err
    assert "epoch" not in out and not (tmp_path / "r").exists()


def test_export_onnx(tmp_path, run):
    onnx = pytest.importorskip("onnx")
    import importlib.util

    if importlib.util.find_spec("dezero.onnx") is None:
        pytest.skip("dezero.onnx (the exporter) is not in this tree yet")
    code, out, err = run(["train", "--epochs", 1, "--quiet", "--export-onnx",
                          "--out", tmp_path / "r"])
    assert code == 0, err
    path = tmp_path / "r" / "model.onnx"
    onnx.checker.check_model(onnx.load(str(path)))
    ort = pytest.importorskip("onnxruntime")
    from dezero.cli._evaluate import load_run

    _, model = load_run(str(tmp_path / "r"), "last")
    x = np.random.RandomState(0).rand(5, 64).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {session.get_inputs()[0].name: x})
    with dezero.no_grad():
        np.testing.assert_allclose(y, model(x).data, rtol=1e-4, atol=1e-5)


def test_nprocs_launches_through_the_distributed_interface(tmp_path, run, monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("dezero.distributed")
    fake.under_mpi_launcher = lambda: False
    fake.launch = lambda n, argv: calls.append((n, argv)) or 7
    monkeypatch.setitem(sys.modules, "dezero.distributed", fake)
    monkeypatch.setattr(dezero, "distributed", fake, raising=False)
    code, out, err = run(["train", "--nprocs", 3, "--epochs", 1, "--out", tmp_path / "r"])
    assert code == 7
    assert calls == [(3, ["train", "--epochs", "1", "--out", str(tmp_path / "r")])]
    assert not (tmp_path / "r").exists()  # the launched processes make the folder


def test_graph_without_dot_fails_before_training(tmp_path, run, monkeypatch):
    monkeypatch.setattr(_train.shutil, "which", lambda name: None)
    code, out, err = run(["train", "--graph", "--out", tmp_path / "r"])
    assert code == 1
    assert "Graphviz" in err and "epoch" not in out


@pytest.mark.graphviz
def test_graph_rendered(tmp_path, run):
    code, out, err = run(["train", "--epochs", 1, "--graph", "--quiet", "--out", tmp_path / "r"])
    assert code == 0, err
    assert (tmp_path / "r" / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gpu_without_device_is_a_clear_error(tmp_path, run):
    from dezero import cuda

    if cuda.gpu_enable:
        pytest.skip("a GPU is usable here")
    code, out, err = run(["train", "--gpu", "--out", tmp_path / "r"])
    assert code == 1 and "GPU" in err


def test_mnist_offline_is_a_clear_error(tmp_path, run, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(utils, "cache_dir", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets.MNIST, "url", f"http://127.0.0.1:{port}/")
    code, out, err = run(["train", "--dataset", "mnist", "--out", tmp_path / "r"])
    assert code == 1
    assert f"http://127.0.0.1:{port}/train-images-idx3-ubyte.gz" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_mnist_option_downloads_and_trains(tmp_path, run, monkeypatch, model):
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
    code, out, err = run(["train", "--dataset", "mnist", "--model", model, "--epochs", 1,
                          "--quiet", "--out", tmp_path / "run"])
    assert code == 0, err
    assert "mnist: 64 train / 32 test images" in out
    assert (tmp_path / "run" / "weights.npz").exists()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_default_run_reaches_95_percent(tmp_path, run, model):
    code, out, err = run(["train", "--model", model, "--quiet", "--out", tmp_path / "r"])
    assert code == 0, err
    assert float(out.strip().splitlines()[-1].split(": ")[1]) >= 0.95
