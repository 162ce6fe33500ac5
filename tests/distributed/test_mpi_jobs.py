"""Real ``mpiexec -n 2`` and ``-n 4`` jobs (marker ``mpi``; skipped without MPI)."""
import json

import pytest
from mpi_helpers import run_worker

pytestmark = pytest.mark.mpi


def results(outdir, scenario, n):
    return [json.loads((outdir / f"{scenario}.{r}.json").read_text()) for r in range(n)]


@pytest.mark.parametrize("nprocs", [2, 4])
def test_training_keeps_ranks_identical_and_matches_one_process(tmp_path, nprocs):
    job = run_worker(nprocs, "train", tmp_path)
    assert job.returncode == 0, job.stdout
    res = results(tmp_path, "train", nprocs)
    assert [r["rank"] for r in res] == list(range(nprocs))
    assert all(r["size"] == nprocs for r in res)
    assert sorted(r["local_rank"] for r in res) == list(range(nprocs))  # one machine
    # Bit-identical weights on every rank after training (different initial weights on each
    # rank before setup, so the broadcast from rank 0 matters).
    for key in ("hash_momentum", "hash_adam", "hash_partial", "hash_lazy"):
        assert len({r[key] for r in res}) == 1, key
    # nprocs ranks with batch B == one process with batch nprocs * B (float64 round-off).
    assert res[0]["max_change"] > 0.1  # the weights did move
    assert res[0]["max_diff_vs_one_process"] < 1e-12
    # A gradient on rank 0 only is averaged as if zero elsewhere; none anywhere stays None.
    assert res[0]["sometimes_local_grad"] is not None
    assert all(r["sometimes_local_grad"] is None for r in res[1:])
    for r in res:
        assert r["sometimes_grad"] == pytest.approx(res[0]["sometimes_local_grad"] / nprocs)
        assert r["unused_grad_is_none"]
    # Lazy parameters: copied from rank 0 at the first update, with one warning on rank 0.
    assert [r["lazy_warnings"] for r in res] == [1] + [0] * (nprocs - 1)
    # Shards: disjoint, padded to cover the 10 items, a new order per epoch.
    for epoch in range(2):
        shards = [r["shards"][epoch] for r in res]
        assert all(len(s) == -(-10 // nprocs) for s in shards)
        flat = [i for s in shards for i in s]
        assert set(flat) == set(range(10))
        assert len(flat) - len(set(flat)) == len(flat) - 10  # only the padding repeats
    assert res[0]["shards"][0] != res[0]["shards"][1]
    for r in res:
        assert r["allreduce_mean"] == pytest.approx((nprocs - 1) / 2)
        assert r["allreduce_sum_array"] == [sum(i + k for k in range(nprocs))
                                            for i in range(3)]
        assert r["allgather"] == [10 * k for k in range(nprocs)]
        weights = [k + 1 for k in range(nprocs)]
        assert r["metrics"]["loss"] == pytest.approx(
            sum(k * w for k, w in enumerate(weights)) / sum(weights))
        assert r["metrics"]["acc"] == pytest.approx(1.0)
        assert r["bcast_object"] == {"epoch": 5}
        assert r["loaded_equal"]
    assert (tmp_path / "weights.npz").exists()


def test_disagreements_raise_clear_errors_on_every_rank(tmp_path):
    job = run_worker(2, "errors", tmp_path)
    assert job.returncode == 0, job.stdout
    r0, r1 = results(tmp_path, "errors", 2)
    for r in (r0, r1):
        assert r["shapes"].startswith("ValueError: DistributedOptimizer.setup: the ranks "
                                      "disagree on the model's parameters")
        assert "rank 0: ('l1/W', (4, 8), '<f8'), rank 1: ('l1/W', (4, 9), '<f8')" in r["shapes"]
        assert "unused/W" not in r["shapes"]  # only the differences are listed
        assert "'len(dataset)': 10" in r["uneven"] and "'len(dataset)': 11" in r["uneven"]
        assert r["tiny"] == ("ValueError: scatter_dataset: the dataset has 1 item(s) for 2 "
                             "ranks; every rank needs at least one (use fewer ranks or more "
                             "data)")
        assert "'seed': 0" in r["seed"] and "'seed': 1" in r["seed"]
        assert r["allgather"].startswith("ValueError: allgather: the ranks disagree")
    assert r0["load_missing"].startswith("FileNotFoundError")
    assert r1["load_missing"].startswith("RuntimeError: rank 0 failed")
    assert "no such weight file" in r1["load_missing"]


def test_failing_rank_ends_the_job_with_its_traceback(tmp_path):
    # Rank 0 waits in an all-reduce that rank 1 never joins; python -m mpi4py aborts.
    job = run_worker(2, "fail", tmp_path, timeout=60)
    assert job.returncode != 0
    assert "Traceback" in job.stdout
    assert "ZeroDivisionError: rank 1 fails on purpose" in job.stdout


def _gpu_or_skip():
    from dezero import cuda

    try:
        usable = cuda.gpu_enable
    except Exception:
        usable = False
    if not usable:
        pytest.skip("CuPy with a usable CUDA device is not available")


@pytest.mark.gpu
def test_cupy_training_over_two_ranks(tmp_path):
    _gpu_or_skip()
    job = run_worker(2, "gpu", tmp_path)
    assert job.returncode == 0, job.stdout
    r0, r1 = results(tmp_path, "gpu", 2)
    assert r0["sum"] == r1["sum"] == [1.0, 3.0, 5.0, 7.0]
    assert r0["dtype"] == "float32"
    assert r0["hash"] == r1["hash"]
    assert r0["nccl"] == r1["nccl"]


def test_example_trains_on_two_ranks(tmp_path):
    import sys

    from mpi_helpers import ROOT, mpiexec_or_skip, run_job

    example = f"{ROOT}/examples/distributed_mnist.py"
    pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn")
    cmd = [mpiexec_or_skip(), "-n", "2", sys.executable, "-m", "mpi4py", example,
           "--epochs", "2", "--out", str(tmp_path)]
    job = run_job(cmd)
    assert job.returncode == 0, job.stdout
    assert "2 rank(s), 719 training items per rank" in job.stdout
    assert job.stdout.count("epoch ") == 2  # rank 0 prints, the others do not
    assert "reloaded model's test accuracy" in job.stdout
    assert (tmp_path / "mlp.npz").exists()
