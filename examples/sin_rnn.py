"""Predict the next value of a sine wave with an RNN or an LSTM (steps 59-60 of the book).

Trains on a noisy sine with truncated backpropagation through time (SeqDataLoader gives
parallel streams), then predicts a clean cosine one step ahead. Saves the predicted curve to
``<out>/sin_rnn.png`` when matplotlib is installed.

    python examples/sin_rnn.py                   # LSTM, 30 epochs
    python examples/sin_rnn.py --model rnn --epochs 100
"""
import argparse
import os

import numpy as np

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import SeqDataLoader, optimizers
from dezero.cli.argtypes import positive_int, use_threads
from dezero.datasets import SinCurve
from dezero.models import Model


class SimpleRNN(Model):
    """One tanh RNN layer and a linear read-out (step 59)."""

    def __init__(self, hidden_size, out_size):
        super().__init__()
        self.rnn = L.RNN(hidden_size)
        self.fc = L.Linear(out_size)

    def reset_state(self):
        self.rnn.reset_state()

    def forward(self, x):
        return self.fc(self.rnn(x))


class BetterRNN(Model):
    """One LSTM layer and a linear read-out (step 60)."""

    def __init__(self, hidden_size, out_size):
        super().__init__()
        self.rnn = L.LSTM(hidden_size)
        self.fc = L.Linear(out_size)

    def reset_state(self):
        self.rnn.reset_state()

    def forward(self, x):
        return self.fc(self.rnn(x))


def predict(model, xs):
    """Feed ``xs`` one value at a time and collect the one-step-ahead predictions."""
    model.reset_state()
    out = []
    with dezero.no_grad():
        for x in xs:
            y = model(np.array(x, dtype=np.float64).reshape(1, 1))
            out.append(float(y.data[0, 0]))
    return np.array(out)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", choices=["rnn", "lstm"], default="lstm",
                        help="a plain RNN or an LSTM")
    parser.add_argument("--epochs", type=positive_int, default=30,
                        help="passes over the sine curve")
    parser.add_argument("--batch-size", type=positive_int, default=30,
                        help="sequences read in parallel")
    parser.add_argument("--hidden", type=positive_int, default=100,
                        help="size of the hidden state")
    parser.add_argument("--bptt", type=positive_int, default=30,
                        help="steps per truncated backprop")
    parser.add_argument("--out", default=os.path.join("runs", "sin_rnn"),
                        help="folder for sin_rnn.png")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="BLAS threads (through threadpoolctl when installed)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    use_threads(args.threads)

    np.random.seed(0)
    train_set = SinCurve(train=True)
    loader = SeqDataLoader(train_set, batch_size=args.batch_size)
    net = BetterRNN if args.model == "lstm" else SimpleRNN
    model = net(args.hidden, 1)
    optimizer = optimizers.Adam().setup(model)

    for epoch in range(args.epochs):
        model.reset_state()
        loss, count, sum_loss = 0, 0, 0.0
        for x, t in loader:
            y = model(x)
            loss += F.mean_squared_error(y, t)
            count += 1
            if count % args.bptt == 0 or count == loader.max_iter:
                model.cleargrads()
                loss.backward()
                loss.unchain_backward()  # cut the graph: the next window starts here
                optimizer.update()
                sum_loss += float(loss.data)
                loss = 0
        print(f"epoch {epoch + 1}, loss {sum_loss / count:.6f}")

    xs = np.cos(np.linspace(0, 4 * np.pi, 1000))
    ys = predict(model, xs)
    mse = float(np.mean((ys[:-1] - xs[1:]) ** 2))
    print(f"one-step prediction of cos, mean squared error: {mse:.6f}")

    os.makedirs(args.out, exist_ok=True)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return mse
    fig = Figure(figsize=(7, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(np.arange(len(xs)), xs, label="y = cos(x)")
    ax.plot(np.arange(1, len(xs) + 1), ys, label=f"predicted ({args.model})")
    ax.set_xlabel("step")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(args.out, "sin_rnn.png")
    fig.savefig(path)
    print(f"saved {path}")
    return mse


if __name__ == "__main__":
    main()
