"""Atomic saves: a save killed at any moment leaves the old file or the complete new one."""
import os
import signal
import time
import warnings

import numpy as np
import pytest

import dezero.io as dio

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")


def _version(base, k):
    """Every array of version k is base + k, so a mix of two versions is detectable."""
    return {key: a + np.float32(k) for key, a in base.items()}


def _which_version(base, loaded, candidates):
    for k in candidates:
        expected = _version(base, k)
        if loaded.keys() == expected.keys() and all(
                np.array_equal(loaded[key], expected[key]) for key in expected):
            return k
    return None


def _saver(path, base, first_k):
    """Child process: save new versions back to back until killed."""
    try:
        k = first_k
        while True:
            dio.save_arrays(path, _version(base, k))
            k += 1
    finally:
        os._exit(0)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_killed_saves_never_tear_the_file(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    rng = np.random.default_rng(0)
    # ~2 MB of incompressible floats: a save takes long enough to be killed mid-write
    base = {f"l{i}/W": rng.standard_normal((256, 256)).astype(np.float32) for i in range(8)}
    path = str(tmp_path / ("ckpt" + suffix))
    dio.save_arrays(path, _version(base, 0))
    t0 = time.perf_counter()
    dio.save_arrays(path, _version(base, 0))
    save_time = time.perf_counter() - t0

    seen = []
    for trial in range(50):
        first_k = 1 + 1000 * trial
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:
            _saver(path, base, first_k)
        time.sleep(float(rng.uniform(0, 3 * save_time)))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        loaded = dio.load_arrays(path)  # never torn: this must not raise
        previous = seen[-1] if seen else 0
        k = _which_version(base, loaded, [previous] + list(range(first_k, first_k + 50)))
        assert k is not None, f"trial {trial}: the file holds no complete version"
        seen.append(k)
    # the kills landed at different moments: some before the first rename, some after
    assert any(k == (seen[i - 1] if i else 0) for i, k in enumerate(seen))
    assert any(k >= 1 for k in seen)
    leftovers = [n for n in os.listdir(tmp_path) if n != os.path.basename(path)]
    assert all(n.startswith("." + os.path.basename(path) + ".") and n.endswith(".tmp")
               for n in leftovers)
