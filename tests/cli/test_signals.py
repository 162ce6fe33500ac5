"""Ctrl-C and closed pipes, in real subprocesses: the run's completed epochs survive both."""
import signal
import subprocess
import sys

import pytest
from _cli_helpers import dezero_cmd, metrics_rows, run_subprocess, subprocess_env

from dezero.cli import _runs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pipes")

ARGS = ["--model", "cnn", "--hidden", "16", "--batch-size", "16", "--threads", "1"]


def test_ctrl_c_keeps_the_last_complete_epoch_and_resume_matches(tmp_path, run):
    # Found when tried: Ctrl-C kept no completed epoch and left an empty folder.
    out = tmp_path / "run"
    proc = subprocess.Popen(dezero_cmd("train", *ARGS, "--epochs", 1000, "--out", out),
                            cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("epoch    2/1000"):
                break
        else:
            pytest.fail("the run ended before its second epoch: " + proc.stderr.read())
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    saved = _runs.Checkpoint(str(out / "checkpoint.npz")).meta["epoch"]
    assert saved >= 2
    assert f"epoch {saved} is saved in" in stderr and f"dezero train --resume {out}" in stderr
    assert len(metrics_rows(out)) == saved
    assert (out / "training.png").exists()

    # Resume to one more epoch than was saved; compare with an uninterrupted run.
    result = run_subprocess("train", "--resume", out, "--epochs", saved + 1, "--quiet",
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    code, _, err = run(["train", *ARGS, "--epochs", saved + 1, "--quiet",
                        "--out", tmp_path / "straight"])
    assert code == 0, err

    def losses(folder):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in metrics_rows(folder)]

    assert losses(out) == losses(tmp_path / "straight")


def test_closed_pipe_does_not_lose_the_run(tmp_path):
    # Found when tried: `dezero train ... | head -2` aborted with "Broken pipe".
    out = tmp_path / "run"
    proc = subprocess.Popen(dezero_cmd("train", "--epochs", 4, "--quiet", "--out", out),
                            cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first = [proc.stdout.readline() for _ in range(2)]  # what `head -2` reads
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=120)
    assert first[0].startswith(b"dataset")
    assert proc.returncode == 0, stderr
    assert b"Broken pipe" not in stderr and b"Traceback" not in stderr
    assert _runs.Checkpoint(str(out / "checkpoint.npz")).meta["epoch"] == 4
    assert len(metrics_rows(out)) == 4

