"""dezero: a define-by-run deep-learning framework, API-compatible with the book's DeZero."""

__version__ = "0.1.0"

is_simple_core = False

import dezero.cuda  # noqa: E402,F401
import dezero.dataloaders  # noqa: E402,F401
import dezero.datasets  # noqa: E402,F401
import dezero.functions  # noqa: E402,F401
import dezero.layers  # noqa: E402,F401
import dezero.models  # noqa: E402,F401
import dezero.optimizers  # noqa: E402,F401
import dezero.transforms  # noqa: E402,F401
import dezero.utils  # noqa: E402,F401
from dezero._anomaly import AnomalyError, detect_anomaly, set_detect_anomaly  # noqa: E402
from dezero._checkpoint import checkpoint  # noqa: E402
from dezero._dlpack import from_dlpack  # noqa: E402
from dezero._ops._workspace import clear_workspace  # noqa: E402
from dezero._random import manual_seed  # noqa: E402
from dezero._threads import get_num_threads, set_num_threads  # noqa: E402
from dezero.core import (  # noqa: E402
    Config,
    Function,
    Parameter,
    Variable,
    as_array,
    as_variable,
    no_grad,
    setup_variable,
    test_mode,
    using_config,
)
from dezero.dataloaders import DataLoader, SeqDataLoader  # noqa: E402
from dezero.datasets import Dataset  # noqa: E402
from dezero.errors import DatasetDownloadError, DatasetIntegrityError, WeightFileError  # noqa: E402
from dezero.layers import Layer  # noqa: E402
from dezero.models import Model  # noqa: E402

setup_variable()

__all__ = [
    "__version__",
    "is_simple_core",
    "Config",
    "Function",
    "Parameter",
    "Variable",
    "as_array",
    "as_variable",
    "no_grad",
    "setup_variable",
    "test_mode",
    "using_config",
    "Layer",
    "Model",
    "WeightFileError",
    "DatasetDownloadError",
    "DatasetIntegrityError",
    "Dataset",
    "DataLoader",
    "set_num_threads",
    "get_num_threads",
    "SeqDataLoader",
    "from_dlpack",
    "manual_seed",
    "detect_anomaly",
    "AnomalyError",
    "set_detect_anomaly",
    "checkpoint",
    "clear_workspace",
    "func",
]


def __getattr__(name):
    # dezero.func (functional transforms) is imported on first use: ``import dezero``
    # stays as small as the book's.
    if name == "func":
        import importlib

        return importlib.import_module("dezero.func")
    raise AttributeError(f"module 'dezero' has no attribute {name!r}")
