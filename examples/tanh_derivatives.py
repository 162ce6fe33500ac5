"""Higher-order derivatives of tanh, and the graphs that compute them (steps 33-35).

Each ``backward(create_graph=True)`` builds the graph of the derivative, so the derivative can
be differentiated again. The graphs grow quickly with the order; with Graphviz installed they
are drawn to ``<out>/tanh_grad<n>.png``. The curves go to ``<out>/tanh_derivatives.png``.

    python examples/tanh_derivatives.py              # orders 1..4
    python examples/tanh_derivatives.py --order 6
"""
import argparse
import os
import shutil

import numpy as np

import dezero.functions as F
from dezero import Variable
from dezero.cli.argtypes import finite_float, positive_int, use_threads
from dezero.utils import get_dot_graph, plot_dot_graph


def derivatives(x, order):
    """``[tanh(x), tanh'(x), ..., tanh^(order)(x)]`` as Variables, each with its graph."""
    x = Variable(np.asarray(x, dtype=np.float64), name="x")
    y = F.tanh(x)
    y.name = "y"
    out = [y]
    g = y
    for n in range(1, order + 1):
        x.cleargrad()
        g.backward(create_graph=True)
        g = x.grad
        g.name = f"gx{n}"
        out.append(g)
    return out


def closed_form(x, order):
    """tanh and its first three derivatives written out with y = tanh(x), for comparison."""
    y = np.tanh(x)
    forms = [y, 1 - y ** 2, -2 * y * (1 - y ** 2), -2 * (1 - y ** 2) * (1 - 3 * y ** 2)]
    return forms[:order + 1]


def count_functions(v):
    """Number of Function nodes in the graph that produced ``v``."""
    return get_dot_graph(v, verbose=False).count("shape=box")


def plot_curves(order, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xs = np.linspace(-3, 3, 200)
    curves = derivatives(xs, order)  # elementwise: one graph computes all 200 points
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for n, c in enumerate(curves):
        ax.plot(xs, c.data, label="tanh" if n == 0 else f"order {n}")
    ax.set_xlabel("x")
    ax.legend(fontsize="small")
    ax.set_title("tanh and its derivatives")
    fig.savefig(path)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--order", type=positive_int, default=4, help="highest derivative")
    parser.add_argument("--x", type=finite_float, default=1.0, help="point of evaluation")
    parser.add_argument("--out", default=os.path.join("runs", "tanh"),
                        help="folder for the plots and graphs")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="BLAS threads (through threadpoolctl when installed)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    use_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    values = derivatives(args.x, args.order)
    exact = closed_form(args.x, args.order)
    for n, v in enumerate(values):
        line = f"order {n}: {float(v.data):+.10f}  ({count_functions(v)} functions in its graph)"
        if n < len(exact):
            line += f"  closed form {exact[n]:+.10f}"
        print(line)

    if shutil.which("dot"):
        for n, v in enumerate(values[1:], start=1):
            path = os.path.join(args.out, f"tanh_grad{n}.png")
            plot_dot_graph(v, verbose=False, to_file=path)
            print(f"saved {path}")
    else:
        print("Graphviz 'dot' not found: graphs not drawn (apt-get install graphviz)")
    try:
        path = os.path.join(args.out, "tanh_derivatives.png")
        plot_curves(args.order, path)
        print(f"saved {path}")
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
    return [float(v.data) for v in values]


if __name__ == "__main__":
    main()
