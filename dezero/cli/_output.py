"""Console output that survives a closed pipe, the progress bar, and small formatting helpers."""
from __future__ import annotations

import os
import sys


class CLIError(Exception):
    """A problem to report to the user in one line, without a traceback."""


class Console:
    """Prints results on stdout and notes on stderr; a closed stdout does not stop the run.

    ``dezero train ... | head -2`` closes the pipe after two lines: the next write raises
    ``BrokenPipeError``. The training goes on (its files are what matters), with stdout
    pointed at the null device so that nothing else fails when Python flushes at exit.
    ``enabled=False`` (ranks other than 0 of a distributed run) prints nothing.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None
        self.pipe_closed = False

    def _stdout_closed(self):
        self.pipe_closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def print(self, text: str = "") -> None:
        """A line on stdout, above the progress bar when one is shown."""
        if not self.enabled or self.pipe_closed:
            return
        try:
            if self.bar is not None:
                self.bar.write(text, file=sys.stdout)
                sys.stdout.flush()
            else:
                print(text, flush=True)
        except BrokenPipeError:
            self._stdout_closed()

    def note(self, text: str) -> None:
        """A line on stderr (warnings, hints)."""
        if not self.enabled:
            return
        try:
            if self.bar is not None:
                self.bar.write(text, file=sys.stderr)
            else:
                print(text, file=sys.stderr, flush=True)
        except BrokenPipeError:
            pass

    def start_bar(self, total: int, initial: int = 0, quiet: bool = False):
        """One tqdm bar over all training batches, on stderr (none when quiet or no tqdm)."""
        if quiet or not self.enabled:
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        self.bar = tqdm(total=total, initial=initial, desc="training", unit="batch",
                        dynamic_ncols=True, file=sys.stderr)
        return self.bar

    def close_bar(self) -> None:
        if self.bar is not None:
            try:
                self.bar.close()
            except (BrokenPipeError, OSError):
                pass
            self.bar = None


def seconds(t: float) -> str:
    """``0.031`` -> ``"31 ms"``, ``2.345`` -> ``"2.35 s"``, ``75.2`` -> ``"75.2 s"``."""
    if t < 1:
        return f"{t * 1000:.0f} ms"
    if t < 10:
        return f"{t:.2f} s"
    return f"{t:.1f} s"


def plural(n: int, word: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{n} {word}" + ("" if n == 1 else "s")
