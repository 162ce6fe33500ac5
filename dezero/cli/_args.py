"""The argument parser of ``dezero``: subcommands, flags, defaults and value checks."""
from __future__ import annotations

import argparse

import dezero
from dezero._threads import DEFAULT_THREADS
from dezero.cli.argtypes import (
    fraction,
    nonnegative_float,
    positive_float,
    positive_int,
    seed_int,
    sizes,
)

BUILTIN_DATASETS = ("digits", "mnist", "fashion-mnist")
MODELS = ("mlp", "cnn")
OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("none", "cosine", "step")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adam": 0.001}
DEFAULT_EPOCHS = {"mlp": 20, "cnn": 12}

# Defaults of `dezero train`. The parser's own defaults are None, so that a resumed run can
# tell a flag given on the command line from one left at its default.
TRAIN_DEFAULTS = {
    "dataset": "digits",
    "model": "mlp",
    "hidden": [100],
    "epochs": None,  # per model: DEFAULT_EPOCHS
    "batch_size": 32,
    "optimizer": "adam",
    "lr": None,  # per optimizer: DEFAULT_LR
    "weight_decay": 0.0,
    "lr_schedule": "none",
    "lr_step": None,  # a third of the epochs
    "lr_gamma": 0.1,
    "val_split": None,  # 0.1 with --save-best or --early-stop, else 0
    "test_split": 0.2,
    "label_column": "label",
    "seed": 0,
    "early_stop": None,
    "threads": DEFAULT_THREADS,
    "nprocs": 1,
}

# What defines the run: a resumed run takes these from its checkpoint, and refuses a
# different value given on the command line.
FIXED_ON_RESUME = ("dataset", "model", "hidden", "batch_size", "optimizer", "lr",
                   "weight_decay", "lr_schedule", "lr_step", "lr_gamma", "val_split",
                   "test_split", "label_column", "seed")


