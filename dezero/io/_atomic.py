"""Atomic file writes: a temporary file in the same folder, fsync, then ``os.replace``."""
from __future__ import annotations

import os
import re
import secrets
import stat
from typing import IO, Callable

from dezero import _cache


def atomic_write(path: str, write: Callable[[IO[bytes]], object], *, op: str = "save") -> None:
    """Create or replace ``path`` so that readers see the old file or the complete new one.

    ``write(fileobj)`` writes the content to a binary, seekable file object. The content
    goes to a hidden temporary file next to ``path`` (same file system, so the rename is
    atomic); it is flushed and fsync'ed before ``os.replace`` puts it in place, and the
    folder is fsync'ed afterwards so the rename itself survives a crash. If anything fails,
    the temporary file is removed and ``path`` is left as it was.

    Replacing an existing regular file keeps its permission bits, and its owner and group
    where the process may set them, as an in-place write would (a ``0600`` checkpoint stays
    ``0600``). A process killed mid-write (SIGKILL, power loss) can leave a
    ``.<name>.<hex>.tmp`` file behind, never a torn ``path``; such leftovers (those no live
    process holds) are removed at the next save of the same ``path``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(2, f"{op}: the folder does not exist", folder)
    base = os.path.basename(path)
    _cache.remove_stale_temporaries(folder, re.compile(r"\." + re.escape(base)
                                                       + r"\.[0-9a-f]{12}\.tmp"))
    try:
        old = os.stat(path)
    except OSError:
        old = None
    if old is not None and not stat.S_ISREG(old.st_mode):
        old = None
    tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never follow or reuse somebody else's file; mode 0o666 lets the umask decide,
    # or 0o600 until the old file's mode is copied (never wider than the file it replaces).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666 if old is None else 0o600)
    _cache.lock_temporary(fd)
    try:
        with os.fdopen(fd, "wb") as f:
            if old is not None:
                _copy_owner_and_mode(f.fileno(), tmp, old)
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


def _copy_owner_and_mode(fd: int, tmp: str, old: os.stat_result) -> None:
    """Give the temporary ``old``'s owner/group (where allowed) and permission bits."""
    if hasattr(os, "fchown"):
        for uid, gid in ((old.st_uid, old.st_gid), (-1, old.st_gid)):
            try:
                os.fchown(fd, uid, gid)
                break
            except OSError:  # not root / not a member of the group: keep ours
                continue
    mode = stat.S_IMODE(old.st_mode)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        else:  # pragma: no cover - Windows
            os.chmod(tmp, mode)
    except OSError:
        pass


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
