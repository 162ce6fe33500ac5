"""Run by the tests under ``mpiexec -n N python -m mpi4py mpi_worker.py SCENARIO OUTDIR``.

Each rank writes ``OUTDIR/<scenario>.<rank>.json``; the tests read and compare them. One
script with a few scenarios keeps the number of (1 s) mpiexec starts small.
"""
import hashlib
import json
import os
import sys
import warnings

import numpy as np

import dezero
import dezero.distributed as dist
import dezero.functions as F
import dezero.layers as L
from dezero import optimizers
from dezero.models import Model


class Net(Model):
    """Two float64 layers used every step, one never used, one used only on rank 0."""

    def __init__(self, in_size=4, hidden=8, out=3, dtype=np.float64, lazy=False):
        super().__init__()
        in1 = None if lazy else in_size
        self.l1 = L.Linear(hidden, dtype=dtype, in_size=in1)
        self.l2 = L.Linear(out, dtype=dtype, in_size=hidden)
        self.unused = L.Linear(2, dtype=dtype, in_size=3)
        self.sometimes = L.Linear(out, dtype=dtype, in_size=hidden)

    def forward(self, x, use_sometimes=False):
        h = F.tanh(self.l1(x))
        y = self.l2(h)
        if use_sometimes:
            y = y + self.sometimes(h)
        return y


def weights_of(model):
    flat = {}
    model._flatten_params(flat)
    return {k: p.data for k, p in flat.items()}


def weights_hash(model):
    h = hashlib.sha256()
    for key, array in sorted(weights_of(model).items()):
        h.update(key.encode())
        h.update(np.ascontiguousarray(dezero.cuda.as_numpy(array)).tobytes())
    return h.hexdigest()


def make_data(n=40, in_size=4, classes=3, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, in_size))
    t = rng.integers(0, classes, n)
    return list(zip(x, t))


def batches(shard, batch_size):
    """Mini-batches of a shard in order (the reference can rebuild every rank's)."""
    for i in range(0, len(shard) - batch_size + 1, batch_size):
        items = [shard[j] for j in range(i, i + batch_size)]
        yield np.array([x for x, _ in items]), np.array([t for _, t in items])


def train(comm, make_optimizer, steps_per_epoch=None, epochs=2, batch_size=3):
    """Train a Net data-parallel; rank 0 also trains a one-process reference on the union of
    the ranks' batches (batch size * size). Returns (model, reference or None)."""
    data = make_data()
    np.random.seed(100 + comm.rank)  # different initial weights on every rank
    model = Net()
    initial = {k: v.copy() for k, v in weights_of(model).items()}
    optimizer = dist.DistributedOptimizer(make_optimizer(), comm,
                                          bucket_bytes=256).setup(model)
    shard = dist.scatter_dataset(data, comm, shuffle=True, seed=7)
    reference = None
    if comm.is_root:
        from dezero.distributed._data import ShardedDataset

        root_initial = weights_of(model)  # rank 0's values, broadcast to every rank
        assert all(np.array_equal(initial[k], root_initial[k]) for k in initial)
        reference = Net()
        flat = {}
        reference._flatten_params(flat)
        for k, p in flat.items():
            p.data = root_initial[k].copy()
        ref_optimizer = make_optimizer().setup(reference)
        shards = [ShardedDataset(data, r, comm.size, True, 7, False) for r in range(comm.size)]
    for epoch in range(epochs):
        shard.set_epoch(epoch)
        for x, t in batches(shard, batch_size):
            loss = F.softmax_cross_entropy(model(x), t)
            model.cleargrads()
            loss.backward()
            optimizer.update()
        if comm.is_root:
            for s in shards:
                s.set_epoch(epoch)
            for parts in zip(*(batches(s, batch_size) for s in shards)):
                x = np.concatenate([p[0] for p in parts])
                t = np.concatenate([p[1] for p in parts])
                loss = F.softmax_cross_entropy(reference(x), t)
                reference.cleargrads()
                loss.backward()
                ref_optimizer.update()
    return model, reference


