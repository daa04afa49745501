"""``python -m sqlml``: the command line."""

import sys

from sqlml.cli import main

sys.exit(main())
