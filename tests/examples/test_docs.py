"""The tutorial's Python blocks run as written, in order, in one namespace."""
import os
import re

DOCS = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs")


def python_blocks(name):
    with open(os.path.join(DOCS, name), encoding="utf-8") as fh:
        text = fh.read()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_tutorial_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    blocks = python_blocks("tutorial.md")
    assert len(blocks) >= 10
    namespace = {"__name__": "tutorial"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/tutorial.md block {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "variable(1.0)" in out  # Newton's method converged
    assert "\nTrue\n" in out  # reloaded weights give the same outputs
    assert out.rstrip().endswith("['one', 'seven', 'zero']")  # the image folder of section 16
    assert os.path.exists(tmp_path / "small_cnn.npz")


def test_docs_link_each_other():
    for name in ("index.md", "tutorial.md", "differences.md", "install.md"):
        assert os.path.exists(os.path.join(DOCS, name)), name
    with open(os.path.join(DOCS, "index.md"), encoding="utf-8") as fh:
        index = fh.read()
    for name in ("tutorial.md", "differences.md", "install.md"):
        assert f"({name}" in index
