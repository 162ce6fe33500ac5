"""Peak memory saved by gradient checkpointing (dezero.checkpoint), measured with tracemalloc.

Two workloads, each run plain and checkpointed, forward + backward, float32:

- ``mlp``: 32 layers of Linear(512) + tanh on a (256, 512) batch, one checkpoint per block of
  4 layers (8 segments).
- ``lstm``: an LSTM cell (hidden 256, input 128, batch 64) unrolled 64 steps, one checkpoint
  per 8 steps.

tracemalloc counts NumPy's array buffers, so the peak is the graph's stored activations plus
gradients (parameters are allocated before tracing starts). Gradients are compared with the
plain run: the largest absolute difference is printed (0.0 means bit for bit).

Usage::

    python benchmarks/bench_checkpoint.py
"""
from __future__ import annotations

import gc
import tracemalloc

import numpy as np

import dezero
import dezero.functions as F
import dezero.layers as L


def _peak(run):
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    grads = run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, grads


def mlp_case(depth=32, width=512, batch=256, segment=4):
    rng = np.random.default_rng(0)
    layers = [L.Linear(width, in_size=width) for _ in range(depth)]
    for layer in layers:
        layer.W.data = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    x = rng.standard_normal((batch, width)).astype(np.float32)

    def block(h, part):
        for layer in part:
            h = F.tanh(layer(h))
        return h

    def run(ck):
        def go():
            for layer in layers:
                layer.cleargrads()
            h = dezero.Variable(x)
            for i in range(0, depth, segment):
                part = layers[i:i + segment]
                h = dezero.checkpoint(block, h, part) if ck else block(h, part)
            loss = F.sum(h * h)
            loss.backward()
            return [layer.W.grad.data for layer in layers]  # no copy: not counted
        return go

    return run


def lstm_case(steps=64, hidden=256, in_size=128, batch=64, segment=8):
    rng = np.random.default_rng(1)
    lstm = L.LSTM(hidden, in_size=in_size)
    xs = rng.standard_normal((steps, batch, in_size)).astype(np.float32)
    # build the parameters once, outside the measured region
    lstm.reset_state()
    lstm(dezero.Variable(xs[0]))
    lstm(dezero.Variable(xs[0]))
    lstm.reset_state()
    params = list(lstm.params())

    def cell(x, h, c):
        f = F.sigmoid(lstm.x2f(x) + lstm.h2f(h))
        i = F.sigmoid(lstm.x2i(x) + lstm.h2i(h))
        o = F.sigmoid(lstm.x2o(x) + lstm.h2o(h))
        u = F.tanh(lstm.x2u(x) + lstm.h2u(h))
        c = f * c + i * u
        return o * F.tanh(c), c

    def segment_fn(h, c, *chunk):
        for x in chunk:
            h, c = cell(x, h, c)
        return h, c

    def run(ck):
        def go():
            for p in params:
                p.cleargrad()
            h = dezero.Variable(np.zeros((batch, hidden), np.float32))
            c = dezero.Variable(np.zeros((batch, hidden), np.float32))
            for s in range(0, steps, segment):
                chunk = [xs[t] for t in range(s, s + segment)]
                if ck:
                    h, c = dezero.checkpoint(segment_fn, h, c, *chunk)
                else:
                    h, c = segment_fn(h, c, *chunk)
            loss = F.sum(h * h)
            loss.backward()
            return [p.grad.data for p in params]
        return go

    return run


def main():
    rows = []
    for name, make in (("mlp (32 x Linear(512)+tanh, batch 256, 8 segments)", mlp_case),
                       ("lstm (64 steps, hidden 256, batch 64, 8 segments)", lstm_case)):
        run = make()
        run(False)()  # warm-up (lazy parameter creation, caches)
        plain, g0 = _peak(run(False))
        ck, g1 = _peak(run(True))
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(g0, g1))
        rows.append((name, plain / 2**20, ck / 2**20, 1 - ck / plain, diff))
    print(f"{'workload':52s} {'plain MiB':>10s} {'ckpt MiB':>10s} {'saved':>7s} {'max |dg|':>9s}")
    for name, p, c, saved, diff in rows:
        print(f"{name:52s} {p:10.1f} {c:10.1f} {saved:7.0%} {diff:9.2g}")


if __name__ == "__main__":
    main()
