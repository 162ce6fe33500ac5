"""The digits travel inside the wheel: the main command needs no download and no scikit-learn."""
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from _cli_helpers import ROOT


def test_wheel_contains_the_digits(tmp_path):
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if os.path.exists(os.path.join(ROOT, name)):
            shutil.copy(os.path.join(ROOT, name), src / name)
    shutil.copytree(os.path.join(ROOT, "dezero"), src / "dezero",
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                             "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "dezero/_data/digits.npz" in names, "pyproject.toml must list _data/*.npz"
        assert "dezero/cli/__init__.py" in names
        with open(os.path.join(ROOT, "dezero", "_data", "digits.npz"), "rb") as f:
            assert z.read("dezero/_data/digits.npz") == f.read()
