"""Helpers shared by the benchmark scripts.

A benchmark script runs each measurement in a fresh Python process (``run_fresh``) so that
one case's allocator state and peak memory never leak into the next, takes medians over those
processes (``median``), prints a table (``format_table``) and writes a JSON file
(``write_json``). Inside a child process, ``pin_threads`` limits every thread pool and
``time_call`` / ``PeakRSS`` measure.

Typical child::

    pin_threads(threads)          # before the work, after importing numpy / torch
    with PeakRSS() as mem:
        seconds = time_call(work)
    emit({"seconds": seconds, "peak_mb": mem.peak_mb})

Run benchmarks with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``: those variables select
a slower OpenBLAS kernel on this machine. ``blas_report`` records the kernel actually used.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

# Read by OpenMP, OpenBLAS and MKL when their pools start (set for child processes).
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# =============================================================================
# Threads
# =============================================================================


def thread_env(threads: int) -> dict:
    """``os.environ`` plus the variables that size thread pools at start-up."""
    env = dict(os.environ)
    for name in _THREAD_ENV:
        env[name] = str(threads)
    return env


def pin_threads(threads: int):
    """Limit BLAS/OpenMP pools (threadpoolctl) and PyTorch's pools, if imported, to ``threads``.

    Returns the threadpoolctl limiter (keep it alive for the run), or None without threadpoolctl.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=threads)


def blas_report() -> list[dict]:
    """The loaded BLAS/OpenMP libraries with their kernel ("architecture") and thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl is not installed"}]
    keys = ("user_api", "internal_api", "version", "architecture", "threading_layer",
            "num_threads")
    return [{k: info.get(k) for k in keys if k in info} for info in threadpool_info()]


def machine_report() -> dict:
    """Python, NumPy, PyTorch (if importable) and CPU facts for the JSON file."""
    import numpy as np

    report = {"python": platform.python_version(), "numpy": np.__version__,
              "platform": platform.platform(), "cpus": os.cpu_count(),
              "openblas_env": {k: os.environ[k] for k in os.environ if k.startswith("OPENBLAS")}}
    try:
        import torch

        report["torch"] = torch.__version__
    except ImportError:
        report["torch"] = None
    report["blas"] = blas_report()
    return report


# =============================================================================
# Time and memory (inside one process)
# =============================================================================


def time_call(fn) -> float:
    """Seconds taken by ``fn()`` (``time.perf_counter``)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values):
    """Median of the non-None values, or None when there are none."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _proc_status_kb(field: str):
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb():
    """Current resident set size in MiB (Linux), or None."""
    kb = _proc_status_kb("VmRSS")
    return None if kb is None else kb / 1024


class PeakRSS:
    """Peak growth of the resident set size (MiB) inside a ``with`` block.

    Resets the kernel's high-water mark on entry (Linux ``clear_refs``), so only the block's
    own peak counts; ``peak_mb`` is None where that is not possible.
    """

    def __init__(self):
        self.peak_mb = None
        self._start_kb = None

    def __enter__(self):
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # reset VmHWM to the current RSS
            self._start_kb = _proc_status_kb("VmRSS")
        except OSError:
            self._start_kb = None
        return self

    def __exit__(self, *exc):
        peak_kb = _proc_status_kb("VmHWM")
        if self._start_kb is not None and peak_kb is not None:
            self.peak_mb = (peak_kb - self._start_kb) / 1024
        return False


# =============================================================================
# Fresh processes
# =============================================================================

_RESULT_PREFIX = "BENCH-RESULT "


def emit(result: dict):
    """Send a child's result to the parent (one tagged JSON line on stdout)."""
    print(_RESULT_PREFIX + json.dumps(result), flush=True)


def run_fresh(script: str, args, threads: int, timeout: float = 900) -> dict:
    """Run ``python script *args`` in a fresh process pinned to ``threads``; return its result.

    The child must call ``emit`` once. A failing child raises RuntimeError with its stderr.
    """
    cmd = [sys.executable, script, *map(str, args)]
    proc = subprocess.run(cmd, env=thread_env(threads), capture_output=True, text=True,
                          timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith(_RESULT_PREFIX):
            return json.loads(line[len(_RESULT_PREFIX):])
    raise RuntimeError(f"benchmark child {' '.join(cmd[1:])} failed (exit {proc.returncode}):\n"
                       f"{proc.stderr.strip()[-2000:]}")


def median_of_runs(script: str, args, threads: int, repeats: int) -> dict:
    """Run the child ``repeats`` times; the median of each numeric field, plus the raw runs."""
    runs = [run_fresh(script, args, threads) for _ in range(repeats)]
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    summary = {k: median(r.get(k) for r in runs) for k in keys}
    summary["runs"] = runs
    return summary


# =============================================================================
# Reports
# =============================================================================


def ratio(a, b):
    """``a / b``, or None when either is missing or ``b`` is 0."""
    if a is None or not b:
        return None
    return a / b


def format_table(headers, rows) -> str:
    """Plain-text table; floats get 3 significant digits, None prints as ``-``."""
    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in text]
    return "\n".join(lines)


def write_json(name: str, payload: dict, path: str | None = None) -> str:
    """Write ``payload`` and a timestamp to ``results/<name>.json``; return the path."""
    path = path or os.path.join(RESULTS_DIR, f"{name}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **payload}
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=2, sort_keys=False)
        fh.write("\n")
    return path


# =============================================================================
# Models shared by the training benchmarks
# =============================================================================


def dezero_cnn():
    """The benchmark CNN in dezero: conv 3x3 16 (pad 1) -> relu -> max-pool 2 -> conv 3x3 32
    (pad 1) -> relu -> max-pool 2 -> linear 32*7*7 -> 10, on 1x28x28 images.

    ``bench_training.py`` (against PyTorch and NumPy) and ``bench_distributed.py`` (over MPI)
    time this one model.
    """
    import dezero.functions as F
    import dezero.layers as L
    from dezero import Model

    class CNN(Model):
        def __init__(self):
            super().__init__()
            self.c1 = L.Conv2d(16, 3, 1, 1, in_channels=1)
            self.c2 = L.Conv2d(32, 3, 1, 1, in_channels=16)
            self.fc = L.Linear(10, in_size=32 * 7 * 7)

        def forward(self, x):
            x = F.pooling(F.relu(self.c1(x)), 2, 2)
            x = F.pooling(F.relu(self.c2(x)), 2, 2)
            return self.fc(F.reshape(x, (x.shape[0], -1)))

    return CNN()
