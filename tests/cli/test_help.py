"""Help texts: every flag of every command shows its default, and docs/cli.md lists them."""
import os
import subprocess
import sys

import pytest
from _cli_helpers import ROOT, subprocess_env

import dezero
from dezero import cli


def _subparsers():
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return sub.choices


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_every_flag_has_help_with_its_default(command):
    parser = _subparsers()[command]
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, action.option_strings
        assert "(default: " in action.help, action.option_strings


def test_docs_list_every_train_flag():
    with open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8") as f:
        doc = f.read()
    table = doc[doc.index("## All options of `dezero train`"):]
    for action in _subparsers()["train"]._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag}" in table, flag


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "train" in capsys.readouterr().out


def test_python_m_dezero():
    out = subprocess.run([sys.executable, "-m", "dezero", "--version"], capture_output=True,
                         text=True, check=True, env=subprocess_env())
    assert out.stdout.strip() == f"dezero {dezero.__version__}"
    out = subprocess.run([sys.executable, "-m", "dezero", "train", "--help"],
                         capture_output=True, text=True, check=True, env=subprocess_env())
    assert "--dataset" in out.stdout and "--resume" in out.stdout
    assert "(default: digits)" in " ".join(out.stdout.split())


def test_import_dezero_does_not_import_the_command_line_extras():
    code = ("import sys, dezero; bad = [m for m in ('dezero.cli', 'tqdm', 'matplotlib', "
            "'threadpoolctl', 'tensorboardX', 'PIL') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=subprocess_env())
    assert out.stdout.strip() == "[]"
