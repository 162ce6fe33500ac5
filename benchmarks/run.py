"""``make bench``: one strict run, one table of ratios against the targets of issue 17.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py [--repeats 3]
        [--only mlp_sgd,cnn] [--no-extra] [--quick] [--clock cpu] [--out PATH]

Every row compares dezero with PyTorch CPU and with a hand-written NumPy forward/backward of
the same math, all float32, from the same initial weights on the same batches (the first
losses are checked to agree before a time is trusted). Workloads:

  per_op     chains of 1,000 scalar ops (add, mul, mul by a float, sin, exp): forward +
             backward + graph release per op; the ratio is the geometric mean over the ops
  mlp_sgd    MLP 784-1000-10 sigmoid, batch 100, SGD lr 0.01, softmax cross entropy
  deep_adam  MLP 784-512x3-10 relu, batch 256, Adam
  cnn        conv3x3 16 (pad 1)-relu-pool2-conv3x3 32 (pad 1)-relu-pool2-linear, 1x28x28,
             batch 64, SGD; also minor page faults per step
  infer      mlp_sgd's model under no_grad, batch 1000
  chain      50,000 x ``y = y * 1.0001 + 0.0001`` on a 0-d float32 leaf, backward, graph
             dropped: time and peak RSS growth

What makes it strict: the NumPy reference does everything in place that the math allows
(the sigmoid on the GEMM's output in its fastest form on this CPU, the updates through reused
buffers); a step is timed whole (forward, loss, clearing gradients, backward, update; the loss
is read back as a Python float by every implementation) and the per-step median is reported,
after a warm-up in which every cache (dezero's workspace, PyTorch's allocator) has filled.
Each measurement runs in a fresh process pinned to the thread count (threadpoolctl and
``torch.set_num_threads``), the implementations are interleaved process by process (dezero,
torch, numpy, dezero, ...) so that outside load falls on all alike, and the table shows
medians of ``--repeats`` processes.
The load average at the start is printed with the table.

Extra rows (``--no-extra`` drops them): mlp_sgd and cnn with 2 threads, and mlp_sgd with 2
threads while a second busy process (started by this script) spins on one core: a regression
in the default BLAS threading shows there.

Results go to ``benchmarks/results/bench.json``. The per-script benchmarks
(``bench_engine.py``, ``bench_conv.py``, ``bench_training.py``) give more detail.
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _common  # noqa: E402

SCRIPT = os.path.abspath(__file__)
# ``--clock cpu``: time by the process's CPU time instead of the wall clock (1-thread rows
# only; for comparisons on a loaded machine). Passed to the children in the environment.
_CLOCK_ENV = "DEZERO_BENCH_CLOCK"


def _clock():
    if os.environ.get(_CLOCK_ENV) == "cpu":
        return time.process_time
    return time.perf_counter
IMPLS = ("dezero", "torch", "numpy")
WORKLOADS = ("per_op", "mlp_sgd", "deep_adam", "cnn", "infer", "chain")
STEPS = {"mlp_sgd": 30, "deep_adam": 15, "cnn": 12, "infer": 15}
CHAIN_REPEATS = 50_000  # two ops each: a 100,000-deep graph
PER_OP_OPS = ("add", "mul", "mul_const", "sin", "exp")

# (row, column, limit): the targets of issue 17, 1 thread.
TARGETS = {
    ("per_op", "dz/torch"): 0.5,
    ("mlp_sgd", "dz/numpy"): 1.05,
    ("deep_adam", "dz/numpy"): 1.0,  # "keep": no slower than the NumPy reference
    ("cnn", "dz/torch"): 1.0,
    ("infer", "dz/numpy"): 1.05,
    ("chain", "dz/torch"): 0.5,
    ("chain", "peak dz/torch"): 1.0,
}


# =============================================================================
# Children (one workload, one implementation, one process)
# =============================================================================


def _import(impl):
    if impl == "torch":
        import torch  # noqa: F401  (before pinning, so its pools are limited)
    elif impl == "dezero":
        import dezero  # noqa: F401
        import dezero.functions  # noqa: F401


def _child_steps(workload, impl, steps):
    import bench_training as bt

    make = {"dezero": bt.dezero_step_fn, "torch": bt.torch_step_fn,
            "numpy": bt.numpy_step_fn}[impl]
    xs, ts = bt.make_batches(workload, 4)
    result = {}
    with _common.PeakRSS() as peak:
        fn = make(workload)
        if workload == "infer":
            out = np.asarray(fn(xs[0]), dtype=np.float64)
            result["check"] = out[:2, :4].ravel().tolist()

            def run(i):
                fn(xs[i % 4])
        else:
            result["check"] = [fn(xs[i], ts[i]) for i in range(3)]

            def run(i):
                fn(xs[i % 4], ts[i % 4])
        for i in range(3):  # warm-up: the working set and every cache is in place
            run(i)
        gc.collect()
        faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        times = []
        clock = _clock()
        for i in range(steps):
            start = clock()
            run(i)
            times.append(clock() - start)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    result["ms"] = _common.median(times) * 1e3
    result["faults"] = faults / steps
    result["peak_mb"] = peak.peak_mb
    return result


def _scalar(impl, value, dtype):
    if impl == "torch":
        import torch

        return torch.tensor(value, dtype=getattr(torch, dtype), requires_grad=True)
    import dezero

    return dezero.Variable(np.array(value, dtype=dtype))


def _child_per_op(impl):
    import bench_engine

    if os.environ.get(_CLOCK_ENV) == "cpu":  # its timer, swapped for the CPU clock
        import types

        bench_engine.time = types.SimpleNamespace(perf_counter=time.process_time)
    lib = bench_engine._Lib(impl)
    times = {}
    for op in PER_OP_OPS:
        times[op] = bench_engine.case_per_op(lib, op, n=1000, reps=5)["fwd_bwd_us"]
    # "ms" holds microseconds here (the table's note says so)
    return {"us": times, "ms": math.exp(sum(math.log(v) for v in times.values()) / len(times))}


def _child_chain(impl):
    def chain(x, n):
        y = x
        for _ in range(n):
            y = y * 1.0001 + 0.0001
        return y

    x = _scalar(impl, 1.0, "float32")
    chain(x, 1000).backward()  # warm-up
    x = _scalar(impl, 1.0, "float32")
    gc.collect()
    clock = _clock()
    with _common.PeakRSS() as mem:
        start = clock()
        y = chain(x, CHAIN_REPEATS)
        y.backward()
        del y
        elapsed = clock() - start
    expected = 1.0001 ** CHAIN_REPEATS
    got = float(x.grad.item() if impl == "torch" else x.grad.data)
    return {"ms": elapsed * 1e3, "peak_mb": mem.peak_mb, "check": [got / expected]}


def child(workload, impl, threads):
    _import(impl)
    limiter = _common.pin_threads(threads)  # noqa: F841  (kept alive for the run)
    if workload == "per_op":
        result = _child_per_op(impl)
    elif workload == "chain":
        result = _child_chain(impl)
    else:
        result = _child_steps(workload, impl, STEPS[workload])
    _common.emit(result)


# =============================================================================
# Parent
# =============================================================================


def _impls_for(workload, have_torch):
    impls = [i for i in IMPLS if have_torch or i != "torch"]
    if workload in ("per_op", "chain"):  # graphs of scalar ops: no NumPy counterpart
        impls = [i for i in impls if i != "numpy"]
    return impls


def _busy():
    """A second process spinning on one core until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure(workload, threads, repeats, have_torch, loaded=False):
    """Medians over ``repeats`` rounds of fresh processes, implementations interleaved."""
    impls = _impls_for(workload, have_torch)
    runs = {impl: [] for impl in impls}
    busy = _busy() if loaded else None
    try:
        for _ in range(repeats):
            for impl in impls:
                runs[impl].append(_common.run_fresh(
                    SCRIPT, ["--child", workload, impl, threads], threads, timeout=600))
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    cell = {}
    for impl, rs in runs.items():
        cell[impl] = {k: _common.median([r.get(k) for r in rs])
                      for k in ("ms", "faults", "peak_mb")}
        cell[impl]["runs"] = rs
    return cell


