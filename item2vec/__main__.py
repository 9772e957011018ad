"""``python -m item2vec ...``: the command line, as the ``item2vec`` entry point."""

import sys

from .cli import main

sys.exit(main())
