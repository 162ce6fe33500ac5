"""Time examples/gan.py and the ``dezero train`` CNN with 1 and 2 BLAS threads, quiet and loaded.

Run by hand (it takes minutes); prints one line per case: wall time and CPU time of the child.

    python tools/bench_threads.py                 # both workloads, quiet and under load
    python tools/bench_threads.py --gan-iters 200 --cnn-epochs 2 --threads 1 2
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

RUN_WITH_THREADS = (
    "import runpy, sys; from threadpoolctl import threadpool_limits; import numpy; "
    "threadpool_limits({n}); sys.argv = {argv!r}; "
    "runpy.run_{kind}({target!r}, run_name='__main__')")


def _cli_has_threads():
    help_text = subprocess.run([sys.executable, "-m", "dezero", "train", "--help"],
                               capture_output=True, text=True).stdout
    return "--threads" in help_text


CLI_HAS_THREADS = _cli_has_threads()


def child_cmd(n, workload, out, args):
    if workload == "gan":
        argv = ["gan.py", "--iters", str(args.gan_iters), "--out", out]
        code = RUN_WITH_THREADS.format(n=n, argv=argv, kind="path",
                                       target=os.path.join("examples", "gan.py"))
    else:
        argv = ["dezero", "train", "--model", "cnn", "--epochs", str(args.cnn_epochs), "--quiet",
                "--out", out, "--overwrite", "--threads", str(n)]
        if not CLI_HAS_THREADS:  # an older dezero: the threadpool_limits call above decides
            argv = argv[:-3]
        code = RUN_WITH_THREADS.format(n=n, argv=argv, kind="module", target="dezero")
    return [sys.executable, "-c", code]


def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gan-iters", type=int, default=200, help="GAN iterations (default 200)")
    parser.add_argument("--cnn-epochs", type=int, default=2, help="CNN epochs (default 2)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts to try (default: 1 2)")
    parser.add_argument("--workloads", nargs="+", default=["gan", "cnn"],
                        help="gan and/or cnn (default: both)")
    parser.add_argument("--loads", nargs="+", default=["quiet", "loaded"],
                        help="quiet: as is; loaded: with one busy-looping process beside it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for load in args.loads:
            busy = None
            if load == "loaded":
                busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                for workload in args.workloads:
                    for n in args.threads:
                        out = tempfile.mkdtemp(dir=tmp)
                        wall, cpu = timed(child_cmd(n, workload, out, args))
                        print(f"{load:6s} {workload} threads={n}: wall {wall:6.1f} s  "
                              f"cpu {cpu:6.1f} s  (load avg {os.getloadavg()[0]:.2f})",
                              flush=True)
            finally:
                if busy is not None:
                    busy.terminate()
                    busy.wait()


if __name__ == "__main__":
    main()
