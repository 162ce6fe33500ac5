"""A variational autoencoder on handwritten digits.

Offline by default on the 8x8 digits shipped with dezero; ``--dataset mnist`` uses MNIST (28x28,
downloaded once). The encoder maps an image to the mean and log-variance of a Gaussian over a
small latent space; a sample from it (reparameterisation trick: z = mu + sigma * eps) is decoded
back. The loss is the reconstruction cross-entropy plus the KL divergence to N(0, I).
Reconstructions and samples are saved to ``<out>/vae.png`` when matplotlib is installed.

    python examples/vae.py                     # 30 epochs on digits
    python examples/vae.py --dataset mnist --epochs 10
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
from dezero.models import Model


class VAE(Model):
    def __init__(self, in_size, hidden=128, latent=2):
        super().__init__()
        self.latent = latent
        self.enc = L.Linear(hidden, in_size=in_size)
        self.enc_mu = L.Linear(latent, in_size=hidden)
        self.enc_logvar = L.Linear(latent, in_size=hidden)
        self.dec = L.Linear(hidden, in_size=latent)
        self.dec_out = L.Linear(in_size, in_size=hidden)

    def encode(self, x):
        h = F.relu(self.enc(x))
        return self.enc_mu(h), self.enc_logvar(h)

    def decode(self, z):
        """Logits of the pixels (apply sigmoid for intensities)."""
        return self.dec_out(F.relu(self.dec(z)))

    def forward(self, x):
        mu, logvar = self.encode(x)
        eps = np.random.randn(*mu.shape).astype(mu.dtype)
        z = mu + F.exp(0.5 * logvar) * eps  # reparameterisation: gradients reach mu, logvar
        return self.decode(z), mu, logvar

    def loss(self, x):
        """Per-image negative ELBO: reconstruction cross-entropy + KL(q(z|x) || N(0, I))."""
        logits, mu, logvar = self(x)
        reconstruction = F.sigmoid_cross_entropy(logits, x)  # summed over pixels, / batch
        kl = -0.5 * F.sum(1 + logvar - mu ** 2 - F.exp(logvar)) / len(x)
        return reconstruction + kl


def save_figure(model, x, side, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with dezero.no_grad():
        mu, _ = model.encode(x[:8])
        recon = F.sigmoid(model.decode(mu)).data
        z = np.random.randn(8, model.latent).astype(np.float32)
        samples = F.sigmoid(model.decode(z)).data
    fig = Figure(figsize=(8, 3))
    FigureCanvasAgg(fig)
    rows = [("input", x[:8]), ("reconstructed", recon), ("sampled", samples)]
    for r, (title, images) in enumerate(rows):
        for c in range(8):
            ax = fig.add_subplot(3, 8, r * 8 + c + 1)
            ax.imshow(images[c].reshape(side, side), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
            if c == 0:
                ax.set_title(title, fontsize=8, loc="left")
    fig.savefig(path)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits",
                        help="digits: offline, shipped with dezero; mnist: downloaded once")
    parser.add_argument("--epochs", type=positive_int, default=30,
                        help="passes over the training set")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="images per batch")
    parser.add_argument("--latent", type=positive_int, default=2,
                        help="size of the latent code")
    parser.add_argument("--out", default=os.path.join("runs", "vae"), help="folder for vae.png")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="BLAS threads (through threadpoolctl when installed)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    use_threads(args.threads)

    np.random.seed(0)
    if args.dataset == "digits":
        train_set, side = datasets.Digits(), 8
        test_set = datasets.Digits(train=False)
    else:
        train_set, side = datasets.MNIST(), 28
        test_set = datasets.MNIST(train=False)
    loader = DataLoader(train_set, args.batch_size)
    model = VAE(side * side, latent=args.latent)
    optimizer = optimizers.Adam(alpha=0.002).setup(model)

    for epoch in range(args.epochs):
        sum_loss = 0.0
        for x, _ in loader:
            loss = model.loss(x)
            model.cleargrads()
            loss.backward()
            optimizer.update()
            sum_loss += float(loss.data) * len(x)
        print(f"epoch {epoch + 1}, loss {sum_loss / len(train_set):.4f}")

    x_test = np.stack([test_set[i][0] for i in range(len(test_set))])
    with dezero.no_grad():
        test_loss = float(model.loss(x_test).data)
    print(f"test loss: {test_loss:.4f}")

    os.makedirs(args.out, exist_ok=True)
    try:
        path = os.path.join(args.out, "vae.png")
        save_figure(model, x_test, side, path)
        print(f"saved {path}")
    except ImportError:
        print("matplotlib is not installed: no figure (pip install matplotlib)")
    return test_loss


if __name__ == "__main__":
    try:
        main()
    except (dezero.DatasetDownloadError, dezero.DatasetIntegrityError) as e:
        # An offline machine or a damaged download: one line, not a traceback.
        sys.exit(f"{os.path.basename(__file__)}: error: {e}")
