"""GPU training-step benchmark: dezero on CuPy against PyTorch CUDA, in one run.

Cases: mlp_sgd (MLP 784-1000-10, sigmoid, batch 100, SGD) and cnn (conv16-relu-pool-
conv32-relu-pool-linear, batch 64, SGD), with the weights and batches of bench_training.py.
Reports ms per step for dezero-GPU, torch-CUDA and dezero-CPU, the ratio to PyTorch (target
<= 1.5x) and the speed-up over the CPU. Needs CuPy with a CUDA device (and torch for its column).

    python benchmarks/bench_gpu.py [--out results.json]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import format_table, machine_report, median, ratio, write_json  # noqa: E402
from bench_training import dezero_step_fn, make_batches, torch_step_fn  # noqa: E402


def _time_steps(step, batches, steps, sync):
    xs, ts = batches
    for i in range(5):
        step(xs[i % len(xs)], ts[i % len(ts)])
    sync()
    times = []
    for _ in range(5):  # 5 rounds; the median round is reported
        start = time.perf_counter()
        for i in range(steps):
            step(xs[i % len(xs)], ts[i % len(ts)])
        sync()
        times.append((time.perf_counter() - start) / steps * 1e3)
    return median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)

    from dezero import cuda

    if not cuda.gpu_enable:
        print("bench_gpu: no usable GPU (CuPy + CUDA device); nothing to measure")
        return 1
    cp = cuda.cupy
    try:
        import torch

        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False

    def cp_sync():
        cp.cuda.Device().synchronize()

    rows, results = [], {}
    for case in ("mlp_sgd", "cnn"):
        xs, ts = make_batches(case, 8)
        gpu_batches = ([cp.asarray(x) for x in xs], [cp.asarray(t) for t in ts])
        dz_gpu = _time_steps(dezero_step_fn(case, gpu=True), gpu_batches, args.steps, cp_sync)
        dz_cpu = _time_steps(dezero_step_fn(case), (xs, ts), max(5, args.steps // 5),
                             lambda: None)
        th = None
        if has_torch:
            tb = ([torch.from_numpy(x).cuda() for x in xs], [torch.from_numpy(t).cuda()
                                                              for t in ts])
            th = _time_steps(torch_step_fn(case, gpu=True), tb, args.steps,
                             torch.cuda.synchronize)
        results[case] = {"dezero_gpu_ms": dz_gpu, "torch_cuda_ms": th, "dezero_cpu_ms": dz_cpu}
        rows.append([case, dz_gpu, th, dz_cpu, ratio(dz_gpu, th), ratio(dz_cpu, dz_gpu)])
    table = format_table(["case", "dezero GPU ms", "torch CUDA ms", "dezero CPU ms",
                          "dz/torch", "GPU speed-up"], rows)
    print(table)
    device = cp.cuda.runtime.getDeviceProperties(0)["name"]
    device = device.decode() if isinstance(device, bytes) else device
    payload = {"device": device, "cupy": cp.__version__, "machine": machine_report(),
               "results": results, "table": table}
    print(f"device: {device}")
    print("wrote", write_json("gpu", payload, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
