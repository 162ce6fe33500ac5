"""The one wording of "how to install the optional package this needs".

dezero is installed from a checkout (``pip install -e .``); the project is not on a package
index, so a hint that installs the distribution by name (``dezero-framework[data]``) would
send a reader to a name that resolves nowhere. Every hint names the extra as it is installed
from a checkout and, when a single PyPI package is enough, that package.
"""
from __future__ import annotations

__all__ = ["install_hint"]

# The extras declared in pyproject.toml; a hint for another name is a bug in the caller.
EXTRAS = frozenset({
    "viz", "data", "safetensors", "gpu", "gpu-cuda12", "gpu-cuda13", "onnx", "mpi",
    "tensorboard", "oracle", "bench", "test", "docs", "typecheck", "release", "dev",
})


def install_hint(extra: str, package: str | None = None) -> str:
    """Return the install instruction for an optional dependency.

    Parameters
    ----------
    extra : str
        The extra of pyproject.toml that brings the dependency (``"data"``, ``"viz"``, ...).
    package : str, optional
        The PyPI package that alone is enough (``"tqdm"``, ``"cupy-cuda12x"``); when given the
        hint offers it as an alternative to the extra.

    Returns
    -------
    str
        ``"install it with: pip install -e '.[data]' (from a dezero checkout)"``, followed by
        ``" or pip install <package>"`` when `package` is given.

    Raises
    ------
    ValueError
        If `extra` is not an extra that pyproject.toml declares.

    Examples
    --------
    >>> install_hint("safetensors", "safetensors")
    "install it with: pip install -e '.[safetensors]' (from a dezero checkout) or pip install safetensors"
    """  # noqa: E501
    if extra not in EXTRAS:
        raise ValueError(f"install_hint: unknown extra {extra!r}; known: {sorted(EXTRAS)}")
    hint = f"install it with: pip install -e '.[{extra}]' (from a dezero checkout)"
    if package:
        hint += f" or pip install {package}"
    return hint
