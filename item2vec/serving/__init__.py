"""The serving stage: ``item2vec serve MODEL_DIR``, HTTP answers from a trained model.

A thin layer on the public API (style.md): every answer comes from
:meth:`item2vec.estimator.Item2Vec.similar`, :meth:`~item2vec.estimator.Item2Vec.recommend`
or :meth:`~item2vec.estimator.Item2Vec.recommend_batch` of a model read by
:meth:`~item2vec.estimator.Item2Vec.load`; the server owns no model logic. What it adds:

- the HTTP routes (:mod:`.app`, Starlette on uvicorn): ``GET /health``, ``GET /similar``,
  ``POST /recommend``, ``POST /similar/batch``, ``POST /recommend/batch``, ``POST /reload``;
- checks of every request against documented limits, answered ``4xx {"error": "..."}``
  naming the problem (:mod:`.inputs`);
- the model in service and its hot reload (:mod:`.models`): a new model is loaded, verified
  and warmed *beside* the one in service, then one reference is swapped; requests in flight
  finish on the model they started with; a model that fails is refused and the old one
  keeps serving; ``--watch`` polls the directory's ``meta.json``;
- queries on a bounded thread pool (FAISS and numpy release the GIL), the listening socket
  and shutdown on SIGTERM / SIGINT (:mod:`.server`).

Imports: from the package, only :mod:`item2vec.estimator`, :mod:`item2vec.exceptions` and
:mod:`item2vec.version` (the stages below are reached through the estimator); outside it,
Starlette, uvicorn and anyio. Nothing below imports this stage.

The public names are :func:`add_arguments` (the options of ``item2vec serve``) and
:func:`run` (serve until SIGTERM; returns the exit status); ``python -m item2vec.serving``
runs the two.
"""

from __future__ import annotations

import argparse

from .options import add_arguments


def run(args: argparse.Namespace) -> int:
    """Serve ``args.model_dir`` with the options of :func:`add_arguments`; returns 0 after a
    clean shutdown (SIGTERM / SIGINT), 1 when the model cannot be loaded at start, 2 for
    invalid options."""
    from .server import serve  # starlette, uvicorn and the estimator only when serving

    return serve(args)


__all__ = ["add_arguments", "run"]
