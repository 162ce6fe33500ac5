"""``dezero evaluate RUN`` and ``dezero predict RUN FILE...`` on trained runs."""
import re

import numpy as np
import pytest
from _cli_helpers import metrics_rows

import dezero
import dezero.functions as F
from dezero.datasets import Digits
from dezero.models import MLP


@pytest.fixture
def digits_run(tmp_path, run):
    out = tmp_path / "digits"
    code, _, err = run(["train", "--epochs", 3, "--quiet", "--save-best", "--out", out])
    assert code == 0, err
    return out


def _matrix(out_text):
    lines = out_text.splitlines()
    start = next(i for i, s in enumerate(lines) if s.startswith("confusion matrix")) + 2
    return np.array([[int(v) for v in s.split()[1:]] for s in lines[start:start + 10]])


def test_evaluate_prints_loss_accuracy_and_confusion(digits_run, run):
    code, out, err = run(["evaluate", digits_run, "--checkpoint", "last"])
    assert code == 0, err
    last = metrics_rows(digits_run)[-1]
    acc = float(re.search(r"accuracy  ([0-9.]+) \((\d+)/360\)", out).group(1))
    loss = float(re.search(r"loss      ([0-9.]+)", out).group(1))
    assert acc == pytest.approx(float(last["test_acc"]), abs=1e-4)
    assert loss == pytest.approx(float(last["test_loss"]), abs=1e-4)
    m = _matrix(out)
    assert m.shape == (10, 10) and m.sum() == 360
    assert np.trace(m) / 360 == pytest.approx(acc, abs=1e-4)
    # each row sums to the number of test images of that class
    per_class = np.bincount(Digits(train=False).label, minlength=10)
    np.testing.assert_array_equal(m.sum(axis=1), per_class)
    assert (digits_run / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_uses_the_best_checkpoint_when_there_is_one(digits_run, run):
    code, out, err = run(["evaluate", digits_run])
    assert code == 0, err
    assert "best.npz" in out
    code, out, err = run(["evaluate", digits_run / "checkpoint.npz"])
    assert "checkpoint.npz, epoch 3" in out


def test_evaluate_errors(tmp_path, run):
    (tmp_path / "empty").mkdir()
    code, out, err = run(["evaluate", tmp_path / "empty"])
    assert code == 1 and "no checkpoint.npz in this folder" in err
    code, out, err = run(["evaluate", tmp_path / "missing"])
    assert code == 1 and "no such run folder" in err


def test_predict_rows_agree_with_the_saved_weights(digits_run, run, tmp_path):
    test = Digits(train=False, transform=None)
    raw = test.data[:5].reshape(5, 64).astype(np.float32)  # grey levels 0..16, as trained
    np.save(tmp_path / "rows.npy", raw)
    code, out, err = run(["predict", digits_run, tmp_path / "rows.npy", "--top-k", 3,
                          "--checkpoint", "last"])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith(f"{tmp_path / 'rows.npy'}[0]: ")
    # An independent forward pass with the weights file.
    model = MLP((100, 10), activation=F.relu)
    model.load_weights(str(digits_run / "weights.npz"))
    with dezero.no_grad():
        prob = F.softmax(model(raw / 16)).data
    for line, p in zip(lines, prob):
        pairs = re.findall(r"(\d) \(([0-9.]+)\)", line.split(": ", 1)[1])
        assert len(pairs) == 3
        assert int(pairs[0][0]) == int(p.argmax())
        assert float(pairs[0][1]) == pytest.approx(float(p.max()), abs=1e-3)
        probs = [float(v) for _, v in pairs]
        assert probs == sorted(probs, reverse=True)
    # The same rows as .csv (no header) and a single 8x8 array.
    np.savetxt(tmp_path / "rows.csv", raw, delimiter=",", fmt="%d")
    np.save(tmp_path / "one.npy", test.data[0, 0])
    code, out2, err = run(["predict", digits_run, tmp_path / "rows.csv", tmp_path / "one.npy",
                           "--checkpoint", "last"])
    assert code == 0, err
    lines2 = out2.strip().splitlines()
    assert [s.split(": ")[1] for s in lines2[:5]] == [s.split(": ")[1] for s in lines]
    assert lines2[5].split(": ")[1] == lines[0].split(": ")[1]


def test_predict_errors(digits_run, run, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((2, 10)))
    code, out, err = run(["predict", digits_run, tmp_path / "bad.npy"])
    assert code == 1 and "expected rows of 64 values" in err
    (tmp_path / "x.txt").write_text("1")
    code, out, err = run(["predict", digits_run, tmp_path / "x.txt"])
    assert code == 1 and "expected an image" in err
    code, out, err = run(["predict", digits_run, tmp_path / "nope.png"])
    assert code == 1 and "no such file" in err


def test_predict_images_of_an_image_folder_run(tmp_path, run, image_folder):
    Image = pytest.importorskip("PIL.Image")
    out = tmp_path / "imgs"
    code, _, err = run(["train", "--dataset", image_folder, "--model", "cnn", "--epochs", 15,
                        "--out", out, "--quiet"])
    assert code == 0, err
    # A larger RGB picture of a training image: converted to grey and resized to 8x8.
    small = Image.open(image_folder / "seven" / "00.png")
    small.convert("RGB").resize((32, 32), Image.NEAREST).save(tmp_path / "big_seven.png")
    code, stdout, err = run(["predict", out, image_folder / "seven" / "00.png",
                             tmp_path / "big_seven.png", "--top-k", 2])
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        names = re.findall(r"(\w+) \([0-9.]+\)", line.split(": ", 1)[1])
        assert len(names) == 2 and set(names) <= {"zero", "one", "seven"}
    assert lines[0].split(": ")[1].startswith("seven")