def scenario_train(comm, out):
    result = {"rank": comm.rank, "size": comm.size, "local_rank": comm.local_rank}

    def momentum():
        opt = optimizers.MomentumSGD(lr=0.1)
        opt.add_hook(optimizers.WeightDecay(1e-3))
        opt.add_hook(optimizers.ClipGrad(0.5))  # sees averaged gradients: same on all ranks
        return opt

    model, reference = train(comm, momentum)
    result["hash_momentum"] = weights_hash(model)
    if reference is not None:
        ref = weights_of(reference)
        result["max_diff_vs_one_process"] = max(
            float(np.max(np.abs(v - ref[k]))) for k, v in weights_of(model).items())
        result["max_change"] = max(float(np.max(np.abs(v))) for v in weights_of(model).values())

    model, _ = train(comm, lambda: optimizers.Adam(alpha=0.01), epochs=1)
    result["hash_adam"] = weights_hash(model)

    # Gradients present on some ranks only, or on none.
    np.random.seed(comm.rank)
    net = Net()
    opt = dist.DistributedOptimizer(optimizers.SGD(lr=0.5), comm).setup(net)
    x = np.random.default_rng(comm.rank).standard_normal((5, 4))
    for _ in range(3):
        loss = F.sum(net.forward(x, use_sometimes=comm.rank == 0))
        net.cleargrads()
        loss.backward()
        g = net.sometimes.W.grad
        result["sometimes_local_grad"] = None if g is None else float(g.data.sum())
        opt.update()
    result["unused_grad_is_none"] = net.unused.W.grad is None
    result["sometimes_grad"] = float(net.sometimes.W.grad.data.sum())
    result["hash_partial"] = weights_hash(net)

    # Lazy parameters: broadcast at the first update (which is skipped, with a warning).
    np.random.seed(50 + comm.rank)
    lazy = Net(lazy=True)
    opt = dist.DistributedOptimizer(optimizers.SGD(lr=0.1), comm).setup(lazy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            loss = F.sum(lazy(x))
            lazy.cleargrads()
            loss.backward()
            opt.update()
    result["lazy_warnings"] = len(caught)
    result["hash_lazy"] = weights_hash(lazy)

    # Shards: disjoint and covering (padded), per epoch.
    shard = dist.scatter_dataset(list(range(10)), comm, seed=3)
    owned = []
    for epoch in range(2):
        shard.set_epoch(epoch)
        owned.append([shard[i] for i in range(len(shard))])
    result["shards"] = owned

    # Collectives and metrics.
    result["allreduce_mean"] = comm.allreduce(float(comm.rank))
    result["allreduce_sum_array"] = comm.allreduce(np.arange(3) + comm.rank, op="sum").tolist()
    result["allgather"] = comm.allgather(comm.rank * 10)
    result["metrics"] = dist.average_metrics({"loss": comm.rank, "acc": 1.0}, comm,
                                             weight=comm.rank + 1)
    result["bcast_object"] = comm.bcast_object({"epoch": 5} if comm.is_root else None)

    # Rank-0 save, broadcast load (into a lazy model on the other ranks).
    path = os.path.join(out, "weights.npz")
    dist.save_weights(model, path, comm)
    fresh = Net(lazy=not comm.is_root)
    dist.load_weights(fresh, path, comm)
    result["loaded_equal"] = weights_hash(fresh) == weights_hash(model)
    comm.barrier()
    write(out, "train", comm.rank, result)


def scenario_errors(comm, out):
    """Every disagreement must raise the same clear error on every rank, no hang."""
    result = {}

    def capture(name, fn):
        try:
            fn()
            result[name] = None
        except (ValueError, RuntimeError, OSError) as e:
            result[name] = f"{type(e).__name__}: {e}"

    hidden = 8 if comm.rank == 0 else 9
    model = Net(hidden=hidden)
    capture("shapes", lambda: dist.DistributedOptimizer(optimizers.SGD(), comm).setup(model))
    capture("uneven", lambda: dist.scatter_dataset(list(range(10 + comm.rank)), comm))
    capture("tiny", lambda: dist.scatter_dataset([1], comm))
    capture("seed", lambda: dist.scatter_dataset(list(range(10)), comm, seed=comm.rank))
    capture("allgather", lambda: comm.allgather(np.zeros(2 + comm.rank)))
    capture("load_missing", lambda: dist.load_weights(Net(), os.path.join(out, "nope"), comm))
    comm.barrier()
    write(out, "errors", comm.rank, result)


def scenario_gpu(comm, out):
    """CuPy collectives and training (NCCL with one GPU per rank, else through the host)."""
    import cupy

    cupy.cuda.Device(comm.local_rank % cupy.cuda.runtime.getDeviceCount()).use()
    total = comm.allreduce(cupy.arange(4, dtype=cupy.float32) + comm.rank, op="sum")
    np.random.seed(comm.rank)
    model = Net().to_gpu()
    opt = dist.DistributedOptimizer(optimizers.MomentumSGD(0.1), comm).setup(model)
    rng = np.random.default_rng(comm.rank)
    for _ in range(3):
        x = cupy.asarray(rng.standard_normal((5, 4)))
        t = cupy.asarray(rng.integers(0, 3, 5))
        loss = F.softmax_cross_entropy(model(x), t)
        model.cleargrads()
        loss.backward()
        opt.update()
    write(out, "gpu", comm.rank, {"sum": cupy.asnumpy(total).tolist(),
                                  "dtype": str(total.dtype), "hash": weights_hash(model),
                                  "nccl": bool(comm._nccl)})


def scenario_fail(comm, out):
    """Rank 1 raises while the others wait in a collective: the job must end."""
    if comm.rank == 1:
        raise ZeroDivisionError("rank 1 fails on purpose")
    comm.allreduce(np.ones(3))
    comm.barrier()


def write(out, name, rank, result):
    with open(os.path.join(out, f"{name}.{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    scenario, out = sys.argv[1], sys.argv[2]
    comm = dist.init()
    assert dist.under_mpi_launcher() == (comm.size > 1)
    assert "dezero" in sys.modules and dezero.Variable is not None
    scenarios = {"train": scenario_train, "errors": scenario_errors, "fail": scenario_fail,
                 "gpu": scenario_gpu}
    scenarios[scenario](comm, out)
