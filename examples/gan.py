"""A small DCGAN that learns to draw handwritten digits (the book's GAN example, scaled down).

Offline by default on the 8x8 digits shipped with dezero; ``--dataset mnist`` uses MNIST (28x28,
downloaded once). The generator turns noise into images with transposed convolutions
(Deconv2d) and batch normalisation; the discriminator is a small CNN that outputs a logit.
Samples are saved to ``<out>/gan_samples.png`` when matplotlib is installed.

    python examples/gan.py                     # 600 iterations on digits
    python examples/gan.py --dataset mnist --iters 3000
"""
import argparse
import os
import sys

import numpy as np

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import DataLoader, datasets, optimizers
from dezero.cli.argtypes import positive_int, use_threads
from dezero.models import Sequential
from dezero.transforms import Compose, Normalize, ToFloat


def make_generator(base):
    """Noise (N, latent) -> images (N, 1, 4*base, 4*base) in [0, 1]."""
    return Sequential(
        L.Linear(64 * base * base),
        L.BatchNorm(),
        F.relu,
        lambda x: F.reshape(x, (-1, 64, base, base)),
        L.Deconv2d(32, kernel_size=4, stride=2, pad=1),
        L.BatchNorm(),
        F.relu,
        L.Deconv2d(1, kernel_size=4, stride=2, pad=1),
        F.sigmoid,
    )


def make_discriminator():
    """Images -> one logit per image (real > 0 > fake)."""
    return Sequential(
        L.Conv2d(32, kernel_size=3, stride=2, pad=1),
        F.leaky_relu,
        L.Conv2d(64, kernel_size=3, stride=2, pad=1),
        L.BatchNorm(),
        F.leaky_relu,
        F.flatten,
        L.Linear(64),
        F.leaky_relu,
        L.Linear(1),
    )


def save_samples(gen, z, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with dezero.test_mode(), dezero.no_grad():
        images = gen(z).data[:, 0]
    n = int(np.sqrt(len(images)))
    fig = Figure(figsize=(4, 4))
    FigureCanvasAgg(fig)
    for i in range(n * n):
        ax = fig.add_subplot(n, n, i + 1)
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    fig.savefig(path)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits",
                        help="digits: offline, shipped with dezero; mnist: downloaded once")
    parser.add_argument("--iters", type=positive_int, default=600, help="training iterations")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="images per batch")
    parser.add_argument("--latent", type=positive_int, default=16,
                        help="size of the noise vector")
    parser.add_argument("--out", default=os.path.join("runs", "gan"),
                        help="folder for gan_samples.png")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="BLAS threads (through threadpoolctl when installed)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    use_threads(args.threads)

    np.random.seed(0)
    if args.dataset == "digits":
        train_set = datasets.Digits(transform=Compose([ToFloat(), Normalize(0.0, 16.0)]))
        base = 2   # 8x8 images
    else:
        train_set = datasets.MNIST(transform=Compose([ToFloat(), Normalize(0.0, 255.0)]))
        base = 7   # 28x28 images
    loader = DataLoader(train_set, args.batch_size)

    gen = make_generator(base)
    dis = make_discriminator()
    opt_gen = optimizers.Adam(alpha=0.0002, beta1=0.5).setup(gen)
    opt_dis = optimizers.Adam(alpha=0.0002, beta1=0.5).setup(dis)

    it = 0
    while it < args.iters:
        for x_real, _ in loader:
            n = len(x_real)
            ones = np.ones((n, 1), dtype=np.int32)
            zeros = np.zeros((n, 1), dtype=np.int32)
            z = np.random.randn(n, args.latent).astype(np.float32)
            x_fake = gen(z)

            # Discriminator: real -> 1, fake -> 0 (the fake images are constants here).
            loss_dis = (F.sigmoid_cross_entropy(dis(x_real), ones)
                        + F.sigmoid_cross_entropy(dis(x_fake.data), zeros))
            dis.cleargrads()
            loss_dis.backward()
            opt_dis.update()

            # Generator: make the discriminator say 1 for fakes.
            loss_gen = F.sigmoid_cross_entropy(dis(x_fake), ones)
            gen.cleargrads()
            loss_gen.backward()
            opt_gen.update()

            it += 1
            if it % 100 == 0 or it == args.iters:
                print(f"iter {it}: loss D {float(loss_dis.data):.4f}, "
                      f"loss G {float(loss_gen.data):.4f}")
            if it >= args.iters:
                break

    os.makedirs(args.out, exist_ok=True)
    z = np.random.randn(16, args.latent).astype(np.float32)
    try:
        path = os.path.join(args.out, "gan_samples.png")
        save_samples(gen, z, path)
        print(f"saved {path}")
    except ImportError:
        print("matplotlib is not installed: no samples plot (pip install matplotlib)")
    return float(loss_dis.data), float(loss_gen.data)


if __name__ == "__main__":
    try:
        main()
    except (dezero.DatasetDownloadError, dezero.DatasetIntegrityError) as e:
        # An offline machine or a damaged download: one line, not a traceback.
        sys.exit(f"{os.path.basename(__file__)}: error: {e}")
