"""Training-step benchmarks: dezero against PyTorch CPU and hand-written NumPy, in one run.

Cases (each implementation starts from the same weights and sees the same batches; the first
losses, and the inference outputs, are checked to agree before any timing is trusted):

  mlp_sgd    MLP 784-1000-10, sigmoid, batch 100, SGD lr 0.01                   ms / step
  deep_adam  MLP 784-512-512-512-10, relu, batch 256, Adam                 ms / step
  cnn        conv16-relu-pool-conv32-relu-pool-linear, 1x28x28, batch 64   ms / step
  infer      no_grad forward of mlp_sgd's model on a batch of 1000         ms / batch
  memory     2,000 mlp_sgd steps: RSS growth, peak RSS, page faults / step

A step is forward, loss, clearing the gradients, backward and the parameter update.

Implementations:

  dezero     the library, as a user writes it (Model, L.Linear / L.Conv2d, optimizers)
  torch      PyTorch CPU (functional forms, torch.optim), when it is installed
  numpy      a hand-written forward and backward of the same math with no graph, written
             the way a careful NumPy programmer would: in-place where the math allows it,
             the CNN as im2col (one strided view, one copy) + one GEMM per direction,
             col2im by a loop over the 3x3 window only, pooling on a reshaped view

Every measurement runs in a fresh process pinned to the thread count (threadpoolctl for
OpenBLAS/OpenMP and torch.set_num_threads), repeated; the table shows medians and ratios and
the targets of issue 7 are evaluated at the end. The BLAS kernel that ran is recorded.

Memory: ``peak MB`` is the growth of the resident set from before the model is built to the
highest point reached (model, optimizer state, the step's working set and what the allocator
keeps); ``rss growth MB`` is RSS after the 2,000 steps minus RSS before them; ``faults/step``
counts minor page faults in the timed steps (glibc returns big freed blocks to the OS, so
memory that is allocated afresh at each step is faulted in again at each step).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_training.py
    ... --quick             fewer repetitions and steps
    ... --threads 1         one thread count only
    ... --cases cnn,infer   some cases only
    ... --malloc retain     glibc told to keep freed memory (MALLOC_MMAP_THRESHOLD_ and
                            MALLOC_TRIM_THRESHOLD_), for every implementation alike
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
    dezero_cnn,
    emit,
    format_table,
    machine_report,
    median,
    pin_threads,
    ratio,
    rss_mb,
    run_fresh,
    write_json,
)

CASES = ("mlp_sgd", "deep_adam", "cnn", "infer", "memory")
IMPLS = ("dezero", "torch", "numpy")
LR = 0.01

# glibc settings of ``--malloc retain``: blocks below 32 MiB come from the heap, and up to
# 1 GiB of freed heap is kept instead of being returned to the OS.
MALLOC_RETAIN = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}

# The targets of issue 7: (case, what, limit); ratios are dezero / other, 1 thread.
TARGETS = [
    ("mlp_sgd", "dz/numpy", 1.15),
    ("deep_adam", "dz/numpy", 1.10),
    ("cnn", "dz/torch", 1.5),
    ("cnn", "dz/numpy", 1.15),
    ("cnn", "dz/torch (stretch)", 1.0),
    ("infer", "dz/numpy", 1.05),
    ("memory", "rss growth MB", 1.0),
    ("memory", "peak dz/numpy", 2.0),
    ("memory", "faults/step dz/numpy", 1.2),
]

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

        model = dezero_cnn()
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
        return float(loss.detach())

    def infer(x):
        with torch.no_grad():
            if isinstance(x, np.ndarray):
                return forward(torch.from_numpy(x)).numpy()
            return forward(x)

    return infer if case == "infer" else step


# =============================================================================
# Hand-written NumPy (the overhead-free limit)
# =============================================================================
# Written as a careful NumPy programmer would: every array the math needs (activations,
# gradients) is allocated, the rest is done in place. Layout inside the CNN is (C, N, H, W),
# so that a convolution is one GEMM W (OC, C*9) @ columns (C*9, N*H*W) whose result is
# already the next layer's (OC, N, H, W) input.


def _softmax_ce(y, t):
    """Mean cross entropy of the logits y (N, C) and its gradient (softmax - onehot) / N."""
    n = len(t)
    y = y - y.max(axis=1, keepdims=True)
    e = np.exp(y)
    s = e.sum(axis=1, keepdims=True)
    loss = -(y[np.arange(n), t] - np.log(s[:, 0])).mean()
    e /= s
    e[np.arange(n), t] -= 1
    e /= n
    return float(loss), e


class _Scratch:
    """Flat buffers reused by the in-place updates, sized for the largest parameter."""

    def __init__(self, params, count):
        size = max(p.size for p in params)
        self.buffers = [np.empty(size, params[0].dtype) for _ in range(count)]

    def like(self, p):
        return [b[:p.size].reshape(p.shape) for b in self.buffers]


class _SGD:
    """``p -= lr * g``, through one reused buffer."""

    def __init__(self, params, lr=LR):
        self.params, self.lr = params, lr
        self.scratch = _Scratch(params, 1)

    def update(self, grads):
        for p, g in zip(self.params, grads):
            tmp, = self.scratch.like(p)
            np.multiply(g, self.lr, out=tmp)
            p -= tmp


class _Adam:
    """The book's Adam (bias correction folded into lr), in place, two reused buffers."""

    def __init__(self, params, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params, self.alpha, self.b1, self.b2, self.eps = params, alpha, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.scratch = _Scratch(params, 2)
        self.t = 0

    def update(self, grads):
        self.t += 1
        lr = self.alpha * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            tmp, denom = self.scratch.like(p)
            np.subtract(g, m, out=tmp)
            tmp *= 1 - self.b1
            m += tmp
            np.multiply(g, g, out=tmp)
            tmp -= v
            tmp *= 1 - self.b2
            v += tmp
            np.sqrt(v, out=denom)
            denom += self.eps
            np.multiply(m, lr, out=tmp)
            tmp /= denom
            p -= tmp


def _im2col(a):
    """Columns (C*3*3, N*H*W) of the zero-padded 3x3 windows of ``a (C, N, H, W)``."""
    c, n, h, w = a.shape
    ap = np.zeros((c, n, h + 2, w + 2), a.dtype)
    ap[:, :, 1:-1, 1:-1] = a
    s = ap.strides
    win = np.lib.stride_tricks.as_strided(ap, (c, 3, 3, n, h, w),
                                          (s[0], s[2], s[3], s[1], s[2], s[3]))
    return win.reshape(c * 9, n * h * w)  # the one copy


def _col2im(gcol, shape):
    """Adjoint of ``_im2col``: the 3x3 windows added back into a (C, N, H, W) image."""
    c, n, h, w = shape
    gcol = gcol.reshape(c, 3, 3, n, h, w)
    gp = np.zeros((c, n, h + 2, w + 2), gcol.dtype)
    for i in range(3):
        for j in range(3):
            gp[:, :, i:i + h, j:j + w] += gcol[:, i, j]
    return gp[:, :, 1:-1, 1:-1]


def _conv_forward(a, Wm, b):
    """3x3 conv with pad 1 of ``a (C, N, H, W)``; ``Wm (OC, C*9)``. Returns y and the columns."""
    _, n, h, w = a.shape
    col = _im2col(a)
    y = Wm @ col
    y += b[:, None]
    return y.reshape(-1, n, h, w), col


def _conv_backward(gy, col, Wm, x_shape):
    """gx (None when ``x_shape`` is None), gW (OC, C*9), gb of a 3x3 conv with pad 1."""
    g = gy.reshape(gy.shape[0], -1)
    gW = g @ col.T
    gb = g.sum(axis=1)
    gx = None if x_shape is None else _col2im(Wm.T @ g, x_shape)
    return gx, gW, gb


_WINDOW = ((0, 0), (0, 1), (1, 0), (1, 1))


def _quarters(a):
    """The four (C, N, H/2, W/2) views of a 2x2 window, through a reshape of ``a``."""
    c, n, h, w = a.shape
    a6 = a.reshape(c, n, h // 2, 2, w // 2, 2)
    return [a6[:, :, :, i, :, j] for i, j in _WINDOW]


def _pool_forward(r):
    q = _quarters(r)
    y = np.maximum(q[0], q[1])
    np.maximum(y, q[2], out=y)
    np.maximum(y, q[3], out=y)
    return y


def _pool_backward(gy, r, y):
    """2x2 max pooling backward: the gradient goes to the first maximum of each window."""
    c, n, h2, w2 = y.shape
    g = np.empty((c, n, h2, 2, w2, 2), gy.dtype)
    rest = gy.copy()  # the part of gy not routed yet
    for k, (q, (i, j)) in enumerate(zip(_quarters(r), _WINDOW)):
        out = g[:, :, :, i, :, j]
        np.multiply(rest, q == y, out=out)
        if k < 3:
            rest -= out
    return g.reshape(c, n, 2 * h2, 2 * w2)


def numpy_step_fn(case):
    if case == "cnn":
        return _numpy_cnn_step()

    weights = make_mlp_weights(case)
    params = [p for pair in weights for p in pair]
    relu = case == "deep_adam"
    optimizer = _Adam(params) if relu else _SGD(params)

    def forward(x):
        hs = [x]
        last = len(weights) - 1
        for i, (W, b) in enumerate(weights):
            a = hs[-1] @ W
            a += b
            if i < last:
                if relu:
                    np.maximum(a, 0, out=a)
                else:  # sigmoid in place on the GEMM's output, in its fastest form here:
                    # tanh(a/2)/2 + 1/2 takes 0.63 ms on 1000x1000 float32 where
                    # 1 / (1 + exp(-a)) (negative, exp, +1, reciprocal) takes 0.92 ms
                    a *= 0.5
                    np.tanh(a, out=a)
                    a *= 0.5
                    a += 0.5
            hs.append(a)
        return hs

    def step(x, t):
        hs = forward(x)
        loss, g = _softmax_ce(hs[-1], t)
        grads = []
        for i in range(len(weights) - 1, -1, -1):
            W = weights[i][0]
            h = hs[i]
            grads.append(g.sum(axis=0))
            grads.append(h.T @ g)
            if i > 0:
                g = g @ W.T
                if relu:
                    g *= h > 0
                else:
                    d = 1 - h
                    d *= h
                    g *= d
        grads.reverse()
        optimizer.update(grads)
        return loss

    def infer(x):
        return forward(x)[-1]

    return infer if case == "infer" else step


def _numpy_cnn_step():
    (W1, b1), (W2, b2), (W3, b3) = make_cnn_weights()
    W1m, W2m = W1.reshape(16, -1), W2.reshape(32, -1)  # views: updated in place
    params = [W1m, b1, W2m, b2, W3, b3]
    optimizer = _SGD(params)

    def step(x, t):
        n = len(x)
        a0 = x.transpose(1, 0, 2, 3)  # (C, N, H, W); a view
        r1, col1 = _conv_forward(a0, W1m, b1)
        np.maximum(r1, 0, out=r1)  # relu in place: its backward mask is r > 0
        p1 = _pool_forward(r1)
        r2, col2 = _conv_forward(p1, W2m, b2)
        np.maximum(r2, 0, out=r2)
        p2 = _pool_forward(r2)
        flat = p2.transpose(1, 0, 2, 3).reshape(n, -1)  # (N, C*7*7), NCHW order
        y = flat @ W3
        y += b3
        loss, dy = _softmax_ce(y, t)
        gW3, gb3 = flat.T @ dy, dy.sum(axis=0)
        dp2 = (dy @ W3.T).reshape(n, *p2.shape[:1], *p2.shape[2:]).transpose(1, 0, 2, 3)
        da2 = _pool_backward(dp2, r2, p2)
        da2 *= r2 > 0
        dp1, gW2, gb2 = _conv_backward(da2, col2, W2m, p1.shape)
        da1 = _pool_backward(dp1, r1, p1)
        da1 *= r1 > 0
        _, gW1, gb1 = _conv_backward(da1, col1, W1m, None)  # x needs no gradient
        optimizer.update([gW1, gb1, gW2, gb2, gW3, gb3])
        return loss

    return step


# =============================================================================
# Child: one (case, impl) measurement
# =============================================================================


def _import(impl):
    """Import the framework before anything is measured (its import is not its working set)."""
    if impl == "torch":
        import torch  # noqa: F401  (before pinning, so its pools are limited)
    elif impl == "dezero":
        import dezero  # noqa: F401
        import dezero.functions  # noqa: F401


def _kernel_report(impl, threads):
    """What ran: the BLAS library, its kernel and thread count (and PyTorch's settings)."""
    report = {"threads": threads}
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info.get("user_api") == "blas":
                report["numpy_blas"] = (f"{info.get('internal_api')} {info.get('version')} "
                                        f"{info.get('architecture')} "
                                        f"x{info.get('num_threads')}")
    except ImportError:
        report["numpy_blas"] = "threadpoolctl is not installed"
    if impl == "torch":
        import torch

        report["torch"] = (f"{torch.__version__} {torch.backends.cpu.get_cpu_capability()} "
                           f"mkl={torch.backends.mkl.is_available()} "
                           f"onednn={torch.backends.mkldnn.is_available()} "
                           f"x{torch.get_num_threads()}")
    report["malloc"] = " ".join(f"{k}={os.environ[k]}" for k in MALLOC_RETAIN
                                if k in os.environ) or "glibc defaults"
    return report


def child(case, impl, threads, steps):
    _import(impl)
    limiter = pin_threads(threads)  # noqa: F841  (kept alive for the run)
    result = {"kernel": _kernel_report(impl, threads)}
    make = {"dezero": dezero_step_fn, "torch": torch_step_fn, "numpy": numpy_step_fn}[impl]
    model_case = "mlp_sgd" if case == "memory" else case
    n_batches = 8
    xs, ts = make_batches(case, n_batches)
    if case == "infer":
        def run(i):
            return fn(xs[i % n_batches])
    else:
        def run(i):
            return fn(xs[i % n_batches], ts[i % n_batches])

    with PeakRSS() as peak:  # from before the model exists to the end of the steps
        fn = make(model_case)
        if case == "infer":
            out = np.asarray(fn(xs[0]), dtype=np.float64)
            result["checksum"] = float(out.sum())
            result["first_rows"] = out[:2, :4].ravel().tolist()
        else:
            result["first_losses"] = [fn(xs[i], ts[i]) for i in range(3)]
        for i in range(5):  # warm-up
            run(i)
        trace = []
        rss_start = rss_mb()
        faults_start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        cpu_start = time.process_time()
        start = time.perf_counter()
        for i in range(steps):
            run(i)
            if case == "memory" and (i + 1) % 250 == 0:
                trace.append(round(rss_mb(), 2))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_start
        rss_end = rss_mb()
    result["ms"] = elapsed / steps * 1e3
    result["cpu_ms"] = cpu / steps * 1e3  # CPU time of the process: shows outside load
    result["faults_per_step"] = faults / steps
    result["peak_mb"] = peak.peak_mb
    if case == "memory":
        result["rss_growth_mb"] = rss_end - rss_start
        result["rss_start_mb"] = rss_start
        result["rss_trace_mb"] = trace
    emit(result)


# =============================================================================
# Parent
# =============================================================================


def measure_cell(script, case, impls, threads, steps, repeats):
    """Medians of ``repeats`` fresh-process runs of each implementation.

    The repetitions are interleaved (dezero, torch, numpy, dezero, ...) so that load from
    other processes falls on every implementation alike. Each run also records the load
    average at its start.
    """
    runs = {impl: [] for impl in impls}
    for _ in range(repeats):
        for impl in impls:
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            run = run_fresh(script, ["--child", case, impl, threads, steps], threads)
            run["load_avg"] = load
            runs[impl].append(run)
    cell = {}
    for impl, impl_runs in runs.items():
        keys = [k for k, v in impl_runs[0].items() if isinstance(v, (int, float))]
        cell[impl] = {k: median([r.get(k) for r in impl_runs]) for k in keys}
        cell[impl]["runs"] = impl_runs
    return cell


def _available_impls():
    impls = ["dezero", "numpy"]
    try:
        import torch  # noqa: F401

        impls.insert(1, "torch")
    except ImportError:
        print("PyTorch is not installed: its column stays empty (the CPU build: pip install torch "
              "--index-url https://download.pytorch.org/whl/cpu)")
    return impls


def cpu_report() -> dict:
    """CPU model, family/model numbers, core count and vector extensions (Linux)."""
    info = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model", "flags") and key not in info:
                    info[key] = value.strip()
    except OSError:
        return {"cpu": None, "cores": os.cpu_count()}
    flags = info.pop("flags", "").split()
    info["vector"] = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    info["cores"] = os.cpu_count()
    return info


def _cell(cell, impl, key):
    return cell.get(impl, {}).get(key)


def _agree(case, cell):
    """'yes' when every implementation gave the same first losses (or inference output)."""
    key = "first_rows" if case == "infer" else "first_losses"
    values = [v["runs"][0].get(key) for v in cell.values() if v["runs"][0].get(key)]
    if len(values) < 2:
        return ""
    ref = np.array(values[0])
    ok = all(np.allclose(np.array(v), ref, rtol=2e-3, atol=2e-4) for v in values[1:])
    return "yes" if ok else "NO " + " ".join(f"{v[0]:.5f}" for v in values)


def _rows(case, threads, cell):
    d, t, n = (_cell(cell, k, "ms") for k in ("dezero", "torch", "numpy"))
    rows = [[case, threads, d, t, n, ratio(d, t), ratio(d, n), _agree(case, cell)]]
    if case == "memory":
        for label, key in (("  rss growth MB", "rss_growth_mb"), ("  peak MB", "peak_mb"),
                           ("  faults/step", "faults_per_step")):
            d, t, n = (_cell(cell, k, key) for k in ("dezero", "torch", "numpy"))
            if key == "rss_growth_mb":
                ratios = (None, None)
            elif key == "faults_per_step":  # counts below 1 per step are noise: floor at 1
                ratios = tuple(None if d is None or o is None else d / max(o, 1.0)
                               for o in (t, n))
            else:
                ratios = (ratio(d, t), ratio(d, n))
            rows.append([label, threads, d, t, n, *ratios, ""])
    return rows


def evaluate_targets(results):
    """[(target, value, limit, holds)] for the targets of issue 7 found in ``results``."""
    out = []
    for case, what, limit in TARGETS:
        cell = results.get(f"{case}/1t")
        if not cell:
            continue
        if what == "rss growth MB":
            value = _cell(cell, "dezero", "rss_growth_mb")
        elif what == "peak dz/numpy":
            value = ratio(_cell(cell, "dezero", "peak_mb"), _cell(cell, "numpy", "peak_mb"))
        elif what == "faults/step dz/numpy":
            d, n = _cell(cell, "dezero", "faults_per_step"), _cell(cell, "numpy",
                                                                   "faults_per_step")
            # both near zero counts as holding: "within 1.2x" of 0 faults would demand 0
            value = None if d is None or n is None else (d / max(n, 1.0))
        else:
            other = "torch" if "torch" in what else "numpy"
            value = ratio(_cell(cell, "dezero", "ms"), _cell(cell, other, "ms"))
        if value is not None:
            out.append((f"{case} {what}", value, limit, value <= limit))
    # 2 threads never slower than 1 (5% allowed for noise)
    for key, cell in results.items():
        case, thr = key.split("/")
        if thr != "2t" or f"{case}/1t" not in results:
            continue
        one, two = _cell(results[f"{case}/1t"], "dezero", "ms"), _cell(cell, "dezero", "ms")
        if one and two:
            out.append((f"{case} dezero 2t/1t", two / one, 1.05, two / one <= 1.05))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=4, metavar=("CASE", "IMPL", "THREADS", "STEPS"))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--impls", default=None, help="e.g. dezero,numpy (default: all)")
    parser.add_argument("--threads", nargs="+", default=["1", "2"],
                        help="thread counts: '1 2' or '1,2'")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per cell")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--malloc", choices=("default", "retain"), default="default",
                        help="'retain': the same glibc settings for every implementation")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.child:
        case, impl, threads, steps = args.child
        child(case, impl, int(threads), int(steps))
        return None

    if args.malloc == "retain":
        os.environ.update(MALLOC_RETAIN)  # the children inherit it, whatever the library
    repeats = 1 if args.quick else args.repeats
    steps_for = {"mlp_sgd": 50, "deep_adam": 30, "cnn": 20, "infer": 30, "memory": 2000}
    if args.quick:
        steps_for = {"mlp_sgd": 20, "deep_adam": 10, "cnn": 5, "infer": 10, "memory": 300}
    impls = _available_impls()
    if args.impls:
        impls = [i for i in impls if i in args.impls.split(",")]
    threads_list = [int(t) for arg in args.threads for t in arg.split(",") if t]
    cpu = cpu_report()
    print(f"CPU: {cpu.get('model name')} (family {cpu.get('cpu family')}, model "
          f"{cpu.get('model')}), {cpu.get('cores')} cores, {' '.join(cpu.get('vector', []))}; "
          f"malloc: {args.malloc}", flush=True)
    script = os.path.abspath(__file__)
    headers = ["case", "thr", "dezero ms", "torch ms", "numpy ms", "dz/torch", "dz/numpy",
               "agree"]
    results, rows, kernels = {}, [], {}
    for threads in threads_list:
        for case in args.cases.split(","):
            cell_impls = [i for i in impls
                          if not (case == "memory" and i == "torch" and args.quick)]
            reps = min(repeats, 3) if case == "memory" else repeats
            cell = measure_cell(script, case, cell_impls, threads, steps_for[case], reps)
            for impl in cell_impls:
                kernels[f"{impl}/{threads}t"] = cell[impl]["runs"][0].get("kernel")
            results[f"{case}/{threads}t"] = cell
            new = _rows(case, threads, cell)
            rows += new
            print(format_table(headers, new), flush=True)
    table = format_table(headers, rows)
    targets = evaluate_targets(results)
    target_table = format_table(["target (1 thread)", "value", "limit", "holds"],
                                [[n, v, lim, "yes" if ok else "NO"]
                                 for n, v, lim, ok in targets])
    print("\n" + table + "\n\n" + target_table)
    print("\nkernels:")
    for key, k in kernels.items():
        print(f"  {key}: {k}")
    path = write_json("training" if args.malloc == "default" else "training_malloc_retain",
                      {"machine": {**machine_report(), "cpu": cpu}, "kernels": kernels,
                       "malloc": args.malloc, "results": results, "table": table,
                       "targets": [{"target": n, "value": v, "limit": lim, "holds": ok}
                                   for n, v, lim, ok in targets],
                       "target_table": target_table}, args.out)
    print(f"\nwrote {path}")
    return results


if __name__ == "__main__":
    main()
