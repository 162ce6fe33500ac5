"""Memory and time of loading hostile or large files (issue 11), one subprocess per case.

Each case runs in a fresh interpreter and reports its wall time and its peak resident set
(``VmHWM`` from ``/proc/self/status``, Linux) minus the resident set before the load, so
the numbers are what the load itself cost.

    python benchmarks/bench_hostile_files.py                 # this checkout
    python benchmarks/bench_hostile_files.py --tree OLD_DIR  # a tree holding another dezero/

Cases: ``bomb`` (8 members of 255 MiB of zeros, a ~2 MiB .npz) through load_arrays and
load_weights; ``zeros320`` (a 320 MB all-zero parameter written by dezero); ``st256`` (a
256 MiB .safetensors written by dezero); ``sparse`` (a sparse 2 GiB .safetensors whose
header length is absurd); ``idx`` (a ~1.4 MB gzip declaring 1.4 M MNIST images).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

MiB = 2**20

_PRELUDE = """
import os, sys, time, json
tree = {tree!r}
if tree:
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, tree)
import numpy as np
import dezero, dezero.io as dio
from dezero import Layer, Parameter

def rss(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

def measure(fn):
    base = rss("VmRSS")
    t = time.perf_counter()
    try:
        fn()
        outcome = "loaded"
    except Exception as e:
        outcome = type(e).__name__ + ": " + str(e).splitlines()[0][:110]
    dt = time.perf_counter() - t
    print(json.dumps({{"seconds": round(dt, 3), "peak_mib": round((rss("VmHWM") - base) / 2**20, 1),
                      "outcome": outcome}}))
"""


def _write_zero_npz(path, names, nbytes):
    import zipfile

    from numpy.lib import format as npy_format

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in names:
            with zf.open(name + ".npy", "w", force_zip64=True) as f:
                header = {"descr": "<f4", "fortran_order": False, "shape": (nbytes // 4,)}
                npy_format.write_array_header_1_0(f, header)
                zero = bytes(MiB)
                for _ in range(nbytes // MiB):
                    f.write(zero)


def _files(folder):
    import gzip

    import numpy as np

    paths = {}
    paths["bomb"] = os.path.join(folder, "bomb.npz")
    _write_zero_npz(paths["bomb"], [f"m{i}" for i in range(8)], 255 * MiB)
    paths["sparse"] = os.path.join(folder, "sparse.safetensors")
    with open(paths["sparse"], "wb") as f:
        f.write((2**40).to_bytes(8, "little"))
        f.truncate(2 * 2**30)
    paths["idx"] = os.path.join(folder, "t10k-images-idx3-ubyte.gz")
    n = 1_400_000
    with gzip.open(paths["idx"], "wb", compresslevel=9) as f:
        f.write(b"\x00\x00\x08\x03" + np.array([n, 28, 28], ">u4").tobytes())
        zero = bytes(784 * 1000)
        for _ in range(n // 1000):
            f.write(zero)
    # written by dezero (this checkout), in a child process so no memory is held here
    paths["zeros320"] = os.path.join(folder, "zeros320.npz")
    paths["st256"] = os.path.join(folder, "st256.safetensors")
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import numpy as np, dezero.io as dio
        dio.save_arrays({paths["zeros320"]!r}, {{"W": np.zeros(80_000_000, np.float32)}})
        rng = np.random.default_rng(0)
        dio.save_arrays({paths["st256"]!r}, {{f"t{{i}}": rng.standard_normal(2**24 // 4)
                                              .astype(np.float32) for i in range(16)}})
        """)], check=True)
    return paths


CASES = {
    "bomb/load_arrays": "measure(lambda: dio.load_arrays({bomb!r}))",
    "bomb/load_weights": textwrap.dedent("""
        class M(Layer):
            def __init__(self):
                super().__init__()
                self.W = Parameter(np.zeros((2, 2), np.float32), name="W")
        measure(lambda: M().load_weights({bomb!r}))"""),
    "zeros320/load_weights": textwrap.dedent("""
        class Big(Layer):
            def __init__(self):
                super().__init__()
                self.W = Parameter(np.zeros(80_000_000, np.float32), name="W")
        m = Big()
        measure(lambda: m.load_weights({zeros320!r}))"""),
    "st256/load_arrays": textwrap.dedent("""
        measure(lambda: dio.load_arrays({st256!r}))"""),
    "sparse2GiB/load_arrays": "measure(lambda: dio.load_arrays({sparse!r}))",
    "idx1.4M/load_idx": textwrap.dedent("""
        from dezero import datasets
        kw = {{}}
        import inspect
        if "max_count" in inspect.signature(datasets.load_idx).parameters:
            kw = dict(max_count=10000, item_shape=(28, 28))  # what MNIST(train=False) passes
        measure(lambda: datasets.load_idx({idx!r}, expected_ndim=3, **kw))"""),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default="", help="folder holding the dezero/ to measure")
    parser.add_argument("--folder", default="", help="where to write the test files")
    parser.add_argument("--only", default="", help="comma-separated case prefixes")
    args = parser.parse_args(argv)
    folder = args.folder or tempfile.mkdtemp(prefix="dezero-hostile-")
    marker = os.path.join(folder, ".made")
    if os.path.exists(marker):
        with open(marker) as fh:
            paths = json.load(fh)
    else:
        paths = _files(folder)
        with open(marker, "w") as fh:
            json.dump(paths, fh)
    results = {}
    for name, body in CASES.items():
        if args.only and not any(name.startswith(p) for p in args.only.split(",")):
            continue
        code = _PRELUDE.format(tree=os.path.abspath(args.tree) if args.tree else "") \
            + body.format(folder=folder, **paths)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-300:]
        results[name] = line
        print(f"{name:24s} {line}", flush=True)
    return results


if __name__ == "__main__":
    main()
