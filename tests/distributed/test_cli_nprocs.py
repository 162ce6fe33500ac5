"""End to end: ``dezero train --nprocs 2`` starts a real MPI job (marker ``mpi``)."""
import subprocess
import sys

import pytest
from mpi_helpers import mpiexec_or_skip, run_job

pytestmark = pytest.mark.mpi


def test_dezero_train_nprocs_2(tmp_path):
    mpiexec_or_skip()
    pytest.importorskip("sklearn", reason="the default digits dataset needs scikit-learn")
    helptext = subprocess.run([sys.executable, "-m", "dezero", "train", "--help"],
                              capture_output=True, text=True, timeout=60).stdout
    if "--nprocs" not in helptext:
        pytest.skip("this dezero command line has no --nprocs option yet")
    out = tmp_path / "run"
    job = run_job([sys.executable, "-m", "dezero", "train", "--nprocs", "2", "--epochs", "1",
                   "--quiet", "--out", str(out)], cwd=str(tmp_path))
    assert job.returncode == 0, job.stdout
    assert "2 processes" in job.stdout
    assert job.stdout.count("epoch 1/1") == 1  # printed by rank 0 only
    assert (out / "weights.npz").exists()
