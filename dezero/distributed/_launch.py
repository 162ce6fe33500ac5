"""Starting a job: ``under_mpi_launcher()`` and ``launch(nprocs, argv)`` (no mpi4py import)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.util import find_spec

import numpy as np

from dezero._install_hint import install_hint

__all__ = ["find_mpiexec", "launch", "under_mpi_launcher"]

# The job size as MPICH/Intel MPI (Hydra, Slurm PMI), Open MPI and MVAPICH publish it.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def under_mpi_launcher() -> bool:
    """True when an MPI launcher (``mpiexec -n N``, ``srun``) started this process with N > 1.

    Decided from the environment the launcher sets (``PMI_SIZE``, ``OMPI_COMM_WORLD_SIZE``,
    ``MV2_COMM_WORLD_SIZE``), without importing mpi4py.
    """
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value) > 1
    return False


def find_mpiexec() -> str | None:
    """The ``mpiexec`` next to the running Python (a venv's, from the ``mpich`` wheel), else
    the first ``mpiexec``/``mpirun`` on PATH, else None."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    return shutil.which("mpiexec") or shutil.which("mpirun")


def launch(nprocs: int, argv: list[str]) -> int:
    """Run ``mpiexec -n nprocs python -m mpi4py -m dezero <argv...>`` and return its exit code.

    ``python -m mpi4py`` makes an uncaught exception on any rank abort the whole job (with
    that rank's traceback) instead of leaving the others waiting. Each rank gets
    ``cores // nprocs`` (at least 1) BLAS/OpenMP threads unless the ``*_NUM_THREADS``
    variables are already set, so the ranks do not fight over the cores.

    Parameters
    ----------
    nprocs : int
        Number of processes, >= 1.
    argv : list of str
        The ``dezero`` command line to run on every rank, e.g. ``["train", "--epochs", "1"]``.

    Returns
    -------
    int
        mpiexec's exit status (128 + the signal number when it was killed by a signal).

    Raises
    ------
    RuntimeError
        When no ``mpiexec`` or no mpi4py is installed (with the install command).
    """
    if isinstance(nprocs, bool) or not isinstance(nprocs, (int, np.integer)) or nprocs < 1:
        raise ValueError(f"launch: nprocs must be an int >= 1; got {nprocs!r}")
    if isinstance(argv, str) or not all(isinstance(a, str) for a in argv):
        raise TypeError("launch: argv must be a list of str")
    if find_spec("mpi4py") is None:
        raise RuntimeError("launch: mpi4py is not installed; "
                           + install_hint("mpi", "mpi4py mpich"))
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise RuntimeError("launch: no mpiexec found (next to Python or on PATH); "
                           + install_hint("mpi", "mpich"))
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // int(nprocs)))
    if not any(name in env for name in _THREAD_VARIABLES):
        for name in _THREAD_VARIABLES:
            env[name] = threads
    # Open MPI refuses more processes than cores unless told; MPICH's Hydra allows it.
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    cmd = [mpiexec, "-n", str(int(nprocs)), sys.executable, "-m", "mpi4py", "-m", "dezero",
           *argv]
    returncode = subprocess.call(cmd, env=env)
    return 128 - returncode if returncode < 0 else returncode
