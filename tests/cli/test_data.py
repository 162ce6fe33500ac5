"""``dezero train --dataset PATH``: image folders, .csv and .npz files, and their errors."""
import numpy as np
import pytest
from _cli_helpers import metrics_rows

from dezero.cli import _runs
from dezero.datasets import load_digits_arrays


def _digits(classes=(0, 1, 7), per_class=20):
    images, labels = load_digits_arrays()
    keep = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in classes])
    return images[keep], labels[keep]


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_image_folder(tmp_path, run, image_folder, model):
    code, out, err = run(["train", "--dataset", image_folder, "--model", model, "--epochs", 2,
                          "--quiet", "--out", tmp_path / "r"])
    assert code == 0, err
    # 36 images, 20% (7) held out for the test with a fixed seed
    assert "my_digits: 29 train / 7 test images, 3 classes" in out
    arch = _runs.Checkpoint(str(tmp_path / "r" / "checkpoint.npz")).meta["arch"]
    assert arch["classes"] == ["one", "seven", "zero"] and arch["in_shape"] == [1, 8, 8]
    assert arch["scale"] == 255.0 and arch["image_mode"] == "L"


def test_image_folder_default_run_folder_is_named_after_it(tmp_path, run, image_folder):
    assert run(["train", "--dataset", image_folder, "--epochs", 1, "--quiet"])[0] == 0
    assert len(list((tmp_path / "runs" / "my_digits-mlp").iterdir())) == 1


def test_colour_images_keep_three_channels(tmp_path, run):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.RandomState(0)
    for name, channel in (("red", 0), ("blue", 2)):
        (tmp_path / "colours" / name).mkdir(parents=True)
        for i in range(6):
            a = rng.randint(0, 60, (6, 5, 3)).astype(np.uint8)
            a[..., channel] += 190
            Image.fromarray(a, "RGB").save(tmp_path / "colours" / name / f"{i}.png")
    code, out, err = run(["train", "--dataset", tmp_path / "colours", "--model", "cnn",
                          "--epochs", 1, "--quiet", "--out", tmp_path / "r"])
    assert code == 0, err
    assert "CNN input 3x6x5" in out


def test_image_folder_errors(tmp_path, run, image_folder):
    Image = pytest.importorskip("PIL.Image")
    # Mixed sizes name two files and their sizes.
    Image.new("L", (10, 12)).save(image_folder / "one" / "big.png")
    code, out, err = run(["train", "--dataset", image_folder, "--out", tmp_path / "r"])
    assert code == 1 and "mixed sizes" in err and "big.png is 10x12" in err and "8x8" in err
    assert not (tmp_path / "r").exists()
    (image_folder / "one" / "big.png").unlink()
    # An empty class folder.
    (image_folder / "two").mkdir()
    code, out, err = run(["train", "--dataset", image_folder, "--out", tmp_path / "r"])
    assert code == 1 and "'two' holds no images" in err
    # A single class.
    single = tmp_path / "single" / "cat"
    single.mkdir(parents=True)
    Image.new("L", (4, 4)).save(single / "a.png")
    code, out, err = run(["train", "--dataset", tmp_path / "single", "--out", tmp_path / "r"])
    assert code == 1 and "at least 2 classes; found 1 ('cat')" in err
    # No class folders at all, an unreadable image.
    (tmp_path / "flat").mkdir()
    code, out, err = run(["train", "--dataset", tmp_path / "flat", "--out", tmp_path / "r"])
    assert code == 1 and "one sub-folder of images per class" in err
    (image_folder / "two" / "broken.png").write_bytes(b"not a png")
    code, out, err = run(["train", "--dataset", image_folder, "--out", tmp_path / "r"])
    assert code == 1 and "cannot read the image" in err and "broken.png" in err
    code, out, err = run(["train", "--dataset", tmp_path / "nothing", "--out", tmp_path / "r"])
    assert code == 1 and "no such file or folder" in err


