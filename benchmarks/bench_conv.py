"""conv2d + max pooling, forward and backward: dezero against PyTorch CPU and plain NumPy.

The workload: ``x (64, 16, 28, 28)`` float32, 32 filters of 3x3 with pad 1 and a bias, then
2x2 max pooling with stride 2; the backward starts from a gradient of ones and produces the
gradients of ``x``, ``W`` and ``b``. Three implementations run side by side in one process,
interleaved repetition by repetition so that load from other processes hits all of them alike:

- ``dezero``: ``F.conv2d`` then ``F.pooling``, ``backward()``;
- ``torch``: ``torch.nn.functional.conv2d`` / ``max_pool2d`` (skipped when not importable);
- ``numpy``: a hand-written forward and backward of the same math (im2col by strided
  windows, one matrix product per direction, col2im by slice additions) with no graph.

Every library is pinned to the same number of threads (threadpoolctl, and
``torch.set_num_threads``). The gradients of the three are compared before timing. Target:
dezero at most 1.5x PyTorch.

Usage (the OpenBLAS variables select a slower kernel on the development machine)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv.py [--quick]

Prints a table and the BLAS libraries in use, and writes ``benchmarks/results/conv.json``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

SHAPE = (64, 16, 28, 28)
OUT_CHANNELS = 32
KERNEL = 3
PAD = 1
POOL = 2
TARGET = 1.5  # dezero / torch

# =============================================================================
# The three implementations: each is a function step() -> (gx, gW, gb) as NumPy arrays
# =============================================================================


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    W = (rng.standard_normal((OUT_CHANNELS, SHAPE[1], KERNEL, KERNEL)) * 0.1).astype(np.float32)
    b = rng.standard_normal(OUT_CHANNELS).astype(np.float32)
    return x, W, b


def dezero_step(x, W, b):
    import dezero
    import dezero.functions as F

    xv, Wv, bv = dezero.Variable(x), dezero.Variable(W), dezero.Variable(b)

    def step():
        for v in (xv, Wv, bv):
            v.cleargrad()
        y = F.pooling(F.conv2d(xv, Wv, bv, stride=1, pad=PAD), POOL, POOL)
        y.backward()
        return xv.grad.data, Wv.grad.data, bv.grad.data
    return step


def torch_step(x, W, b):
    import torch

    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    F = torch.nn.functional

    def step():
        for t in (tx, tW, tb):
            t.grad = None
        y = F.max_pool2d(F.conv2d(tx, tW, tb, stride=1, padding=PAD), POOL, POOL)
        y.backward(torch.ones_like(y))
        return tx.grad.numpy(), tW.grad.numpy(), tb.grad.numpy()
    return step


def _np_windows(img, k, pad):
    """(N, C, K, K, OH, OW) strided view of the zero-padded image, stride 1."""
    if pad:
        img = np.pad(img, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, w = img.shape
    oh, ow = h - k + 1, w - k + 1
    s = img.strides
    return np.lib.stride_tricks.as_strided(img, (n, c, k, k, oh, ow),
                                           (s[0], s[1], s[2], s[3], s[2], s[3]))


def numpy_step(x, W, b):
    n, c, h, w = x.shape
    oc = W.shape[0]
    k, p, q = KERNEL, PAD, POOL

    def step():
        # conv forward: cols (C*K*K, N*H*W), one GEMM
        cols = np.ascontiguousarray(_np_windows(x, k, p).transpose(1, 2, 3, 0, 4, 5))
        cols = cols.reshape(c * k * k, -1)
        y = (W.reshape(oc, -1) @ cols).reshape(oc, n, h, w) + b[:, None, None, None]
        # max pool forward on the (OC, N, H, W) buffer: windows first, then max / argmax
        win = y.reshape(oc, n, h // q, q, w // q, q).transpose(3, 5, 0, 1, 2, 4)
        win = np.ascontiguousarray(win).reshape(q * q, oc, n, h // q, w // q)
        arg = win.argmax(axis=0)
        # pool backward (seed ones): route 1 to each argmax
        gwin = (arg[None] == np.arange(q * q)[:, None, None, None, None]).astype(np.float32)
        gy = gwin.reshape(q, q, oc, n, h // q, w // q).transpose(2, 3, 4, 0, 5, 1)
        gy = np.ascontiguousarray(gy).reshape(oc, n * h * w)
        # conv backward: gb, gW = gy @ cols^T, gcols = W^T @ gy, then col2im
        gb = gy.sum(axis=1)
        gW = (gy @ cols.T).reshape(W.shape)
        gcols = (W.reshape(oc, -1).T @ gy).reshape(c, k, k, n, h, w)
        gpad = np.zeros((c, n, h + 2 * p, w + 2 * p), dtype=x.dtype)
        for i in range(k):
            for j in range(k):
                gpad[:, :, i:i + h, j:j + w] += gcols[:, i, j]
        gx = gpad[:, :, p:p + h, p:p + w].transpose(1, 0, 2, 3)
        return gx, gW, gb
    return step


# =============================================================================
# Measurement
# =============================================================================


def build(libs, x, W, b):
    makers = {"dezero": dezero_step, "torch": torch_step, "numpy": numpy_step}
    steps = {}
    for lib in libs:
        try:
            steps[lib] = makers[lib](x, W, b)
        except ImportError as exc:
            print(f"skipping {lib}: {exc}")
    return steps


def check_agreement(steps):
    """The gradients of every implementation match dezero's (float32 tolerances)."""
    results = {lib: step() for lib, step in steps.items()}
    ref = results["dezero"]
    for lib, grads in results.items():
        for name, a, r in zip(("gx", "gW", "gb"), grads, ref):
            if not np.allclose(a, r, rtol=1e-3, atol=1e-3):
                raise SystemExit(f"bench_conv: {lib} {name} disagrees with dezero "
                                 f"(max diff {np.abs(a - r).max():.3g})")


