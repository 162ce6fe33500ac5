"""Data-parallel throughput: the CNN and the MLP on 1, 2 and 4 MPI ranks (dezero.distributed).

    python benchmarks/bench_distributed.py                    # ranks 1 2 4, both models
    python benchmarks/bench_distributed.py --ranks 1 2 --steps 60 --repeats 3

Weak scaling, as Horovod and ChainerMN report it: every rank trains on its own batch of the
same size (CNN conv16-relu-pool-conv32-relu-pool-linear on 1x28x28, batch 64 per rank, SGD;
MLP 784-1000-10 sigmoid, batch 100 per rank, SGD), so N ranks process N times the samples
of one step. Each configuration is a fresh ``mpiexec -n N python -m mpi4py`` job with one
BLAS/OpenMP thread per rank; 4 ranks on a 2-core machine are oversubscribed (and must be
slower than 2: they show the cost of the collectives under contention, not a speed-up).

Per step, rank 0 records the time of the whole step, the time spent waiting for the other
ranks (a barrier before the all-reduce: load imbalance and noise from other processes), and
the time of the gradient all-reduce itself (``DistributedOptimizer.allreduce_grads``: pack,
one ``MPI_Allreduce`` per bucket, unpack), and the CPU time rank 0 spent computing (forward,
backward, update: ``cpu ms``; on a machine busy with other work it stays near the quiet
figure while the wall-clock times grow, which tells contention from overhead). After the
training steps the all-reduce also runs back to back, without compute between the calls
(``alone ms``): the cost of the communication itself.
Samples/s = ranks * batch / median step time; the table gives medians over the repeats and
the speed-up over one rank. Results go to ``benchmarks/results/bench_distributed.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from _common import dezero_cnn  # noqa: E402

BATCH = {"cnn": 64, "mlp": 100}


# =============================================================================
# One rank (run under mpiexec)
# =============================================================================


def build(case):
    import numpy as np

    import dezero.functions as F
    import dezero.layers as L
    from dezero import Model

    if case == "cnn":
        return dezero_cnn(), (BATCH[case], 1, 28, 28)

    class MLP(Model):
        def __init__(self):
            super().__init__()
            self.l0 = L.Linear(1000, in_size=784)
            self.l1 = L.Linear(10, in_size=1000)

        def forward(self, x):
            return self.l1(F.sigmoid(self.l0(x)))

    np.random.seed(0)
    return MLP(), (BATCH[case], 784)


def worker(case, steps, warmup):
    import numpy as np

    import dezero.distributed as dist
    import dezero.functions as F
    from dezero import optimizers

    comm = dist.init()
    np.random.seed(0)
    model, shape = build(case)
    dopt = dist.DistributedOptimizer(optimizers.SGD(0.01), comm).setup(model)
    rng = np.random.default_rng(comm.rank)
    xs = [rng.random(shape, dtype=np.float32) for _ in range(4)]
    ts = [rng.integers(0, 10, shape[0]) for _ in range(4)]
    step_s, wait_s, allreduce_s, cpu_s = [], [], [], []
    for i in range(warmup + steps):
        x, t = xs[i % 4], ts[i % 4]
        t0 = time.perf_counter()
        c0 = time.thread_time()
        loss = F.softmax_cross_entropy(model(x), t)
        model.cleargrads()
        loss.backward()
        c1 = time.thread_time()
        t1 = time.perf_counter()
        comm.barrier()
        t2 = time.perf_counter()
        dopt.allreduce_grads()  # what dopt.update() does first
        t3 = time.perf_counter()
        c3 = time.thread_time()
        dopt.optimizer.update()
        t4 = time.perf_counter()
        c4 = time.thread_time()
        if i >= warmup:
            step_s.append(t4 - t0)
            wait_s.append(t2 - t1)
            allreduce_s.append(t3 - t2)
            cpu_s.append((c1 - c0) + (c4 - c3))  # compute only: CPU time of this rank
    alone_s = []  # the all-reduce back to back, without the compute in between
    for _ in range(steps):
        comm.barrier()
        t0 = time.perf_counter()
        dopt.allreduce_grads()
        alone_s.append(time.perf_counter() - t0)
    n_buckets = sum(len(b) for b in dopt._plans.values())
    nbytes = sum(p.data.nbytes for p in model.params())
    if comm.is_root:
        print(json.dumps({"step_s": statistics.median(step_s),
                          "wait_s": statistics.median(wait_s),
                          "allreduce_s": statistics.median(allreduce_s),
                          "compute_cpu_s": statistics.median(cpu_s),
                          "allreduce_alone_s": statistics.median(alone_s),
                          "buckets": n_buckets, "grad_bytes": nbytes}))


# =============================================================================
# Driver
# =============================================================================


def run_job(nprocs, case, steps, warmup):
    from dezero.distributed import find_mpiexec

    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    env["PYTHONPATH"] = os.path.dirname(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [find_mpiexec(), "-n", str(nprocs), sys.executable, "-m", "mpi4py",
           os.path.abspath(__file__), "--worker", case, "--steps", str(steps),
           "--warmup", str(warmup)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--cases", nargs="+", choices=sorted(BATCH), default=["cnn", "mlp"])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=sorted(BATCH), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps, args.warmup)
        return None

    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} before the run; 1 BLAS thread per "
          f"rank; {args.steps} timed steps after {args.warmup}, median of {args.repeats} jobs")
    header = (f"{'model':5} {'ranks':>5} {'batch/rank':>10} {'ms/step':>8} {'samples/s':>10} "
              f"{'speed-up':>8} {'allreduce ms':>12} {'share':>6} {'wait ms':>8} "
              f"{'cpu ms':>7} {'alone ms':>8} {'buckets':>7}")
    print(header)
    rows = []
    for case in args.cases:
        base = None
        for n in args.ranks:
            runs = [run_job(n, case, args.steps, args.warmup) for _ in range(args.repeats)]
            step = statistics.median(r["step_s"] for r in runs)
            allreduce = statistics.median(r["allreduce_s"] for r in runs)
            wait = statistics.median(r["wait_s"] for r in runs)
            cpu = statistics.median(r["compute_cpu_s"] for r in runs)
            alone = statistics.median(r["allreduce_alone_s"] for r in runs)
            rate = n * BATCH[case] / step
            base = rate if base is None and n == 1 else base
            speedup = rate / base if base else float("nan")
            row = {"case": case, "ranks": n, "batch_per_rank": BATCH[case], "step_ms": 1e3 * step,
                   "samples_per_s": rate, "speedup": speedup, "allreduce_ms": 1e3 * allreduce,
                   "allreduce_share": allreduce / step, "wait_ms": 1e3 * wait,
                   "compute_cpu_ms": 1e3 * cpu, "allreduce_alone_ms": 1e3 * alone,
                   "buckets": runs[0]["buckets"],
                   "grad_mb": runs[0]["grad_bytes"] / 2**20}
            rows.append(row)
            print(f"{case:5} {n:>5} {BATCH[case]:>10} {row['step_ms']:>8.2f} {rate:>10.0f} "
                  f"{speedup:>7.2f}x {row['allreduce_ms']:>12.3f} "
                  f"{100 * row['allreduce_share']:>5.1f}% {row['wait_ms']:>8.2f} "
                  f"{row['compute_cpu_ms']:>7.2f} {row['allreduce_alone_ms']:>8.3f} "
                  f"{row['buckets']:>7}")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "bench_distributed.json")
    with open(path, "w") as f:
        json.dump({"load_before": load, "cpus": os.cpu_count(), "rows": rows}, f, indent=1)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
