"""dezero.distributed in one process: sharding, the launcher, a job of size 1."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

import dezero
import dezero.functions as F
import dezero.layers as L
from dezero import optimizers
from dezero.distributed import ShardedDataset, _launch, launch, under_mpi_launcher


def test_import_dezero_does_not_import_distributed_or_mpi4py():
    code = ("import sys, dezero, dezero.distributed; "
            "print('mpi4py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "False"  # not even by importing dezero.distributed
    code = "import sys, dezero; print('dezero.distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "False"


# -- shards (no MPI needed: every rank's shard is built here) ----------------------------


def shards(n, size, epoch=0, **kw):
    kw = {"shuffle": True, "seed": 3, "drop_last": False, **kw}
    result = []
    for rank in range(size):
        s = ShardedDataset(list(range(n)), rank, size, **kw)
        s.set_epoch(epoch)
        result.append([s[i] for i in range(len(s))])
    return result


@pytest.mark.parametrize("n, size", [(10, 2), (10, 4), (7, 3), (5, 5), (12, 1)])
def test_shards_are_disjoint_and_padded_to_equal_length(n, size):
    parts = shards(n, size)
    per_rank = -(-n // size)
    assert all(len(p) == per_rank for p in parts)
    flat = [i for p in parts for i in p]
    assert set(flat) == set(range(n))
    assert len(flat) == per_rank * size  # the n items, plus (per_rank*size - n) repeats


def test_drop_last_drops_the_remainder_and_never_repeats():
    parts = shards(10, 4, drop_last=True)
    assert all(len(p) == 2 for p in parts)
    flat = [i for p in parts for i in p]
    assert len(set(flat)) == 8


def test_each_epoch_has_its_own_order_the_same_for_every_seed_holder():
    assert shards(20, 2, epoch=0) == shards(20, 2, epoch=0)
    assert shards(20, 2, epoch=0) != shards(20, 2, epoch=1)
    assert shards(20, 2, seed=4) != shards(20, 2, seed=3)


def test_no_shuffle_is_strided_and_fixed():
    assert shards(6, 2, shuffle=False) == [[0, 2, 4], [1, 3, 5]]
    assert shards(6, 2, shuffle=False, epoch=3) == [[0, 2, 4], [1, 3, 5]]


def test_shard_indexing_errors():
    s = ShardedDataset(list(range(6)), 0, 2, False, 0, False)
    assert s[-1] == 4
    with pytest.raises(IndexError, match="ShardedDataset: index 3 out of range"):
        s[3]
    with pytest.raises(TypeError, match="index must be an int"):
        s[0.5]
    with pytest.raises(ValueError, match="epoch must be an int >= 0"):
        s.set_epoch(-1)


def test_shard_works_with_dataloader():
    data = list(zip(np.arange(10.0)[:, None], np.arange(10)))
    s = ShardedDataset(data, 1, 2, True, 0, False)
    xs = [x for x, _ in dezero.DataLoader(s, batch_size=2, shuffle=False)]
    assert sorted(np.concatenate(xs).ravel().tolist()) == sorted(
        data[i][0][0] for i in s.indices)


# -- launcher -----------------------------------------------------------------------------


@pytest.mark.parametrize("env, expected", [
    ({}, False), ({"PMI_SIZE": "1"}, False), ({"PMI_SIZE": "2"}, True),
    ({"OMPI_COMM_WORLD_SIZE": "4"}, True), ({"MV2_COMM_WORLD_SIZE": "3"}, True),
])
def test_under_mpi_launcher_reads_the_environment(monkeypatch, env, expected):
    for name in _launch._SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert under_mpi_launcher() is expected


def test_launch_explains_missing_mpi(monkeypatch):
    monkeypatch.setattr(_launch, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match=r"launch: mpi4py is not installed; install it "
                                           r"with: pip install -e '\.\[mpi\]'"):
        launch(2, ["train"])
    monkeypatch.setattr(_launch, "find_spec", lambda name: object())
    monkeypatch.setattr(_launch, "find_mpiexec", lambda: None)
    with pytest.raises(RuntimeError, match=r"launch: no mpiexec found.*pip install -e "
                                           r"'\.\[mpi\]'"):
        launch(2, ["train"])


def test_launch_runs_mpiexec_with_mpi4py_and_returns_its_status(monkeypatch):
    calls = []
    monkeypatch.setattr(_launch, "find_spec", lambda name: object())
    monkeypatch.setattr(_launch, "find_mpiexec", lambda: "/opt/mpi/bin/mpiexec")
    monkeypatch.setattr(_launch.subprocess, "call",
                        lambda cmd, env: calls.append((cmd, env)) or 3)
    for name in _launch._THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert launch(2, ["train", "--epochs", "1"]) == 3
    cmd, env = calls[0]
    assert cmd == ["/opt/mpi/bin/mpiexec", "-n", "2", sys.executable, "-m", "mpi4py", "-m",
                   "dezero", "train", "--epochs", "1"]
    assert int(env["OPENBLAS_NUM_THREADS"]) >= 1
    monkeypatch.setattr(_launch.subprocess, "call", lambda cmd, env: -9)
    assert launch(1, []) == 137  # killed by SIGKILL
    with pytest.raises(ValueError, match="nprocs must be an int >= 1"):
        launch(0, [])
    with pytest.raises(TypeError, match="argv must be a list of str"):
        launch(2, "train")


# -- a job of one process (needs mpi4py, not mpiexec) -----------------------------------


@pytest.fixture
def comm():
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install -e '.[mpi]')")
    import dezero.distributed as dist

    try:
        return dist.init()
    except ImportError as e:
        pytest.skip(str(e))


def make_model(seed=0):
    np.random.seed(seed)
    model = dezero.models.MLP((5, 3), activation=F.tanh)
    model(np.zeros((1, 4), dtype=np.float32))  # create the lazy weights
    return model


def train(model, optimizer, steps=4):
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x = rng.standard_normal((6, 4)).astype(np.float32)
        t = rng.integers(0, 3, 6)
        loss = F.softmax_cross_entropy(model(x), t)
        model.cleargrads()
        loss.backward()
        optimizer.update()


def test_size_one_job_trains_exactly_like_the_wrapped_optimizer(comm):
    import dezero.distributed as dist

    assert (comm.size, comm.rank, comm.is_root) == (1, 0, True)
    plain, wrapped = make_model(), make_model()
    opt = optimizers.Adam(alpha=0.01).setup(plain)
    opt.add_hook(optimizers.ClipGrad(1.0))
    train(plain, opt)
    dopt = dist.DistributedOptimizer(optimizers.Adam(alpha=0.01), comm).setup(wrapped)
    dopt.add_hook(optimizers.ClipGrad(1.0))
    assert dopt.target is wrapped and len(dopt.hooks) == 1
    train(wrapped, dopt)
    for p, q in zip(plain.params(), wrapped.params()):
        np.testing.assert_array_equal(p.data, q.data)
    # The state and hyperparameters are the wrapped optimizer's.
    assert dopt.t == 4
    dopt.alpha = 0.5
    assert dopt.optimizer.alpha == 0.5
    assert set(dopt.state_dict()) == set(opt.state_dict())


def test_distributed_optimizer_argument_errors(comm):
    import dezero.distributed as dist

    with pytest.raises(TypeError, match="expected a dezero optimizer"):
        dist.DistributedOptimizer(object(), comm)
    with pytest.raises(TypeError, match="comm must be a Communicator"):
        dist.DistributedOptimizer(optimizers.SGD(), None)
    with pytest.raises(ValueError, match="bucket_bytes must be a positive int"):
        dist.DistributedOptimizer(optimizers.SGD(), comm, bucket_bytes=0)
    with pytest.raises(RuntimeError, match="call setup\\(model\\) first"):
        dist.DistributedOptimizer(optimizers.SGD(), comm).update()
    model = make_model()
    dopt = dist.DistributedOptimizer(optimizers.SGD(), comm).setup(model)
    model.extra = L.Linear(2, in_size=2)
    with pytest.raises(RuntimeError, match="parameters changed since setup"):
        dopt.update()


def test_late_lazy_parameters_skip_one_step_with_a_warning(comm):
    import dezero.distributed as dist

    np.random.seed(0)
    model = dezero.models.MLP((5, 3))
    dopt = dist.DistributedOptimizer(optimizers.SGD(), comm).setup(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(model, dopt, steps=1)
    assert len(caught) == 1 and "this step's gradients were discarded" in str(caught[0].message)
    before = [p.data.copy() for p in model.params()]
    train(model, dopt, steps=1)
    assert any(not np.array_equal(b, p.data) for b, p in zip(before, model.params()))


def test_size_one_collectives(comm):
    assert comm.allreduce(3) == 3.0 and comm.allreduce(3, op="sum") == 3
    x = np.arange(4, dtype=np.float32)
    y = comm.allreduce(x)
    assert y.dtype == np.float32 and y is not x
    np.testing.assert_array_equal(y, x)
    assert comm.allreduce(np.arange(3)).dtype == np.float64  # an integer mean
    assert comm.allreduce(dezero.Variable(np.ones(2))).tolist() == [1.0, 1.0]
    assert comm.allgather(2.5) == [2.5]
    assert comm.allgather(np.ones((2, 2))).shape == (1, 2, 2)
    assert comm.bcast_object({"a": 1}) == {"a": 1}
    with pytest.raises(ValueError, match="op must be one of"):
        comm.allreduce(1, op="max")
    with pytest.raises(TypeError, match="expected an ndarray, a Variable or a number"):
        comm.allreduce("1")
    with pytest.raises(ValueError, match="root must be a rank"):
        comm.bcast_object(1, root=1)


def test_rank0_save_and_broadcast_load(comm, tmp_path):
    import dezero.distributed as dist

    model = make_model(seed=1)
    path = tmp_path / "w.npz"
    dist.save_weights(model, path, comm)
    fresh = dezero.models.MLP((5, 3), activation=F.tanh)  # lazy: takes the stored shapes
    dist.load_weights(fresh, path, comm)
    for p, q in zip(model.params(), fresh.params()):
        np.testing.assert_array_equal(p.data, q.data)
    assert dist.average_metrics({"loss": 2.0, "acc": 0.5}, comm) == {"loss": 2.0, "acc": 0.5}
    metrics = {"loss": np.float32(1.5), "acc": dezero.Variable(np.array(0.25))}
    assert dist.average_metrics(metrics, comm) == {"loss": 1.5, "acc": 0.25}
    with pytest.raises(TypeError, match="'loss' must be a number"):
        dist.average_metrics({"loss": np.ones(2)}, comm)
    with pytest.raises(FileNotFoundError, match="no such weight file"):
        dist.load_weights(fresh, tmp_path / "missing", comm)


def test_missing_mpi_gives_the_install_command(monkeypatch):
    import types

    from dezero.distributed import _comm

    monkeypatch.setattr(_comm, "_world", None)
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # not installed
    with pytest.raises(ImportError, match=r"dezero.distributed.init: mpi4py is not installed; "
                                          r"install it with: pip install -e '\.\[mpi\]'"):
        _comm.init()
    broken = types.ModuleType("mpi4py")  # installed without an MPI library

    def no_library(name):
        raise RuntimeError("cannot load MPI library")

    broken.__getattr__ = no_library
    monkeypatch.setitem(sys.modules, "mpi4py", broken)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    with pytest.raises(ImportError, match=r"mpi4py found no MPI library \(cannot load MPI "
                                          r"library\); install it with: .* pip install mpich"):
        _comm.init()


def test_buckets_group_by_dtype_and_respect_the_size(comm):
    import dezero.distributed as dist

    model = dezero.Model()
    for i in range(100):  # 200 parameters, 2 dtypes
        dtype = np.float32 if i % 2 else np.float64
        setattr(model, f"l{i}", L.Linear(3, in_size=4, dtype=dtype))
    params = list(model.params())
    one = dist.DistributedOptimizer(optimizers.SGD(), comm).setup(model)._plan(params)
    assert [b.buffer.dtype for b in one] == [np.float64, np.float32]  # one bucket per dtype
    assert sum(b.buffer.size for b in one) == 100 * (12 + 3)
    small = dist.DistributedOptimizer(optimizers.SGD(), comm, bucket_bytes=200)
    buckets = small.setup(model)._plan(params)
    for b in buckets:
        assert b.buffer.nbytes <= 200 or len(b.entries) == 1
        assert len({p.data.dtype for p, *_ in b.entries}) == 1
    assert sum(len(b.entries) for b in buckets) == 200
    order = [p for b in buckets for p, *_ in b.entries]
    assert set(map(id, order)) == set(map(id, params))


def test_docs_example_runs_in_one_process(comm, tmp_path, monkeypatch, capsys):
    import os
    import re

    pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn")
    docs = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs",
                        "distributed.md")
    with open(docs, encoding="utf-8") as fh:
        blocks = re.findall(r"^```python\n(.*?)^```", fh.read(), flags=re.S | re.M)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "docs/distributed.md", "exec"), {"__name__": "docs"})
    lines = capsys.readouterr().out.split("\n")
    assert [line.split()[0] for line in lines if line] == ["0", "1", "2", "3", "4"]
    assert (tmp_path / "model.npz").exists()
