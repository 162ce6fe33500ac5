"""The library's logger: ``logging.getLogger("dezero")``.

dezero's library code reports what it does (which device it found, which cached file it used)
through this logger and prints nothing itself; the application decides what is shown
(``logging.basicConfig(level=logging.INFO)``). The exceptions are the book's own output: the
download progress and ``dezero.utils.gradient_check``'s diagnostics are printed. The CLI
(``dezero train``) prints its report, being an application.
"""
from __future__ import annotations

import logging

logger = logging.getLogger("dezero")
# Without a handler configured by the application, records of WARNING and above would go to
# logging's last-resort handler (stderr); a library leaves that choice to the application.
logger.addHandler(logging.NullHandler())
