"""The README-level walkthrough and the tutorial's "own images" commands, run as written.

train -> Ctrl-C -> resume -> evaluate -> predict on your own images -> TensorBoard.
"""
import os
import re
import shlex
import signal
import subprocess
import sys

import pytest
from _cli_helpers import ROOT, dezero_cmd, metrics_rows, read_events, subprocess_env

from dezero import cli
from dezero.cli import _runs

TUTORIAL = os.path.join(ROOT, "docs", "tutorial.md")


def _section(title):
    with open(TUTORIAL, encoding="utf-8") as f:
        text = f.read()
    start = text.index(title)
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def test_tutorial_own_images_section_runs_as_written(tmp_path, capsys):
    pytest.importorskip("PIL")
    pytest.importorskip("tensorboardX")
    section = _section("## 16. Train, resume, evaluate, predict on your own images")
    (python,) = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    (shell,) = re.findall(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)
    exec(compile(python, "tutorial section 16", "exec"), {"__name__": "tutorial"})
    assert capsys.readouterr().out.strip() == "['one', 'seven', 'zero']"
    outputs = []
    for line in shell.strip().splitlines():
        argv = shlex.split(line.split("#")[0])
        if argv[0] == "tensorboard":  # the viewer: check that what it would read is there
            logdir = argv[argv.index("--logdir") + 1]
            scalars, images = read_events(logdir)
            assert [s for s, _ in scalars["train/loss"]] == list(range(1, 9))
            assert "training" in images
            continue
        assert argv[0] == "dezero"
        code = cli.main(argv[1:])
        captured = capsys.readouterr()
        assert code == 0, (line, captured.err)
        outputs.append(captured.out)
    train, resume, evaluate, predict = outputs
    assert "my_digits: 96 train / 24 test images, 3 classes" in train
    assert "resumed   from runs/my_digits" in resume and "epoch 8/8" in resume
    assert re.search(r"accuracy  [0-9.]+ \(\d+/24\)", evaluate)
    lines = predict.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("my_digits/seven/00.png: ")
    assert len(re.findall(r"\(\d\.\d{3}\)", lines[0])) == 2


def test_readme_walkthrough(tmp_path, run, image_folder):
    """train -> Ctrl-C -> resume -> evaluate -> predict on own images -> TensorBoard."""
    Image = pytest.importorskip("PIL.Image")
    pytest.importorskip("tensorboardX")
    if sys.platform == "win32":
        pytest.skip("POSIX signals")
    out = tmp_path / "runs" / "mine"
    # 1. train, in a real process, and press Ctrl-C after the second epoch
    proc = subprocess.Popen(
        dezero_cmd("train", "--dataset", image_folder, "--model", "cnn", "--epochs", 1000,
                   "--tensorboard", "--out", out),
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        for line in proc.stdout:
            if line.startswith("epoch    2/1000"):
                break
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "continue with: dezero train --resume" in stderr
    saved = _runs.Checkpoint(str(out / "checkpoint.npz")).meta["epoch"]
    # 2. resume to a few more epochs
    code, stdout, err = run(["train", "--resume", "auto", "--out", out, "--epochs", saved + 3,
                             "--quiet"])
    assert code == 0, err
    assert len(metrics_rows(out)) == saved + 3
    # 3. evaluate
    code, stdout, err = run(["evaluate", out])
    assert code == 0, err
    assert "confusion matrix" in stdout and (out / "confusion.png").exists()
    # 4. predict on "own" images: a training image, and a larger colour copy of it
    Image.open(image_folder / "zero" / "03.png").convert("RGB").resize((40, 40)).save(
        tmp_path / "photo.jpg")
    code, stdout, err = run(["predict", out, image_folder / "zero" / "03.png",
                             tmp_path / "photo.jpg"])
    assert code == 0, err
    assert len(stdout.strip().splitlines()) == 2
    # 5. TensorBoard: one value per epoch, before and after the interruption
    scalars, images = read_events(out / "tensorboard")
    steps = sorted(s for s, _ in scalars["test/acc"])
    assert steps == list(range(1, saved + 4))
    assert "training" in images