def _agree(cell):
    checks = [np.array(c["runs"][0]["check"]) for c in cell.values() if "check" in c["runs"][0]]
    if len(checks) < 2 or any(c.shape != checks[0].shape for c in checks):
        return "?"
    ok = all(np.allclose(c, checks[0], rtol=2e-3, atol=2e-4) for c in checks[1:])
    return "yes" if ok else "NO"


def _fmt(v, digits=3):
    if v is None:
        return "-"
    return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"


def _row(name, workload, cell):
    get = (lambda impl, k="ms": cell.get(impl, {}).get(k))
    d, t, n = get("dezero"), get("torch"), get("numpy")
    row = {"row": name, "dezero": d, "torch": t, "numpy": n,
           "dz/torch": _common.ratio(d, t), "dz/numpy": _common.ratio(d, n),
           "agree": _agree(cell) if workload != "per_op" else ""}
    if workload == "per_op":
        row["note"] = "us per op (geometric mean of 5 ops), not ms"
    if workload == "cnn":
        row["note"] = ("faults/step " + "/".join(_fmt(get(i, "faults"), 4)
                                                 for i in ("dezero", "torch", "numpy")))
    if workload == "chain":
        pd, pt = get("dezero", "peak_mb"), get("torch", "peak_mb")
        row["peak dz/torch"] = _common.ratio(pd, pt)
        row["note"] = f"peak MiB {_fmt(pd)} vs {_fmt(pt)}"
    return row


