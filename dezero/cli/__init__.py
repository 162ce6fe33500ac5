"""The ``dezero`` command line: train, evaluate and use classifiers without writing code.

* ``dezero train``: train an MLP or a small CNN on the offline digits (shipped with dezero),
  MNIST, Fashion-MNIST or your own data (image folder, ``.csv``, ``.npz``). Every run gets a
  folder with a checkpoint per epoch; ``--resume`` continues one exactly, Ctrl-C keeps the
  last complete epoch.
* ``dezero evaluate RUN``: test loss, accuracy and confusion matrix of a trained run.
* ``dezero predict RUN FILE...``: top-k classes of images, ``.npy`` or ``.csv`` rows.

Also ``python -m dezero``. Run ``dezero <command> --help`` for the options, and see
docs/cli.md.
"""
from __future__ import annotations

import sys

from dezero.cli._args import build_parser
from dezero.cli._output import CLIError
from dezero.errors import DatasetDownloadError, DatasetIntegrityError

__all__ = ["main", "build_parser", "CLIError"]


def _run_train(args):
    from dezero.cli._train import train

    return train(args)


def _run_evaluate(args):
    from dezero.cli._evaluate import evaluate_command

    return evaluate_command(args)


def _run_predict(args):
    from dezero.cli._evaluate import predict_command

    return predict_command(args)


_COMMANDS = {"train": _run_train, "evaluate": _run_evaluate, "predict": _run_predict}


def main(argv=None) -> int:
    """Entry point of the ``dezero`` console script; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    args.argv = argv
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (CLIError, DatasetDownloadError, DatasetIntegrityError, ImportError, OSError) as e:
        try:
            print(f"dezero {args.command}: error: {e}", file=sys.stderr)
        except BrokenPipeError:
            pass
        return 1
