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