def _add_train_parser(sub):
    d = TRAIN_DEFAULTS
    p = sub.add_parser(
        "train", help="train a classifier (offline digits by default)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a classifier. Each run gets its own folder, runs/<data>-<model>/"
                    "<time>,\nholding a checkpoint per epoch, weights.npz, metrics.csv, "
                    "metrics.json and training.png.\nRuns offline by default on the 1,797 8x8 "
                    "digits that ship with dezero.",
        epilog="examples:\n"
               "  dezero train                              # MLP on the digits, 20 epochs\n"
               "  dezero train --model cnn --save-best      # keep the best epoch too\n"
               "  dezero train --dataset my_images/         # one sub-folder per class\n"
               "  dezero train --resume auto                # continue the latest run\n"
               "  dezero evaluate runs/digits-mlp/<time>    # test loss, accuracy, confusion\n"
               "  dezero predict runs/digits-mlp/<time> a.png b.npy")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=None, metavar="NAME|PATH",
                   help="digits (offline, shipped with dezero), mnist or fashion-mnist "
                        "(downloaded once into $DEZERO_HOME, default ~/.dezero), or a PATH: "
                        "a folder of images with one sub-folder per class, a .csv file with "
                        "a label column, or an .npz file with arrays x and t "
                        f"(default: {d['dataset']})")
    g.add_argument("--label-column", default=None, metavar="NAME",
                   help=f"the label column of a .csv dataset (default: {d['label_column']})")
    g.add_argument("--test-split", type=fraction, default=None, metavar="F",
                   help="fraction of a PATH dataset held out for testing, drawn with a "
                        "fixed seed (built-in datasets have their own test set) "
                        f"(default: {d['test_split']})")
    g.add_argument("--val-split", type=fraction, default=None, metavar="F",
                   help="fraction of the training set held out for validation "
                        "(default: 0.1 with --save-best or --early-stop, else 0)")
    g = p.add_argument_group("model and optimisation")
    g.add_argument("--model", choices=MODELS, default=None,
                   help=f"MLP or small CNN (default: {d['model']})")
    g.add_argument("--hidden", type=sizes, default=None, metavar="SIZES",
                   help="hidden fully connected layer sizes, e.g. 128,64: the MLP's layers, "
                        "or the CNN's layers after its two conv blocks (default: 100)")
    g.add_argument("--epochs", type=positive_int, default=None, metavar="N",
                   help="passes over the training set; with --resume, the new total "
                        "(default: 20 for mlp, 12 for cnn)")
    g.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                   help=f"(default: {d['batch_size']})")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help=f"(default: {d['optimizer']})")
    g.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default: sgd 0.1, momentum 0.05, adam 0.001)")
    g.add_argument("--lr-schedule", choices=SCHEDULES, default=None,
                   help="cosine: from --lr down to 0 over the epochs; step: times --lr-gamma "
                        f"every --lr-step epochs (default: {d['lr_schedule']})")
    g.add_argument("--lr-step", type=positive_int, default=None, metavar="N",
                   help="epochs between steps of --lr-schedule step "
                        "(default: a third of --epochs)")
    g.add_argument("--lr-gamma", type=positive_float, default=None, metavar="G",
                   help=f"factor of each step of --lr-schedule step (default: {d['lr_gamma']})")
    g.add_argument("--weight-decay", type=nonnegative_float, default=None, metavar="W",
                   help="L2 penalty added to the gradients, grad += W * weight "
                        f"(default: {d['weight_decay']:g})")
    g.add_argument("--seed", type=seed_int, default=None,
                   help="seed of the initial weights, the shuffling and the validation split "
                        f"(default: {d['seed']})")
    g = p.add_argument_group("run folder and checkpoints")
    g.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: a new folder runs/<data>-<model>/<time>); "
                        "a folder that is not empty needs --overwrite")
    g.add_argument("--overwrite", action="store_true",
                   help="allow --out to name a folder that is not empty; dezero's files in it "
                        "are removed first (default: off)")
    g.add_argument("--resume", default=None, metavar="PATH|auto",
                   help="continue a run from its checkpoint: a run folder, a checkpoint file, "
                        "or auto (the latest run of --dataset and --model, or the one in "
                        "--out) (default: off)")
    g.add_argument("--save-best", action="store_true",
                   help="also keep best.npz, the checkpoint of the epoch with the best "
                        "validation accuracy (default: off)")
    g.add_argument("--early-stop", type=positive_int, default=None, metavar="N",
                   help="stop when validation accuracy has not improved for N epochs "
                        "(default: off)")
    g.add_argument("--export-onnx", action="store_true",
                   help="after training, also write model.onnx (needs the onnx extra) "
                        "(default: off)")
    g.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files to <out>/tensorboard (needs "
                        "tensorboardX: the tensorboard extra) (default: off)")
    g.add_argument("--graph", action="store_true",
                   help="also render the model's computational graph to <out>/graph.png "
                        "(needs Graphviz's dot) (default: off)")
    g = p.add_argument_group("hardware")
    g.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="BLAS threads, set through threadpoolctl; one thread is fastest for "
                        "these small models on the machines measured (docs/cli.md) "
                        f"(default: {d['threads']})")
    g.add_argument("--nprocs", type=positive_int, default=None, metavar="N",
                   help="data-parallel training in N processes through MPI (needs the mpi "
                        f"extra) (default: {d['nprocs']})")
    g.add_argument("--gpu", action="store_true",
                   help="train on the GPU (needs CuPy and CUDA) (default: off)")
    g.add_argument("--quiet", action="store_true", help="no progress bar (default: off)")
    return p


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``dezero`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="dezero", description="dezero: a define-by-run deep-learning framework.")
    parser.add_argument("--version", action="version", version=f"dezero {dezero.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train_parser(sub)

    p = sub.add_parser("evaluate", help="test loss, accuracy and confusion matrix of a run",
                       description="Evaluate a trained run on its test set (or on --dataset): "
                                   "loss, accuracy and the confusion matrix, printed and "
                                   "saved as <run>/confusion.png.")
    p.add_argument("run", metavar="RUN", help="a run folder or a checkpoint file")
    p.add_argument("--checkpoint", choices=("auto", "best", "last"), default="auto",
                   help="which checkpoint of the run folder: best.npz, checkpoint.npz, or "
                        "auto: best.npz when it exists (default: auto)")
    p.add_argument("--dataset", default=None, metavar="NAME|PATH",
                   help="evaluate on all of this dataset instead (a built-in name: its test "
                        "set) (default: the run's test set)")
    p.add_argument("--batch-size", type=positive_int, default=256, metavar="N",
                   help="(default: 256)")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help=f"BLAS threads (default: {DEFAULT_THREADS})")

    p = sub.add_parser("predict", help="classify images, .npy or .csv rows with a trained run",
                       description="Print the top-k classes, with probabilities, of each "
                                   "image (PNG, JPEG, ... through Pillow), each row of a .npy "
                                   "array or each row of a .csv file. Images are converted to "
                                   "the run's size and colours; arrays and rows hold raw "
                                   "values on the training data's scale.")
    p.add_argument("run", metavar="RUN", help="a run folder or a checkpoint file")
    p.add_argument("files", nargs="+", metavar="FILE", help="images, .npy or .csv files")
    p.add_argument("--top-k", type=positive_int, default=3, metavar="K",
                   help="classes printed per input (default: 3)")
    p.add_argument("--invert", action="store_true",
                   help="invert images (dark ink on light paper -> the digits' light ink on "
                        "dark) (default: off)")
    p.add_argument("--checkpoint", choices=("auto", "best", "last"), default="auto",
                   help="as for evaluate (default: auto)")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help=f"BLAS threads (default: {DEFAULT_THREADS})")
    return parser
