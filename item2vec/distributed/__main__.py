"""``python -m item2vec.distributed {launch,train} ...``."""

from .cli import exit_main

exit_main()
