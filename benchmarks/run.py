"""Run the whole benchmark suite in one command (``make bench``).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py [--quick]
        [--threads 1 2] [--only engine,conv,training] [--malloc retain]

Runs, each in its own process (and each measurement inside them in fresh processes):

- ``bench_engine.py``   per-op overhead, 16,384-leaf tree, 100,000-deep chain (vs PyTorch);
- ``bench_conv.py``     conv2d + max pooling forward and backward (vs PyTorch and NumPy);
- ``bench_training.py`` MLP/SGD, deep MLP/Adam, CNN, no_grad inference and memory over
  2,000 steps (vs PyTorch and hand-written NumPy), with the targets of issue 7.

Each script prints its table and writes ``benchmarks/results/<name>.json``. The OpenBLAS
variables must be unset (the Makefile does it): they select a slower kernel on these
machines. ``--malloc retain`` applies only to the training benchmark (the same glibc settings
for every implementation; see docs/performance.md).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = {"engine": "bench_engine.py", "conv": "bench_conv.py",
           "training": "bench_training.py"}


def _script_args(name, args):
    out = []
    if args.quick:
        out.append("--quick")
    if args.threads:
        out += ["--threads", *map(str, args.threads)]
    if name == "training" and args.malloc != "default":
        out += ["--malloc", args.malloc]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and steps")
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="thread counts (default: each script's, 1 and 2)")
    parser.add_argument("--only", default=",".join(SCRIPTS),
                        help="comma-separated subset of: " + ", ".join(SCRIPTS))
    parser.add_argument("--malloc", choices=("default", "retain"), default="default")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(SCRIPTS)}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"warning: {var} is set: OpenBLAS may run a slower kernel than usual; "
                  "run through `make bench` or `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`")
    failed, took = [], {}
    for name in names:
        script = SCRIPTS[name]
        print(f"\n===== {script} =====", flush=True)
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, os.path.join(HERE, script),
                              *_script_args(name, args)])
        took[name] = time.perf_counter() - start
        if rc != 0:
            failed.append(script)
    print("\n===== summary =====")
    for name in names:
        status = "FAILED" if SCRIPTS[name] in failed else "ok"
        print(f"  {SCRIPTS[name]:20s} {status:6s} {took[name]:6.0f} s")
    print(f"  results in {os.path.join(HERE, 'results')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
