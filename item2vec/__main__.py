"""``python -m item2vec ...``: the command line, as the ``item2vec`` entry point."""

from .cli.main import entry

entry()
