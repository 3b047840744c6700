"""``python -m cinlab ...``: see :mod:`cinlab.cli`."""

import sys

from .cli import main

sys.exit(main())
