"""Write ``dezero/_data/digits.npz``, the 8x8 digits that ``dezero.datasets.Digits`` loads.

The data is the test set of "Optical Recognition of Handwritten Digits" (E. Alpaydin and
C. Kaynak, 1998; UCI Machine Learning Repository, doi:10.24432/C50P49), licensed under
Creative Commons Attribution 4.0 International (CC BY 4.0). It is read from the copy that
scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``), so run this once, with
scikit-learn installed, when the file must be regenerated:

    python tools/make_digits.py            # writes dezero/_data/digits.npz, prints the digest

The file holds ``images`` (1797, 8, 8) uint8 with grey levels 0..16 and ``labels`` (1797,)
uint8, in the source's order. The digest printed is the one ``dezero.datasets`` checks:
SHA-256 of ``images.tobytes() + labels.tobytes()`` (independent of zip timestamps).
"""
import hashlib
import io
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, os.pardir, "dezero", "_data", "digits.npz")


def main():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("make_digits.py needs scikit-learn (pip install scikit-learn)")
    digits = load_digits()
    images = digits.images.astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert np.array_equal(images, digits.images) and np.array_equal(labels, digits.target)
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images, labels=labels)
    with open(TARGET, "wb") as f:
        f.write(buf.getvalue())
    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    print(f"wrote {os.path.normpath(TARGET)} ({len(buf.getvalue())} bytes)")
    print(f"content SHA-256: {digest}")


if __name__ == "__main__":
    main()
