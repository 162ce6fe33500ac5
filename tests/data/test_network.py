"""Real downloads, opt-in only: ``DEZERO_NETWORK_TESTS=1 pytest -m network tests/data``.

The default suite never touches the network (the other data tests use a local server). These
tests check that the dataset URLs still answer and print each file's SHA-256, which is how a
digest for ``dezero._download.KNOWN_SHA256`` is established.
"""
import os

import pytest

from dezero import _download, utils

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(os.environ.get("DEZERO_NETWORK_TESTS") != "1",
                       reason="real downloads are opt-in: set DEZERO_NETWORK_TESTS=1"),
]


@pytest.mark.parametrize("url", sorted(_download.KNOWN_SHA256))
def test_known_urls_download(url, tmp_path, monkeypatch):
    monkeypatch.setattr(utils, "cache_dir", str(tmp_path))
    path = utils.get_file(url, timeout=60)
    digest = _download.sha256_of(path)
    print(f"{url} {digest}")
    known = _download.KNOWN_SHA256[url]
    assert known is None or known == digest
