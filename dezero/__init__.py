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
import dezero.utils  # noqa: E402,F401
import dezero.cuda  # noqa: E402,F401

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
    "WeightFileError",
    "DatasetDownloadError",
    "DatasetIntegrityError",
]
