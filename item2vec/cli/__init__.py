"""The command line: ``item2vec {demo,train,evaluate,tune,similar,recommend,export,...}``.

:func:`entry` is the console script (``python -m item2vec`` too). The commands parse
flags (:mod:`item2vec.cli.options`, :mod:`item2vec.cli.log_options`), call the public API
and print through :mod:`item2vec.cli.console`; the demo and its figures live here.

May import: every stage and the estimator. Nothing imports this package but the entry
points. ``item2vec --help`` loads neither pandas, FAISS nor TensorFlow.
"""

from .main import entry, main

__all__ = ["entry", "main"]
