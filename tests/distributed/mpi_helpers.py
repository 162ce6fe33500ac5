"""Start real ``mpiexec -n N`` jobs from the tests, always with a timeout."""
import os
import signal
import subprocess
import sys
from importlib.util import find_spec

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "mpi_worker.py")
TIMEOUT = 120  # seconds for a whole job; a hang fails the test instead of blocking CI


def mpiexec_or_skip() -> str:
    """The mpiexec the launcher would use; skip the test (with the reason) without MPI."""
    if find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install -e '.[mpi]')")
    from dezero.distributed import find_mpiexec

    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec next to Python or on PATH (pip install -e '.[mpi]')")
    try:
        from mpi4py import MPI  # noqa: F401
    except Exception as e:  # mpi4py without an MPI library
        pytest.skip(f"mpi4py cannot load an MPI library: {e}")
    return mpiexec


def mpi_env() -> dict:
    """Environment for a job: works as root and oversubscribed, one BLAS thread per rank."""
    env = dict(os.environ)
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_FD", "PMI_PORT"):
        env.pop(name, None)  # pytest itself might run under a launcher
    env.update({
        "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",  # Open MPI
        "OMPI_MCA_rmaps_base_oversubscribe": "1",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONPATH": ROOT + os.pathsep + env.get("PYTHONPATH", ""),
        "PYTHONWARNINGS": "default",
    })
    return env


def run_job(cmd, timeout=TIMEOUT, cwd=None) -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own process group; on timeout kill the whole group and fail."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=mpi_env(), cwd=cwd, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} hung for {timeout} s; output:\n{out}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, None)


def run_worker(nprocs: int, scenario: str, outdir, timeout=TIMEOUT):
    mpiexec = mpiexec_or_skip()
    cmd = [mpiexec, "-n", str(nprocs), sys.executable, "-m", "mpi4py", WORKER, scenario,
           str(outdir)]
    return run_job(cmd, timeout=timeout)
