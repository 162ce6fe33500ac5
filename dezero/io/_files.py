"""Opening a file that must be a regular file, without ever blocking on a FIFO."""
from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from dezero._cache import kind_of
from dezero.errors import WeightFileError


def _not_regular(path, mode: int, op: str, what: str):
    kind = kind_of(mode)
    link = ""
    if os.path.islink(path):
        link = f" (a symbolic link to {os.path.realpath(path)!r})"
    message = f"{op}: {path!r}{link} is {kind}, not a {what}"
    if stat.S_ISDIR(mode):
        return IsADirectoryError(errno.EISDIR, message, path)
    return WeightFileError(message)


def open_regular(path: str | os.PathLike, op: str, what: str = "weight file") -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (links followed).

    The file is opened with ``O_NONBLOCK`` so that a FIFO never blocks the open, and the
    open descriptor is checked with ``fstat`` (no window between check and open).

    Raises
    ------
    FileNotFoundError
        Nothing at ``path`` (or a dangling symbolic link), naming the path.
    IsADirectoryError
        ``path`` is a directory.
    WeightFileError
        ``path`` is a FIFO, a device, a socket: the message says which.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError(
                errno.ENOENT, f"{op}: no such {what} (a symbolic link to the missing "
                f"{os.path.realpath(path)!r})", path) from None
        raise FileNotFoundError(errno.ENOENT, f"{op}: no such {what}", path) from None
    except IsADirectoryError:
        raise IsADirectoryError(errno.EISDIR, f"{op}: {path!r} is a directory, not a {what}",
                                path) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode, op, what)
        if flags & getattr(os, "O_NONBLOCK", 0) and hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
