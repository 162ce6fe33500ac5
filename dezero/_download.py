"""Downloads into the dezero cache: verified, atomic, with a timeout and a progress bar.

``dezero.utils.get_file`` is the public entry point; this module holds the machinery so that
``dezero.utils`` stays small. Guarantees (API.md, D12):

- the file lands in ``dezero.utils.cache_dir`` (``$DEZERO_HOME`` or ``~/.dezero``);
- it is streamed into ``<name>.part-<random>`` next to its final place, its length is checked
  against ``Content-Length`` and its SHA-256 against the known digest, and only then is it
  renamed (``os.replace``), so a failed, truncated or tampered download never enters the cache;
- network failures raise :class:`~dezero.errors.DatasetDownloadError` naming the URL and the
  path where the file may be placed by hand; a wrong digest raises
  :class:`~dezero.errors.DatasetIntegrityError` with the URL and both digests.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from dezero.errors import DatasetDownloadError, DatasetIntegrityError

_CHUNK = 1 << 16

# SHA-256 digests of the files dezero downloads, keyed by URL. A digest is listed only when it
# has been established from the file itself; an unknown digest is None and the file is then
# checked for completeness (Content-Length) only. ``get_file(..., sha256=...)`` overrides.
KNOWN_SHA256: dict[str, str | None] = {
    "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz": None,
    "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz": None,
    "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz": None,
    "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz": None,
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz": None,
    "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz": None,
}


def cache_path(file_name: str) -> str:
    """Where ``file_name`` lives in the current cache folder."""
    from dezero import utils

    return os.path.join(utils.cache_dir, file_name)


def default_file_name(url: str) -> str:
    """The last path segment of ``url`` (query and fragment ignored)."""
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])


def check_file_name(file_name: str) -> str:
    """Return ``file_name`` if it is a plain file name, else raise ValueError."""
    if not isinstance(file_name, str):
        raise TypeError(f"get_file: file_name must be a str, got {type(file_name).__name__}")
    bad = (not file_name or file_name in (".", "..") or file_name.startswith("..")
           or "/" in file_name or "\\" in file_name or "\0" in file_name
           or (os.altsep is not None and os.altsep in file_name))
    if bad:
        raise ValueError(f"get_file: file_name must be a plain file name without '/' or '..', "
                         f"got {file_name!r}")
    return file_name


def sha256_of(path: str) -> str:
    """Hex SHA-256 of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _normalise_digest(sha256):
    if sha256 is None:
        return None
    digest = str(sha256).strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"get_file: sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return digest


def get_file(url: str, file_name: str | None = None, *, sha256: str | None = None,
             timeout: float = 30) -> str:
    """Return the cached path of ``url``, downloading it first if needed.

    Parameters
    ----------
    url : str
        ``http://``, ``https://`` or ``file://`` URL.
    file_name : str, optional
        Name in the cache folder; defaults to the URL's last segment. Must be a plain name.
    sha256 : str, optional
        Expected hex digest; defaults to the digest dezero knows for ``url``, if any.
    timeout : float
        Seconds allowed for connecting and for each read.

    Raises
    ------
    ValueError
        ``file_name`` is not a plain name, or ``sha256`` is malformed.
    DatasetDownloadError
        The host is unreachable, refuses, times out, answers an HTTP error, or the transfer
        ends early.
    DatasetIntegrityError
        The file (downloaded or already cached) does not have the expected digest.
    """
    if file_name is None:
        file_name = default_file_name(url)
    check_file_name(file_name)
    digest = _normalise_digest(sha256 if sha256 is not None else KNOWN_SHA256.get(url))
    path = cache_path(file_name)

    if os.path.exists(path):
        if digest is not None:
            found = sha256_of(path)
            if found != digest:
                raise DatasetIntegrityError(
                    f"cached file {path} (from {url}) has SHA-256 {found}, expected {digest}; "
                    f"delete it so that it is downloaded again")
        return path

    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise DatasetDownloadError(f"cannot create the cache folder {folder}: {e}") from e

    fd, tmp = tempfile.mkstemp(prefix=file_name + ".part-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            found = _fetch(url, out, file_name, path, timeout)
        if digest is not None and found != digest:
            raise DatasetIntegrityError(
                f"download of {url} has SHA-256 {found}, expected {digest}; the file was "
                f"discarded (a tampered or changed file). Nothing was written to {path}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _fail(url, path, reason):
    return DatasetDownloadError(
        f"could not download {url}: {reason}. If this machine is offline, fetch the file "
        f"elsewhere and place it by hand at {path}")


def _fetch(url, out, file_name, path, timeout):
    """Stream ``url`` into the open file ``out``; return the hex SHA-256 of what was written."""
    request = urllib.request.Request(url, headers={"User-Agent": "dezero"})
    h = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            print(f"Downloading: {file_name}", file=sys.stderr)
            with _Progress(total) as progress:
                while True:
                    block = response.read(_CHUNK)
                    if not block:
                        break
                    out.write(block)
                    h.update(block)
                    received += len(block)
                    progress.update(len(block))
    except urllib.error.HTTPError as e:
        raise _fail(url, path, f"HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise _fail(url, path, e.reason) from e
    except (socket.timeout, TimeoutError) as e:
        raise _fail(url, path, f"timed out after {timeout} s") from e
    except (http.client.HTTPException, OSError) as e:
        # IncompleteRead when the server closes early, ConnectionResetError, ...
        raise _fail(url, path, f"{type(e).__name__}: {e}") from e
    if total is not None and received != total:
        raise _fail(url, path, f"truncated transfer: received {received} of {total} bytes")
    return h.hexdigest()


class _Progress:
    """tqdm byte counter when tqdm is installed, else ``utils.show_progress``'s text bar."""

    def __init__(self, total):
        self.total = total
        self.done = 0
        self.blocks = 0
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                            file=sys.stderr, leave=False)

    def __enter__(self):
        return self

    def update(self, n):
        self.done += n
        self.blocks += 1
        if self.bar is not None:
            self.bar.update(n)
        else:
            from dezero import utils

            # show_progress takes urlretrieve's (block_num, block_size, total_size)
            utils.show_progress(1, self.done, self.total or self.done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        elif self.blocks:
            print()
        return False
