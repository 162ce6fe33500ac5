"""Atomic file writes: a temporary file in the same folder, fsync, then ``os.replace``."""
from __future__ import annotations

import os
import secrets


def atomic_write(path: str, write, *, op: str = "save") -> None:
    """Create or replace ``path`` so that readers see the old file or the complete new one.

    ``write(fileobj)`` writes the content to a binary, seekable file object. The content
    goes to a hidden temporary file next to ``path`` (same file system, so the rename is
    atomic); it is flushed and fsync'ed before ``os.replace`` puts it in place, and the
    folder is fsync'ed afterwards so the rename itself survives a crash. If anything fails,
    the temporary file is removed and ``path`` is left as it was.

    A process killed mid-write (SIGKILL, power loss) can leave a ``.<name>.<hex>.tmp``
    file behind, never a torn ``path``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(2, f"{op}: the folder does not exist", folder)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never follow or reuse somebody else's file; mode 0o666 lets the umask decide.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    if os.name != "posix":  # Windows cannot open a folder; its rename is durable enough
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
