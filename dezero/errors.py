"""Exception classes exported from ``dezero``."""


class WeightFileError(ValueError):
    """A weight or optimizer-state file is corrupt, truncated or does not match the model."""

    problems: list[str]  # each mismatch, when the file does not match the model


class DatasetDownloadError(OSError):
    """A dataset file could not be downloaded (offline, unreachable host, timeout)."""


class DatasetIntegrityError(ValueError):
    """A downloaded file does not have the expected SHA-256 digest."""
