"""Fixtures for the data tests: a private cache folder and a local HTTP server on 127.0.0.1.

No test here touches the network: files are generated in the test and served locally.
"""
import http.server
import socket
import threading

import pytest

from dezero import utils


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, used as ``dezero.utils.cache_dir`` for the test."""
    folder = tmp_path / "cache"
    monkeypatch.setattr(utils, "cache_dir", str(folder))
    return folder


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if self.path in server.truncated:
            # Promise more than is sent, then close: a transfer cut short.
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output quiet
        pass


class LocalServer:
    """``files`` maps a path ("/a.gz") to bytes; ``requests`` lists the paths asked for."""

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.files = {}
        self.httpd.requests = []
        self.httpd.truncated = set()
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    @property
    def files(self):
        return self.httpd.files

    @property
    def requests(self):
        return self.httpd.requests

    def truncate(self, path):
        self.httpd.truncated.add(path)

    def url(self, path=""):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"


@pytest.fixture
def server():
    srv = LocalServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 with nothing listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return port
