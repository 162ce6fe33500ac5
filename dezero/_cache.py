"""The download cache folder, the text progress bar and stale-temporary cleanup.

This module sits below both ``dezero.utils`` and ``dezero._download`` so that neither has to
import the other for these small pieces (``utils`` re-exports ``cache_dir`` and
``show_progress`` under the book's names).
"""
from __future__ import annotations

import os
import re
import stat
import time

try:  # POSIX: a live writer holds an advisory lock on its temporary file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]



def default_cache_dir() -> str:
    """``$DEZERO_HOME``, else ``~/.dezero``: read at each call, so setting it later counts."""
    return os.environ.get("DEZERO_HOME") or os.path.join(os.path.expanduser("~"), ".dezero")


def __getattr__(name: str) -> str:
    # DEFAULT_CACHE_DIR is computed when read (it was a constant fixed at import).
    if name == "DEFAULT_CACHE_DIR":
        return default_cache_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# Where no lock can be taken (Windows), a temporary untouched for this long is taken as the
# leftover of a killed writer (a live one writes at least every few seconds).
STALE_AFTER_SECONDS = 3600.0


def show_progress(block_num: int, block_size: int, total_size: int) -> None:
    """Text progress bar used when tqdm is not installed (``urlretrieve``'s reporthook)."""
    bar_template = "\r[{}] {:.2f}%"
    downloaded = block_num * block_size
    p = downloaded / total_size * 100 if total_size > 0 else 100.0
    i = int(downloaded / total_size * 30) if total_size > 0 else 30
    if p >= 100.0:
        p = 100.0
    if i >= 30:
        i = 30
    bar = "#" * i + "." * (30 - i)
    print(bar_template.format(bar, p), end="")


def lock_temporary(fd: int) -> None:
    """Mark the open temporary file ``fd`` as in use (released when the process ends)."""
    if fcntl is None:  # pragma: no cover - Windows
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a file system without locks: the age rule below still applies
        pass


def _is_abandoned(path: str) -> bool:
    """True when no live process holds ``path`` (a temporary of a killed writer)."""
    if fcntl is None:  # pragma: no cover - Windows: an open file cannot be removed anyway
        try:
            return time.time() - os.stat(path).st_mtime > STALE_AFTER_SECONDS
        except OSError:
            return False
    try:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer holds it
        except OSError:  # no locks on this file system: fall back on the file's age
            return time.time() - os.fstat(fd).st_mtime > STALE_AFTER_SECONDS
        return True
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str, pattern: re.Pattern) -> list:
    """Remove the files of ``folder`` whose names match ``pattern`` and that no live writer
    holds; return the paths removed. Errors (permissions, races) are ignored."""
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not pattern.fullmatch(name):
            continue
        path = os.path.join(folder, name)
        try:
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            if _is_abandoned(path):
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
    return removed


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words: ``"a FIFO (named pipe)"``, ``"a directory"``..."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"
