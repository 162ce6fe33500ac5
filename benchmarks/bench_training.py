"""Training-step benchmarks: dezero against PyTorch CPU and hand-written NumPy, in one run.

Cases (each implementation starts from the same weights and sees the same batches; the first
losses are checked to agree before any timing is trusted):

  mlp_sgd    MLP 784-1000-10, sigmoid, batch 100, SGD                      ms / step
  deep_adam  MLP 784-512-512-512-10, relu, batch 256, Adam                 ms / step
  cnn        conv16-relu-pool-conv32-relu-pool-linear, 1x28x28, batch 64   ms / step
  infer      no_grad forward of mlp_sgd's model on a batch of 1000         ms / batch
  memory     2,000 mlp_sgd steps: RSS growth, peak RSS, page faults / step

Every measurement runs in a fresh process, repeated; the table shows medians and ratios.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_training.py
    ... --quick            fewer repetitions and steps
    ... --threads 1        one thread count only
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    PeakRSS,
    emit,
    format_table,
    machine_report,
    median_of_runs,
    pin_threads,
    ratio,
    rss_mb,
    write_json,
)

CASES = ("mlp_sgd", "deep_adam", "cnn", "infer", "memory")
IMPLS = ("dezero", "torch", "numpy")
LR = 0.1

# =============================================================================
# Shared data and weights
# =============================================================================


def _layer_sizes(case):
    if case == "deep_adam":
        return [784, 512, 512, 512, 10]
    return [784, 1000, 10]


def _batch_size(case):
    return {"mlp_sgd": 100, "deep_adam": 256, "cnn": 64, "infer": 1000, "memory": 100}[case]


def make_batches(case, n_batches, seed=1):
    rng = np.random.default_rng(seed)
    n = _batch_size(case)
    shape = (n, 1, 28, 28) if case == "cnn" else (n, 784)
    xs = [rng.random(shape, dtype=np.float32) for _ in range(n_batches)]
    ts = [rng.integers(0, 10, n) for _ in range(n_batches)]
    return xs, ts


def make_mlp_weights(case, seed=0):
    rng = np.random.default_rng(seed)
    sizes = _layer_sizes(case)
    params = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        W = (rng.standard_normal((i, o)) * np.sqrt(1 / i)).astype(np.float32)
        params.append((W, np.zeros(o, np.float32)))
    return params


def make_cnn_weights(seed=0):
    rng = np.random.default_rng(seed)
    W1 = (rng.standard_normal((16, 1, 3, 3)) * np.sqrt(1 / 9)).astype(np.float32)
    W2 = (rng.standard_normal((32, 16, 3, 3)) * np.sqrt(1 / 144)).astype(np.float32)
    W3 = (rng.standard_normal((32 * 7 * 7, 10)) * np.sqrt(1 / (32 * 49))).astype(np.float32)
    zeros = np.zeros
    return [(W1, zeros(16, np.float32)), (W2, zeros(32, np.float32)), (W3, zeros(10, np.float32))]


# =============================================================================
# dezero
# =============================================================================


def dezero_step_fn(case, gpu=False):
    import dezero.functions as F
    import dezero.layers as L
    from dezero import Model, no_grad, optimizers

    if case == "cnn":
        weights = make_cnn_weights()

        class CNN(Model):
            def __init__(self):
                super().__init__()
                self.c1 = L.Conv2d(16, 3, 1, 1, in_channels=1)
                self.c2 = L.Conv2d(32, 3, 1, 1, in_channels=16)
                self.fc = L.Linear(10, in_size=32 * 7 * 7)

            def forward(self, x):
                x = F.pooling(F.relu(self.c1(x)), 2, 2)
                x = F.pooling(F.relu(self.c2(x)), 2, 2)
                return self.fc(F.reshape(x, (x.shape[0], -1)))

        model = CNN()
        layers = [model.c1, model.c2, model.fc]
    else:
        weights = make_mlp_weights(case)
        activation = F.relu if case == "deep_adam" else F.sigmoid

        class Net(Model):
            def __init__(self):
                super().__init__()
                self.layers = []
                for i, (W, _) in enumerate(weights):
                    layer = L.Linear(W.shape[1], in_size=W.shape[0])
                    setattr(self, f"l{i}", layer)
                    self.layers.append(layer)

            def forward(self, x):
                for layer in self.layers[:-1]:
                    x = activation(layer(x))
                return self.layers[-1](x)

        model = Net()
        layers = model.layers
    for layer, (W, b) in zip(layers, weights):
        layer.W.data[...] = W
        layer.b.data[...] = b
    if gpu:
        model.to_gpu()
    optimizer = (optimizers.Adam() if case == "deep_adam" else optimizers.SGD(LR)).setup(model)

    def step(x, t):
        y = model(x)
        loss = F.softmax_cross_entropy(y, t)
        model.cleargrads()
        loss.backward()
        optimizer.update()
        return float(loss.data)

    def infer(x):
        with no_grad():
            return model(x).data

    return infer if case == "infer" else step


# =============================================================================
# PyTorch
# =============================================================================


def torch_step_fn(case, gpu=False):
    import torch
    import torch.nn.functional as TF

    device = "cuda" if gpu else "cpu"

    torch.manual_seed(0)
    if case == "cnn":
        weights = make_cnn_weights()
        params = [torch.tensor(w, requires_grad=True, device=device)
                  for pair in weights for w in pair]
        W1, b1, W2, b2, W3, b3 = params

        def forward(x):
            h = TF.max_pool2d(TF.relu(TF.conv2d(x, W1, b1, padding=1)), 2)
            h = TF.max_pool2d(TF.relu(TF.conv2d(h, W2, b2, padding=1)), 2)
            return h.reshape(h.shape[0], -1) @ W3 + b3
    else:
        weights = make_mlp_weights(case)
        params = [torch.tensor(w, requires_grad=True, device=device)
                  for pair in weights for w in pair]
        act = torch.relu if case == "deep_adam" else torch.sigmoid

        def forward(x):
            h = x
            n = len(params) // 2
            for i in range(n):
                h = TF.linear(h, params[2 * i].T, params[2 * i + 1])
                if i < n - 1:
                    h = act(h)
            return h

    opt = (torch.optim.Adam(params, lr=0.001, eps=1e-8) if case == "deep_adam"
           else torch.optim.SGD(params, lr=LR))

    def step(x, t):
        if isinstance(x, np.ndarray):
            x, t = torch.from_numpy(x), torch.from_numpy(t)
        loss = TF.cross_entropy(forward(x), t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach()) if hasattr(loss, "detach") else float(loss)

    def infer(x):
        with torch.no_grad():
            if isinstance(x, np.ndarray):
                return forward(torch.from_numpy(x)).numpy()
            return forward(x)

    return infer if case == "infer" else step


# =============================================================================
# Hand-written NumPy (the overhead-free limit)
# =============================================================================


def _softmax_ce(y, t):
    y = y - y.max(axis=1, keepdims=True)
    e = np.exp(y)
    s = e.sum(axis=1, keepdims=True)
    n = len(t)
    loss = -(y[np.arange(n), t] - np.log(s[:, 0])).mean()
    dy = e / s
    dy[np.arange(n), t] -= 1
    dy /= n
    return loss, dy


def _sigmoid(x):
    return np.tanh(x * 0.5) * 0.5 + 0.5


class _Adam:
    def __init__(self, params, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params, self.alpha, self.b1, self.b2, self.eps = params, alpha, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def update(self, grads):
        self.t += 1
        lr = self.alpha * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (1 - self.b1) * (g - m)
            v += (1 - self.b2) * (g * g - v)
            p -= lr * m / (np.sqrt(v) + self.eps)


def _im2col(x, k, pad):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    s = xp.strides
    win = np.lib.stride_tricks.as_strided(xp, (n, c, k, k, h, w), (s[0], s[1], s[2], s[3],
                                                                   s[2], s[3]))
    return win  # (N, C, KH, KW, OH, OW) view, stride 1


def _conv_forward(x, W, b):
    col = _im2col(x, 3, 1)
    y = np.tensordot(col, W, ((1, 2, 3), (1, 2, 3)))  # (N, OH, OW, OC)
    y += b
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2)), col


def _conv_backward(gy, x_shape, col, W):
    gW = np.tensordot(gy, col, ((0, 2, 3), (0, 4, 5)))  # (OC, C, KH, KW)
    gb = gy.sum(axis=(0, 2, 3))
    n, c, h, w = x_shape
    gcol = np.tensordot(W, gy, (0, 1))  # (C, KH, KW, N, OH, OW)
    gxp = np.zeros((n, c, h + 2, w + 2), gy.dtype)
    for i in range(3):
        for j in range(3):
            gxp[:, :, i:i + h, j:j + w] += gcol[:, i, j].transpose(1, 0, 2, 3)
    return gxp[:, :, 1:-1, 1:-1], gW, gb


def _pool_forward(x):
    n, c, h, w = x.shape
    r = x.reshape(n, c, h // 2, 2, w // 2, 2)
    y = r.max(axis=(3, 5))
    mask = r == y[:, :, :, None, :, None]
    return y, mask


def _pool_backward(gy, mask):
    n, c, h2, _, w2, _ = mask.shape
    g = mask * gy[:, :, :, None, :, None]
    return g.reshape(n, c, h2 * 2, w2 * 2)


def numpy_step_fn(case):
    if case == "cnn":
        (W1, b1), (W2, b2), (W3, b3) = make_cnn_weights()
        params = [W1, b1, W2, b2, W3, b3]

        def step(x, t):
            a1, col1 = _conv_forward(x, W1, b1)
            r1 = np.maximum(a1, 0)
            p1, m1 = _pool_forward(r1)
            a2, col2 = _conv_forward(p1, W2, b2)
            r2 = np.maximum(a2, 0)
            p2, m2 = _pool_forward(r2)
            flat = p2.reshape(len(x), -1)
            y = flat @ W3 + b3
            loss, dy = _softmax_ce(y, t)
            gW3, gb3 = flat.T @ dy, dy.sum(0)
            dp2 = (dy @ W3.T).reshape(p2.shape)
            da2 = _pool_backward(dp2, m2) * (a2 > 0)
            dp1, gW2, gb2 = _conv_backward(da2, p1.shape, col2, W2)
            da1 = _pool_backward(dp1, m1) * (a1 > 0)
            _, gW1, gb1 = _conv_backward(da1, x.shape, col1, W1)
            for p, g in zip(params, (gW1, gb1, gW2, gb2, gW3, gb3)):
                p -= LR * g
            return float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        return step

    weights = make_mlp_weights(case)
    params = [p for pair in weights for p in pair]
    relu = case == "deep_adam"
    adam = _Adam(params) if relu else None

    def forward(x):
        hs = [x]
        n = len(weights)
        for i, (W, b) in enumerate(weights):
            a = hs[-1] @ W
            a += b
            if i < n - 1:
                a = np.maximum(a, 0) if relu else _sigmoid(a)
            hs.append(a)
        return hs

    def step(x, t):
        hs = forward(x)
        loss, dy = _softmax_ce(hs[-1], t)
        grads = []
        g = dy
        for i in range(len(weights) - 1, -1, -1):
            W, _ = weights[i]
            h_in = hs[i]
            grads.append((h_in.T @ g, g.sum(axis=0)))
            if i > 0:
                g = g @ W.T
                h = hs[i]
                g = g * (h > 0) if relu else g * h * (1 - h)
        grads.reverse()
        flat = [g for pair in grads for g in pair]
        if adam is not None:
            adam.update(flat)
        else:
            for p, gp in zip(params, flat):
                p -= LR * gp
        return float(loss.detach()) if hasattr(loss, "detach") else float(loss)

    def infer(x):
        return forward(x)[-1]

    return infer if case == "infer" else step


# =============================================================================
# Child: one (case, impl) measurement
# =============================================================================


def child(case, impl, threads, steps):
    if impl == "torch":
        import torch  # noqa: F401  (imported before pinning, so its pools are limited)
    pin_threads(threads)
    make = {"dezero": dezero_step_fn, "torch": torch_step_fn, "numpy": numpy_step_fn}[impl]
    fn = make("mlp_sgd" if case in ("infer", "memory") else case)
    if case == "infer":
        fn = make("infer")
    n_batches = 8
    xs, ts = make_batches(case, n_batches)
    result = {}
    if case == "infer":
        for i in range(3):
            fn(xs[i % n_batches])
        start = time.perf_counter()
        for i in range(steps):
            fn(xs[i % n_batches])
        result["ms"] = (time.perf_counter() - start) / steps * 1e3
        result["checksum"] = float(np.asarray(fn(xs[0]), dtype=np.float64).sum())
        emit(result)
        return
    first = [fn(xs[i], ts[i]) for i in range(3)]
    result["first_losses"] = first
    warm = 5
    for i in range(warm):
        fn(xs[i % n_batches], ts[i % n_batches])
    rss_start = rss_mb()
    faults_start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with PeakRSS() as peak:
        start = time.perf_counter()
        rss_early = None
        for i in range(steps):
            fn(xs[i % n_batches], ts[i % n_batches])
            if i == min(99, steps - 1):
                rss_early = rss_mb()
        elapsed = time.perf_counter() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_start
    result["ms"] = elapsed / steps * 1e3
    result["faults_per_step"] = faults / steps
    result["peak_mb"] = peak.peak_mb
    if case == "memory":
        result["rss_growth_mb"] = (rss_mb() - rss_early) if rss_early is not None else None
        result["rss_start_mb"] = rss_start
    emit(result)


# =============================================================================
# Parent
# =============================================================================


def _available_impls():
    impls = ["dezero", "numpy"]
    try:
        import torch  # noqa: F401

        impls.insert(1, "torch")
    except ImportError:
        print("PyTorch is not installed: its column stays empty (pip install torch==2.13.0)")
    return impls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=4, metavar=("CASE", "IMPL", "THREADS", "STEPS"))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.child:
        case, impl, threads, steps = args.child
        child(case, impl, int(threads), int(steps))
        return None

    repeats = 1 if args.quick else args.repeats
    steps_for = {"mlp_sgd": 50, "deep_adam": 30, "cnn": 10, "infer": 30, "memory": 2000}
    if args.quick:
        steps_for = {"mlp_sgd": 20, "deep_adam": 10, "cnn": 4, "infer": 10, "memory": 300}
    impls = _available_impls()
    script = os.path.abspath(__file__)
    results = {}
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        for case in args.cases.split(","):
            cell = {}
            for impl in impls:
                if case == "memory" and impl == "torch" and args.quick:
                    continue
                cell[impl] = median_of_runs(script, ["--child", case, impl, threads,
                                                     steps_for[case]], threads, repeats)
            results[f"{case}/{threads}t"] = cell
            agree = _losses_agree(cell)
            d, t, n = (cell.get(k, {}).get("ms") for k in ("dezero", "torch", "numpy"))
            rows.append([case, threads, d, t, n, ratio(d, t), ratio(d, n), agree])
            if case == "memory":
                dz, npy = cell["dezero"], cell["numpy"]
                rows.append(["  rss growth MB", threads, dz.get("rss_growth_mb"),
                             cell.get("torch", {}).get("rss_growth_mb"),
                             npy.get("rss_growth_mb"), None, None, ""])
                rows.append(["  peak MB", threads, dz.get("peak_mb"),
                             cell.get("torch", {}).get("peak_mb"), npy.get("peak_mb"),
                             ratio(dz.get("peak_mb"), cell.get("torch", {}).get("peak_mb")),
                             ratio(dz.get("peak_mb"), npy.get("peak_mb")), ""])
                rows.append(["  faults/step", threads, dz.get("faults_per_step"),
                             cell.get("torch", {}).get("faults_per_step"),
                             npy.get("faults_per_step"),
                             ratio(dz.get("faults_per_step"),
                                   cell.get("torch", {}).get("faults_per_step")),
                             ratio(dz.get("faults_per_step"), npy.get("faults_per_step")), ""])
            print(format_table(["case", "thr", "dezero ms", "torch ms", "numpy ms",
                                "dz/torch", "dz/numpy", "losses agree"], rows[-1:]), flush=True)
    table = format_table(["case", "thr", "dezero ms", "torch ms", "numpy ms", "dz/torch",
                          "dz/numpy", "losses agree"], rows)
    print()
    print(table)
    path = write_json("training", {"machine": machine_report(), "results": results,
                                   "table": table}, args.out)
    print(f"\nwrote {path}")
    return results


def _losses_agree(cell):
    losses = [v["runs"][0].get("first_losses") for v in cell.values()]
    losses = [l for l in losses if l]
    if len(losses) < 2:
        return ""
    ref = np.array(losses[0])
    ok = all(np.allclose(np.array(l), ref, rtol=2e-3, atol=2e-4) for l in losses[1:])
    return "yes" if ok else "NO " + " ".join(f"{l[0]:.5f}" for l in losses)


if __name__ == "__main__":
    main()
