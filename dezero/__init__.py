"""dezero: a define-by-run deep-learning framework, API-compatible with the book's DeZero."""

__version__ = "0.1.0"

is_simple_core = False

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
from dezero.errors import DatasetDownloadError, DatasetIntegrityError, WeightFileError  # noqa: E402

import dezero.functions  # noqa: E402,F401
from dezero.layers import Layer  # noqa: E402
from dezero.models import Model  # noqa: E402
import dezero.layers  # noqa: E402,F401
import dezero.models  # noqa: E402,F401
import dezero.optimizers  # noqa: E402,F401
import dezero.utils  # noqa: E402,F401
import dezero.cuda  # noqa: E402,F401
import dezero.transforms  # noqa: E402,F401
import dezero.datasets  # noqa: E402,F401
import dezero.dataloaders  # noqa: E402,F401
from dezero.datasets import Dataset  # noqa: E402
from dezero.dataloaders import DataLoader, SeqDataLoader  # noqa: E402

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
    "SeqDataLoader",
]
