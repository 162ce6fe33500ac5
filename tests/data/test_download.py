"""get_file: cache, reuse, digest and length checks, atomic writes, offline errors.

Only a local HTTP server on 127.0.0.1 (or file:// URLs) is used.
"""
import hashlib
import os
import socket
import time

import pytest

import dezero
from dezero import _download, utils
from dezero.errors import DatasetDownloadError, DatasetIntegrityError

PAYLOAD = bytes(range(256)) * 1000  # 256 kB: several read chunks


def sha(data):
    return hashlib.sha256(data).hexdigest()


def no_partials(folder):
    return not folder.exists() or not [p for p in os.listdir(folder) if ".part-" in p]


def test_good_download_is_cached_and_reused(cache, server):
    server.files["/data.bin"] = PAYLOAD
    path = utils.get_file(server.url("/data.bin"), sha256=sha(PAYLOAD))
    assert path == os.path.join(str(cache), "data.bin")
    with open(path, "rb") as fh:
        assert fh.read() == PAYLOAD
    assert server.requests == ["/data.bin"]
    # Second call: served from the cache, verified, no request.
    assert utils.get_file(server.url("/data.bin"), sha256=sha(PAYLOAD)) == path
    assert server.requests == ["/data.bin"]
    assert no_partials(cache)


def test_download_without_digest_and_custom_name(cache, server):
    server.files["/x/y.txt"] = b"hello"
    path = utils.get_file(server.url("/x/y.txt"), "renamed.txt")
    assert os.path.basename(path) == "renamed.txt"
    assert open(path, "rb").read() == b"hello"
    assert _download.default_file_name(server.url("/x/y.txt?q=1#frag")) == "y.txt"


def test_tampered_file_is_rejected_and_not_cached(cache, server):
    server.files["/data.bin"] = PAYLOAD[:-1] + b"X"
    url = server.url("/data.bin")
    with pytest.raises(DatasetIntegrityError) as info:
        utils.get_file(url, sha256=sha(PAYLOAD))
    msg = str(info.value)
    assert url in msg and sha(PAYLOAD) in msg and sha(server.files["/data.bin"]) in msg
    assert not (cache / "data.bin").exists()
    assert no_partials(cache)
    # The right file is accepted afterwards.
    server.files["/data.bin"] = PAYLOAD
    assert os.path.exists(utils.get_file(url, sha256=sha(PAYLOAD)))


def test_known_digest_table_is_used(cache, server, monkeypatch):
    url = server.url("/known.bin")
    server.files["/known.bin"] = b"evil"
    monkeypatch.setitem(_download.KNOWN_SHA256, url, sha(b"good"))
    with pytest.raises(DatasetIntegrityError):
        utils.get_file(url)
    assert not (cache / "known.bin").exists()


def test_cached_file_with_wrong_digest_is_reported(cache, server):
    cache.mkdir()
    (cache / "data.bin").write_bytes(b"placed by hand, wrong")
    with pytest.raises(DatasetIntegrityError, match="delete it"):
        utils.get_file(server.url("/data.bin"), sha256=sha(PAYLOAD))
    assert server.requests == []


def test_file_placed_by_hand_is_used_offline(cache, closed_port):
    cache.mkdir()
    (cache / "offline.bin").write_bytes(PAYLOAD)
    url = f"http://127.0.0.1:{closed_port}/offline.bin"
    assert utils.get_file(url, sha256=sha(PAYLOAD)) == str(cache / "offline.bin")


def test_truncated_download_is_rejected_and_not_cached(cache, server):
    server.files["/cut.bin"] = PAYLOAD
    server.truncate("/cut.bin")
    with pytest.raises(DatasetDownloadError) as info:
        utils.get_file(server.url("/cut.bin"), timeout=5)
    assert server.url("/cut.bin") in str(info.value)
    assert not (cache / "cut.bin").exists()
    assert no_partials(cache)


def test_unreachable_host_fails_fast_with_url_and_path(cache, closed_port):
    url = f"http://127.0.0.1:{closed_port}/mnist.gz"
    start = time.monotonic()
    with pytest.raises(DatasetDownloadError) as info:
        utils.get_file(url, timeout=5)
    assert time.monotonic() - start < 10
    msg = str(info.value)
    assert url in msg
    assert str(cache / "mnist.gz") in msg
    assert isinstance(info.value, OSError)
    assert not (cache / "mnist.gz").exists()
    assert no_partials(cache)


def test_silent_server_times_out(cache):
    # A socket that listens but never answers: the connection opens, the read times out.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/slow.bin"
        start = time.monotonic()
        with pytest.raises(DatasetDownloadError, match="timed out"):
            utils.get_file(url, timeout=1)
        assert time.monotonic() - start < 10
    assert no_partials(cache)