def _target_text(workload, row):
    parts, holds = [], []
    for (w, col), limit in TARGETS.items():
        if w != workload or row.get(col) is None:
            continue
        ok = row[col] <= limit
        holds.append(ok)
        parts.append(f"{col} <= {limit} {'ok' if ok else 'MISSED'}")
    return "; ".join(parts), holds


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child(argv[1], argv[2], int(argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per cell (median)")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help="comma-separated subset of: " + ", ".join(WORKLOADS))
    parser.add_argument("--no-extra", action="store_true",
                        help="skip the 2-thread and under-load rows")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: one process per cell, no extra rows")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a target is missed")
    parser.add_argument("--out", default=None, help="JSON path (default results/bench.json)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="'cpu': process CPU time (1-thread rows), for a loaded machine")
    args = parser.parse_args(argv)
    if args.clock == "cpu":
        os.environ[_CLOCK_ENV] = "cpu"
    if args.quick:
        args.repeats, args.no_extra = 1, True
    workloads = [w for w in args.only.split(",") if w]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(sorted(unknown))}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"warning: {var} is set: OpenBLAS may run a slower kernel than usual; "
                  "run through `make bench` or `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`")
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch is not installed: its column stays empty")
    plan = [(w, w, 1, False) for w in workloads]
    if not args.no_extra and args.clock == "wall":
        plan += [(f"{w} 2 threads", w, 2, False) for w in ("mlp_sgd", "cnn") if w in workloads]
        if "mlp_sgd" in workloads:
            plan.append(("mlp_sgd 2 threads, busy neighbour", "mlp_sgd", 2, True))
    start = time.perf_counter()
    load_start = os.getloadavg()
    rows, cells = [], {}
    for name, workload, threads, loaded in plan:
        print(f"  {name} ...", end=" ", flush=True)
        t0 = time.perf_counter()
        cell = measure(workload, threads, args.repeats, have_torch, loaded)
        cells[name] = cell
        row = _row(name, workload, cell)
        text, holds = _target_text(workload, row) if threads == 1 else ("", [])
        row["target"], row["holds"] = text, holds
        rows.append(row)
        print(f"{time.perf_counter() - t0:.0f} s", flush=True)
    load_end = os.getloadavg()
    headers = ["row", "dezero ms", "torch ms", "numpy ms", "dz/torch", "dz/numpy", "agree",
               "target", "note"]
    table = _common.format_table(headers, [
        [r["row"], r["dezero"], r["torch"], r["numpy"], r["dz/torch"], r["dz/numpy"],
         r["agree"], r["target"], r.get("note", "")] for r in rows])
    print("\n" + table)
    missed = [r["row"] for r in rows if r["holds"] and not all(r["holds"])]
    print(f"\nload average (1/5/15 min) at start {' '.join(f'{v:.2f}' for v in load_start)}, "
          f"at end {' '.join(f'{v:.2f}' for v in load_end)}; {os.cpu_count()} CPUs; "
          f"{args.repeats} processes per cell; {time.perf_counter() - start:.0f} s in all")
    print("targets: " + ("all met" if not missed else "missed in " + ", ".join(missed)))
    per_op = cells.get("per_op", {})
    if per_op:
        print("per-op us (fwd+bwd+free): " + "; ".join(
            f"{impl} " + " ".join(f"{op} {_fmt(v)}" for op, v in
                                  per_op[impl]["runs"][0]["us"].items())
            for impl in per_op))
    path = _common.write_json("bench", {"machine": _common.machine_report(),
                                        "load_start": load_start, "load_end": load_end,
                                        "rows": rows, "cells": cells, "table": table},
                              args.out)
    print(f"wrote {path}")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
