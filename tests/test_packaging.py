"""What the packaging and the docs claim, checked against the files.

The install hints, the extras of pyproject.toml, the API reference pages and the relative links
of the docs; ``$DEZERO_HOME`` read when used. The wheel itself is built and installed by
``.ci/run`` (a fresh venv, a smoke test from another folder).
"""
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dezero
from dezero._install_hint import EXTRAS, install_hint

ROOT = Path(__file__).resolve().parent.parent
try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None


def _pyproject():
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


# -- install hints ------------------------------------------------------------------------------

def test_install_hint_names_the_extra_for_a_checkout_and_the_package():
    assert install_hint("data") == (
        "install it with: pip install -e '.[data]' (from a dezero checkout)")
    assert install_hint("safetensors", "safetensors").endswith(" or pip install safetensors")


def test_install_hint_refuses_an_extra_that_does_not_exist():
    with pytest.raises(ValueError, match="unknown extra 'datasets'"):
        install_hint("datasets")


def test_every_extra_install_hint_knows_is_declared_in_pyproject():
    extras = set(_pyproject()["project"]["optional-dependencies"])
    assert EXTRAS == extras


def test_no_message_names_the_unpublished_distribution():
    # 'pip install dezero-framework[...]' resolves on no package index.
    offenders = []
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for folder in ("dezero", "examples", "benchmarks", "tools"):
        paths += sorted((ROOT / folder).rglob("*.py"))
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if re.search(r"pip install\s+['\"]?dezero-framework", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


# -- pyproject ----------------------------------------------------------------------------------

def test_license_is_an_spdx_expression_with_its_file():
    project = _pyproject()["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"] and (ROOT / "LICENSE").is_file()


def test_the_extras_bring_only_packages_that_are_used():
    # graphviz (the Python package) and psutil were declared and never imported.
    extras = _pyproject()["project"]["optional-dependencies"]
    declared = {re.split(r"[<>=!~\[ ]", req)[0].lower() for reqs in extras.values()
                for req in reqs}
    assert "graphviz" not in declared and "psutil" not in declared


def test_ruff_is_pinned_and_sorts_imports():
    data = _pyproject()
    assert any(re.fullmatch(r"ruff==[\d.]+", r) for r in data["project"]["optional-dependencies"]
               ["test"])
    lint = data["tool"]["ruff"]["lint"]
    assert "I" in lint["select"] and "I001" not in lint.get("ignore", [])


def test_the_numpy_floor_is_the_one_ci_tests():
    floor = re.search(r"numpy>=([\d.]+)", " ".join(_pyproject()["project"]["dependencies"]))
    constraints = (ROOT / ".ci" / "floor-constraints.txt").read_text()
    pinned = re.search(r"^numpy==([\d.]+)$", constraints, re.M)
    assert floor and pinned
    assert pinned.group(1).split(".")[:2] == floor.group(1).split(".")[:2]


def test_the_version_classifiers_start_at_requires_python():
    project = _pyproject()["project"]
    lowest = project["requires-python"].removeprefix(">=")
    versions = [c.rsplit(":: ", 1)[1] for c in project["classifiers"]
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert versions and versions[0] == lowest
    assert "Typing :: Typed" in project["classifiers"]


# -- the API reference --------------------------------------------------------------------------

BOOK_MODULES = ["dezero.core", "dezero.functions", "dezero.functions_conv", "dezero.layers",
                "dezero.models", "dezero.optimizers", "dezero.utils", "dezero.cuda",
                "dezero.datasets", "dezero.dataloaders", "dezero.transforms", "dezero.io",
                "dezero.testing"]


def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith("_")
                 and not inspect.ismodule(v)
                 and getattr(v, "__module__", module.__name__).startswith("dezero")]
    return names


@pytest.mark.parametrize("name", BOOK_MODULES)
def test_every_book_module_has_a_page_in_the_api_reference(name):
    page = ROOT / "docs" / "api" / (name.split(".", 1)[1] + ".md")
    assert page.is_file(), f"no API page for {name}"
    assert f"::: {name}" in page.read_text()
    assert f"api/{page.name}" in (ROOT / "mkdocs.yml").read_text()


@pytest.mark.parametrize("name", BOOK_MODULES)
def test_every_public_name_of_the_book_modules_has_a_docstring(name):
    module = importlib.import_module(name)
    missing = []
    for attr in _public_names(module):
        obj = getattr(module, attr)
        if (inspect.isclass(obj) or inspect.isroutine(obj)) and not inspect.getdoc(obj):
            missing.append(attr)
    assert missing == [], f"{name}: no docstring for {missing}"


def test_the_docs_index_links_the_api_reference():
    assert "(api/index.md)" in (ROOT / "docs" / "index.md").read_text()


def _relative_links(path):
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        yield target.split("#", 1)[0]


def test_every_relative_link_of_the_docs_names_a_file_of_the_repository():
    broken = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in _relative_links(path):
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_the_result_files_the_docs_cite_are_in_the_repository():
    text = "".join(p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    cited = set(re.findall(r"benchmarks/results/[\w.\-]+\.(?:json|txt)", text))
    assert cited, "the docs cite no result file"
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert missing == []


def test_committed_results_hold_no_absolute_paths_of_the_machine_that_made_them():
    for path in sorted((ROOT / "benchmarks" / "results").glob("*")):
        if path.suffix in (".json", ".txt"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(?<![\w.])/(?:root|home|work|tmp|Users)/", text), path.name


# -- DEZERO_HOME --------------------------------------------------------------------------------

def test_dezero_home_set_after_import_moves_the_cache(monkeypatch, tmp_path):
    from dezero import _download, utils

    monkeypatch.delitem(vars(utils), "cache_dir", raising=False)  # an earlier test's assignment
    monkeypatch.setenv("DEZERO_HOME", str(tmp_path))
    assert utils.cache_dir == str(tmp_path)
    assert _download.cache_path("mnist.npz") == str(tmp_path / "mnist.npz")
    monkeypatch.delenv("DEZERO_HOME")
    assert utils.cache_dir == os.path.join(os.path.expanduser("~"), ".dezero")


def test_assigning_utils_cache_dir_still_moves_the_cache(monkeypatch, tmp_path):
    from dezero import utils

    monkeypatch.setenv("DEZERO_HOME", str(tmp_path / "env"))
    monkeypatch.setattr(utils, "cache_dir", str(tmp_path / "assigned"), raising=False)
    assert utils.cache_dir == str(tmp_path / "assigned")


# -- import cost --------------------------------------------------------------------------------

def test_import_dezero_needs_only_numpy():
    code = ("import sys, dezero; bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'matplotlib', 'PIL', 'tqdm', 'cupy', 'safetensors', 'onnx', 'onnxruntime', "
            "'mpi4py', 'tensorboardX', 'torch', 'sklearn'}); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_the_package_is_typed():
    assert (Path(dezero.__file__).parent / "py.typed").is_file()


def test_a_missing_pillow_names_the_extra_and_the_package(monkeypatch):
    from dezero import transforms

    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL fails
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match=re.escape(install_hint("viz", "pillow"))):
        transforms._pil_image()


def test_the_gpu_probe_reports_through_the_dezero_logger(monkeypatch, caplog):
    from dezero import cuda

    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy fails
    monkeypatch.setattr(cuda, "_GPU_STATE", {})
    with caplog.at_level("INFO", logger="dezero"):
        assert cuda.gpu_enable is False
    assert [r.name for r in caplog.records] == ["dezero"]
    assert "CuPy cannot be imported" in caplog.records[0].getMessage()


def test_the_library_logger_stays_silent_unless_the_application_configures_it():
    code = ("import logging, dezero, dezero._log; "
            "logging.getLogger('dezero').warning('must not reach stderr')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stderr == ""


def test_a_cache_hit_is_logged_not_printed(tmp_path, caplog, capsys):
    from dezero import _download

    (tmp_path / "x.bin").write_bytes(b"abc")
    with caplog.at_level("INFO", logger="dezero"):
        path = _download.get_file("http://127.0.0.1:9/x.bin", cache_dir=str(tmp_path))
    assert path == str(tmp_path / "x.bin")
    messages = [r.getMessage() for r in caplog.records if r.name == "dezero"]
    assert messages == [f"http://127.0.0.1:9/x.bin: using the cached {path}"]
    assert capsys.readouterr() == ("", "")