def test_http_error_is_a_download_error(cache, server):
    with pytest.raises(DatasetDownloadError, match="HTTP 404"):
        utils.get_file(server.url("/missing.bin"))


def test_file_url(cache, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    path = utils.get_file(src.as_uri(), sha256=sha(PAYLOAD))
    assert open(path, "rb").read() == PAYLOAD
    missing = (tmp_path / "nope.bin").as_uri()
    with pytest.raises(DatasetDownloadError, match="nope.bin"):
        utils.get_file(missing)


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".", "", "a\\b", "..hidden"])
def test_file_name_must_be_plain(cache, name):
    with pytest.raises(ValueError, match="plain file name"):
        utils.get_file("http://127.0.0.1:9/x", name)


def test_malformed_digest_is_a_value_error(cache):
    with pytest.raises(ValueError, match="64 hexadecimal"):
        utils.get_file("http://127.0.0.1:9/x", sha256="abc")


def test_cache_dir_follows_dezero_home(tmp_path):
    import subprocess
    import sys

    env = dict(os.environ, DEZERO_HOME=str(tmp_path / "home"))
    out = subprocess.run([sys.executable, "-c", "import dezero; print(dezero.utils.cache_dir)"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(tmp_path / "home")


def test_progress_fallback_without_tqdm(cache, server, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "tqdm" or name.startswith("tqdm."):
            raise ImportError("no tqdm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    server.files["/p.bin"] = PAYLOAD
    utils.get_file(server.url("/p.bin"))
    captured = capsys.readouterr()
    assert "Downloading: p.bin" in captured.err
    assert "100.00%" in captured.out


def test_exceptions_are_exported():
    assert issubclass(dezero.DatasetDownloadError, OSError)
    assert issubclass(dezero.DatasetIntegrityError, ValueError)


# --- issue 11: https, redirects, deadlines, sizes, md5, stale .part files -----------------

import http.server  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import urllib.request  # noqa: E402

from dezero import datasets  # noqa: E402


class _TrickHandler(http.server.BaseHTTPRequestHandler):
    """Answers by path: /drip (a byte at a time), /nolength (no Content-Length, half the
    file), /redirect-ftp, /big (announces a size)."""

    def do_GET(self):
        srv = self.server
        if self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", str(srv.drip_total))
            self.end_headers()
            try:
                for _ in range(srv.drip_total):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(srv.drip_pause)
            except OSError:  # the client gave up
                pass
        elif self.path == "/nolength":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(PAYLOAD[:len(PAYLOAD) // 2])
            self.close_connection = True
        elif self.path == "/redirect-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/evil.bin")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def tricks():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TrickHandler)
    httpd.daemon_threads = True
    httpd.drip_total, httpd.drip_pause = 400, 0.02
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    httpd.url = lambda path: f"http://{host}:{port}{path}"
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _dataset_urls():
    urls = []
    for cls in (datasets.MNIST, datasets.FashionMNIST):
        urls += [cls.url + name for pair in cls.files.values() for name in pair]
    urls += [datasets.CIFAR10.url, datasets.CIFAR100.url, datasets.Shakespear.url,
             datasets.ImageNet.labels_url]
    from dezero import models

    urls += [models.VGG16.WEIGHTS_PATH] + [models.ResNet.WEIGHTS_PATH.format(n)
                                           for n in models.ResNet.BLOCKS]
    return urls


def test_every_known_url_is_https_and_listed():
    urls = _dataset_urls()
    assert all(url.startswith("https://") for url in urls), urls
    assert set(urls) == set(_download.KNOWN_SHA256)
    for url, digest in _download.KNOWN_SHA256.items():
        assert url.startswith("https://")
        if digest is not None:
            assert _download._normalise_digest(digest) is not None
            assert url in _download.KNOWN_SIZES
    # every data set file (not the label list, not the pretrained weights) has a digest
    for url in urls:
        if "dezero-models" not in url and "gist." not in url:
            assert _download.KNOWN_SHA256[url] is not None, url


def test_fashion_mnist_is_fetched_over_https():
    assert datasets.FashionMNIST.url.startswith("https://")


def test_redirect_from_https_to_http_is_refused():
    handler = _download._RefuseDowngrade()
    req = urllib.request.Request("https://example.org/a.gz")
    with pytest.raises(urllib.error.HTTPError, match="may not leave https"):
        handler.redirect_request(req, None, 302, "Found", {}, "http://example.org/a.gz")
    ok = handler.redirect_request(req, None, 302, "Found", {}, "https://mirror.org/a.gz")
    assert ok.full_url == "https://mirror.org/a.gz"
    plain = urllib.request.Request("http://example.org/a.gz")
    assert handler.redirect_request(plain, None, 301, "Moved", {},
                                    "https://example.org/a.gz").full_url.startswith("https")


def test_redirect_to_another_scheme_is_refused(cache, tricks):
    with pytest.raises(DatasetDownloadError, match="refused redirect"):
        utils.get_file(tricks.url("/redirect-ftp"), timeout=5)
    assert no_partials(cache)


def test_dripping_server_is_stopped_by_the_stall_detector(cache, tricks, monkeypatch):
    # 400 bytes at one per 20 ms: each read succeeds, so the per-read timeout never fires.
    monkeypatch.setattr(_download, "STALL_SECONDS", 0.5)
    monkeypatch.setattr(_download, "STALL_MIN_BYTES", 1000)
    start = time.monotonic()
    with pytest.raises(DatasetDownloadError, match="stalled"):
        utils.get_file(tricks.url("/drip"), timeout=5)
    assert time.monotonic() - start < 5
    assert not (cache / "drip").exists() and no_partials(cache)


def test_whole_transfer_deadline(cache, tricks, monkeypatch):
    monkeypatch.setattr(_download, "DEADLINE_BASE_SECONDS", 0.5)
    monkeypatch.setattr(_download, "DEADLINE_MIN_RATE", 10**9)
    start = time.monotonic()
    with pytest.raises(DatasetDownloadError, match="deadline"):
        utils.get_file(tricks.url("/drip"), timeout=5)
    assert time.monotonic() - start < 5
    assert no_partials(cache)


def test_missing_content_length_cannot_cache_half_a_file(cache, tricks, monkeypatch):
    url = tricks.url("/nolength")
    monkeypatch.setitem(_download.KNOWN_SIZES, url, len(PAYLOAD))
    with pytest.raises(DatasetIntegrityError, match=f"{len(PAYLOAD) // 2} bytes, expected"):
        utils.get_file(url, timeout=5)
    assert not (cache / "nolength").exists() and no_partials(cache)


def test_announced_length_other_than_the_known_size_is_refused_up_front(cache, tricks,
                                                                        monkeypatch):
    url = tricks.url("/big")
    monkeypatch.setitem(_download.KNOWN_SIZES, url, 1000)
    with pytest.raises(DatasetIntegrityError, match="announces 256000 bytes, expected 1000"):
        utils.get_file(url, timeout=5)
    assert not (cache / "big").exists() and no_partials(cache)


def test_cached_file_of_the_wrong_size_is_refused(cache, server, monkeypatch):
    url = server.url("/sized.bin")
    monkeypatch.setitem(_download.KNOWN_SIZES, url, 10)
    cache.mkdir()
    (cache / "sized.bin").write_bytes(b"12345")
    with pytest.raises(DatasetIntegrityError, match="has 5 bytes, expected 10"):
        utils.get_file(url)


def test_md5_digests_are_accepted(cache, server):
    server.files["/m.bin"] = PAYLOAD
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = utils.get_file(server.url("/m.bin"), sha256="md5:" + md5)
    assert open(path, "rb").read() == PAYLOAD
    with pytest.raises(DatasetIntegrityError, match="MD5"):
        utils.get_file(server.url("/m.bin"), sha256="md5:" + "0" * 32)
    with pytest.raises(ValueError, match="md5"):
        utils.get_file(server.url("/m.bin"), sha256="md5:abc")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX)")
def test_cached_fifo_is_refused_without_blocking(cache, server):
    cache.mkdir()
    os.mkfifo(cache / "pipe.bin")
    with pytest.raises(DatasetIntegrityError, match=r"FIFO \(named pipe\)"):
        utils.get_file(server.url("/pipe.bin"), sha256=sha(PAYLOAD))
    with pytest.raises(DatasetIntegrityError, match="FIFO"):
        utils.get_file(server.url("/pipe.bin"))


def test_stale_part_files_are_removed_at_the_next_download(cache, server):
    import fcntl

    cache.mkdir()
    stale = [cache / "d.bin.part-abcd1234", cache / "d.bin.part-zz_99xyq"]
    for p in stale:
        p.write_bytes(b"half")
    live = cache / "d.bin.part-live0000"
    live.write_bytes(b"in progress")
    keep = [cache / "other.bin.part-abcd1234", cache / "d.bin.part-notours-1"]
    for p in keep:
        p.write_bytes(b"k")
    server.files["/d.bin"] = PAYLOAD
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        utils.get_file(server.url("/d.bin"), sha256=sha(PAYLOAD))
    assert not any(p.exists() for p in stale)
    assert live.exists() and all(p.exists() for p in keep)
    assert re.fullmatch(r"d\.bin\.part-[a-z0-9_]{8}", "d.bin.part-abcd1234")


def test_utils_and_download_no_longer_import_each_other():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(_download))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names if node.module == "dezero"}
    assert "utils" not in imported
    assert utils.show_progress is dezero._cache.show_progress