def _write_csv(path, x, labels, label_column="label", header=True):
    lines = []
    if header:
        lines.append(",".join([f"p{i}" for i in range(x.shape[1] // 2)] + [label_column]
                              + [f"p{i}" for i in range(x.shape[1] // 2, x.shape[1])]))
    half = x.shape[1] // 2
    for row, label in zip(x, labels):
        lines.append(",".join([str(v) for v in row[:half]] + [str(label)]
                              + [str(v) for v in row[half:]]))
    path.write_text("\n".join(lines) + "\n")


def test_csv_with_a_label_column(tmp_path, run):
    images, labels = _digits()
    names = np.array(["zero", "one", "seven"])[np.searchsorted([0, 1, 7], labels)]
    _write_csv(tmp_path / "d.csv", images.reshape(len(images), -1), names)
    code, out, err = run(["train", "--dataset", tmp_path / "d.csv", "--epochs", 3,
                          "--quiet", "--out", tmp_path / "r"])
    assert code == 0, err
    assert "d: 48 train / 12 test rows, 3 classes" in out and "MLP 64-100-3" in out
    arch = _runs.Checkpoint(str(tmp_path / "r" / "checkpoint.npz")).meta["arch"]
    assert arch["classes"] == ["one", "seven", "zero"] and arch["scale"] == 16.0
    # Another label column name.
    _write_csv(tmp_path / "e.csv", images.reshape(len(images), -1), labels, "digit")
    code, out, err = run(["train", "--dataset", tmp_path / "e.csv", "--label-column", "digit",
                          "--epochs", 1, "--quiet", "--out", tmp_path / "s"])
    assert code == 0, err
    arch = _runs.Checkpoint(str(tmp_path / "s" / "checkpoint.npz")).meta["arch"]
    assert arch["classes"] == ["0", "1", "7"]  # numeric labels sort as numbers


def test_csv_errors(tmp_path, run):
    images, labels = _digits()
    x = images.reshape(len(images), -1)
    _write_csv(tmp_path / "d.csv", x, labels, "digit")
    code, out, err = run(["train", "--dataset", tmp_path / "d.csv", "--out", tmp_path / "r"])
    assert code == 1 and "no label column 'label'" in err and "--label-column" in err
    labels_missing = labels.astype(object)
    labels_missing[5] = ""
    _write_csv(tmp_path / "m.csv", x, labels_missing)
    code, out, err = run(["train", "--dataset", tmp_path / "m.csv", "--out", tmp_path / "r"])
    assert code == 1 and "line 7: missing label in column 'label'" in err
    (tmp_path / "n.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    code, out, err = run(["train", "--dataset", tmp_path / "n.csv", "--out", tmp_path / "r"])
    assert code == 1 and "line 3: 'oops' is not a number" in err
    (tmp_path / "one.csv").write_text("a,label\n1,x\n2,x\n")
    code, out, err = run(["train", "--dataset", tmp_path / "one.csv", "--out", tmp_path / "r"])
    assert code == 1 and "at least 2 classes" in err
    code, out, err = run(["train", "--dataset", tmp_path / "d.csv", "--model", "cnn",
                          "--label-column", "digit", "--out", tmp_path / "r"])
    assert code == 1 and "--model cnn needs images" in err


def test_npz_dataset(tmp_path, run):
    images, labels = _digits()
    np.savez(tmp_path / "d.npz", x=images, t=labels)  # (N, 8, 8) -> one channel
    code, out, err = run(["train", "--dataset", tmp_path / "d.npz", "--model", "cnn",
                          "--epochs", 1, "--quiet", "--out", tmp_path / "r"])
    assert code == 0, err
    assert "d: 48 train / 12 test images, 3 classes" in out and "CNN input 1x8x8" in out
    assert len(metrics_rows(tmp_path / "r")) == 1
    np.savez(tmp_path / "f.npz", x=images.reshape(len(images), -1).astype(np.float64) / 3,
             t=labels)
    code, out, err = run(["train", "--dataset", tmp_path / "f.npz", "--epochs", 1, "--quiet",
                          "--out", tmp_path / "s"])
    assert code == 0, err
    assert _runs.Checkpoint(str(tmp_path / "s" / "checkpoint.npz")).meta["arch"]["scale"] == \
        pytest.approx(16 / 3)


def test_npz_errors(tmp_path, run):
    images, labels = _digits()
    np.savez(tmp_path / "a.npz", x=images)
    code, out, err = run(["train", "--dataset", tmp_path / "a.npz", "--out", tmp_path / "r"])
    assert code == 1 and "missing array 't'" in err
    np.savez(tmp_path / "b.npz", x=images, t=labels[:-1])
    code, out, err = run(["train", "--dataset", tmp_path / "b.npz", "--out", tmp_path / "r"])
    assert code == 1 and "one label per row of x" in err
    np.savez(tmp_path / "c.npz", x=images, t=np.zeros(len(images), int))
    code, out, err = run(["train", "--dataset", tmp_path / "c.npz", "--out", tmp_path / "r"])
    assert code == 1 and "at least 2 classes; found 1 ('0')" in err
    (tmp_path / "d.npz").write_bytes(b"garbage")
    code, out, err = run(["train", "--dataset", tmp_path / "d.npz", "--out", tmp_path / "r"])
    assert code == 1 and "not a readable .npz" in err
    (tmp_path / "e.txt").write_text("x")
    code, out, err = run(["train", "--dataset", tmp_path / "e.txt", "--out", tmp_path / "r"])
    assert code == 1 and "a folder of images, a .csv or an .npz" in err
