"""Engine overhead of dezero against PyTorch CPU: per-op cost, wide graphs, deep chains.

Cases (each measured in fresh processes, medians over the repetitions, 1 and 2 threads):

- ``per_op``: a chain of 1,000 scalar (0-d float64) ops: ``y = y + x`` (``add``),
  ``y = y * x`` (``mul``, two Variables), ``y = y * 1.0001`` (``mul_const``, a Python float),
  ``y = sin(y)`` (``sin``) and ``y = exp(y)`` (``exp``, from x = -50: the values overflow to
  inf after a few steps in both libraries, which costs nothing extra): microseconds per op
  for the forward alone and for forward + backward (the latter including the release of the
  graph, which PyTorch does inside ``backward()``).
- ``tree``: a binary-tree sum of 16,384 scalar leaves: forward and backward time, and the
  backward / forward ratio.
- ``chain``: ``y = y + x`` 100,000 and 1,000,000 deep: forward, backward and graph-release
  time, and the peak growth of the resident set (MiB) over forward + backward.

Targets (ratios to PyTorch in the same run): per-op <= 0.7x (forward, and forward + backward);
tree backward <= 3x its own forward; chain backward time <= 0.5x and peak memory <= 1.0x.

Usage (the OpenBLAS variables select a slower kernel on the development machine)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_engine.py [--quick]
    ... bench_engine.py --cases per_op --threads 1 2 --repeats 5   # the per-op table only

Prints a table and writes ``benchmarks/results/engine.json``.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

SCRIPT = os.path.abspath(__file__)
LIBS = ("dezero", "torch")
PER_OP = ("add", "mul", "mul_const", "sin", "exp")
CASES = ("per_op", "tree", "chain")
TARGETS = {"per_op": 0.7, "tree_bwd_over_fwd": 3.0, "chain_time": 0.5, "chain_memory": 1.0}

# =============================================================================
# The workloads (run inside a child process)
# =============================================================================


class _Lib:
    """The few operations a case needs, for dezero or torch."""

    def __init__(self, name):
        self.name = name
        if name == "torch":
            import torch

            self.torch = torch
            self.sin, self.exp = torch.sin, torch.exp
        else:
            import numpy as np

            import dezero
            import dezero.functions as F

            np.seterr(all="ignore")  # the exp chain overflows to inf (torch does not warn)
            self.np, self.dezero = np, dezero
            self.sin, self.exp = F.sin, F.exp

    def scalar(self, value=1.0):
        if self.name == "torch":
            return self.torch.tensor(value, dtype=self.torch.float64, requires_grad=True)
        return self.dezero.Variable(self.np.array(value))

    def grad_value(self, x):
        return float(x.grad.item())

    def clear(self, x):
        if self.name == "torch":
            x.grad = None
        else:
            x.cleargrad()


def _chain(lib, x, op, n):
    y = x
    if op == "add":
        for _ in range(n):
            y = y + x
    elif op == "mul":
        for _ in range(n):
            y = y * x
    elif op == "mul_const":
        for _ in range(n):
            y = y * 1.0001
    elif op in ("sin", "exp"):
        f = getattr(lib, op)
        for _ in range(n):
            y = f(y)
    else:
        raise ValueError(f"unknown op {op!r}")
    return y


_START = {"exp": -50.0}  # the other chains start at 1.0


def case_per_op(lib, op, n=1000, reps=30):
    """Median microseconds per op: forward alone, and forward + backward.

    The total includes dropping the graph (``del y``): PyTorch frees its graph inside
    ``backward()``, dezero when the last reference goes, so both pay for it here.
    """
    x = lib.scalar(_START.get(op, 1.0))
    for _ in range(3):  # warm-up
        _chain(lib, x, op, n).backward()
        lib.clear(x)
    fwd, total = [], []
    for _ in range(reps):
        gc.collect()
        start = time.perf_counter()
        y = _chain(lib, x, op, n)
        mid = time.perf_counter()
        y.backward()
        del y
        end = time.perf_counter()
        fwd.append((mid - start) / n * 1e6)
        total.append((end - start) / n * 1e6)
        lib.clear(x)
    return {"fwd_us": _common.median(fwd), "fwd_bwd_us": _common.median(total)}


def _tree(leaves):
    level = leaves
    while len(level) > 1:
        level = [level[i] + level[i + 1] for i in range(0, len(level), 2)]
    return level[0]


def case_tree(lib, n_leaves=16384, reps=5):
    """Forward and backward seconds of a binary-tree sum; peak RSS of the first run."""
    _tree([lib.scalar() for _ in range(256)]).backward()  # warm-up
    fwd, bwd, peak = [], [], None
    for rep in range(reps):
        leaves = [lib.scalar(float(i)) for i in range(n_leaves)]
        gc.collect()
        with _common.PeakRSS() as mem:
            start = time.perf_counter()
            y = _tree(leaves)
            mid = time.perf_counter()
            y.backward()
            end = time.perf_counter()
        if rep == 0:
            peak = mem.peak_mb
            assert lib.grad_value(leaves[-1]) == 1.0
        fwd.append(mid - start)
        bwd.append(end - mid)
        del y, leaves
    f, b = _common.median(fwd), _common.median(bwd)
    return {"fwd_s": f, "bwd_s": b, "bwd_over_fwd": b / f, "peak_mb": peak}


def case_chain(lib, n):
    """One forward + backward of an ``add`` chain ``n`` deep: times and peak RSS growth."""
    _chain(lib, lib.scalar(), "add", 1000).backward()  # warm-up
    x = lib.scalar()
    gc.collect()
    with _common.PeakRSS() as mem:
        start = time.perf_counter()
        y = _chain(lib, x, "add", n)
        mid = time.perf_counter()
        y.backward()
        end = time.perf_counter()
        del y
        freed = time.perf_counter()
    ok = lib.grad_value(x) == n + 1
    return {"fwd_s": mid - start, "bwd_s": end - mid, "free_s": freed - end,
            "bwd_us_per_op": (end - mid) / n * 1e6, "peak_mb": mem.peak_mb, "ok": ok}


def child(argv):
    case, lib_name, threads, *rest = argv
    lib = _Lib(lib_name)
    limiter = _common.pin_threads(int(threads))  # noqa: F841  (kept alive for the run)
    if case == "per_op":
        result = case_per_op(lib, rest[0])
    elif case == "tree":
        result = case_tree(lib)
    elif case == "chain":
        result = case_chain(lib, int(rest[0]))
    else:
        raise SystemExit(f"unknown case {case!r}")
    result["blas"] = _common.blas_report()
    _common.emit(result)


# =============================================================================
# The parent: fresh processes, medians, table, JSON
# =============================================================================


def _measure(case, args, threads, repeats):
    out = {}
    for lib in LIBS:
        print(f"  {case} {' '.join(map(str, args))} {lib} x{repeats}", flush=True)
        out[lib] = _common.median_of_runs(SCRIPT, ["--child", case, lib, threads, *args],
                                          threads, repeats)
    return out


def run_all(threads_list, repeats, chain_sizes, cases=CASES):
    results = {}
    for threads in threads_list:
        r = results[f"threads={threads}"] = {}
        if "per_op" in cases:
            for op in PER_OP:
                r[f"per_op_{op}"] = _measure("per_op", [op], threads, repeats)
        if "tree" in cases:
            r["tree_16384"] = _measure("tree", [], threads, repeats)
        if "chain" in cases:
            for n in chain_sizes:
                r[f"chain_{n}"] = _measure("chain", [n], threads, repeats)
    return results


def _rows(results):
    rows = []
    for tkey, r in results.items():
        threads = tkey.split("=")[1]
        for op in PER_OP:
            if f"per_op_{op}" not in r:
                continue
            d, t = r[f"per_op_{op}"]["dezero"], r[f"per_op_{op}"]["torch"]
            for metric, label in (("fwd_us", "fwd us/op"), ("fwd_bwd_us", "fwd+bwd+free us/op")):
                rows.append((threads, f"per-op {op}", label, d[metric], t[metric],
                             _common.ratio(d[metric], t[metric]), f"<= {TARGETS['per_op']}"))
        if "tree_16384" in r:
            d, t = r["tree_16384"]["dezero"], r["tree_16384"]["torch"]
            rows.append((threads, "tree 16384", "fwd ms", d["fwd_s"] * 1e3, t["fwd_s"] * 1e3,
                         _common.ratio(d["fwd_s"], t["fwd_s"]), ""))
            rows.append((threads, "tree 16384", "bwd ms", d["bwd_s"] * 1e3, t["bwd_s"] * 1e3,
                         _common.ratio(d["bwd_s"], t["bwd_s"]), ""))
            rows.append((threads, "tree 16384", "bwd/fwd", d["bwd_over_fwd"], t["bwd_over_fwd"],
                         None, f"dezero <= {TARGETS['tree_bwd_over_fwd']}"))
            rows.append((threads, "tree 16384", "peak MiB", d["peak_mb"], t["peak_mb"],
                         _common.ratio(d["peak_mb"], t["peak_mb"]), ""))
        for key in r:
            if not key.startswith("chain_"):
                continue
            d, t = r[key]["dezero"], r[key]["torch"]
            label = f"chain {int(key.split('_')[1]):,}"
            rows.append((threads, label, "fwd s", d["fwd_s"], t["fwd_s"],
                         _common.ratio(d["fwd_s"], t["fwd_s"]), ""))
            rows.append((threads, label, "bwd s", d["bwd_s"], t["bwd_s"],
                         _common.ratio(d["bwd_s"], t["bwd_s"]), f"<= {TARGETS['chain_time']}"))
            d_total, t_total = d["bwd_s"] + d["free_s"], t["bwd_s"] + t["free_s"]
            rows.append((threads, label, "bwd+free s", d_total, t_total,
                         _common.ratio(d_total, t_total), ""))
            rows.append((threads, label, "peak MiB", d["peak_mb"], t["peak_mb"],
                         _common.ratio(d["peak_mb"], t["peak_mb"]),
                         f"<= {TARGETS['chain_memory']}"))
    return rows


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one process per case, 1 thread, no 1,000,000-deep chain")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per case")
    parser.add_argument("--chains", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="depths of the deep-chain case")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES),
                        help="which cases to run (default: all)")
    parser.add_argument("--out", default=None, help="JSON path (default results/engine.json)")
    args = parser.parse_args(argv)
    threads, repeats, chains = args.threads, args.repeats, args.chains
    if args.quick:
        threads, repeats, chains = [1], 1, [100_000]
    results = run_all(threads, repeats, chains, args.cases)
    headers = ("threads", "case", "metric", "dezero", "torch", "dezero/torch", "target")
    rows = _rows(results)
    print()
    print(_common.format_table(headers, rows))
    machine = _common.machine_report()
    first_case = results[next(iter(results))]
    first = first_case[next(iter(first_case))]
    for lib in LIBS:  # what the pinned children loaded (kernel and thread count)
        print(f"\nBLAS in a {lib} child: {first[lib]['runs'][0]['blas']}")
    path = _common.write_json("engine", {"machine": machine, "targets": TARGETS,
                                         "table": {"headers": headers, "rows": rows},
                                         "results": results}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
