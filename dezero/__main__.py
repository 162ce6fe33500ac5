"""``python -m dezero`` runs the ``dezero`` command line (see :mod:`dezero.cli`)."""
import sys

from dezero.cli import main

sys.exit(main())
