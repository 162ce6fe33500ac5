"""Run the whole benchmark suite in one command (``make bench``).

Each script prints its table and writes ``benchmarks/results/<name>.json``. Run with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` (the Makefile does): those variables select
a slower OpenBLAS kernel on these machines.
"""
from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["bench_engine.py", "bench_conv.py", "bench_training.py"]


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    failed = []
    for script in SCRIPTS:
        print(f"\n===== {script} =====", flush=True)
        rc = subprocess.call([sys.executable, os.path.join(HERE, script), *argv])
        if rc != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
