"""Where a GPU training step spends its time: CPU vs GPU time per step, per phase, per op.

For each case of bench_gpu.py (dezero on CuPy): ``cupyx.profiler.benchmark`` of the whole
step (CPU time = Python and launches, GPU time = kernels), the step split into synchronised
phases (forward, loss, cleargrads, backward, update), a cProfile of the hottest functions,
and forward / forward+backward of single ops at the CNN's shapes, beside PyTorch CUDA.

    python benchmarks/profile_gpu.py [--top 25]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_training import dezero_step_fn, make_batches, torch_step_fn  # noqa: E402


def _bench(cp, fn, n=50):
    from cupyx.profiler import benchmark

    r = benchmark(fn, n_repeat=n, n_warmup=5)
    return float(r.cpu_times.mean() * 1e3), float(r.gpu_times.mean() * 1e3)


def _phases(cp, case, steps=30):
    """Mean ms per phase of a step, with a device sync around each."""
    import dezero.functions as F

    xs, ts = make_batches(case, 4)
    x, t = cp.asarray(xs[0]), cp.asarray(ts[0])
    step = dezero_step_fn(case, gpu=True)
    cells = dict(zip(step.__code__.co_freevars, (c.cell_contents for c in step.__closure__)))
    model, optimizer = cells["model"], cells["optimizer"]
    sync = cp.cuda.Device().synchronize
    totals = dict.fromkeys(("forward", "loss", "cleargrads", "backward", "update"), 0.0)
    for i in range(steps + 5):
        sync()
        t0 = time.perf_counter()
        y = model(x)
        sync()
        t1 = time.perf_counter()
        loss = F.softmax_cross_entropy(y, t)
        sync()
        t2 = time.perf_counter()
        model.cleargrads()
        sync()
        t3 = time.perf_counter()
        loss.backward()
        sync()
        t4 = time.perf_counter()
        optimizer.update()
        sync()
        t5 = time.perf_counter()
        if i >= 5:
            for k, (a, b) in zip(totals, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
                totals[k] += (b - a) / steps * 1e3
    return totals


def _op_table(cp):
    import torch

    import dezero.functions as F
    from dezero import Variable

    rng = cp.random.default_rng(0)
    x1 = rng.standard_normal((64, 1, 28, 28), dtype=cp.float32)
    x2 = rng.standard_normal((64, 16, 14, 14), dtype=cp.float32)
    W1 = rng.standard_normal((16, 1, 3, 3), dtype=cp.float32)
    W2 = rng.standard_normal((32, 16, 3, 3), dtype=cp.float32)
    b2 = cp.zeros(32, cp.float32)
    p = rng.standard_normal((64, 16, 28, 28), dtype=cp.float32)

    def fb(make):
        def run():
            v = make()
            v.backward()
        return run

    cases = {
        "conv1 fwd": lambda: F.conv2d(x1, W1, None, 1, 1),
        "conv2 fwd": lambda: F.conv2d(x2, W2, b2, 1, 1),
        "conv2 fwd+bwd": fb(lambda: F.sum(F.conv2d(Variable(x2), Variable(W2),
                                                     Variable(b2), 1, 1))),
        "pool fwd": lambda: F.pooling(p, 2, 2),
        "pool fwd+bwd": fb(lambda: F.sum(F.pooling(Variable(p), 2, 2))),
        "relu fwd+bwd": fb(lambda: F.sum(F.relu(Variable(p)))),
    }
    tx2, tW2, tb2 = (torch.as_tensor(a, device="cuda") for a in (x2, W2, b2))
    tp = torch.as_tensor(p, device="cuda")
    TF = torch.nn.functional

    def tfb(make):
        def run():
            make().backward()
        return run

    tv = lambda a: a.detach().clone().requires_grad_(True)  # noqa: E731
    torch_cases = {
        "conv2 fwd": lambda: TF.conv2d(tx2, tW2, tb2, padding=1),
        "conv2 fwd+bwd": tfb(lambda: TF.conv2d(tv(tx2), tv(tW2), tv(tb2), padding=1).sum()),
        "pool fwd": lambda: TF.max_pool2d(tp, 2),
        "pool fwd+bwd": tfb(lambda: TF.max_pool2d(tv(tp), 2).sum()),
        "relu fwd+bwd": tfb(lambda: torch.relu(tv(tp)).sum()),
    }
    print(f"{'op':16s} {'dz cpu ms':>10s} {'dz gpu ms':>10s} {'torch cpu':>10s} {'torch gpu':>10s}")
    for name, fn in cases.items():
        c, g = _bench(cp, fn)
        tc = tg = float("nan")
        if name in torch_cases:
            tc, tg = _bench(cp, torch_cases[name])
        print(f"{name:16s} {c:10.3f} {g:10.3f} {tc:10.3f} {tg:10.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    from dezero import cuda

    cp = cuda.cupy
    import torch

    for case in ("mlp_sgd", "cnn"):
        xs, ts = make_batches(case, 4)
        x, t = cp.asarray(xs[0]), cp.asarray(ts[0])
        step = dezero_step_fn(case, gpu=True)
        c, g = _bench(cp, lambda: step(x, t))
        tstep = torch_step_fn(case, gpu=True)
        tx, tt = torch.as_tensor(x, device="cuda"), torch.as_tensor(t, device="cuda")
        tc, tg = _bench(cp, lambda: tstep(tx, tt))
        print(f"== {case}: dezero cpu {c:.3f} ms gpu {g:.3f} ms | torch cpu {tc:.3f} gpu {tg:.3f}")
        print("phases (ms):", {k: round(v, 3) for k, v in _phases(cp, case).items()})
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(30):
            step(x, t)
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(args.top)
        print("\n".join(s.getvalue().splitlines()[6:]))
    _op_table(cp)


if __name__ == "__main__":
    main()