def measure(steps, repeats, warmup):
    for _ in range(warmup):
        for step in steps.values():
            step()
    times = {lib: [] for lib in steps}
    order = list(steps)
    for r in range(repeats):
        for lib in order[r % len(order):] + order[:r % len(order)]:  # rotate the order
            start = time.perf_counter()
            steps[lib]()
            times[lib].append(time.perf_counter() - start)
    return times


def run(threads, repeats, warmup, libs):
    x, W, b = make_inputs()
    steps = build(libs, x, W, b)  # imports the libraries, so their pools can be pinned
    limiter = _common.pin_threads(threads)  # noqa: F841  (kept alive for the run)
    check_agreement(steps)
    times = measure(steps, repeats, warmup)
    return {lib: {"median_ms": statistics.median(t) * 1e3, "min_ms": min(t) * 1e3,
                  "runs_ms": [v * 1e3 for v in t]} for lib, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 thread, fewer repetitions")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--libs", nargs="+", default=["dezero", "torch", "numpy"])
    parser.add_argument("--out", default=None, help="JSON path (default results/conv.json)")
    args = parser.parse_args(argv)
    threads_list, repeats = args.threads, args.repeats
    if args.quick:
        threads_list, repeats = [1], 10
    if "dezero" not in args.libs:
        args.libs.insert(0, "dezero")

    results = {}
    rows = []
    for threads in threads_list:
        res = results[f"threads={threads}"] = run(threads, repeats, args.warmup, args.libs)
        torch_ms = res.get("torch", {}).get("median_ms")
        numpy_ms = res.get("numpy", {}).get("median_ms")
        for lib, r in res.items():
            rows.append((threads, lib, r["median_ms"], r["min_ms"],
                         _common.ratio(r["median_ms"], torch_ms),
                         _common.ratio(r["median_ms"], numpy_ms)))
    print(f"conv2d {SHAPE} * {OUT_CHANNELS}x{KERNEL}x{KERNEL} pad {PAD} + max pool {POOL}x{POOL},"
          f" forward + backward, median of {repeats}")
    print(_common.format_table(
        ("threads", "impl", "median ms", "min ms", "/ torch", "/ numpy"), rows))
    for threads in threads_list:
        d = results[f"threads={threads}"]
        if "torch" in d:
            ok = d["dezero"]["median_ms"] <= TARGET * d["torch"]["median_ms"]
            print(f"threads={threads}: dezero / torch target <= {TARGET}: "
                  f"{'met' if ok else 'NOT met'}")
    print("BLAS / OpenMP libraries:")
    for info in _common.blas_report():
        print("  " + ", ".join(f"{k}={v}" for k, v in info.items()))
    path = _common.write_json("conv", {"machine": _common.machine_report(), "target": TARGET,
                                       "shape": SHAPE, "results": results}, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
