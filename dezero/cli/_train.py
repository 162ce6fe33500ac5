"""``dezero train``: the training loop, checkpoints, resume, interruption and divergence."""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import threading
import time

import numpy as np

import dezero
from dezero import cuda
from dezero.cli import _data, _runs
from dezero.cli._args import (
    BUILTIN_DATASETS,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    FIXED_ON_RESUME,
    TRAIN_DEFAULTS,
)
from dezero.cli._models import as_model_input, build_model, describe, make_arch, named_params
from dezero.cli._output import CLIError, Console, plural, seconds

# Arguments that are not part of the run's record.
_NOT_RECORDED = ("command", "func", "resume", "overwrite", "argv")


class Diverged(Exception):
    """The loss became NaN or infinite."""

    def __init__(self, epoch, batch, value, lr):
        super().__init__(epoch, batch, value, lr)
        self.epoch, self.batch, self.value, self.lr = epoch, batch, value, lr


# -----------------------------------------------------------------------------
# Arguments
# -----------------------------------------------------------------------------


def _default_root(dataset, model):
    return os.path.join("runs", f"{_data.dataset_name(dataset)}-{model}")


def resolve(args):
    """Fill defaults in ``args`` (or the checkpoint's values when resuming).

    Returns the loaded checkpoint, or None for a new run.
    """
    ckpt = None
    if args.resume is not None:
        if args.resume == "auto":
            if args.out is not None:
                path = _runs.find_checkpoint(args.out, "last")
            else:
                path = _runs.latest_run(_default_root(args.dataset or TRAIN_DEFAULTS["dataset"],
                                                      args.model or TRAIN_DEFAULTS["model"]))
        else:
            path = _runs.find_checkpoint(args.resume, "last")
        ckpt = _runs.Checkpoint(path)
        saved = ckpt.meta["args"]
        for key in FIXED_ON_RESUME:
            given = getattr(args, key)
            if key == "dataset" and given is not None and given not in BUILTIN_DATASETS:
                given = os.path.abspath(given)
            if given is not None and given != saved[key]:
                flag = "--" + key.replace("_", "-")
                raise CLIError(f"--resume: {flag} {_show(given)} differs from the run's "
                               f"{_show(saved[key])}; a resumed run keeps its settings "
                               "(start a new run instead)")
            setattr(args, key, saved[key])
        for key in ("epochs", "early_stop", "threads"):
            if getattr(args, key) is None:
                setattr(args, key, saved.get(key))
        for key in ("save_best", "tensorboard", "export_onnx", "graph"):
            setattr(args, key, bool(getattr(args, key) or saved.get(key)))
        if args.out is None:
            args.out = os.path.dirname(os.path.abspath(path))
            args.resume_in_place = True
        else:
            args.resume_in_place = (os.path.abspath(args.out)
                                    == os.path.dirname(os.path.abspath(path)))
    for key, value in TRAIN_DEFAULTS.items():
        if getattr(args, key, None) is None:
            setattr(args, key, list(value) if isinstance(value, list) else value)
    if args.dataset not in BUILTIN_DATASETS:
        # Recorded absolute, so that evaluate and resume find it from any folder.
        args.dataset = os.path.abspath(args.dataset)
    if args.epochs is None:
        args.epochs = DEFAULT_EPOCHS[args.model]
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    if args.val_split is None:
        args.val_split = 0.1 if (args.save_best or args.early_stop) else 0.0
    if args.lr_step is None:
        args.lr_step = max(1, args.epochs // 3)
    if (args.save_best or args.early_stop) and args.val_split == 0:
        raise CLIError("--save-best and --early-stop choose epochs by validation accuracy; "
                       "give --val-split a fraction > 0 (e.g. 0.1)")
    return ckpt


def _show(value):
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def recorded_args(args) -> dict:
    return {k: v for k, v in vars(args).items()
            if k not in _NOT_RECORDED and not k.startswith("_") and k != "resume_in_place"}


def learning_rate(args, epoch: int) -> float:
    """The learning rate of ``epoch`` (1-based) under ``--lr-schedule``."""
    if args.lr_schedule == "cosine":
        return args.lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / args.epochs))
    if args.lr_schedule == "step":
        return args.lr * args.lr_gamma ** ((epoch - 1) // args.lr_step)
    return args.lr


def build_optimizer(name: str, lr: float):
    from dezero import optimizers

    if name == "sgd":
        return optimizers.SGD(lr=lr)
    if name == "momentum":
        return optimizers.MomentumSGD(lr=lr)
    return optimizers.Adam(alpha=lr)


def set_lr(optimizer, lr: float) -> None:
    from dezero import optimizers

    if isinstance(optimizer, optimizers.Adam):
        optimizer.alpha = lr
    else:
        optimizer.lr = lr


def set_threads(n, console, explicit: bool) -> None:
    try:
        dezero.set_num_threads(n)
    except ImportError:
        if explicit:
            from dezero._install_hint import install_hint

            console.note(f"note: --threads needs threadpoolctl, which is not installed; "
                         f"{install_hint('viz', 'threadpoolctl')}")


# -----------------------------------------------------------------------------
# Batches
# -----------------------------------------------------------------------------


def _to_device(array, gpu):
    return cuda.require_gpu("--gpu").asarray(array) if gpu else array


def evaluate(model, x, t, arch, batch_size: int, gpu: bool = False):
    """``(mean loss, accuracy, predicted classes)`` of ``model`` on raw inputs ``x``."""
    import dezero.functions as F

    total = 0.0
    preds = []
    with dezero.test_mode(), dezero.no_grad():
        for i in range(0, len(x), batch_size):
            xb = _to_device(as_model_input(_data.normalise(x[i:i + batch_size], arch["scale"]),
                                           arch), gpu)
            tb = _to_device(t[i:i + batch_size], gpu)
            y = model(xb)
            total += float(F.softmax_cross_entropy(y, tb).data) * len(tb)
            preds.append(cuda.as_numpy(y.data.argmax(axis=1)))
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    n = max(len(x), 1)
    return total / n, float((pred == t).sum()) / n, pred


@contextlib.contextmanager
def _sigint_deferred():
    """Hold Ctrl-C while a checkpoint and its companions are written; raise it afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *a: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


class _ArrayDataset:
    """``(x[i], t[i])`` pairs, for ``dezero.distributed.scatter_dataset``."""

    def __init__(self, x, t):
        self.x, self.t = x, t

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.t[i]


# -----------------------------------------------------------------------------
# The command
# -----------------------------------------------------------------------------


def _launch_distributed(args):
    """``--nprocs N`` outside an MPI launcher: start N copies under mpiexec."""
    try:
        from dezero import distributed
    except ImportError as e:
        raise CLIError(f"--nprocs needs dezero.distributed, which is not available ({e})") \
            from None
    if distributed.under_mpi_launcher():
        return None
    argv = list(args.argv)
    cleaned = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nprocs":
            skip = True
            continue
        if a.startswith("--nprocs="):
            continue
        cleaned.append(a)
    try:
        return distributed.launch(args.nprocs, cleaned)
    except (ImportError, RuntimeError, FileNotFoundError) as e:
        raise CLIError(f"--nprocs {args.nprocs}: {e}") from None


def _init_distributed():
    """``(communicator, dezero.distributed)`` under an MPI launcher with N > 1, else Nones."""
    try:
        from dezero import distributed
    except ImportError as e:
        if any(os.environ.get(v, "1").strip() not in ("", "0", "1")
               for v in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")):
            raise CLIError(f"running under mpiexec needs dezero.distributed ({e})") from None
        return None, None
    if not distributed.under_mpi_launcher():
        return None, None
    try:
        return distributed.init(), distributed
    except (ImportError, RuntimeError) as e:
        raise CLIError(str(e)) from None


def _check_optional(args):
    """Everything that could fail after training is checked before it starts."""
    from dezero._install_hint import install_hint

    if args.graph and shutil.which("dot") is None:
        raise CLIError("--graph needs Graphviz's 'dot' program: install Graphviz "
                       "(apt-get install graphviz, brew install graphviz) or drop --graph")
    if args.gpu:
        try:
            cuda.require_gpu("--gpu")
        except RuntimeError as e:
            raise CLIError(str(e)) from None
    if args.tensorboard:
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            raise CLIError("--tensorboard needs tensorboardX; "
                           f"{install_hint('tensorboard', 'tensorboardX')}") from None
    if args.export_onnx:
        import importlib.util

        try:
            has_exporter = importlib.util.find_spec("dezero.onnx") is not None
        except ImportError:
            has_exporter = False
        if not has_exporter:
            raise CLIError("--export-onnx: this dezero has no ONNX exporter (dezero.onnx)")
        if importlib.util.find_spec("onnx") is None:
            raise CLIError(f"--export-onnx needs the onnx package; "
                           f"{install_hint('onnx', 'onnx')}")


def train(args) -> int:
    """Run ``dezero train``; returns the exit status."""
    explicit_threads = args.threads is not None
    if args.nprocs is not None and args.nprocs > 1:
        code = _launch_distributed(args)
        if code is not None:
            return code
    comm, distributed = _init_distributed()
    root_rank = comm is None or comm.rank == 0
    console = Console(enabled=root_rank)

    ckpt = resolve(args)
    args.nprocs = comm.size if comm is not None else 1  # recorded: what this run uses
    _check_optional(args)
    set_threads(args.threads, console, explicit_threads)

    # The output folder is checked (and created) before anything long happens.
    created = False
    if ckpt is not None:
        out = args.out
        if root_rank:
            if args.resume_in_place:
                _runs.check_writable(out)
            else:
                created = _runs.prepare_out(out, args.overwrite)
    elif args.out is not None:
        out = args.out
        if root_rank:
            created = _runs.prepare_out(out, args.overwrite)
    else:
        out = None
        if root_rank:
            out = _runs.new_run_folder(_default_root(args.dataset, args.model))
            created = True
        if comm is not None:
            out = comm.bcast_object(out)
    args.out = out
    try:
        return _train_in(args, ckpt, out, created, comm, distributed, console)
    finally:
        console.close_bar()
        if root_rank and created and not os.path.exists(os.path.join(out, _runs.CHECKPOINT)):
            _remove_empty_run(out)


def _remove_empty_run(out):
    """A run stopped before its first checkpoint leaves no folder behind."""
    for name in _runs.RUN_FILES:
        path = os.path.join(out, name)
        if os.path.isfile(path):
            os.unlink(path)
    for name in _runs.RUN_FOLDERS:
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    try:
        os.rmdir(out)
    except OSError:
        pass


def _train_in(args, ckpt, out, created, comm, distributed, console) -> int:
    start = time.perf_counter()
    root_rank = comm is None or comm.rank == 0
    data = _data.load(args)
    arch = make_arch(args, data)
    if ckpt is not None:
        old = ckpt.meta["arch"]
        for key in ("in_shape", "classes", "model", "hidden"):
            if old[key] != arch[key]:
                raise CLIError(f"--resume: the data or model changed since the run started "
                               f"({key}: {_show(old[key])} then, {_show(arch[key])} now)")
        arch = old
    x, t = data.x, data.t
    x_val = t_val = None
    if args.val_split > 0:
        keep, held = _data.split(len(x), args.val_split, [args.seed, 1], "--val-split")
        x_val, t_val, x, t = x[held], t[held], x[keep], t[keep]

    np.random.seed(args.seed)  # initial weights are drawn from the global RNG
    model = build_model(arch)
    params = named_params(model)
    if args.gpu:
        model.to_gpu()
    base_optimizer = build_optimizer(args.optimizer, args.lr).setup(model)
    if args.weight_decay > 0:
        from dezero.optimizers import WeightDecay

        base_optimizer.add_hook(WeightDecay(args.weight_decay))
    history, best, bad_epochs, start_epoch = [], None, 0, 0
    if ckpt is not None:
        # Every rank reads the file (one machine, one file system); rank 0's weights are
        # then broadcast, so all ranks start from identical parameters in any case.
        ckpt.load_model(params)
        ckpt.load_optimizer(base_optimizer)
        if ckpt.rng is not None:
            np.random.set_state(ckpt.rng)
        history = list(ckpt.meta["history"])
        best = ckpt.meta.get("best")
        bad_epochs = int(ckpt.meta.get("bad_epochs", 0))
        start_epoch = int(ckpt.meta["epoch"])
    optimizer = base_optimizer
    shard = None
    if comm is not None:
        comm.bcast_params(model, root=0)
        optimizer = distributed.DistributedOptimizer(base_optimizer, comm).setup(model)
        shard = distributed.scatter_dataset(_ArrayDataset(x, t), comm, shuffle=True,
                                            seed=args.seed)

    if shard is None:
        steps = math.ceil(len(x) / args.batch_size)
    else:  # the shards are equal, but take the largest in any case: all ranks step together
        steps = max(math.ceil(n / args.batch_size) for n in comm.allgather(len(shard)))
    device = "gpu" if args.gpu else "cpu"
    procs = f", {comm.size} processes" if comm is not None else ""
    val_txt = f" / {len(x_val)} validation" if x_val is not None else ""
    kind = "images" if data.kind == "images" else "rows"
    console.print(f"dataset   {data.name}: {len(x)} train{val_txt} / {len(data.test_x)} test "
                  f"{kind}, {len(arch['classes'])} classes")
    console.print(f"model     {describe(arch)}")
    sched = "" if args.lr_schedule == "none" else f" ({args.lr_schedule} schedule)"
    wd = f", weight decay {args.weight_decay:g}" if args.weight_decay else ""
    console.print(f"training  {plural(args.epochs, 'epoch')}, batch {args.batch_size}, "
                  f"{args.optimizer} lr={args.lr:g}{sched}{wd}, seed {args.seed}, {device}, "
                  f"{plural(args.threads, 'thread')}{procs}")
    if ckpt is not None:
        console.print(f"resumed   from {ckpt.path} after epoch {start_epoch}")
    console.print(f"run       {out}")
    if start_epoch >= args.epochs:
        console.print(f"nothing to do: the run has {plural(start_epoch, 'epoch')} already; "
                      "give a larger --epochs to continue it")
        return 0

    writer = None
    if args.tensorboard and root_rank:
        from tensorboardX import SummaryWriter

        # tensorboardX names event files by the second and the host: a run resumed within
        # the same second would overwrite the first file, so the name also gets the epoch.
        writer = SummaryWriter(logdir=os.path.join(out, "tensorboard"),
                               purge_step=start_epoch + 1,
                               filename_suffix=f".{os.getpid()}.from-epoch-{start_epoch + 1}")
    console.start_bar((args.epochs - start_epoch) * steps, quiet=args.quiet)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch + 1, args.epochs + 1):
            # Overflow warnings are dropped: a non-finite loss is reported as one clear error.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                row, best, bad_epochs = _one_epoch(args, epoch, model, optimizer,
                                                   base_optimizer, arch, x, t, x_val, t_val,
                                                   data, shard, steps, comm, console, history,
                                                   best, bad_epochs)
            # Ctrl-C waits until the epoch is saved and logged, so that the files agree.
            with _sigint_deferred():
                if root_rank:
                    meta = _meta(args, arch, epoch, history + [row], best, bad_epochs)
                    _runs.save_checkpoint(os.path.join(out, _runs.CHECKPOINT), params,
                                          base_optimizer, meta)
                    if args.save_best and best is not None and best["epoch"] == epoch:
                        _runs.save_checkpoint(os.path.join(out, _runs.BEST), params,
                                              base_optimizer, meta)
                    model.save_weights(os.path.join(out, _runs.WEIGHTS))
                    _runs.write_metrics_csv(os.path.join(out, "metrics.csv"), history + [row])
                    _runs.write_metrics_json(os.path.join(out, "metrics.json"), meta)
                history.append(row)
                console.print(_epoch_line(row, args.epochs))
                if writer is not None:
                    for key, value in row.items():
                        if key != "epoch":
                            writer.add_scalar(key.replace("_", "/", 1), value, epoch)
            if args.early_stop and bad_epochs >= args.early_stop:
                console.close_bar()
                console.print(f"early stop: validation accuracy has not improved for "
                              f"{plural(bad_epochs, 'epoch')} (best {best['val_acc']:.4f} "
                              f"at epoch {best['epoch']})")
                break
    except KeyboardInterrupt:
        console.close_bar()
        done = history[-1]["epoch"] if history else 0
        if root_rank:
            _finish_files(args, out, history, writer, console)
        if done and root_rank:
            console.note(f"interrupted during epoch {done + 1}: epoch {done} is saved in "
                         f"{os.path.join(out, _runs.CHECKPOINT)}")
            console.note(f"continue with: dezero train --resume {out}")
        elif root_rank:
            console.note("interrupted before the first epoch finished: nothing was saved")
        return 130
    except Diverged as e:
        console.close_bar()
        if root_rank:
            _finish_files(args, out, history, writer, console)
        kept = (f"the last good checkpoint (epoch {history[-1]['epoch']}) is "
                f"{os.path.join(out, _runs.CHECKPOINT)}" if history
                else "no epoch finished, nothing was saved")
        raise CLIError(f"the loss became {e.value} at epoch {e.epoch}, batch {e.batch}: "
                       f"training stopped; {kept}. Try a smaller learning rate (it was "
                       f"{e.lr:g})") from None
    console.close_bar()
    if not root_rank:
        return 0
    _finish_files(args, out, history, writer, console)
    console.print(f"weights   {os.path.join(out, _runs.WEIGHTS)}")
    console.print(f"checkpoint {os.path.join(out, _runs.CHECKPOINT)}")
    if args.save_best and best is not None:
        console.print(f"best      {os.path.join(out, _runs.BEST)} (epoch {best['epoch']}, "
                      f"validation accuracy {best['val_acc']:.4f})")
    if args.graph:
        _save_graph(model, data, arch, args.gpu, os.path.join(out, "graph.png"))
        console.print(f"graph     {os.path.join(out, 'graph.png')}")
    if args.export_onnx:
        path = _export_onnx(model, x, arch, args.gpu, out)
        console.print(f"onnx      {path}")
    console.print(f"done in {seconds(time.perf_counter() - start)}")
    console.print(f"test accuracy: {history[-1]['test_acc']:.4f}")
    return 0


def _one_epoch(args, epoch, model, optimizer, base_optimizer, arch, x, t, x_val, t_val,
               data, shard, steps, comm, console, history, best, bad_epochs):
    import dezero.functions as F

    t0 = time.perf_counter()
    lr = learning_rate(args, epoch)
    set_lr(base_optimizer, lr)
    if shard is not None:
        if hasattr(shard, "set_epoch"):
            shard.set_epoch(epoch)
        items = [shard[i] for i in range(len(shard))]
        x = np.stack([item[0] for item in items])
        t = np.array([item[1] for item in items], dtype=np.int64)
        # Every rank takes `steps` full batches (a shorter shard repeats examples), so the
        # gradient all-reduces of all ranks pair up.
        order = np.random.RandomState([args.seed, epoch, comm.rank]).permutation(len(x))
        order = np.resize(order, steps * args.batch_size)
    else:
        order = np.random.RandomState([args.seed, epoch]).permutation(len(x))
    total_loss = total_correct = 0.0
    count = 0
    bs = args.batch_size
    for b in range(steps):
        idx = order[b * bs:(b + 1) * bs]
        xb = _to_device(as_model_input(_data.normalise(x[idx], arch["scale"]), arch), args.gpu)
        tb = _to_device(t[idx], args.gpu)
        y = model(xb)
        loss = F.softmax_cross_entropy(y, tb)
        value = float(loss.data)
        bad = not math.isfinite(value)
        if comm is not None:
            bad = comm.allreduce(float(bad), op="sum") > 0
        if bad:
            raise Diverged(epoch, b + 1, value if not math.isfinite(value) else "nan/inf", lr)
        model.cleargrads()
        loss.backward()
        optimizer.update()
        n = len(idx)
        total_loss += value * n
        total_correct += float(cuda.as_numpy((y.data.argmax(axis=1) == tb).sum()))
        count += n
        if console.bar is not None:
            console.bar.update(1)
            console.bar.set_postfix(loss=f"{total_loss / count:.4f}",
                                    acc=f"{total_correct / count:.4f}", refresh=False)
    train_loss, train_acc = total_loss / max(count, 1), total_correct / max(count, 1)
    if comm is not None:
        from dezero.distributed import average_metrics

        means = average_metrics({"loss": train_loss, "acc": train_acc}, comm)
        train_loss, train_acc = means["loss"], means["acc"]
    row = {"epoch": epoch, "lr": lr, "train_loss": train_loss, "train_acc": train_acc}
    if x_val is not None:
        val_loss, val_acc, _ = evaluate(model, x_val, t_val, arch, 256, args.gpu)
        row.update(val_loss=val_loss, val_acc=val_acc)
        if best is None or val_acc > best["val_acc"]:
            best, bad_epochs = {"epoch": epoch, "val_acc": val_acc}, 0
        else:
            bad_epochs += 1
    test_loss, test_acc, _ = evaluate(model, data.test_x, data.test_t, arch, 256, args.gpu)
    row.update(test_loss=test_loss, test_acc=test_acc,
               seconds=round(time.perf_counter() - t0, 4))
    return row, best, bad_epochs


def _meta(args, arch, epoch, history, best, bad_epochs) -> dict:
    return {"epoch": epoch, "args": recorded_args(args), "arch": arch, "history": history,
            "best": best, "bad_epochs": bad_epochs, "dezero_version": dezero.__version__}


def _epoch_line(row, epochs) -> str:
    val = (f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}  "
           if "val_loss" in row else "")
    return (f"epoch {row['epoch']:{len(str(epochs))}d}/{epochs}  "
            f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  {val}"
            f"test loss {row['test_loss']:.4f} acc {row['test_acc']:.4f}  "
            f"({seconds(row['seconds'])})")


def _finish_files(args, out, history, writer, console):
    """The plot (and its TensorBoard copy) of the epochs done."""
    if not history:
        if writer is not None:
            writer.close()
        return
    try:
        fig = _runs.training_figure(history)
    except ImportError:
        from dezero._install_hint import install_hint

        console.note(f"plot      skipped: matplotlib is not installed; "
                     f"{install_hint('viz', 'matplotlib')}")
        fig = None
    if fig is not None:
        path = os.path.join(out, "training.png")
        _runs.save_figure(fig, path)
        console.print(f"plot      {path}")
    if writer is not None:
        if fig is not None:
            writer.add_figure("training", fig, history[-1]["epoch"], close=False)
        writer.close()
        console.print(f"tensorboard {os.path.join(out, 'tensorboard')} "
                      f"(view with: tensorboard --logdir {os.path.join(out, 'tensorboard')})")


def _save_graph(model, data, arch, gpu, path):
    import dezero.functions as F
    from dezero.utils import plot_dot_graph

    x = _to_device(as_model_input(_data.normalise(data.test_x[:1], arch["scale"]), arch), gpu)
    t = _to_device(data.test_t[:1], gpu)
    loss = F.softmax_cross_entropy(model(dezero.Variable(x, name="x")), t)
    loss.name = "loss"
    try:
        plot_dot_graph(loss, verbose=True, to_file=path)
    except RuntimeError as e:  # dot failed; the weights and plot are already saved
        raise CLIError(str(e)) from None


def _export_onnx(model, x, arch, gpu, out):
    try:
        from dezero import onnx as dezero_onnx
    except ImportError as e:
        raise CLIError(f"--export-onnx: {e}") from None
    if gpu:
        model.to_cpu()
    example = as_model_input(_data.normalise(x[:1], arch["scale"]), arch)
    path = os.path.join(out, "model.onnx")
    try:
        dezero_onnx.export(model, example, path)
    except ImportError as e:
        raise CLIError(f"--export-onnx: {e}") from None
    return path


__all__ = ["train", "resolve", "evaluate", "learning_rate", "BUILTIN_DATASETS"]
