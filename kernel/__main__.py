"""``python -m virtkernel``: the command-line shell."""

import sys

from .cli.main import main

sys.exit(main())
