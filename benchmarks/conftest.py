"""Benchmarks run TensorFlow as the CLI does: one thread per op, the trainer's workers being
the parallelism (see :func:`item2vec.training.train.configure_threads`).
``ITEM2VEC_BENCH_TF_THREADS=default`` keeps TensorFlow's own threading instead, to measure
what that costs."""

from __future__ import annotations

import os

from item2vec.training.train import configure_threads

TF_THREADS = os.environ.get("ITEM2VEC_BENCH_TF_THREADS", "one per op")
if TF_THREADS != "default":
    configure_threads()
