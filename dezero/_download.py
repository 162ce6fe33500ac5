"""Downloads into the dezero cache: verified, atomic, bounded in time, with a progress bar.

``dezero.utils.get_file`` is the public entry point; this module holds the machinery so that
``dezero.utils`` stays small. Guarantees (API.md, D12):

- the file lands in ``dezero.utils.cache_dir`` (``$DEZERO_HOME`` or ``~/.dezero``);
- it is streamed into ``<name>.part-<random>`` next to its final place; its length is checked
  against ``Content-Length`` and against the size dezero knows for the URL, its digest
  (SHA-256, or MD5 where only that is published) against the known digest, and only then is
  it renamed (``os.replace``), so a failed, truncated or tampered download never enters the
  cache; the ``.part`` files of killed downloads are removed at the next download;
- every URL dezero knows is ``https://``, and a redirect from ``https`` to anything else is
  refused;
- besides the per-read ``timeout``, the whole transfer has a deadline scaled by its size, and
  a transfer that delivers less than :data:`STALL_MIN_BYTES` in :data:`STALL_SECONDS` is
  stopped (a server dripping one byte at a time cannot hold a download forever);
- network failures raise :class:`~dezero.errors.DatasetDownloadError` naming the URL and the
  path where the file may be placed by hand; a wrong digest or size raises
  :class:`~dezero.errors.DatasetIntegrityError`.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from dezero import _cache
from dezero._cache import kind_of
from dezero._log import logger
from dezero.errors import DatasetDownloadError, DatasetIntegrityError

_CHUNK = 1 << 16

# Whole-transfer deadline: BASE seconds plus the expected size at MIN_RATE bytes/s (the size
# dezero knows, else Content-Length, else UNKNOWN_SIZE).
DEADLINE_BASE_SECONDS = 120.0
DEADLINE_MIN_RATE = 32 * 1024
DEADLINE_UNKNOWN_SIZE = 1 << 30
# Stall detector: at least STALL_MIN_BYTES must arrive in every window of STALL_SECONDS.
STALL_SECONDS = 60.0
STALL_MIN_BYTES = 64 * 1024

_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
_CIFAR = "https://www.cs.toronto.edu/~kriz/"

# Digests of the files dezero downloads, keyed by URL: 64 hex digits (SHA-256), or
# "md5:<32 hex digits>" where only an MD5 is published. Each was found in two independent
# published manifests (named below) and none was computed here. ``None``: no digest has been
# published twice, so the file is only checked for completeness. ``get_file(sha256=...)``
# overrides.
KNOWN_SHA256: dict[str, str | None] = {
    # MNIST, the PyTorch mirror of Yann LeCun's files (same bytes: torchvision lists the same
    # MD5s for both hosts). SHA-256 and sizes: TensorFlow Datasets
    # url_checksums/mnist.txt (tensorflow/datasets) and Ludwig's datasets/configs/mnist.yaml
    # (ludwig-ai/ludwig), which lists these very ossci-datasets URLs.
    _MNIST + "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    _MNIST + "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    _MNIST + "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    _MNIST + "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    # Fashion-MNIST, from the data folder of its own repository (zalandoresearch/fashion-mnist)
    # over https (its S3 website mirror answers plain http only). SHA-256 and sizes: TensorFlow
    # Datasets url_checksums/fashion_mnist.txt and batchup's fashion_mnist.py
    # (Britefury/batchup); the MD5s of the repository's README match torchvision's list.
    _FASHION + "train-images-idx3-ubyte.gz":
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    _FASHION + "train-labels-idx1-ubyte.gz":
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    _FASHION + "t10k-images-idx3-ubyte.gz":
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    _FASHION + "t10k-labels-idx1-ubyte.gz":
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    # CIFAR binary archives. SHA-256 and sizes: TensorFlow Datasets url_checksums/cifar10.txt
    # and cifar100.txt, and MLDatasets.jl's CIFAR10/CIFAR100 DataDeps (JuliaML/MLDatasets.jl).
    _CIFAR + "cifar-10-binary.tar.gz":
        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    _CIFAR + "cifar-100-binary.tar.gz":
        "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
    # Tiny Shakespeare. SHA-256 and size: TensorFlow Datasets url_checksums/tiny_shakespeare.txt
    # and several independent projects pinning the same file by SHA-256 and 1,115,394 bytes.
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
    "input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    # No published digest found for these (searched: the book's repositories, model zoos):
    # the ImageNet label list is pinned by its gist revision in the URL, and the pretrained
    # weights are checked structurally by load_weights (every key, shape and dtype).
    "https://gist.githubusercontent.com/yrevar/942d3a0ac09ec9e5eb3a/raw/"
    "238f720ff059c1f82f368259d1ca4ffa5dd8f9f5/imagenet1000_clsidx_to_labels.txt": None,
    "https://github.com/koki0702/dezero-models/releases/download/v0.1/vgg16.npz": None,
    "https://github.com/koki0702/dezero-models/releases/download/v0.1/resnet50.npz": None,
    "https://github.com/koki0702/dezero-models/releases/download/v0.1/resnet101.npz": None,
    "https://github.com/koki0702/dezero-models/releases/download/v0.1/resnet152.npz": None,
}

# Sizes in bytes, from the same manifests: a transfer of another length is refused even
# where no digest is known, and the size scales the transfer deadline.
KNOWN_SIZES: dict[str, int] = {
    _MNIST + "train-images-idx3-ubyte.gz": 9_912_422,
    _MNIST + "train-labels-idx1-ubyte.gz": 28_881,
    _MNIST + "t10k-images-idx3-ubyte.gz": 1_648_877,
    _MNIST + "t10k-labels-idx1-ubyte.gz": 4_542,
    _FASHION + "train-images-idx3-ubyte.gz": 26_421_880,
    _FASHION + "train-labels-idx1-ubyte.gz": 29_515,
    _FASHION + "t10k-images-idx3-ubyte.gz": 4_422_102,
    _FASHION + "t10k-labels-idx1-ubyte.gz": 5_148,
    _CIFAR + "cifar-10-binary.tar.gz": 170_052_171,
    _CIFAR + "cifar-100-binary.tar.gz": 168_513_733,
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
    "input.txt": 1_115_394,
}

# Names of this module's temporaries: tempfile.mkstemp(prefix=name + ".part-") adds 8 chars.
_PART_SUFFIX = re.compile(r"\.part-[a-z0-9_]{8}")


def cache_path(file_name: str, cache_dir: str | None = None) -> str:
    """Where ``file_name`` lives in the cache folder ``cache_dir`` (default: ``$DEZERO_HOME``
    or ``~/.dezero``)."""
    return os.path.join(cache_dir or _cache.default_cache_dir(), file_name)


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


def _hash_of(path: str, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def sha256_of(path: str) -> str:
    """Hex SHA-256 of the file at ``path``."""
    return _hash_of(path, "sha256")


def _normalise_digest(digest):
    """``(algorithm, hex)`` of a digest given as 64 hex digits, ``sha256:<hex>`` or
    ``md5:<32 hex>``; None for None."""
    if digest is None:
        return None
    text = str(digest).strip().lower()
    algorithm, sep, value = text.partition(":")
    if not sep:
        algorithm, value = "sha256", text
    width = {"sha256": 64, "md5": 32}.get(algorithm)
    if width is None or len(value) != width or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"get_file: sha256 must be 64 hexadecimal digits (or 'md5:' and 32 "
                         f"hexadecimal digits), got {digest!r}")
    return algorithm, value


def _describe(digest) -> str:
    algorithm, value = digest
    return f"{'SHA-256' if algorithm == 'sha256' else 'MD5'} {value}"


def get_file(url: str, file_name: str | None = None, *, sha256: str | None = None,
             timeout: float = 30, cache_dir: str | None = None) -> str:
    """Return the cached path of ``url``, downloading it first if needed.

    Parameters
    ----------
    url : str
        ``https://``, ``http://`` or ``file://`` URL (dezero's own URLs are all https).
    file_name : str, optional
        Name in the cache folder; defaults to the URL's last segment. Must be a plain name.
    sha256 : str, optional
        Expected digest: 64 hex digits (SHA-256) or ``"md5:<32 hex digits>"``; defaults to
        the digest dezero knows for ``url``, if any.
    timeout : float
        Seconds allowed for connecting and for each read. The whole transfer also has a
        deadline scaled by its size, and a stalled transfer is stopped.
    cache_dir : str, optional
        The cache folder (``dezero.utils.get_file`` passes ``dezero.utils.cache_dir``).

    Raises
    ------
    ValueError
        ``file_name`` is not a plain name, or ``sha256`` is malformed.
    DatasetDownloadError
        The host is unreachable, refuses, times out, stalls, answers an HTTP error,
        redirects from https to http, or the transfer ends early.
    DatasetIntegrityError
        The file (downloaded or already cached) does not have the expected digest or size,
        or the cached name is not a regular file.
    """
    if file_name is None:
        file_name = default_file_name(url)
    check_file_name(file_name)
    digest = _normalise_digest(sha256 if sha256 is not None else KNOWN_SHA256.get(url))
    known_size = KNOWN_SIZES.get(url)
    path = cache_path(file_name, cache_dir)

    if os.path.lexists(path):
        checked = _check_cached(path, url, digest, known_size)
        logger.info("%s: using the cached %s", url, path)
        return checked

    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise DatasetDownloadError(f"cannot create the cache folder {folder}: {e}") from e
    _cache.remove_stale_temporaries(folder, re.compile(re.escape(file_name) + _PART_SUFFIX.pattern))

    fd, tmp = tempfile.mkstemp(prefix=file_name + ".part-", dir=folder)
    _cache.lock_temporary(fd)
    try:
        with os.fdopen(fd, "wb") as out:
            found, received = _fetch(url, out, file_name, path, timeout, digest, known_size)
        if known_size is not None and received != known_size:
            raise DatasetIntegrityError(
                f"download of {url} has {received} bytes, expected {known_size}; the file was "
                f"discarded. Nothing was written to {path}")
        if digest is not None and found != digest[1]:
            raise DatasetIntegrityError(
                f"download of {url} has {_describe((digest[0], found))}, expected "
                f"{_describe(digest)}; the file was discarded (a tampered or changed file). "
                f"Nothing was written to {path}")
        os.replace(tmp, path)
        logger.info("%s: downloaded %d bytes to %s%s", url, received, path,
                    " (SHA-256 verified)" if digest is not None else "")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _check_cached(path, url, digest, known_size):
    try:
        st = os.stat(path)
    except OSError as e:  # a dangling symbolic link
        raise DatasetIntegrityError(f"cached file {path} (for {url}) cannot be read ({e}); "
                                    f"delete it so that it is downloaded again") from e
    if not stat.S_ISREG(st.st_mode):
        raise DatasetIntegrityError(f"cached file {path} (for {url}) is {kind_of(st.st_mode)}, "
                                    f"not a regular file; delete it so that it is downloaded "
                                    f"again")
    if known_size is not None and st.st_size != known_size:
        raise DatasetIntegrityError(f"cached file {path} (from {url}) has {st.st_size} bytes, "
                                    f"expected {known_size}; delete it so that it is downloaded "
                                    f"again")
    if digest is not None:
        found = _hash_of(path, digest[0])
        if found != digest[1]:
            raise DatasetIntegrityError(
                f"cached file {path} (from {url}) has {_describe((digest[0], found))}, expected "
                f"{_describe(digest)}; delete it so that it is downloaded again")
    return path


def _fail(url, path, reason):
    return DatasetDownloadError(
        f"could not download {url}: {reason}. If this machine is offline, fetch the file "
        f"elsewhere and place it by hand at {path}")


class _RefuseDowngrade(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to https (from https) or http(s) (from http)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old = urllib.parse.urlsplit(req.full_url).scheme.lower()
        new = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl)).scheme.lower()
        if (old == "https" and new != "https") or new not in ("http", "https"):
            raise urllib.error.HTTPError(
                req.full_url, code, f"refused redirect from {old}:// to {newurl} (a redirect "
                f"may not leave https)", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener():
    return urllib.request.build_opener(_RefuseDowngrade)


def _fetch(url, out, file_name, path, timeout, digest, known_size):
    """Stream ``url`` into the open file ``out``; return (hex digest, bytes received)."""
    request = urllib.request.Request(url, headers={"User-Agent": "dezero"})
    h = hashlib.new(digest[0] if digest is not None else "sha256")
    received = 0
    try:
        with _opener().open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if known_size is not None and total is not None and total != known_size:
                raise DatasetIntegrityError(
                    f"{url} announces {total} bytes, expected {known_size}; refused before "
                    f"downloading. Nothing was written to {path}")
            expected = known_size if known_size is not None else total
            # An unknown size (or one only the server vouches for) gets at most the deadline
            # of DEADLINE_UNKNOWN_SIZE bytes: a huge Content-Length cannot buy unlimited time.
            budget = known_size if known_size is not None else min(
                DEADLINE_UNKNOWN_SIZE, total if total is not None else DEADLINE_UNKNOWN_SIZE)
            start = time.monotonic()
            deadline = start + DEADLINE_BASE_SECONDS + budget / DEADLINE_MIN_RATE
            window_start, window_bytes = start, 0
            # read1: return what has arrived instead of waiting for a whole chunk, so the
            # clock is looked at while a server drips bytes.
            read = getattr(response, "read1", response.read)
            print(f"Downloading: {file_name}", file=sys.stderr)
            with _Progress(expected) as progress:
                while True:
                    block = read(_CHUNK)
                    now = time.monotonic()
                    if not block:
                        break
                    out.write(block)
                    h.update(block)
                    received += len(block)
                    window_bytes += len(block)
                    progress.update(len(block))
                    limit = known_size if known_size is not None else total
                    if limit is not None and received > limit:
                        raise DatasetIntegrityError(
                            f"download of {url} sends more than the expected {limit} bytes; "
                            f"the file was discarded. Nothing was written to {path}")
                    if now > deadline:
                        raise _fail(url, path, f"the transfer took longer than its deadline of "
                                               f"{deadline - start:.0f} s ({received} bytes "
                                               f"received)")
                    if now - window_start >= STALL_SECONDS:
                        if window_bytes < STALL_MIN_BYTES:
                            raise _fail(url, path, f"the transfer stalled: {window_bytes} bytes "
                                                   f"in the last {now - window_start:.0f} s")
                        window_start, window_bytes = now, 0
    except urllib.error.HTTPError as e:
        raise _fail(url, path, f"HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise _fail(url, path, e.reason) from e
    except (socket.timeout, TimeoutError) as e:
        raise _fail(url, path, f"timed out after {timeout} s") from e
    except (http.client.HTTPException, OSError) as e:
        if isinstance(e, DatasetDownloadError):
            raise
        # IncompleteRead when the server closes early, ConnectionResetError, ...
        raise _fail(url, path, f"{type(e).__name__}: {e}") from e
    if total is not None and received != total:
        raise _fail(url, path, f"truncated transfer: received {received} of {total} bytes")
    return h.hexdigest(), received


class _Progress:
    """tqdm byte counter when tqdm is installed, else ``show_progress``'s text bar."""

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
            # show_progress takes urlretrieve's (block_num, block_size, total_size)
            _cache.show_progress(1, self.done, self.total or self.done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        elif self.blocks:
            print()
        return False
